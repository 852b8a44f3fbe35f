//! The checks: rules that find, in a register, every link of every chain that breaks the law,
//! before a regulator does. Each finding names its rule, the objects involved (the link, its
//! depth and its path from the controller) and the entry to fix.
//!
//! Every engagement ever recorded is checked, each judged on one day: `on` (today, normally)
//! when it is in force then, its last day when it has ended, its first day when it has not
//! started yet — so a planned link is checked before it starts, and a past one stays on
//! record as it was.
//!
//! A processor that sits under several processors of one activity is reached by several
//! paths; its link is checked once, on the first path in chain order.

pub mod rules;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::Date;
use crate::FastSet;
use crate::chain::{Chain, ChainError, Link};
use crate::history::ContractHistory;
use crate::model::{
    Acknowledgement, Activity, Art28Clause, AuthorisationMode, Contract, Decision, Engagement,
    Organisation, OrganisationKind, RiskAssessmentKind, SelectionCriterion, SpecialData,
    SubprocessingTerms,
};
use crate::notice::{self, PublishedNotice};
use crate::refdata::ReferenceData;
use crate::register::{EngagementIx, EntityKind, OrgIx, Register};
use crate::transfer::{self, Destination, Transfer};
use crate::values::Slug;

pub use rules::{Rule, Severity};

/// The register entry a finding is about: where it is fixed, located and acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
pub struct ObjectRef {
    pub kind: EntityKind,
    pub id: Slug,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    /// The entry to fix.
    pub object: ObjectRef,
    /// The processing activity whose chain shows the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<Slug>,
    /// The link of the chain, when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engagement: Option<Slug>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// Organisations from the controller down to the link's processor.
    #[serde(skip_serializing_if = "<[Slug]>::is_empty")]
    pub path: Arc<[Slug]>,
    /// What is wrong, naming the objects involved. Shared, as the path: a report is made of
    /// the findings kept from the last one, copied.
    pub message: Arc<str>,
    /// The acknowledgement in force that covers this finding: reported, but not counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledgement>,
    /// The last day of an acknowledgement of this finding that has run out.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::values::IsoDate>")]
    pub acknowledgement_expired: Option<Date>,
}

impl Finding {
    fn new(rule: &'static Rule, object: ObjectRef, message: String) -> Self {
        Self {
            rule: rule.id,
            severity: rule.severity,
            title: rule.title,
            object,
            activity: None,
            engagement: None,
            depth: None,
            path: Arc::new([]),
            message: message.into(),
            acknowledged: None,
            acknowledgement_expired: None,
        }
    }

    /// Whether the finding counts (towards `--fail-on`): it is not acknowledged.
    pub fn counts(&self) -> bool {
        self.acknowledged.is_none()
    }

    pub fn rule(&self) -> Option<&'static Rule> {
        rules::rule(self.rule)
    }
}

/// Which findings to keep (the API's query, the CLI's options).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub activity: Option<String>,
    /// Findings about the organisation, on a path through it, or in an activity it controls.
    pub organisation: Option<String>,
    /// At this severity or above.
    pub severity: Option<Severity>,
    pub rule: Option<String>,
}

impl Filter {
    pub fn matches(&self, finding: &Finding, register: &Register) -> bool {
        let activity_ok = self
            .activity
            .as_deref()
            .is_none_or(|id| finding.activity.as_ref().is_some_and(|a| a.as_str() == id));
        let organisation_ok = self.organisation.as_deref().is_none_or(|org| {
            (finding.object.kind == EntityKind::Organisation && finding.object.id.as_str() == org)
                || finding.path.iter().any(|p| p.as_str() == org)
                || finding
                    .activity
                    .as_ref()
                    .and_then(|a| register.activity(a.as_str()))
                    .is_some_and(|a| a.accepted_controllers().any(|c| c.as_str() == org))
        });
        let severity_ok = self.severity.is_none_or(|s| finding.severity >= s);
        let rule_ok = self.rule.as_deref().is_none_or(|r| finding.rule == r);
        activity_ok && organisation_ok && severity_ok && rule_ok
    }
}

/// Counts of the findings that count, by severity, and of the acknowledged ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    pub acknowledged: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The day the register was judged on.
    pub on: Date,
    pub summary: Summary,
    /// By activity (register-wide findings last), then severity (errors first), then depth.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether any finding that counts is at `threshold` or above.
    pub fn fails_at(&self, threshold: Severity) -> bool {
        self.findings
            .iter()
            .any(|f| f.counts() && f.severity >= threshold)
    }

    /// Keeps only the findings `filter` matches, and counts again.
    pub fn retain(&mut self, filter: &Filter, register: &Register) {
        self.findings.retain(|f| filter.matches(f, register));
        self.summary = summarise(&self.findings);
    }
}

/// Runs every rule over `register`, judged on `on`.
pub fn check(register: &Register, on: Date) -> Result<Report, ChainError> {
    check_with_notices(register, on, &[])
}

/// Runs every rule over `register`, and judges the latest published version of each notice
/// in `published` against it (`notice-out-of-date`).
pub fn check_with_notices(
    register: &Register,
    on: Date,
    published: &[PublishedNotice],
) -> Result<Report, ChainError> {
    check_with(register, on, published, &ContractHistory::default())
}

/// What the checks read besides the register: the latest published notices, and the
/// superseded versions of contracts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    pub published: Vec<PublishedNotice>,
    pub contracts: ContractHistory,
    /// Where each breach stands, for the breach rules.
    pub breaches: Vec<crate::breach::Standing>,
}

/// The checks with their evidence: notices judged, each link judged against the version of its
/// contracts in force on the day it is judged.
pub fn check_with_evidence(
    register: &Register,
    on: Date,
    evidence: &Evidence,
) -> Result<Report, ChainError> {
    check_all(
        register,
        on,
        &evidence.published,
        &evidence.contracts,
        &evidence.breaches,
    )
}

/// As [`check_with_notices`], judging each link against the version of its contracts in
/// force on the day it is judged (`history`: the superseded versions).
pub fn check_with(
    register: &Register,
    on: Date,
    published: &[PublishedNotice],
    history: &ContractHistory,
) -> Result<Report, ChainError> {
    check_all(register, on, published, history, &[])
}

