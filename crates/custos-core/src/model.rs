//! The register: organisations, processing activities, contracts and engagements (the links of
//! a processor chain). These types are also the manifest format (see `docs/manifest.md`) and the
//! stored form, so one definition serves every edge. Fields that are optional in law are
//! optional here; the checks (issue "Checks") say what is missing.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Date;
use crate::values::{CountryCode, Email, IsoDate, Retention, Slug, SortedSet, Text};

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_true(value: &bool) -> bool {
    *value
}

fn yes() -> bool {
    true
}

/// Words of an entry in other languages than the one it is written in: language (`es`) →
/// field (`category`) → text. Notices in that language use them; what is not translated is
/// shown as written.
pub type Translations =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;

/// A legal person or body: controller in one activity, processor in another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    pub id: Slug,
    /// Legal name.
    pub name: String,
    /// Where it is established (ISO 3166-1 alpha-2).
    pub country: CountryCode,
    #[serde(default, skip_serializing_if = "OrganisationKind::is_default")]
    pub kind: OrganisationKind,
    /// For an international organisation: the key of its adequacy decision, if any
    /// (`european-patent-organisation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub international_organisation: Option<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The contact person (EDPB Opinion 22/2024: identity of every processor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpo: Option<Contact>,
    /// The representative in the Union of an organisation established outside it (Art. 27),
    /// named in both records of processing (Art. 30(1)(a), 30(2)(a)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representative: Option<Representative>,
    /// Business sector, used for recipient categories (Art. 13(1)(e)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// The `sector` in other languages, for notices in them: `{es: {sector: Hostelería}}`.
    #[serde(default, skip_serializing_if = "Translations::is_empty")]
    pub translations: Translations,
    /// Certifications and frameworks: `iso27001`, `iso27701`, `eu-us-dpf`, `privacy-shield`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certifications: Vec<Certification>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes_of_conduct: Vec<String>,
    /// Chapter V safeguards the organisation (or its group) holds, with their days: what a
    /// transfer relying on BCR, a code of conduct or a certification needs of the importer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub safeguards: Vec<HeldSafeguard>,
    /// Past breaches and fines, for the dossier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Incident>,
    /// Publish its sub-processors (current and announced) on a public page with a feed: the
    /// channel through which it gives notice of changes. Off unless asked for.
    #[serde(default, skip_serializing_if = "is_false")]
    pub public_subprocessor_page: bool,
    /// The language its people read notifications in (`en`, `es`); English when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The time zone its people read times in (`Europe/Madrid`), unless they chose their own;
    /// UTC when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<crate::values::TimeZoneName>,
    /// Findings of the checks acknowledged on this entry, each with a reason and an expiry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledgements: Vec<Acknowledgement>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OrganisationKind {
    #[default]
    Company,
    PublicBody,
    NonProfit,
    InternationalOrganisation,
}

impl OrganisationKind {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// A certification held over a period (`since`, `until` both optional, `until` inclusive).
/// An Art. 27 representative: who, where in the Union, and how to reach them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Representative {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Certification {
    pub scheme: Slug,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<IsoDate>")]
    pub since: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<IsoDate>")]
    pub until: Option<Date>,
}

impl Certification {
    pub fn held_on(&self, date: Date) -> bool {
        within(self.since, self.until, date)
    }
}

/// Whether `date` falls in a period whose ends (inclusive) may be unknown.
fn within(since: Option<Date>, until: Option<Date>, date: Date) -> bool {
    since.is_none_or(|s| s <= date) && until.is_none_or(|u| date <= u)
}

/// A transfer tool an importer must itself hold (Art. 46(2)(b), (e), (f)), as recorded on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeldSafeguard {
    pub kind: SafeguardKind,
    /// What it is and who approved it: `Acme group BCR-P, approved by the CNIL`.
    pub name: String,
    /// First day held; none when not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<IsoDate>")]
    pub since: Option<Date>,
    /// Last day held, inclusive; none while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<IsoDate>")]
    pub until: Option<Date>,
}

