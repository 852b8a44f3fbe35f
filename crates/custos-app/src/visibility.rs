//! Visibility follows the chain. A user of an organisation sees the activities it controls with
//! their whole chains, and, where it is a processor, the link that engaged it and every link
//! below it; the organisations and contracts on what it sees; nothing else. An instance
//! administrator sees everything. Whatever is not visible does not exist for the caller (404).

use std::collections::HashSet;

use custos_core::Date;
use custos_core::chain::{Chain, ChainError, Involvement, Link};
use std::borrow::Cow;

use custos_core::checks::{Evidence, Filter, Finding, Report, Summary, check_with_evidence, rules};
use custos_core::register::{EngagementIx, EntityKind, Register};

use custos_store::Membership;

#[derive(Debug, Clone)]
pub struct Visibility {
    all: bool,
    /// Activities whose whole chain is visible (the caller controls them).
    controlled: HashSet<u32>,
    /// Every visible engagement, including those of controlled activities.
    engagements: HashSet<EngagementIx>,
    /// Activities of which at least one link is visible.
    activities: HashSet<u32>,
    organisations: HashSet<String>,
    contracts: HashSet<String>,
    /// The organisations the caller is a member of.
    members: HashSet<String>,
}

impl Visibility {
    /// What someone with these memberships sees (everything, for an instance administrator).
    pub fn of(
        admin: bool,
        memberships: &[Membership],
        register: &Register,
    ) -> Result<Self, ChainError> {
        let mut visibility = Self {
            all: admin,
            controlled: HashSet::new(),
            engagements: HashSet::new(),
            activities: HashSet::new(),
            organisations: HashSet::new(),
            contracts: HashSet::new(),
            members: memberships.iter().map(|m| m.organisation.clone()).collect(),
        };
        if visibility.all {
            return Ok(visibility);
        }
        let members: HashSet<&str> = memberships
            .iter()
            .map(|m| m.organisation.as_str())
            .collect();
        for (ix, activity) in register.activities().iter().enumerate() {
            if activity
                .accepted_controllers()
                .any(|c| members.contains(c.as_str()))
            {
                let ix = ix as u32;
                visibility.controlled.insert(ix);
                visibility.activities.insert(ix);
                visibility
                    .engagements
                    .extend(register.engagements_of_activity(ix).iter().copied());
            }
        }
        // As a processor: its links and everything below them, activity by activity.
        let mut partial: HashSet<u32> = HashSet::new();
        for member in &members {
            if let Some(org) = register.organisation_index(member) {
                for &link in register.engagements_as_processor(org) {
                    let activity = &register.engagement_at(link).activity;
                    if let Some(ix) = register.activity_index(activity.as_str())
                        && !visibility.controlled.contains(&ix)
                    {
                        partial.insert(ix);
                    }
                }
            }
        }
        for ix in partial {
            let activity = &register.activities()[ix as usize];
            let chain = Chain::derive(register, activity.id.as_str(), None)?;
            let mut below: Vec<bool> = vec![false; chain.links.len()];
            for (index, link) in chain.links.iter().enumerate() {
                let processor = &register.engagement_at(link.engagement).processor;
                let under_visible = link.parent.is_some_and(|p| below[p as usize]);
                if under_visible || members.contains(processor.as_str()) {
                    below[index] = true;
                    visibility.engagements.insert(link.engagement);
                }
            }
            visibility.activities.insert(ix);
        }
        for &ix in &visibility.engagements {
            let engagement = register.engagement_at(ix);
            visibility
                .organisations
                .insert(engagement.engaged_by.to_string());
            visibility
                .organisations
                .insert(engagement.processor.to_string());
            if let Some(contract) = &engagement.contract {
                visibility.contracts.insert(contract.to_string());
            }
        }
        for &ix in &visibility.activities {
            for controller in register.activities()[ix as usize].accepted_controllers() {
                visibility.organisations.insert(controller.to_string());
            }
        }
        visibility
            .organisations
            .extend(members.iter().map(|m| (*m).to_owned()));
        for contract in register.contracts() {
            if contract
                .between
                .iter()
                .any(|p| members.contains(p.as_str()))
            {
                visibility.contracts.insert(contract.id.to_string());
            }
        }
        Ok(visibility)
    }

    /// Whether the caller belongs to the organisation (or administers the instance).
    pub fn member_of(&self, id: &str) -> bool {
        self.all || self.members.contains(id)
    }

    pub fn organisation(&self, id: &str) -> bool {
        self.all || self.organisations.contains(id)
    }

    pub fn contract(&self, id: &str) -> bool {
        self.all || self.contracts.contains(id)
    }

    pub fn activity(&self, register: &Register, id: &str) -> bool {
        self.all
            || register
                .activity_index(id)
                .is_some_and(|ix| self.activities.contains(&ix))
    }

    /// Whether the caller controls the activity (and so sees its whole chain).
    pub fn controls(&self, register: &Register, id: &str) -> bool {
        self.all
            || register
                .activity_index(id)
                .is_some_and(|ix| self.controlled.contains(&ix))
    }

    pub fn engagement(&self, register: &Register, id: &str) -> bool {
        self.all
            || register
                .engagement_index(id)
                .is_some_and(|ix| self.engagements.contains(&ix))
    }

