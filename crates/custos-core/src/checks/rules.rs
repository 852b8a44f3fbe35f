//! The catalogue of rules: what each finds, on what law it rests, and what to do about it.
//! `docs/rules.md` is generated from this list (`custos check --list-rules --format markdown`),
//! so the documentation cannot drift from the code.

use std::fmt::Write as _;

use serde::Serialize;

/// How bad a finding is. Ordered: `Info < Warning < Error`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth knowing; nothing is unlawful by itself.
    Info,
    /// Likely a gap the controller must close, or a record to complete.
    Warning,
    /// The register shows processing that breaks the law as it stands.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "info" => Ok(Self::Info),
            "warning" => Ok(Self::Warning),
            "error" => Ok(Self::Error),
            other => Err(format!(
                "unknown severity {other:?}: expected error, warning or info"
            )),
        }
    }
}

/// One rule of the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable id, used in acknowledgements, filters and SARIF.
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    /// The articles or sources the rule rests on.
    pub sources: &'static [&'static str],
    /// What the rule finds and why it matters.
    pub description: &'static str,
    /// What to do about a finding.
    pub remediation: &'static str,
}

macro_rules! rules {
    ($($name:ident = {
        id: $id:literal,
        title: $title:literal,
        severity: $severity:ident,
        sources: [$($source:literal),* $(,)?],
        description: $description:literal,
        remediation: $remediation:literal $(,)?
    }),* $(,)?) => {
        $(pub const $name: Rule = Rule {
            id: $id,
            title: $title,
            severity: Severity::$severity,
            sources: &[$($source),*],
            description: $description,
            remediation: $remediation,
        };)*
        /// Every rule, in the order of `docs/rules.md`.
        pub const ALL: &[Rule] = &[$($name),*];
    };
}