impl HeldSafeguard {
    pub fn held_on(&self, date: Date) -> bool {
        within(self.since, self.until, date)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SafeguardKind {
    /// Binding corporate rules approved under Art. 47 (Art. 46(2)(b)).
    Bcr,
    /// Adherence to an approved code of conduct with binding commitments (Art. 46(2)(e)).
    CodeOfConduct,
    /// An approved certification with binding commitments (Art. 46(2)(f)).
    Certification,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    #[schemars(with = "IsoDate")]
    pub date: Date,
    pub kind: IncidentKind,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fine_eur: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IncidentKind {
    Breach,
    Fine,
}

/// A processing activity (Art. 30(1)): what is done with personal data, why, and by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    pub id: Slug,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The controller: decides why and how (Art. 4(7)).
    pub controller: Slug,
    /// Joint controllers (Art. 26), with the arrangement between them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joint_controllers: Vec<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joint_arrangement: Option<String>,
    /// The joint controllers that accepted being listed, each with the day: only the listed
    /// organisation records its own acceptance. Until then it is listed but not a controller
    /// of record: the activity is not in its notice, its record or its view.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joint_acceptances: Vec<JointAcceptance>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purposes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lawful_basis: Option<LawfulBasis>,
    /// The Art. 9(2) condition relied on for special categories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special_category_condition: Option<SpecialCategoryCondition>,
    /// Categories of data subjects (`customers`, `employees`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<Slug>,
    /// Categories of personal data (`email`, `order-history`, `health`, `national-id`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Where the data comes from when not from the subjects themselves (Arts 14(2)(f),
    /// 15(1)(g)): `publicly accessible registers`, `the customer's employer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Technical and organisational measures (Art. 32), as identifiers.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub measures: BTreeSet<Slug>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub large_scale: bool,
    /// Regular and systematic monitoring of data subjects (tracking, profiling, CCTV): with
    /// `large_scale`, a ground to designate a DPO (Art. 37(1)(b)).
    #[serde(default, skip_serializing_if = "is_false")]
    pub systematic_monitoring: bool,
    /// Automated decision-making, profiling included (Art. 22(1), (4)): the logic involved
    /// and its significance and envisaged consequences, as the access answer states them
    /// (Art. 15(1)(h)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated_decisions: Option<String>,
    /// The DPIA (Art. 35) or prior risk analysis, when one was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_assessment: Option<RiskAssessment>,
    /// Findings of the checks acknowledged on this entry, each with a reason and an expiry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledgements: Vec<Acknowledgement>,
}

impl Activity {
    /// The controller and the joint controllers: the roots of the chain.
    pub fn controllers(&self) -> impl Iterator<Item = &Slug> {
        std::iter::once(&self.controller).chain(&self.joint_controllers)
    }

    /// The controller and the joint controllers that accepted their listing: the
    /// organisations that answer for the activity (notices, records, visibility, requests).
    pub fn accepted_controllers(&self) -> impl Iterator<Item = &Slug> {
        std::iter::once(&self.controller).chain(
            self.joint_controllers
                .iter()
                .filter(|j| self.joint_acceptances.iter().any(|a| &a.by == *j)),
        )
    }

    /// Data categories that the law treats specially, with the article that says so.
    pub fn special_data(&self) -> impl Iterator<Item = (&Slug, SpecialData)> {
        self.data
            .iter()
            .filter_map(|d| SpecialData::of(d).map(|s| (d, s)))
    }
}

/// A joint controller's acceptance of its listing (Art. 26).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JointAcceptance {
    pub by: Slug,
    #[schemars(with = "IsoDate")]
    pub date: Date,
}

/// Art. 6(1)(a)–(f).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LawfulBasis {
    Consent,
    Contract,
    LegalObligation,
    VitalInterests,
    PublicTask,
    LegitimateInterests,
}

/// Art. 9(2)(a)–(j).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SpecialCategoryCondition {
    ExplicitConsent,
    Employment,
    VitalInterests,
    NotForProfitBody,
    MadePublic,
    LegalClaims,
    SubstantialPublicInterest,
    HealthOrSocialCare,
    PublicHealth,
    ArchivingOrResearch,
}

/// Data that the law singles out, recognised by the category id used in `data:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpecialData {
    /// Art. 9(1).
    SpecialCategory,
    /// Art. 10.
    CriminalOffences,
    /// Art. 87.
    NationalIdentifier,
}

impl SpecialData {
    const SPECIAL_CATEGORIES: [&str; 10] = [
        "racial-or-ethnic-origin",
        "political-opinions",
        "religious-or-philosophical-beliefs",
        "trade-union-membership",
        "genetic",
        "biometric",
        "health",
        "sex-life",
        "sexual-orientation",
        "health-records",
    ];