fn check_all(
    register: &Register,
    on: Date,
    published: &[PublishedNotice],
    history: &ContractHistory,
    breaches: &[crate::breach::Standing],
) -> Result<Report, ChainError> {
    Ok(ChainFindings::compute(register, on, history)?.report(register, published, breaches))
}

/// The findings of each activity's chain judged on one day, before the register-wide rules
/// and the acknowledgements: nearly all of the checks' work. An activity's findings read only
/// the activity, its links, their parties and their contracts, so they are kept from one
/// version of the register to the next and a write has only the activities it touched
/// judged again ([`Register::chains_touched_by`]).
#[derive(Debug, Clone)]
pub struct ChainFindings {
    on: Date,
    by_activity: HashMap<Slug, Arc<[Finding]>>,
}

impl ChainFindings {
    /// Every activity of `register` judged `on`, each link against the version of its contract
    /// in force on its day (`history`).
    pub fn compute(
        register: &Register,
        on: Date,
        history: &ContractHistory,
    ) -> Result<Self, ChainError> {
        let everything = Self {
            on,
            by_activity: HashMap::new(),
        };
        everything.judge_again(register, history, |_| true)
    }

    /// These findings brought up to `register`: the activities named in `touched`, and those
    /// not judged before, are judged again; the others keep their findings. `history` must be
    /// the one these were computed with, save for the contracts whose activities are touched.
    pub fn updated(
        &self,
        register: &Register,
        on: Date,
        history: &ContractHistory,
        touched: &HashSet<Slug>,
    ) -> Result<Self, ChainError> {
        if on != self.on {
            return Self::compute(register, on, history);
        }
        let mut by_activity = self.by_activity.clone();
        for id in touched {
            match register.activity(id.as_str()) {
                Some(activity) => {
                    let mut findings = Vec::new();
                    ActivityCheck::run(register, history, activity, on, &mut findings)?;
                    by_activity.insert(id.clone(), findings.into());
                }
                None => {
                    by_activity.remove(id);
                }
            }
        }
        let updated = Self { on, by_activity };
        // Every activity added was touched, every one removed too: the kept findings cover the
        // register again. Should they not, the missing ones are judged.
        if updated.by_activity.len() == register.activities().len() {
            Ok(updated)
        } else {
            updated.judge_again(register, history, |_| false)
        }
    }

    /// The day the chains were judged on.
    pub fn on(&self) -> Date {
        self.on
    }

    /// Whether `activity`'s findings are the very ones of `other` (shared, not judged again).
    pub fn shares_with(&self, other: &Self, activity: &str) -> bool {
        match (
            self.by_activity.get(activity),
            other.by_activity.get(activity),
        ) {
            (Some(mine), Some(theirs)) => Arc::ptr_eq(mine, theirs),
            _ => false,
        }
    }

    /// The activities of `register` for which `again` holds (or that have no findings kept)
    /// judged anew, on as many threads as there are cores when they are many.
    fn judge_again(
        &self,
        register: &Register,
        history: &ContractHistory,
        again: impl Fn(&Activity) -> bool + Sync,
    ) -> Result<Self, ChainError> {
        let activities = register.activities();
        let judge = |part: &[Activity]| -> Result<Vec<Arc<[Finding]>>, ChainError> {
            part.iter()
                .map(|activity| match self.by_activity.get(&activity.id) {
                    Some(kept) if !again(activity) => Ok(kept.clone()),
                    _ => {
                        let mut findings = Vec::new();
                        ActivityCheck::run(register, history, activity, self.on, &mut findings)?;
                        Ok(findings.into())
                    }
                })
                .collect()
        };
        let to_judge = activities
            .iter()
            .filter(|a| !self.by_activity.contains_key(&a.id) || again(a))
            .count();
        // Activities are independent: split them over the cores when there are many to judge.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(to_judge.div_ceil(64))
            .max(1);
        let chunk = activities.len().div_ceil(threads).max(1);
        let parts: Vec<Result<Vec<Arc<[Finding]>>, ChainError>> = if threads == 1 {
            vec![judge(activities)]
        } else {
            std::thread::scope(|scope| {
                let workers: Vec<_> = activities
                    .chunks(chunk)
                    .map(|part| scope.spawn(|| judge(part)))
                    .collect();
                // A worker that panicked must not pass for a clean register: its panic goes on.
                workers
                    .into_iter()
                    .map(|w| {
                        w.join()
                            .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
                    })
                    .collect()
            })
        };
        let mut by_activity = HashMap::with_capacity(activities.len());
        let mut ids = activities.iter().map(|a| a.id.clone());
        for part in parts {
            for findings in part? {
                if let Some(id) = ids.next() {
                    by_activity.insert(id, findings);
                }
            }
        }
        Ok(Self {
            on: self.on,
            by_activity,
        })
    }

    /// The report: these findings with the register-wide rules (notices judged against
    /// `published`, data protection officers, `breaches`), the acknowledgements applied,
    /// sorted and counted.
    pub fn report(
        &self,
        register: &Register,
        published: &[PublishedNotice],
        breaches: &[crate::breach::Standing],
    ) -> Report {
        let on = self.on;
        let kept: usize = self.by_activity.values().map(|f| f.len()).sum();
        let mut findings: Vec<Finding> = Vec::with_capacity(kept);
        for activity in register.activities() {
            if let Some(kept) = self.by_activity.get(&activity.id) {
                findings.extend_from_slice(kept);
            }
        }
        findings.extend(notice_findings(register, on, published));
        findings.extend(dpo_findings(register, on));
        findings.extend(breach_findings(register, breaches));
        apply_acknowledgements(register, on, &mut findings);
        sort(register, &mut findings);
        Report {
            on,
            summary: summarise(&findings),
            findings,
        }
    }
}