    /// The chain restricted to what the caller sees: a processor's view starts at its own link.
    pub fn restrict<'r>(&self, mut chain: Chain<'r>) -> Chain<'r> {
        if self.all {
            return chain;
        }
        let mut new_index: Vec<Option<u32>> = vec![None; chain.links.len()];
        let mut kept: Vec<Link> = Vec::new();
        for (index, link) in chain.links.iter().enumerate() {
            if self.engagements.contains(&link.engagement) {
                new_index[index] = Some(kept.len() as u32);
                kept.push(Link {
                    parent: link.parent.and_then(|p| new_index[p as usize]),
                    ..*link
                });
            }
        }
        chain.links = kept;
        chain.detached.retain(|ix| self.engagements.contains(ix));
        chain
    }

    /// The checks as the caller may read them: the findings it sees, paths redacted, then
    /// `filter`; the summary counts what is left.
    pub fn findings(
        &self,
        register: &Register,
        on: Date,
        evidence: &Evidence,
        filter: &Filter,
    ) -> Result<Report, ChainError> {
        let report = check_with_evidence(register, on, evidence)?;
        Ok(self.findings_in(register, &report, filter))
    }

    /// As [`Visibility::findings`], of a report computed already over `register` (the
    /// server's, computed once per version: `custos_app::live`).
    pub fn findings_in(&self, register: &Register, report: &Report, filter: &Filter) -> Report {
        self.findings_page(register, report, filter, 0, usize::MAX)
            .0
    }

    /// The findings the caller sees in `report` that match `filter`, from the `skip`th, at
    /// most `take` of them (only those are copied), with the summary and the number of all
    /// that match. Redacted before the filter: a filter must not match what the caller cannot
    /// see.
    pub fn findings_page(
        &self,
        register: &Register,
        report: &Report,
        filter: &Filter,
        skip: usize,
        take: usize,
    ) -> (Report, usize) {
        let mut page = Report {
            on: report.on,
            summary: Summary::default(),
            findings: Vec::new(),
        };
        let mut matched = 0;
        for finding in report.findings.iter().filter(|f| self.finding(register, f)) {
            let seen = self.redacted(register, finding);
            if !filter.matches(&seen, register) {
                continue;
            }
            page.summary.add(&seen);
            if matched >= skip && matched - skip < take {
                page.findings.push(seen.into_owned());
            }
            matched += 1;
        }
        (page, matched)
    }

    /// A finding as the caller may read it (see [`Visibility::redact`]), copied only when it
    /// changes.
    fn redacted<'a>(&self, register: &Register, finding: &'a Finding) -> Cow<'a, Finding> {
        let controlled = finding
            .activity
            .as_ref()
            .is_some_and(|a| self.controls(register, a.as_str()));
        if controlled || finding.path.len() <= 2 {
            return Cow::Borrowed(finding);
        }
        let mut owned = finding.clone();
        self.redact(register, &mut owned);
        Cow::Owned(owned)
    }

    /// A finding as the caller may read it: a processor's view of a path starts at the party
    /// that engaged it, as in its chain.
    fn redact(&self, register: &Register, finding: &mut Finding) {
        let controlled = finding
            .activity
            .as_ref()
            .is_some_and(|a| self.controls(register, a.as_str()));
        if !controlled && finding.path.len() > 2 {
            finding.path = finding.path[finding.path.len() - 2..].into();
        }
    }

    /// Where an organisation sits, as far as the caller sees: the activities with a link it
    /// sees; for those it does not control, paths start at the party that engaged the link.
    pub fn upstream(&self, register: &Register, mut found: Vec<Involvement>) -> Vec<Involvement> {
        found.retain(|i| {
            i.engagements
                .iter()
                .any(|e| self.engagement(register, e.as_str()))
        });
        for involvement in &mut found {
            involvement
                .engagements
                .retain(|e| self.engagement(register, e.as_str()));
            if !self.controls(register, involvement.activity.as_str()) {
                for path in &mut involvement.paths {
                    let keep = path.len().min(2);
                    path.drain(..path.len() - keep);
                }
                involvement.paths.dedup();
            }
        }
        found
    }

    /// Whether a finding is about something the caller sees.
    pub fn finding(&self, register: &Register, finding: &Finding) -> bool {
        if self.all {
            return true;
        }
        // What a controller publishes is its own business until it publishes again.
        if finding.rule == rules::NOTICE_OUT_OF_DATE.id {
            return self.member_of(finding.object.id.as_str());
        }
        // A breach is seen by those it reached: a controller's clock by the controller, a
        // late relay by the two parties of the link and the controller of its activity.
        if finding.rule == rules::BREACH_UNDECIDED.id || finding.rule == rules::BREACH_NOT_FILED.id
        {
            return self.member_of(finding.object.id.as_str());
        }
        if finding.rule == rules::BREACH_RELAY_LATE.id {
            return finding
                .engagement
                .as_ref()
                .and_then(|e| register.engagement(e.as_str()))
                .is_some_and(|e| {
                    self.member_of(e.processor.as_str())
                        || self.member_of(e.engaged_by.as_str())
                        || self.controls(register, e.activity.as_str())
                });
        }
        match (&finding.engagement, &finding.activity) {
            (Some(engagement), _) => self.engagement(register, engagement.as_str()),
            (None, Some(activity)) => self.controls(register, activity.as_str()),
            (None, None) => match finding.object.kind {
                EntityKind::Organisation => self.organisation(finding.object.id.as_str()),
                EntityKind::Contract => self.contract(finding.object.id.as_str()),
                EntityKind::Activity => self.controls(register, finding.object.id.as_str()),
                EntityKind::Engagement => self.engagement(register, finding.object.id.as_str()),
            },
        }
    }
}

/// Whether someone sees an audit entry: an instance administrator every entry, others the
/// entries whose scope names one of their organisations (the API's log and the audit page).
pub fn sees_audit_entry(
    admin: bool,
    memberships: &[Membership],
    entry: &custos_core::audit::AuditEntry,
) -> bool {
    admin || memberships.iter().any(|m| entry.concerns(&m.organisation))
}