    pub fn of(category: &Slug) -> Option<Self> {
        let id = category.as_str();
        if Self::SPECIAL_CATEGORIES.contains(&id) {
            Some(Self::SpecialCategory)
        } else if matches!(id, "criminal-convictions" | "criminal-offences") {
            Some(Self::CriminalOffences)
        } else if matches!(id, "national-id" | "national-identification-number") {
            Some(Self::NationalIdentifier)
        } else {
            None
        }
    }

    pub fn article(self) -> &'static str {
        match self {
            Self::SpecialCategory => "Art. 9(1)",
            Self::CriminalOffences => "Art. 10",
            Self::NationalIdentifier => "Art. 87",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskAssessment {
    pub kind: RiskAssessmentKind,
    #[schemars(with = "IsoDate")]
    pub date: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RiskAssessmentKind {
    /// A data protection impact assessment (Art. 35).
    Dpia,
    /// A documented risk analysis that concluded no DPIA was needed.
    RiskAnalysis,
}

/// A contract or DPA between two parties (Art. 28(3)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub id: Slug,
    /// The engaging party first (controller or processor), the processor second.
    pub between: [Slug; 2],
    /// Whether the contract names the controller on whose behalf the data is processed.
    #[serde(default)]
    pub identifies_controller: bool,
    /// The Art. 28(3)(a)–(h) clauses the contract contains.
    #[serde(default, skip_serializing_if = "ClauseSet::is_empty")]
    pub clauses: ClauseSet,
    /// Concrete security measures the contract imposes, as identifiers.
    #[serde(default, skip_serializing_if = "SortedSet::is_empty")]
    pub security: SortedSet<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subprocessing: Option<SubprocessingTerms>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<IsoDate>")]
    pub signed: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Hours within which the processor tells the engaging party of a personal-data breach
    /// after becoming aware of it (Arts 28(3)(f), 33(2)); none leaves "without undue delay".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breach_notice_hours: Option<u32>,
    /// The last day the contract binds the parties, inclusive; none while it runs until
    /// terminated. A link processing after it has no contract in force (Art. 28(3)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<IsoDate>")]
    pub expires: Option<Date>,
    /// The day by which the parties must renew or renegotiate (a notice period before
    /// `expires`, or a review date): the checks and the dashboard remind from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<IsoDate>")]
    pub renewal: Option<Date>,
    /// The signed document, stored on the instance by its SHA-256 (`POST /api/v1/attachments`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Box<ContractDocument>>,
    /// Findings of the checks acknowledged on this entry, each with a reason and an expiry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledgements: Vec<Acknowledgement>,
}

/// A contract's signed document: its file name and the SHA-256 of its bytes, under which
/// the instance stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractDocument {
    pub name: String,
    /// Lowercase hex, 64 characters.
    pub sha256: String,
}

/// Art. 28(3)(a)–(h).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Art28Clause {
    /// (a) documented instructions, including on transfers.
    Instructions,
    /// (b) confidentiality of the persons authorised.
    Confidentiality,
    /// (c) the measures of Art. 32.
    Security,
    /// (d) the conditions of 28(2) and 28(4) for sub-processors.
    Subprocessing,
    /// (e) assistance with data-subject rights.
    DataSubjectAssistance,
    /// (f) assistance with Arts 32–36.
    ComplianceAssistance,
    /// (g) deletion or return at the end.
    DeletionOrReturn,
    /// (h) information and audits.
    Audits,
}

/// The Art. 28(3) clauses a contract contains, as one byte: a set of eight that a register
/// of a million contracts held as a million small vectors. Read and written as the list of
/// the clauses' names in the order of Art. 28(3), as the sorted set it replaced.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ClauseSet(u8);

impl ClauseSet {
    pub fn new() -> Self {
        Self::default()
    }

    fn bit(clause: Art28Clause) -> u8 {
        1 << clause as u8
    }

    pub fn contains(&self, clause: &Art28Clause) -> bool {
        self.0 & Self::bit(*clause) != 0
    }

    /// Adds `clause`; false if it was there already.
    pub fn insert(&mut self, clause: Art28Clause) -> bool {
        let absent = !self.contains(&clause);
        self.0 |= Self::bit(clause);
        absent
    }

    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn clear(&mut self) {
        self.0 = 0;
    }