/// The breach rules, over where each breach stands (judged by the app at the time it reads
/// them): relays later than their period, controllers past 72 hours without a decision, and
/// notifiable breaches never filed.
fn breach_findings(register: &Register, breaches: &[crate::breach::Standing]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for standing in breaches {
        for late in &standing.late_relays {
            let object = match late.engagements.first() {
                Some(engagement) => ObjectRef {
                    kind: EntityKind::Engagement,
                    id: engagement.clone(),
                },
                None => ObjectRef {
                    kind: EntityKind::Organisation,
                    id: late.sender.clone(),
                },
            };
            let mut finding = Finding::new(
                &rules::BREACH_RELAY_LATE,
                object,
                format!(
                    "{} passed breach {} to {} {} after becoming aware of it; its period is {} hours ({})",
                    late.sender,
                    standing.breach,
                    late.recipient,
                    late.after,
                    late.period_hours,
                    late.contract.as_ref().map_or_else(
                        || "no contract sets one: without undue delay".to_owned(),
                        |c| format!("contract {c}")
                    ),
                ),
            );
            finding.engagement = late.engagements.first().cloned();
            findings.push(finding);
        }
        for case in &standing.cases {
            let rule = match case.gap {
                crate::breach::CaseGap::Undecided => &rules::BREACH_UNDECIDED,
                crate::breach::CaseGap::NotFiled => &rules::BREACH_NOT_FILED,
            };
            let name = register
                .organisation(case.controller.as_str())
                .map_or(case.controller.as_str(), |o| o.name.as_str());
            let message = match case.gap {
                crate::breach::CaseGap::Undecided => format!(
                    "{name} became aware of breach {} at {} and has recorded no decision; its 72 hours ended at {}",
                    standing.breach, case.aware_at, case.deadline
                ),
                crate::breach::CaseGap::NotFiled => format!(
                    "{name} decided breach {} is to be notified, but no filing with the authority is recorded; its 72 hours ended at {}",
                    standing.breach, case.deadline
                ),
            };
            findings.push(Finding::new(
                rule,
                ObjectRef {
                    kind: EntityKind::Organisation,
                    id: case.controller.clone(),
                },
                message,
            ));
        }
    }
    findings
}

/// `dpo-missing` (Art. 37(1)): an organisation that must designate a data protection officer
/// and records none: a public body (a), or a controller or processor of an activity of
/// large-scale regular and systematic monitoring (b) or of special-category or criminal data
/// on a large scale (c). The first ground found is named.
fn dpo_findings(register: &Register, on: Date) -> Vec<Finding> {
    let mut grounds: std::collections::BTreeMap<&Slug, String> = std::collections::BTreeMap::new();
    for organisation in register.organisations() {
        if organisation.kind == OrganisationKind::PublicBody {
            grounds.insert(
                &organisation.id,
                "is a public body (Art. 37(1)(a))".to_owned(),
            );
        }
    }
    for (index, activity) in register.activities().iter().enumerate() {
        let sensitive = activity
            .special_data()
            .any(|(_, kind)| kind != SpecialData::NationalIdentifier);
        let ground = match (
            activity.large_scale,
            activity.systematic_monitoring,
            sensitive,
        ) {
            (true, true, _) => {
                "regular and systematic monitoring of data subjects on a large scale (Art. 37(1)(b))"
            }
            (true, false, true) => {
                "special categories or criminal data on a large scale (Art. 37(1)(c))"
            }
            _ => continue,
        };
        for controller in activity.accepted_controllers() {
            grounds
                .entry(controller)
                .or_insert_with(|| format!("controls activity {}, {ground}", activity.id));
        }
        for &link in register.engagements_of_activity(index as u32) {
            let engagement = register.engagement_at(link);
            if engagement.in_force_on(on) {
                grounds
                    .entry(&engagement.processor)
                    .or_insert_with(|| format!("processes for activity {}, {ground}", activity.id));
            }
        }
    }
    grounds
        .into_iter()
        .filter_map(|(id, ground)| {
            let organisation = register.organisation(id.as_str())?;
            organisation.dpo.is_none().then(|| {
                Finding::new(
                    &rules::DPO_MISSING,
                    ObjectRef {
                        kind: EntityKind::Organisation,
                        id: id.clone(),
                    },
                    format!("{id} {ground} and records no data protection officer"),
                )
            })
        })
        .collect()
}

/// `notice-out-of-date`, on the controller, for each published notice the register has
/// outgrown. `published` holds latest versions; an older version of the same notice is skipped.
fn notice_findings(register: &Register, on: Date, published: &[PublishedNotice]) -> Vec<Finding> {
    let mut latest: std::collections::BTreeMap<(&Slug, &Slug), &PublishedNotice> =
        std::collections::BTreeMap::new();
    for notice in published {
        let slot = latest
            .entry((&notice.controller, &notice.name))
            .or_insert(notice);
        if notice.version > slot.version {
            *slot = notice;
        }
    }
    let mut findings = Vec::new();
    for notice in latest.into_values() {
        let Some(stale) = notice::out_of_date(register, notice, on) else {
            continue;
        };
        let mut message = format!(
            "The notice {:?} of {} (version {}, published {}) is out of date",
            notice.name.as_str(),
            notice.controller,
            notice.version,
            notice.notice.on
        );
        match (&stale.broken, stale.since) {
            (Some(reason), _) => {
                message.push_str(&format!(": it can no longer be generated ({reason})"))
            }
            (None, since) => {
                if let Some(since) = since {
                    message.push_str(&format!(" since {since}"));
                }
                message.push_str(": ");
                message.push_str(&stale.diff.lines().join("; "));
            }
        }
        findings.push(Finding::new(
            &rules::NOTICE_OUT_OF_DATE,
            ObjectRef {
                kind: EntityKind::Organisation,
                id: notice.controller.clone(),
            },
            message,
        ));
    }
    findings
}

fn summarise(findings: &[Finding]) -> Summary {
    let mut summary = Summary::default();
    for finding in findings {
        summary.add(finding);
    }
    summary
}

impl Summary {
    /// Counts one more finding.
    pub fn add(&mut self, finding: &Finding) {
        if !finding.counts() {
            self.acknowledged += 1;
            return;
        }
        match finding.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
            Severity::Info => self.infos += 1,
        }
    }
}