rules! {
    UNAUTHORISED_SUBPROCESSOR = {
        id: "unauthorised-subprocessor",
        title: "Sub-processor engaged without the controller's authorisation",
        severity: Error,
        sources: ["GDPR Art. 28(2)", "GDPR Art. 28(4)", "EDPB Opinion 22/2024"],
        description: "A processor engaged another processor (depth 2 or deeper) without the prior authorisation that the controller's contract requires. Under a specific authorisation only an explicit approval of the named candidate, or its name in the controller's contract, allows the link. Under a general authorisation the controller must have been informed in advance and the objection period must have run out without objection. An objection binds the processor; an approval given after the link started is not prior.",
        remediation: "Suspend the link or obtain the controller's decision on the named sub-processor with a dossier (identity, processing, locations, measures). Record the decision in the engagement's `authorisation` with its date.",
    },
    BLANKET_GENERAL_AUTHORISATION = {
        id: "blanket-general-authorisation",
        title: "General authorisation without a notice channel or objection period",
        severity: Warning,
        sources: ["GDPR Art. 28(2)", "GDPR Art. 28(3)(d)", "EDPB Opinion 22/2024"],
        description: "A contract grants a general authorisation to engage sub-processors but sets no channel to inform the controller of each intended addition or replacement, or no period to object. The authorisation is not void: Art. 28(2) obliges the processor to inform the controller and give it the opportunity to object whatever the contract says, so decisions taken under it (approvals after notice, deemed approvals when the period ran out) stand. The missing stipulation is a drafting defect of the Art. 28(3)(d) terms.",
        remediation: "Amend the contract: set `subprocessing.notice_channel` (e-mail, portal or public page) and `subprocessing.decision_days`, the period within which the controller may object.",
    },
    CATEGORY_AUTHORISATION = {
        id: "category-authorisation",
        title: "Sub-processors authorised as a category instead of by name",
        severity: Error,
        sources: ["GDPR Art. 28(2)", "EDPB Opinion 22/2024"],
        description: "The controller decides on a specific, named candidate, never on a category (\"courier companies\", \"e-mail platforms\"). A clause pre-authorising a category of sub-processors authorises nobody.",
        remediation: "Replace the category by the named organisations the controller has assessed (`subprocessing.preauthorised`), or have each candidate decided when it is proposed.",
    },
    NO_CONTRACT = {
        id: "no-contract",
        title: "Processing without a contract",
        severity: Error,
        sources: ["GDPR Art. 28(3)", "GDPR Art. 28(4)"],
        description: "Processing by a processor, at any depth, must be governed by a contract or legal act binding it. No contract is recorded for this link.",
        remediation: "Sign a data processing agreement between the link's parties with the Art. 28(3) terms and record it as the engagement's `contract`.",
    },
    CONTRACT_EXPIRED = {
        id: "contract-expired",
        title: "Processing under a contract that has expired",
        severity: Error,
        sources: ["GDPR Art. 28(3)", "GDPR Art. 28(4)"],
        description: "The link is in force on the day judged, but its contract ended before it (`expires`). Processing after the contract's end has no contract binding the processor, as if none had been signed.",
        remediation: "Renew the contract (record the new one, or a new `expires`), or end the link (`until`) on the day the contract ended.",
    },
    CONTRACT_EXPIRING = {
        id: "contract-expiring",
        title: "Contract expiring or due for renewal",
        severity: Warning,
        sources: ["GDPR Art. 28(3)", "GDPR Art. 5(2)"],
        description: "The contract of a link in force ends within 60 days, or its renewal date (`renewal`) has come. Without a renewed contract the processing will have none when it ends.",
        remediation: "Renew or renegotiate the contract and record its new term (`expires`, `renewal`), or plan the link's end.",
    },
    CONTROLLER_NOT_IDENTIFIED = {
        id: "controller-not-identified",
        title: "Sub-processing contract does not identify the controller",
        severity: Error,
        sources: ["GDPR Art. 28(3)", "GDPR Art. 28(4)", "EDPB Guidelines 07/2020"],
        description: "A contract between two processors does not name the controller on whose behalf the data is processed. The sub-processor cannot know whose instructions bind it, whom to assist with data-subject requests and breaches, and that it acts as a processor, not as a controller.",
        remediation: "Amend the sub-processing contract to name the controller (and set `identifies_controller: true`).",
    },
    WEAKER_THAN_UPSTREAM = {
        id: "weaker-than-upstream",
        title: "Sub-processing contract weaker than the controller's contract",
        severity: Error,
        sources: ["GDPR Art. 28(4)"],
        description: "Art. 28(4) requires \"the same data protection obligations as set out in the contract … between the controller and the processor\" to be imposed on every sub-processor, down to the last link. This contract lacks Art. 28(3) clauses or security measures of the controller's contract (the one at depth 1 of its path) or of the contract directly above it, or grants a general authorisation to engage sub-processors where the controller's contract requires specific authorisation. Each weak contract is one finding, even when the contract above it is equally weak.",
        remediation: "Flow the missing clauses, security measures and authorisation terms down into the sub-processing contract.",
    },
    DPA_INCOMPLETE = {
        id: "dpa-incomplete",
        title: "Data processing agreement missing Art. 28(3) terms or concrete security",
        severity: Error,
        sources: ["GDPR Art. 28(3)(a)-(h)", "GDPR Art. 32"],
        description: "The contract lacks clauses that Art. 28(3) requires: (a) documented instructions, (b) confidentiality, (c) security under Art. 32, (d) the sub-processing conditions, (e) assistance with data-subject rights, (f) assistance with Arts 32-36, (g) deletion or return at the end, (h) information and audits; or it names no concrete security measure (a generic template).",
        remediation: "Complete the agreement with the missing clauses and an annex of concrete technical and organisational measures (`security`).",
    },
    BREACH_NOTICE_TERM_MISSING = {
        id: "breach-notice-term-missing",
        title: "Contract sets no period for telling of a breach",
        severity: Warning,
        sources: ["GDPR Art. 28(3)(f)", "GDPR Art. 33(2)", "EDPB Guidelines 9/2022, para. 43-44"],
        description: "The processor must tell the party that engaged it of a personal-data breach without undue delay after becoming aware of it (Art. 33(2)), and the contract must oblige it to assist with Arts 32-36 (Art. 28(3)(f)). The contract names no period for that notice (`breach_notice_hours`), so nothing measures the processor's delay while the controller's own 72 hours run.",
        remediation: "Agree a period (24 hours is common) and record it on the contract as `breach_notice_hours`.",
    },
    BREACH_RELAY_LATE = {
        id: "breach-relay-late",
        title: "Breach passed up the chain later than the contract allows",
        severity: Error,
        sources: ["GDPR Art. 33(2)", "GDPR Art. 28(3)(f)"],
        description: "A processor told the party that engaged it of a personal-data breach later than its contract's `breach_notice_hours` after becoming aware (or later than 24 hours where the contract sets none: \"without undue delay\"). Every hour spent on the way up is an hour less of the controller's 72.",
        remediation: "Ask the processor why, record its answer on the breach, and review the link (the contract's notice term, the processor's procedures).",
    },
    BREACH_UNDECIDED = {
        id: "breach-undecided",
        title: "Breach without a decision 72 hours after awareness",
        severity: Error,
        sources: ["GDPR Art. 33(1)", "GDPR Art. 33(5)"],
        description: "The controller became aware of a personal-data breach more than 72 hours ago and has recorded no decision: neither that it is unlikely to result in a risk (documented under Art. 33(5)) nor a notification to the supervisory authority.",
        remediation: "Assess the risk and record the decision on the breach's case; a notification now must give the reasons for the delay.",
    },
    BREACH_NOT_FILED = {
        id: "breach-not-filed",
        title: "Notifiable breach never filed with the authority",
        severity: Error,
        sources: ["GDPR Art. 33(1)", "GDPR Art. 33(4)"],
        description: "The controller decided that a breach must be notified to the supervisory authority, but no filing (submission date and reference) is recorded and its 72 hours have run out.",
        remediation: "File the report with the competent authority (the case's report) and record the submission date and reference.",
    },
    PROCESSOR_IDENTITY_INCOMPLETE = {
        id: "processor-identity-incomplete",
        title: "Processor identity incomplete",
        severity: Warning,
        sources: ["GDPR Art. 28(2)", "GDPR Art. 13(1)(e)", "GDPR Art. 15(1)(c)", "EDPB Opinion 22/2024"],
        description: "The identity of every processor at every level (name, address, contact person, description of the processing) must always be available to the controller, to name recipients in notices and access answers and to exercise control.",
        remediation: "Record the processor's `address` and `contact` (a person's name or an e-mail address or phone).",
    },
    TRANSFER_NO_MECHANISM = {
        id: "transfer-no-mechanism",
        title: "Transfer outside the EEA with no mechanism",
        severity: Error,
        sources: ["GDPR Art. 44", "GDPR Art. 45", "GDPR Art. 46", "EDPB Guidelines 05/2021", "SCC 2021 (Decision 2021/914), Clauses 8.8 and 9"],
        description: "A link sends data outside the EEA (its processor is established outside, whatever locations it lists, or the data is processed or accessed from outside) and records no transfer mechanism: no adequacy decision, appropriate safeguard or derogation. A link below an importer bound by SCCs (module 2 or 3) or certified under the DPF needs none of its own: it is an onward transfer under the parent's safeguard.",
        remediation: "Record the mechanism relied on (`transfer`: adequacy, scc with its module, bcr, ...) or stop the transfer.",
    },
    TRANSFER_MECHANISM_INVALID = {
        id: "transfer-mechanism-invalid",
        title: "Transfer mechanism not valid on the date",
        severity: Error,
        sources: ["GDPR Art. 45", "GDPR Art. 46", "CJEU C-311/18 (Schrems II)", "Decision 2021/914, Art. 4(4)"],
        description: "The recorded mechanism does not hold on the day the link is judged: an adequacy decision not in force or struck down, a recipient outside the decision's scope (a US organisation without Data Privacy Framework certification, a sector a partial decision excludes), standard contractual clauses of the wrong module, of a set no longer valid, or of a repealed set in a contract concluded on or after 27 September 2021, BCR, a code of conduct or a certification the importer does not hold on the day, or an onward transfer under a link above whose own transfer does not hold.",
        remediation: "Rely on a mechanism that holds (for example SCC module 2 or 3 of Decision 2021/914 with a transfer impact assessment), or obtain the certification the decision requires.",
    },
    TRANSFER_DEROGATION_SYSTEMATIC = {
        id: "transfer-derogation-systematic",
        title: "Art. 49 derogation used for a systematic transfer",
        severity: Error,
        sources: ["GDPR Art. 49(1)", "EDPB Guidelines 2/2018"],
        description: "Derogations of Art. 49 are for occasional, non-repetitive transfers in specific situations. A processor engaged in a chain transfers systematically for as long as the engagement lasts, so a derogation cannot be its ground.",
        remediation: "Put an Art. 45 or Art. 46 mechanism in place (adequacy, SCC, BCR) for the link.",
    },
    SELECTION_CRITERIA_VIOLATED = {
        id: "selection-criteria-violated",
        title: "Sub-processor does not meet the contract's selection criteria",
        severity: Error,
        sources: ["GDPR Art. 28(1)", "GDPR Art. 28(4)"],
        description: "A contract above this link sets criteria every sub-processor must meet (only inside the EEA, only inside the EEA or adequate countries, only holders of a certification such as ISO 27701), and this link's processor does not meet one on the day it is judged.",
        remediation: "Replace the sub-processor by one that meets the criteria, or have the controller agree a change of the contract.",
    },
    DPIA_MISSING = {
        id: "dpia-missing",
        title: "No DPIA or risk analysis before the processing started",
        severity: Error,
        sources: ["GDPR Art. 35(1)", "GDPR Art. 35(3)(b)", "GDPR Art. 35(4)", "GDPR Art. 32", "WP248 rev.01 (endorsed by the EDPB)"],
        description: "The activity processes special categories (Art. 9), criminal data (Art. 10), national identification numbers (a WP248 criterion, and on the national lists of Art. 35(4)) or data on a large scale, and no DPIA or documented risk analysis was recorded before the first processor was engaged. Special or criminal data on a large scale always requires a DPIA (Art. 35(3)(b)).",
        remediation: "Carry out the DPIA (or the risk analysis) before engaging processors and record it in the activity's `risk_assessment` with its date.",
    },
    DPO_MISSING = {
        id: "dpo-missing",
        title: "No data protection officer where one must be designated",
        severity: Error,
        sources: ["GDPR Art. 37(1)", "GDPR Art. 37(7)", "WP243 rev.01 (endorsed by the EDPB)"],
        description: "The controller and the processor shall designate a DPO where the processing is carried out by a public authority or body (a), where their core activities consist of processing which requires regular and systematic monitoring of data subjects on a large scale (b), or of processing on a large scale of special categories of data or of criminal data (c). The organisation meets one of these (its kind, or an activity it controls or processes for marked `large_scale` with `systematic_monitoring` or with special or criminal data) and records no DPO.",
        remediation: "Designate a DPO, record it in the organisation's `dpo` (name and e-mail), publish the contact details and communicate them to the supervisory authority (Art. 37(7)).",
    },
    SPECIAL_CATEGORY_WITHOUT_CONDITION = {
        id: "special-category-without-condition",
        title: "Special categories without an Art. 9(2) condition",
        severity: Error,
        sources: ["GDPR Art. 9(1)", "GDPR Art. 9(2)"],
        description: "Processing of special categories of data is prohibited unless one of the conditions of Art. 9(2) applies, and none is recorded for the activity.",
        remediation: "Record the Art. 9(2) condition relied on (`special_category_condition`), or stop processing the special categories.",
    },
    LAWFUL_BASIS_MISSING = {
        id: "lawful-basis-missing",
        title: "No lawful basis",
        severity: Error,
        sources: ["GDPR Art. 6(1)", "GDPR Art. 13(1)(c)"],
        description: "Processing is lawful only on one of the grounds of Art. 6(1), and the notice must state it. The activity records none.",
        remediation: "Record the activity's `lawful_basis`.",
    },
    RETENTION_MISSING = {
        id: "retention-missing",
        title: "No retention period",
        severity: Warning,
        sources: ["GDPR Art. 5(1)(e)", "GDPR Art. 13(2)(a)", "GDPR Art. 30(1)(f)"],
        description: "Data must be kept no longer than necessary; the notice and the record of processing state the period. The activity records none.",
        remediation: "Record the activity's `retention` as an ISO 8601 duration (P2Y).",
    },
    CERTIFICATION_EXPIRED = {
        id: "certification-expired",
        title: "Processor's certification expired",
        severity: Warning,
        sources: ["GDPR Art. 28(1)", "GDPR Art. 28(5)", "GDPR Art. 42"],
        description: "A processor in the chain held a certification that has expired and holds no renewal of it: the guarantees the controller relied on may no longer be there.",
        remediation: "Obtain the renewed certificate (and record it), or reassess the processor's guarantees.",
    },
    NOTICE_OUT_OF_DATE = {
        id: "notice-out-of-date",
        title: "Published privacy notice out of date",
        severity: Warning,
        sources: ["GDPR Art. 13(1)(e)", "GDPR Art. 13(1)(f)", "GDPR Art. 14(1)(e)", "GDPR Art. 14(1)(f)", "GDPR Art. 12(1)"],
        description: "The latest published version of a controller's privacy notice no longer matches what the register says: a recipient joined or left a chain, a category changed, or a transfer appeared, moved or lost its safeguard. Data subjects are being told something that is no longer true. Checked only where notices are published through Custos (the database), not over manifest files alone.",
        remediation: "Review the generated notice (`custos notice generate`, or the organisation's page), publish a new version, and update the notice where it is shown to data subjects.",
    },
    ACKNOWLEDGEMENT_UNUSED = {
        id: "acknowledgement-unused",
        title: "Acknowledgement that matches no finding",
        severity: Info,
        sources: ["GDPR Art. 5(2)"],
        description: "An entry acknowledges a rule that finds nothing there any more. Stale acknowledgements would hide a future finding without anyone having looked at it.",
        remediation: "Remove the acknowledgement from the entry.",
    },
}

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    ALL.iter().find(|rule| rule.id == id)
}

/// The catalogue as Markdown: the text of `docs/rules.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Rules of the checks\n\n\
         Generated from the code by `custos check --list-rules --format markdown`; do not edit by\n\
         hand. Each finding names the rule, the objects involved (the link, its depth and path)\n\
         and the entry of the manifest where it can be fixed or acknowledged (see\n\
         docs/manifest.md, *acknowledgements*).\n\n\
         | id | severity | title |\n| --- | --- | --- |\n",
    );
    for rule in ALL {
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} |",
            rule.id, rule.id, rule.severity, rule.title
        );
    }
    for rule in ALL {
        let _ = write!(
            out,
            "\n## {}\n\n**{}** ({}). Rests on: {}.\n\n{}\n\n*Remediation:* {}\n",
            rule.id,
            rule.title,
            rule.severity,
            rule.sources.join("; "),
            rule.description,
            rule.remediation
        );
    }
    out
}