    /// In the order of Art. 28(3).
    pub fn iter(&self) -> impl Iterator<Item = Art28Clause> + use<> {
        let set = *self;
        Art28Clause::ALL
            .into_iter()
            .filter(move |c| set.contains(c))
    }

    /// The clauses of `self` not in `other`, in order.
    pub fn difference(&self, other: &Self) -> impl Iterator<Item = Art28Clause> + use<> {
        Self(self.0 & !other.0).iter()
    }
}

impl FromIterator<Art28Clause> for ClauseSet {
    fn from_iter<I: IntoIterator<Item = Art28Clause>>(clauses: I) -> Self {
        let mut set = Self::new();
        for clause in clauses {
            set.insert(clause);
        }
        set
    }
}

impl std::fmt::Debug for ClauseSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// In a binary form (the register's image) the byte itself: a million contracts' clauses
/// read as eight names each were a tenth of the image's decoding.
impl Serialize for ClauseSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_seq(self.iter())
        } else {
            serializer.serialize_u8(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for ClauseSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Clauses;
        impl<'de> serde::de::Visitor<'de> for Clauses {
            type Value = ClauseSet;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of Art. 28(3) clauses")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut items: A,
            ) -> Result<ClauseSet, A::Error> {
                let mut set = ClauseSet::new();
                while let Some(clause) = items.next_element()? {
                    set.insert(clause);
                }
                Ok(set)
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_seq(Clauses)
        } else {
            // Every bit is a clause: any byte is a set.
            const _: () = assert!(Art28Clause::ALL.len() == u8::BITS as usize);
            u8::deserialize(deserializer).map(ClauseSet)
        }
    }
}

impl JsonSchema for ClauseSet {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        BTreeSet::<Art28Clause>::schema_name()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        BTreeSet::<Art28Clause>::json_schema(generator)
    }
}

impl Art28Clause {
    pub const ALL: [Art28Clause; 8] = [
        Self::Instructions,
        Self::Confidentiality,
        Self::Security,
        Self::Subprocessing,
        Self::DataSubjectAssistance,
        Self::ComplianceAssistance,
        Self::DeletionOrReturn,
        Self::Audits,
    ];

    /// What the clause binds the processor to, in a few words.
    pub fn description(self) -> &'static str {
        match self {
            Self::Instructions => "acts only on documented instructions, including on transfers",
            Self::Confidentiality => "the persons authorised are bound to confidentiality",
            Self::Security => "takes the measures of Art. 32",
            Self::Subprocessing => "engages sub-processors only under Art. 28(2) and (4)",
            Self::DataSubjectAssistance => "helps the controller answer data-subject requests",
            Self::ComplianceAssistance => {
                "helps with security, breaches, DPIAs and prior consultation (Arts 32–36)"
            }
            Self::DeletionOrReturn => "deletes or returns the data at the end",
            Self::Audits => "makes information available and allows audits",
        }
    }

    /// The clause's name in manifests (`instructions`, `data-subject-assistance`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instructions => "instructions",
            Self::Confidentiality => "confidentiality",
            Self::Security => "security",
            Self::Subprocessing => "subprocessing",
            Self::DataSubjectAssistance => "data-subject-assistance",
            Self::ComplianceAssistance => "compliance-assistance",
            Self::DeletionOrReturn => "deletion-or-return",
            Self::Audits => "audits",
        }
    }

    pub fn point(self) -> &'static str {
        match self {
            Self::Instructions => "Art. 28(3)(a)",
            Self::Confidentiality => "Art. 28(3)(b)",
            Self::Security => "Art. 28(3)(c)",
            Self::Subprocessing => "Art. 28(3)(d)",
            Self::DataSubjectAssistance => "Art. 28(3)(e)",
            Self::ComplianceAssistance => "Art. 28(3)(f)",
            Self::DeletionOrReturn => "Art. 28(3)(g)",
            Self::Audits => "Art. 28(3)(h)",
        }
    }
}