/// By activity (register-wide findings last), then severity (errors first), depth and rule;
/// within that, findings keep the chain's depth-first order. Keys are small integers: a
/// register with every link broken has millions of findings.
fn sort(register: &Register, findings: &mut [Finding]) {
    findings.sort_by_cached_key(|f| {
        (
            f.activity
                .as_ref()
                .and_then(|a| register.activity_index(a.as_str()))
                .unwrap_or(u32::MAX),
            std::cmp::Reverse(f.severity),
            f.depth.unwrap_or(0),
            rules::ALL.iter().position(|r| r.id == f.rule),
        )
    });
}

/// The day a link is judged on: `on` while it is in force, else the nearest day it was.
fn judged_on(engagement: &Engagement, on: Date) -> Date {
    if on < engagement.since {
        engagement.since
    } else {
        match engagement.until {
            Some(until) if until < on => until,
            _ => on,
        }
    }
}

/// The rules over one activity and its chain.
struct ActivityCheck<'r, 'o> {
    register: &'r Register,
    /// Superseded versions of contracts: a link is judged on its day's text.
    history: &'r ContractHistory,
    activity: &'r Activity,
    chain: Chain<'r>,
    on: Date,
    out: &'o mut Vec<Finding>,
    /// (rule, contract or organisation) already reported in this activity: one finding each,
    /// on the first link.
    reported: HashSet<(&'static str, EntityKind, &'r Slug)>,
    controllers: String,
}

impl<'r, 'o> ActivityCheck<'r, 'o> {
    fn run(
        register: &'r Register,
        history: &'r ContractHistory,
        activity: &'r Activity,
        on: Date,
        out: &'o mut Vec<Finding>,
    ) -> Result<(), ChainError> {
        let chain = Chain::derive(register, activity.id.as_str(), None)?;
        let mut check = ActivityCheck {
            register,
            history,
            activity,
            chain,
            on,
            out,
            reported: HashSet::new(),
            controllers: activity
                .controllers()
                .map(Slug::as_str)
                .collect::<Vec<_>>()
                .join(" and "),
        };
        let mut seen_links: FastSet<EngagementIx> = FastSet::default();
        let mut seen_processors: FastSet<OrgIx> = FastSet::default();
        let mut first_link: Option<&'r Engagement> = None;
        let mut transfers = Vec::new();
        for index in 0..check.chain.links.len() {
            let link = check.chain.links[index];
            if !seen_links.insert(link.engagement) {
                continue;
            }
            let engagement = check.chain.engagement(&link);
            if first_link.is_none_or(|first| engagement.since < first.since) {
                first_link = Some(engagement);
            }
            let at = LinkAt {
                index,
                link,
                engagement,
                processor: check.chain.processor(&link),
                date: judged_on(engagement, on),
            };
            check.contract_rules(&at);
            if link.depth >= 2 {
                check.authorisation_rule(&at);
                check.selection_criteria_rule(&at);
            }
            check.transfer_rules(&at, &mut transfers);
            if seen_processors.insert(register.link_parties(link.engagement).1) {
                check.processor_rules(&at);
            }
        }
        check.activity_rules(first_link);
        Ok(())
    }

    /// The contract of a link, as it read on `day`.
    fn contract_of(&self, link: &Link, day: Date) -> Option<&'r Contract> {
        self.register
            .link_contract(link.engagement)
            .map(|current| self.history.on(current, day))
    }

    /// Whether `above` imposes some of what `contract` lacks of `reference`: the contract
    /// directly above carries the same obligations the sub-contract is missing.
    fn lacks_any_of(&self, contract: &Contract, above: &Contract, reference: &Contract) -> bool {
        let missing = |c: &Contract| {
            reference
                .clauses
                .iter()
                .any(|x| c.clauses.contains(&x) && !contract.clauses.contains(&x))
                || reference
                    .security
                    .iter()
                    .any(|m| c.security.contains(m) && !contract.security.contains(m))
        };
        missing(above)
    }

    /// The link at depth 1 of `link`'s path: the one engaged by the controller.
    fn root(&self, link: Link) -> Link {
        let mut root = link;
        while let Some((_, parent)) = self.parent(&root) {
            root = parent;
        }
        root
    }

    fn parent(&self, link: &Link) -> Option<(usize, Link)> {
        link.parent
            .map(|p| (p as usize, self.chain.links[p as usize]))
    }

    /// Reports a finding at a link, once per (rule, object) in this activity.
    fn at_link(
        &mut self,
        rule: &'static Rule,
        at: &LinkAt<'r>,
        object: Object<'r>,
        message: String,
    ) {
        let (kind, id) = object.key();
        // A link is visited once, and reports each rule at most once; a contract or a
        // processor can sit on many links.
        if kind != EntityKind::Engagement && !self.reported.insert((rule.id, kind, id)) {
            return;
        }
        let mut finding = Finding::new(
            rule,
            ObjectRef {
                kind,
                id: id.clone(),
            },
            message,
        );
        finding.activity = Some(self.activity.id.clone());
        finding.engagement = Some(at.engagement.id.clone());
        finding.depth = Some(at.link.depth);
        finding.path = self.chain.path(at.index).into_iter().cloned().collect();
        self.out.push(finding);
    }

    fn about_activity(&mut self, rule: &'static Rule, message: String) {
        let mut finding = Finding::new(
            rule,
            ObjectRef {
                kind: EntityKind::Activity,
                id: self.activity.id.clone(),
            },
            message,
        );
        finding.activity = Some(self.activity.id.clone());
        self.out.push(finding);
    }

    fn contract_rules(&mut self, at: &LinkAt<'r>) {
        let engagement = at.engagement;
        let Some(contract) = self.contract_of(&at.link, at.date) else {
            self.at_link(
                &rules::NO_CONTRACT,
                at,
                Object::Engagement(engagement),
                format!(
                    "{} processes for {} on behalf of {} with no contract recorded",
                    engagement.processor, engagement.engaged_by, self.controllers
                ),
            );
            return;
        };
        if let Some(expires) = contract.expires
            && expires < at.date
        {
            self.at_link(
                &rules::CONTRACT_EXPIRED,
                at,
                Object::Contract(contract),
                format!(
                    "contract {} between {} and {} expired on {expires}, but {} still processes on behalf of {} on {}",
                    contract.id,
                    contract.between[0],
                    contract.between[1],
                    engagement.processor,
                    self.controllers,
                    at.date
                ),
            );
            return;
        }
        if let Some(reason) = expiry_reminder(contract, at.date) {
            self.at_link(
                &rules::CONTRACT_EXPIRING,
                at,
                Object::Contract(contract),
                format!(
                    "contract {} between {} and {} {reason}",
                    contract.id, contract.between[0], contract.between[1]
                ),
            );
        }
        if at.link.depth >= 2 && !contract.identifies_controller {
            self.at_link(
                &rules::CONTROLLER_NOT_IDENTIFIED,
                at,
                Object::Contract(contract),
                format!(
                    "contract {} between {} and {} does not identify {} as the controller on whose behalf {} processes",
                    contract.id,
                    contract.between[0],
                    contract.between[1],
                    self.controllers,
                    engagement.processor
                ),
            );
        }
        // Art. 28(4): the same obligations as the contract between the controller and the
        // processor, at any depth, so each sub-contract is measured against the controller's
        // contract (the one at depth 1 of this path) and against the one directly above.
        let upstream = self
            .parent(&at.link)
            .and_then(|(_, parent)| self.contract_of(&parent, at.date));
        let controllers_contract = (at.link.depth >= 2)
            .then(|| self.contract_of(&self.root(at.link), at.date))
            .flatten();
        let mut measures: Vec<&'r Contract> = controllers_contract.into_iter().collect();
        if let Some(upstream) = upstream.filter(|u| measures.iter().all(|m| m.id != u.id)) {
            measures.push(upstream);
        }
        // Clauses missing here that a contract above has are one defect (Art. 28(4)), reported
        // once as weaker-than-upstream, not again as dpa-incomplete.
        let mut explained: Vec<Art28Clause> = Vec::new();
        let mut security_explained = false;
        let mut shortfalls = Vec::new();
        for (position, above) in measures.iter().enumerate() {
            let missing_clauses: Vec<Art28Clause> = above
                .clauses
                .difference(&contract.clauses)
                .filter(|c| !explained.contains(c))
                .collect();
            let missing_security: Vec<&Slug> = above
                .security
                .difference(&contract.security)
                .filter(|m| !measures[..position].iter().any(|o| o.security.contains(*m)))
                .collect();
            let mut lacks = Vec::new();
            if !missing_clauses.is_empty() {
                lacks.push(format!("the clauses {}", clause_list(&missing_clauses)));
            }
            if !missing_security.is_empty() {
                lacks.push(format!(
                    "the security measures {}",
                    missing_security
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let specific_above = above
                .subprocessing
                .as_ref()
                .is_some_and(|t| t.authorisation == AuthorisationMode::Specific);
            let general_here = contract
                .subprocessing
                .as_ref()
                .is_some_and(|t| t.authorisation == AuthorisationMode::General);
            if position == 0 && specific_above && general_here {
                lacks.push(
                    "the requirement of specific authorisation for sub-processors (it grants a general one)"
                        .to_owned(),
                );
            }
            explained.extend(&missing_clauses);
            security_explained |= !missing_security.is_empty() && contract.security.is_empty();
            let whose = if controllers_contract.is_some_and(|c| c.id == above.id) {
                format!("the controller's contract {}", above.id)
            } else {
                format!("contract {} above it", above.id)
            };
            let parties = format!("({} → {})", above.between[0], above.between[1]);
            if lacks.is_empty() {
                // The contract above imposes nothing more: say it carries the same gaps.
                if !shortfalls.is_empty() && self.lacks_any_of(contract, above, measures[0]) {
                    shortfalls.push(format!("as does {whose} {parties}"));
                }
                continue;
            }
            shortfalls.push(format!(
                "{} that {whose} {parties} imposes",
                lacks.join(" and ")
            ));
        }
        if !shortfalls.is_empty() {
            self.at_link(
                &rules::WEAKER_THAN_UPSTREAM,
                at,
                Object::Contract(contract),
                format!(
                    "contract {} ({} → {}) lacks {}",
                    contract.id,
                    contract.between[0],
                    contract.between[1],
                    shortfalls.join(", ")
                ),
            );
        }
        let missing: Vec<Art28Clause> = Art28Clause::ALL
            .into_iter()
            .filter(|c| !contract.clauses.contains(c) && !explained.contains(c))
            .collect();
        let no_security = contract.security.is_empty() && !security_explained;
        if !missing.is_empty() || no_security {
            let mut lacks = Vec::new();
            if !missing.is_empty() {
                lacks.push(format!("lacks {}", clause_list(&missing)));
            }
            if no_security {
                lacks.push("names no concrete security measure".to_owned());
            }
            self.at_link(
                &rules::DPA_INCOMPLETE,
                at,
                Object::Contract(contract),
                format!(
                    "contract {} between {} and {} {}",
                    contract.id,
                    contract.between[0],
                    contract.between[1],
                    lacks.join(" and ")
                ),
            );
        }
        if contract.breach_notice_hours.is_none() {
            self.at_link(
                &rules::BREACH_NOTICE_TERM_MISSING,
                at,
                Object::Contract(contract),
                format!(
                    "contract {} sets no period within which {} tells {} of a personal-data breach (breach_notice_hours)",
                    contract.id, contract.between[1], contract.between[0]
                ),
            );
        }
        if let Some(terms) = &contract.subprocessing {
            if let Some(gap) = blanket_gap(terms) {
                self.at_link(
                    &rules::BLANKET_GENERAL_AUTHORISATION,
                    at,
                    Object::Contract(contract),
                    format!(
                        "contract {} gives {} a general authorisation to engage sub-processors with {gap}: Art. 28(2) still obliges it to inform the controller of each one and let it object; the contract must say how (Art. 28(3)(d))",
                        contract.id, contract.between[1]
                    ),
                );
            }
            if !terms.preauthorised_categories.is_empty() {
                self.at_link(
                    &rules::CATEGORY_AUTHORISATION,
                    at,
                    Object::Contract(contract),
                    format!(
                        "contract {} pre-authorises {} as categories ({}): only named organisations can be authorised",
                        contract.id,
                        contract.between[1],
                        terms
                            .preauthorised_categories
                            .iter()
                            .map(|c| format!("{c:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }

    /// Art. 28(2): was the controller's prior authorisation obtained, in the mode the
    /// controller's own contract (the one at depth 1 of this path) sets?
    fn authorisation_rule(&mut self, at: &LinkAt<'r>) {
        let root_contract = self.contract_of(&self.root(at.link), at.date);
        let terms = root_contract.and_then(|c| c.subprocessing.as_ref());
        let engagement = at.engagement;
        if terms.is_some_and(|t| t.preauthorised.contains(&engagement.processor)) {
            return;
        }
        // Without terms, only a specific approval allows it. A general authorisation that names
        // no channel or period is still general: Art. 28(2) makes the processor inform and
        // let object whatever the contract says (the gap is a warning on the contract).
        let mode = match terms {
            Some(t) if t.authorisation == AuthorisationMode::General => AuthorisationMode::General,
            _ => AuthorisationMode::Specific,
        };
        let who = &self.controllers;
        let since = engagement.since;
        let problem = match (&engagement.authorisation, mode) {
            (None, AuthorisationMode::Specific) => Some(format!(
                "no prior specific authorisation by {who} is recorded"
            )),
            (None, AuthorisationMode::General) => Some(format!(
                "{who} was not informed in advance (no notice recorded) as the general authorisation requires"
            )),
            (Some(a), mode) => match a.decision {
                Decision::Approved if a.date > since => Some(format!(
                    "{} approved it on {}, after the link started on {since}: the authorisation must be prior",
                    a.by, a.date
                )),
                Decision::Approved => None,
                Decision::DeemedApproved if mode == AuthorisationMode::Specific => Some(format!(
                    "the controller's contract requires a specific authorisation, and only a deemed approval (silence) of {} is recorded",
                    a.by
                )),
                Decision::DeemedApproved if a.date > since => Some(format!(
                    "the objection period ended on {}, after the link started on {since}",
                    a.date
                )),
                Decision::DeemedApproved => None,
                Decision::Objected => Some(format!(
                    "{} objected on {}: the objection binds the processor",
                    a.by, a.date
                )),
                Decision::Pending => match mode {
                    AuthorisationMode::Specific => Some(format!(
                        "the request of {} to {} is still pending",
                        a.date, a.by
                    )),
                    AuthorisationMode::General => {
                        let days = terms.and_then(|t| t.decision_days).unwrap_or(0);
                        let deadline = a
                            .date
                            .checked_add(jiff::Span::new().days(i64::from(days)))
                            .unwrap_or(Date::MAX);
                        (since < deadline).then(|| {
                            format!(
                                "{} was informed on {}, and the link started on {since}, inside the objection period that ends on {deadline}",
                                a.by, a.date
                            )
                        })
                    }
                },
            },
        };
        if let Some(problem) = problem {
            let message = format!(
                "{} engaged {} at depth {} on {since}: {problem}",
                engagement.engaged_by, engagement.processor, at.link.depth
            );
            self.at_link(
                &rules::UNAUTHORISED_SUBPROCESSOR,
                at,
                Object::Engagement(engagement),
                message,
            );
        }
    }

    /// Criteria of every contract above the link bind its processor (Art. 28(4) flows them
    /// down); every criterion it fails is named in one finding.
    fn selection_criteria_rule(&mut self, at: &LinkAt<'r>) {
        let mut problems = Vec::new();
        let mut above = self.parent(&at.link);
        while let Some((_, ancestor)) = above {
            above = self.parent(&ancestor);
            let Some(contract) = self.contract_of(&ancestor, at.date) else {
                continue;
            };
            let Some(terms) = &contract.subprocessing else {
                continue;
            };
            for criterion in &terms.selection_criteria {
                if let Some(problem) = self.violation(criterion, at) {
                    problems.push(format!(
                        "contract {} ({} → {}) admits only sub-processors {}; {problem}",
                        contract.id,
                        contract.between[0],
                        contract.between[1],
                        crate::change::criterion_text(criterion)
                    ));
                }
            }
        }
        if !problems.is_empty() {
            self.at_link(
                &rules::SELECTION_CRITERIA_VIOLATED,
                at,
                Object::Engagement(at.engagement),
                problems.join("; "),
            );
        }
    }

    fn violation(&self, criterion: &SelectionCriterion, at: &LinkAt<'r>) -> Option<String> {
        use crate::change::{CriterionFailure, criterion_failure};
        let date = at.date;
        let countries: Vec<_> = at.engagement.countries(at.processor.country).collect();
        let name = &at.processor.id;
        let codes = |c: &[crate::values::CountryCode]| {
            c.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        Some(
            match (
                criterion,
                criterion_failure(criterion, at.processor, &countries, date)?,
            ) {
                (SelectionCriterion::EeaOnly, CriterionFailure::Countries(c)) => {
                    format!("{name} processes outside the EEA ({}) on {date}", codes(&c))
                }
                (_, CriterionFailure::Countries(c)) => format!(
                    "{name} processes in {} on {date}, outside the EEA and without an adequacy decision covering it",
                    codes(&c)
                ),
                (SelectionCriterion::Certification(scheme), _) => {
                    format!("{name} does not hold {scheme} on {date}")
                }
                (_, CriterionFailure::Uncertified) => {
                    format!("{name} lacks the certification on {date}")
                }
            },
        )
    }

    /// One finding per rule for the link, naming every destination it concerns.
    fn transfer_rules(&mut self, at: &LinkAt<'r>, found: &mut Vec<Transfer>) {
        found.clear();
        transfer::transfers_of_link(&self.chain, at.index, at.date, found);
        let mut by_rule: Vec<(&'static Rule, Vec<String>)> = Vec::new();
        for transfer in found.iter() {
            let destination = match &transfer.destination {
                Destination::Country(code) => ReferenceData::builtin().country_name(*code),
                Destination::InternationalOrganisation(key) => {
                    format!("the international organisation {key}")
                }
            };
            let prefix = format!(
                "{} → {} ({destination}) on {}",
                transfer.exporter, transfer.importer, transfer.assessed_on
            );
            let (rule, message) = if transfer.assessment.valid && !transfer.assessment.exceptional {
                // An adequate destination, a safeguard that holds, an onward transfer under
                // the link above, or a day the destination was outside Chapter V.
                continue;
            } else if transfer.mechanism.is_none() && transfer.onward.is_none() {
                (
                    &rules::TRANSFER_NO_MECHANISM,
                    format!("{prefix}: no transfer mechanism is recorded"),
                )
            } else if !transfer.assessment.valid {
                (
                    &rules::TRANSFER_MECHANISM_INVALID,
                    format!("{prefix}: {}", transfer.assessment.reason),
                )
            } else if transfer.assessment.exceptional {
                (
                    &rules::TRANSFER_DEROGATION_SYSTEMATIC,
                    format!(
                        "{prefix}: relies on an Art. 49 derogation, but the engagement transfers systematically from {} on",
                        at.engagement.since
                    ),
                )
            } else {
                continue;
            };
            match by_rule.iter_mut().find(|(r, _)| r.id == rule.id) {
                Some((_, messages)) => messages.push(message),
                None => by_rule.push((rule, vec![message])),
            }
        }
        for (rule, messages) in by_rule {
            self.at_link(
                rule,
                at,
                Object::Engagement(at.engagement),
                messages.join("; "),
            );
        }
    }

    /// Rules about the processor itself, once per activity, at its first link.
    fn processor_rules(&mut self, at: &LinkAt<'r>) {
        let processor = at.processor;
        let mut gaps = Vec::new();
        if processor
            .address
            .as_deref()
            .is_none_or(|a| a.trim().is_empty())
        {
            gaps.push("no address");
        }
        let reachable = processor.contact.as_ref().is_some_and(|c| {
            c.name.as_deref().is_some_and(|n| !n.trim().is_empty())
                || c.email.is_some()
                || c.phone.as_deref().is_some_and(|p| !p.trim().is_empty())
        });
        if !reachable {
            gaps.push("no contact person");
        }
        if !gaps.is_empty() {
            self.at_link(
                &rules::PROCESSOR_IDENTITY_INCOMPLETE,
                at,
                Object::Organisation(processor),
                format!(
                    "{} ({}) has {} on record",
                    processor.id,
                    processor.name,
                    gaps.join(" and ")
                ),
            );
        }
        // Only links still in force (or to come) rely on the processor's guarantees now.
        let current = at.engagement.until.is_none_or(|until| until >= self.on);
        if current {
            let expired: Vec<String> = processor
                .certifications
                .iter()
                .filter(|c| c.until.is_some_and(|until| until < self.on))
                .filter(|c| {
                    !processor
                        .certifications
                        .iter()
                        .any(|other| other.scheme == c.scheme && other.held_on(self.on))
                })
                .map(|c| {
                    format!(
                        "{} (expired {})",
                        c.scheme,
                        c.until.map(|u| u.to_string()).unwrap_or_default()
                    )
                })
                .collect();
            if !expired.is_empty() {
                self.at_link(
                    &rules::CERTIFICATION_EXPIRED,
                    at,
                    Object::Organisation(processor),
                    format!(
                        "{} holds no current {} on {}",
                        processor.id,
                        expired.join(", "),
                        self.on
                    ),
                );
            }
        }
    }

    fn activity_rules(&mut self, first_link: Option<&'r Engagement>) {
        let activity = self.activity;
        if activity.lawful_basis.is_none() {
            self.about_activity(
                &rules::LAWFUL_BASIS_MISSING,
                format!(
                    "activity {} records no lawful basis (Art. 6(1)(a)-(f))",
                    activity.id
                ),
            );
        }
        if activity.retention.is_none() {
            self.about_activity(
                &rules::RETENTION_MISSING,
                format!("activity {} records no retention period", activity.id),
            );
        }
        let special: Vec<&Slug> = activity
            .special_data()
            .filter(|(_, kind)| *kind == SpecialData::SpecialCategory)
            .map(|(category, _)| category)
            .collect();
        if !special.is_empty() && activity.special_category_condition.is_none() {
            self.about_activity(
                &rules::SPECIAL_CATEGORY_WITHOUT_CONDITION,
                format!(
                    "activity {} processes special categories ({}) with no Art. 9(2) condition recorded",
                    activity.id,
                    special.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
            );
        }
        self.dpia_rule(first_link);
    }

    fn dpia_rule(&mut self, first_link: Option<&'r Engagement>) {
        let activity = self.activity;
        // Art. 87 lets states set conditions for national identifiers; it is no DPIA ground. The
        // DPIA follows from Art. 35(1) read with the WP248 criteria and the national lists.
        let mut triggers: Vec<String> = activity
            .special_data()
            .map(|(category, kind)| match kind {
                SpecialData::NationalIdentifier => format!(
                    "{category} (a national identifier: WP248 criteria and the national lists of Art. 35(4))"
                ),
                _ => format!("{category} ({})", kind.article()),
            })
            .collect();
        let sensitive = activity
            .special_data()
            .any(|(_, kind)| kind != SpecialData::NationalIdentifier);
        if activity.large_scale {
            triggers.push("large scale".to_owned());
        }
        if triggers.is_empty() {
            return;
        }
        let triggers = triggers.join(", ");
        let start = first_link.map(|e| {
            format!(
                " before the first processor was engaged ({} → {}, engagement {}, since {})",
                e.engaged_by, e.processor, e.id, e.since
            )
        });
        let problem = match &activity.risk_assessment {
            None => Some(format!(
                "no DPIA or risk analysis is recorded{}",
                start.unwrap_or_default()
            )),
            Some(assessment) => match first_link {
                Some(first) if assessment.date > first.since => Some(format!(
                    "the assessment of {} came after the first processor was engaged ({} → {}, engagement {}, since {})",
                    assessment.date, first.engaged_by, first.processor, first.id, first.since
                )),
                _ if sensitive
                    && activity.large_scale
                    && assessment.kind == RiskAssessmentKind::RiskAnalysis =>
                {
                    Some(
                        "only a risk analysis is recorded, and special or criminal data on a large scale requires a DPIA (Art. 35(3)(b))"
                            .to_owned(),
                    )
                }
                _ => None,
            },
        };
        if let Some(problem) = problem {
            self.about_activity(
                &rules::DPIA_MISSING,
                format!("activity {} processes {triggers}: {problem}", activity.id),
            );
        }
    }
}

/// One link as the rules see it.
struct LinkAt<'r> {
    index: usize,
    link: Link,
    engagement: &'r Engagement,
    processor: &'r Organisation,
    /// The day the link is judged on.
    date: Date,
}

/// The entry a finding points at.
enum Object<'r> {
    Organisation(&'r Organisation),
    Contract(&'r Contract),
    Engagement(&'r Engagement),
}

impl<'r> Object<'r> {
    fn key(&self) -> (EntityKind, &'r Slug) {
        match self {
            Self::Organisation(o) => (EntityKind::Organisation, &o.id),
            Self::Contract(c) => (EntityKind::Contract, &c.id),
            Self::Engagement(e) => (EntityKind::Engagement, &e.id),
        }
    }
}

/// What a general authorisation lacks to be more than a blanket consent, if anything.
/// How long before a contract's end the checks remind of it.
pub const EXPIRY_NOTICE_DAYS: i64 = 60;

/// Why a contract in force on `on` needs renewing, if it does: it ends within
/// [`EXPIRY_NOTICE_DAYS`], or its renewal date has come.
pub fn expiry_reminder(contract: &Contract, on: Date) -> Option<String> {
    let ends_soon = contract.expires.filter(|expires| {
        *expires >= on
            && on
                .checked_add(jiff::Span::new().days(EXPIRY_NOTICE_DAYS))
                .is_ok_and(|limit| *expires <= limit)
    });
    match (ends_soon, contract.renewal.filter(|r| *r <= on)) {
        (Some(expires), _) => Some(format!(
            "expires on {expires}, {} day(s) after {on}",
            (expires - on).get_days()
        )),
        (None, Some(renewal)) => Some(format!("was due for renewal on {renewal}")),
        (None, None) => None,
    }
}

fn blanket_gap(terms: &SubprocessingTerms) -> Option<&'static str> {
    if terms.authorisation != AuthorisationMode::General {
        return None;
    }
    match (
        terms.notice_channel.is_some(),
        terms.decision_days.is_some_and(|d| d > 0),
    ) {
        (true, true) => None,
        (false, true) => Some("no channel to inform the controller of each candidate"),
        (true, false) => Some("no period for the controller to object"),
        (false, false) => {
            Some("no channel to inform the controller of each candidate and no period to object")
        }
    }
}

fn clause_list(clauses: &[Art28Clause]) -> String {
    clauses
        .iter()
        .map(|c| {
            format!(
                "{} ({})",
                serde_json::to_value(c)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                c.point()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The acknowledgements recorded on an entry.
fn acknowledgements_of<'r>(register: &'r Register, object: &ObjectRef) -> &'r [Acknowledgement] {
    let id = object.id.as_str();
    match object.kind {
        EntityKind::Organisation => register.organisation(id).map(|o| &o.acknowledgements[..]),
        EntityKind::Activity => register.activity(id).map(|a| &a.acknowledgements[..]),
        EntityKind::Contract => register.contract(id).map(|c| &c.acknowledgements[..]),
        EntityKind::Engagement => register.engagement(id).map(|e| &e.acknowledgements[..]),
    }
    .unwrap_or(&[])
}

/// Marks findings covered by an acknowledgement in force, notes the expired ones, and reports
/// acknowledgements in force that cover nothing.
fn apply_acknowledgements(register: &Register, on: Date, findings: &mut Vec<Finding>) {
    // The entries that record acknowledgements, with the activity an unused one is shown in.
    let entries = || {
        register.acknowledging().filter_map(|(kind, id)| {
            let (activity, acknowledgements) = match kind {
                EntityKind::Organisation => {
                    (None, &register.organisation(id.as_str())?.acknowledgements)
                }
                EntityKind::Activity => {
                    (Some(id), &register.activity(id.as_str())?.acknowledgements)
                }
                EntityKind::Contract => (None, &register.contract(id.as_str())?.acknowledgements),
                EntityKind::Engagement => {
                    let link = register.engagement(id.as_str())?;
                    (Some(&link.activity), &link.acknowledgements)
                }
            };
            Some((kind, id, activity, acknowledgements))
        })
    };
    if register.acknowledging().next().is_none() {
        return;
    }
    let mut used: HashSet<(EntityKind, Slug, Slug)> = HashSet::new();
    for finding in findings.iter_mut() {
        let acknowledgements = acknowledgements_of(register, &finding.object);
        for acknowledgement in acknowledgements
            .iter()
            .filter(|a| a.rule.as_str() == finding.rule)
        {
            if acknowledgement.holds_on(on) {
                finding.acknowledged = Some(acknowledgement.clone());
                used.insert((
                    finding.object.kind,
                    finding.object.id.clone(),
                    acknowledgement.rule.clone(),
                ));
            } else {
                finding.acknowledgement_expired = Some(acknowledgement.until);
            }
        }
        if finding.acknowledged.is_some() {
            finding.acknowledgement_expired = None;
        }
    }
    for (kind, id, activity, acknowledgements) in entries() {
        for acknowledgement in acknowledgements.iter().filter(|a| a.holds_on(on)) {
            if used.contains(&(kind, id.clone(), acknowledgement.rule.clone())) {
                continue;
            }
            let mut finding = Finding::new(
                &rules::ACKNOWLEDGEMENT_UNUSED,
                ObjectRef {
                    kind,
                    id: id.clone(),
                },
                format!(
                    "{kind} {id} acknowledges {} until {}, but that rule finds nothing there",
                    acknowledgement.rule, acknowledgement.until
                ),
            );
            finding.activity = activity.cloned();
            findings.push(finding);
        }
    }
}