/// How the processor may engage sub-processors (Art. 28(2)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubprocessingTerms {
    pub authorisation: AuthorisationMode,
    /// The period to decide (specific) or to object (general), in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_channel: Option<NoticeChannel>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selection_criteria: Vec<SelectionCriterion>,
    /// Sub-processors named and authorised in the contract itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preauthorised: Vec<Slug>,
    /// Kinds of sub-processor the contract claims to authorise without naming them
    /// ("courier companies"). Recorded so that the checks can say it is void: the controller
    /// decides on named candidates only (Art. 28(2)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preauthorised_categories: Vec<String>,
    /// Whether the controller's request for more information about a candidate stops the
    /// objection period until the processor answers (otherwise it keeps running).
    /// True unless the contract says otherwise: the controller's opportunity to object
    /// (Art. 28(2)) is real only once it has the information it asked for.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub information_pauses: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthorisationMode {
    /// An explicit yes on each named candidate; until then, no.
    Specific,
    /// Prior notice of each candidate; silence until the deadline is a yes.
    General,
}

impl AuthorisationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Specific => "specific",
            Self::General => "general",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeChannel {
    Email,
    Portal,
    PublicPage,
}

/// A criterion a sub-processor must meet under the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionCriterion {
    /// Processing only inside the EEA.
    EeaOnly,
    /// Processing only inside the EEA or in a country with an adequacy decision.
    EeaOrAdequate,
    /// Must hold the named certification (`iso27701`).
    Certification(Slug),
}

/// One link of a chain: `processor` engaged by `engaged_by` for one activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Engagement {
    pub id: Slug,
    pub activity: Slug,
    /// The controller, or the processor above in the chain.
    pub engaged_by: Slug,
    pub processor: Slug,
    /// What the processor does (the description of processing).
    pub service: Text,
    /// The recipient category for notices (`E-mail delivery platform`); defaults to the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Text>,
    /// The `service` and `category` in other languages, for notices in them:
    /// `{es: {service: Envío de boletines, category: Plataforma de envío de correo}}`.
    #[serde(default, skip_serializing_if = "Translations::is_empty")]
    pub translations: Translations,
    /// Where the processing happens; empty means the processor's own country.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Location>,
    /// The transfer mechanism for every location outside the EEA that names none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Box<TransferMechanism>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<Slug>,
    /// First day in force.
    #[schemars(with = "IsoDate")]
    pub since: Date,
    /// Last day in force, inclusive; none while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<IsoDate>")]
    pub until: Option<Date>,
    /// The decision that allowed this link, when one was needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorisation: Option<Box<Authorisation>>,
    /// Findings of the checks acknowledged on this entry, each with a reason and an expiry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledgements: Vec<Acknowledgement>,
}

impl Engagement {
    pub fn in_force_on(&self, date: Date) -> bool {
        self.since <= date && self.until.is_none_or(|until| date <= until)
    }

    /// The recipient category for notices.
    pub fn category(&self) -> &str {
        self.category.as_deref().unwrap_or(&self.service)
    }

    /// Where the processing happens: the recorded locations, or else the processor's country.
    pub fn countries(
        &self,
        processor_country: CountryCode,
    ) -> impl Iterator<Item = CountryCode> + '_ {
        let own = self.locations.is_empty().then_some(processor_country);
        own.into_iter()
            .chain(self.locations.iter().map(Location::country))
    }
}

/// A place of processing: a country, with its own transfer mechanism where it differs from the
/// engagement's. Written `IL` or `{country: US, transfer: {scc: {module: 3}}}`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Location {
    Country(CountryCode),
    Detailed(DetailedLocation),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetailedLocation {
    pub country: CountryCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferMechanism>,
}

/// By hand rather than `untagged`, so that an error inside the detailed form says what is
/// wrong instead of "did not match any variant".
impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LocationVisitor;
        impl<'de> serde::de::Visitor<'de> for LocationVisitor {
            type Value = Location;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a country code such as IL, or {country: US, transfer: ...}")
            }
            fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<Location, E> {
                raw.parse().map(Location::Country).map_err(E::custom)
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<Location, M::Error> {
                DetailedLocation::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Location::Detailed)
            }
        }
        deserializer.deserialize_any(LocationVisitor)
    }
}

impl Location {
    pub fn country(&self) -> CountryCode {
        match self {
            Self::Country(code) => *code,
            Self::Detailed(detailed) => detailed.country,
        }
    }

    pub fn transfer(&self) -> Option<&TransferMechanism> {
        match self {
            Self::Country(_) => None,
            Self::Detailed(detailed) => detailed.transfer.as_ref(),
        }
    }
}

/// The ground a transfer outside the EEA relies on (Chapter V).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TransferMechanism {
    /// An adequacy decision (Art. 45).
    Adequacy,
    /// Standard contractual clauses (Art. 46(2)(c)).
    Scc(SccTerms),
    /// Binding corporate rules (Arts 46(2)(b), 47).
    Bcr,
    /// An approved code of conduct with binding commitments (Art. 46(2)(e)).
    CodeOfConduct,
    /// An approved certification mechanism with binding commitments (Art. 46(2)(f)).
    Certification,
    /// A derogation for a specific situation (Art. 49(1)).
    Derogation(Art49Ground),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SccTerms {
    /// Module of Decision 2021/914: 1 C2C, 2 C2P, 3 P2P, 4 P2C.
    pub module: u8,
    /// The set of clauses (`scc-2021`); by default the one in force on the date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Slug>,
}

/// Art. 49(1)(a)–(g).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Art49Ground {
    ExplicitConsent,
    ContractWithSubject,
    ContractInSubjectsInterest,
    PublicInterest,
    LegalClaims,
    VitalInterests,
    PublicRegister,
    /// Art. 49(1), second subparagraph: compelling legitimate interests of the controller, for a
    /// non-repetitive transfer of few subjects, the authority and the subjects informed.
    CompellingLegitimateInterests,
}

/// The decision on a sub-processor, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Authorisation {
    /// The controller (or joint controller) who decided.
    pub by: Slug,
    pub decision: Decision,
    #[schemars(with = "IsoDate")]
    pub date: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Approved,
    /// No objection within the window of a general authorisation.
    DeemedApproved,
    Objected,
    Pending,
}

/// A finding of the checks that the organisation has looked at and accepts for a while: the
/// rule, why, and until when. It is part of the entry, so it shows in plans, exports and
/// the audit trail; the finding is still reported, marked acknowledged, and counts again
/// once the acknowledgement expires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    /// The rule's id (`custos check --list-rules`).
    pub rule: Slug,
    /// Why the finding is accepted for now.
    pub reason: String,
    /// Last day the acknowledgement holds, inclusive.
    #[schemars(with = "IsoDate")]
    pub until: Date,
    /// Who accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl Acknowledgement {
    pub fn holds_on(&self, date: Date) -> bool {
        date <= self.until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clause_names_are_the_manifest_names() {
        for clause in Art28Clause::ALL {
            assert_eq!(
                serde_json::to_value(clause).ok(),
                Some(serde_json::Value::String(clause.as_str().to_owned())),
            );
        }
    }

    #[test]
    fn a_clause_set_reads_and_writes_as_the_sorted_set_it_replaced() {
        let text = r#"["audits", "instructions", "audits", "security"]"#;
        let set: ClauseSet = serde_json::from_str(text).unwrap();
        let tree: BTreeSet<Art28Clause> = serde_json::from_str(text).unwrap();
        assert_eq!(set.len(), 3, "duplicates fold");
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"["instructions","security","audits"]"#,
            "in the order of Art. 28(3)"
        );
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            serde_json::to_string(&tree).unwrap()
        );
        let schema = |s: schemars::Schema| serde_json::to_value(s).unwrap();
        assert_eq!(
            schema(schemars::schema_for!(ClauseSet)),
            schema(schemars::schema_for!(BTreeSet<Art28Clause>))
        );
        let refused = serde_json::from_str::<ClauseSet>(r#"["instructions", "loyalty"]"#)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("loyalty"), "{refused}");
        assert!(serde_json::from_str::<ClauseSet>(r#""audits""#).is_err());
        assert!(set.contains(&Art28Clause::Security) && !set.contains(&Art28Clause::Subprocessing));
        let other: ClauseSet = [Art28Clause::Security].into_iter().collect();
        let missing: Vec<Art28Clause> = set.difference(&other).collect();
        assert_eq!(missing, [Art28Clause::Instructions, Art28Clause::Audits]);
        let mut grown = other;
        assert!(grown.insert(Art28Clause::Audits));
        assert!(!grown.insert(Art28Clause::Security));
        assert_eq!(format!("{grown:?}"), "{Security, Audits}");
        grown.clear();
        assert!(grown.is_empty());
        let all: ClauseSet = Art28Clause::ALL.into_iter().collect();
        assert_eq!(all.iter().collect::<Vec<_>>(), Art28Clause::ALL);
    }
}
