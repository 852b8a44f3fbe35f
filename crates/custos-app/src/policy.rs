//! Who may assert what. Parties of one instance answer to each other through it, so each
//! asserts only its own facts; this module is the one place that says which, for the API,
//! the web UI, the CLI and manifests alike. `docs/access.md` is generated from it
//! ([`access_table`]; a test fails when the file is stale).
//!
//! - An organisation's identity is its own. While nobody on the instance writes for it, the
//!   organisations that engaged it directly keep it; once someone does, only they do.
//! - An activity is its controller's: joint controllers listed in it gain no write access.
//! - A contract is bilateral: a change by one party is a proposed amendment that the other
//!   accepts. Where the other party has nobody on the instance, the engaging party (the first
//!   of `between`) changes it directly; the processor side only proposes.
//! - An engagement is written by its engaging party (or, while that party has nobody on the
//!   instance, by the controllers of its activity). Its `authorisation` is the controller's
//!   decision, written only by that controller's editors or by the workflow.
//! - Instance administrators may do everything; their writes on another party's facts are
//!   marked as such in the audit log.

use std::collections::HashSet;

use crate::Store;
use custos_core::Date;
use custos_core::model::{Activity, Contract, Engagement};
use custos_core::register::{EntityKind, Register};
use custos_core::values::Slug;
pub use custos_store::Role;
use custos_store::{Membership, Tx};

use crate::AppError;
use crate::entries::Entry;

/// Who is asking, as the policy sees it: an instance administrator, or the member of some
/// organisations with a role in each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub admin: bool,
    pub memberships: Vec<Membership>,
}

impl Caller {
    pub fn instance_admin() -> Self {
        Self {
            admin: true,
            memberships: Vec::new(),
        }
    }

    pub fn member(organisation: &str, role: Role) -> Self {
        Self {
            admin: false,
            memberships: vec![Membership {
                organisation: organisation.to_owned(),
                role,
            }],
        }
    }

    /// The caller's role in `organisation`, if it is a member.
    pub fn role_in(&self, organisation: &str) -> Option<Role> {
        self.memberships
            .iter()
            .find(|m| m.organisation == organisation)
            .map(|m| m.role)
    }

    /// Whether the caller may assert facts for `organisation` (an editor or admin of it).
    pub fn writes_for(&self, organisation: &str) -> bool {
        self.role_in(organisation).is_some_and(Role::writes)
    }

    /// Whether the caller is a member of `organisation` in any role.
    pub fn member_of(&self, organisation: &str) -> bool {
        self.role_in(organisation).is_some()
    }

    /// Whether the caller may act with `capacity` for `organisation` (see [`Capacity`]).
    pub fn may(&self, capacity: Capacity, organisation: &str) -> bool {
        may(self.admin, &self.memberships, capacity, organisation)
    }

    fn writes_for_any(&self) -> bool {
        self.memberships.iter().any(|m| m.role.writes())
    }
}

/// What a member may do for its organisation outside the register, by role. Instance
/// administrators may do all of it for every organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// Read what concerns the organisation: every member.
    Read,
    /// Act in the processor portal: file and answer change requests, remark on them,
    /// answer Art. 19 notifications. Portal users, editors, admins.
    Portal,
    /// Assert and decide for it: decisions, notices, templates, webhooks, subject requests.
    /// Editors and admins.
    Edit,
    /// Administer it: data sources, its people and their roles, what it requires of their
    /// sign-in. Its admins.
    Administer,
}

impl Capacity {
    pub fn roles(self) -> &'static [Role] {
        match self {
            Self::Read => &[Role::Viewer, Role::Portal, Role::Editor, Role::Admin],
            Self::Portal => &[Role::Portal, Role::Editor, Role::Admin],
            Self::Edit => &[Role::Editor, Role::Admin],
            Self::Administer => &[Role::Admin],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Portal => "portal",
            Self::Edit => "edit",
            Self::Administer => "administer",
        }
    }
}

/// Whether someone with these memberships (an instance administrator if `admin`) may act
/// with `capacity` for `organisation`.
pub fn may(
    admin: bool,
    memberships: &[Membership],
    capacity: Capacity,
    organisation: &str,
) -> bool {
    admin
        || memberships
            .iter()
            .any(|m| m.organisation == organisation && capacity.roles().contains(&m.role))
}

/// Whether `caller` administers `organisation` (its `admin`, or an instance administrator).
pub fn administers(caller: &Caller, organisation: &str) -> bool {
    caller.may(Capacity::Administer, organisation)
}

/// Whether `caller` administers any organisation: the people pages are for those who do.
pub fn manages_people(caller: &Caller) -> bool {
    caller.admin
        || caller
            .memberships
            .iter()
            .any(|m| Capacity::Administer.roles().contains(&m.role))
}

/// Whether `caller` may disable, enable or delete an account (`target_is_admin`: an instance
/// administrator's) with `memberships`: an instance administrator any; an organisation's admin
/// one whose every role is in organisations it administers, never an instance administrator's.
pub fn may_manage_account(
    caller: &Caller,
    target_is_admin: bool,
    memberships: &[Membership],
) -> bool {
    caller.admin
        || (!target_is_admin
            && !memberships.is_empty()
            && memberships
                .iter()
                .all(|m| administers(caller, &m.organisation)))
}

/// The actions outside the register, the capacity each needs and for which organisation:
/// the second table of `docs/access.md`. The handlers ask [`may`] with these capacities.
pub const ACTIONS: &[(&str, Capacity, &str)] = &[
    (
        "file a change request, answer it with a new dossier, withdraw or execute it",
        Capacity::Portal,
        "the requesting processor",
    ),
    (
        "remark on a change request passing through it",
        Capacity::Portal,
        "a processor on a path of the request",
    ),
    (
        "decide on a change request",
        Capacity::Edit,
        "each controller it reaches (instance administrators record decisions taken outside Custos)",
    ),
    (
        "accept or reject a contract amendment; withdraw one's own",
        Capacity::Edit,
        "the awaited party; the proposer",
    ),
    (
        "publish a notice, write templates, add and enable webhooks",
        Capacity::Edit,
        "the organisation",
    ),
    (
        "enter, verify, extend, notify, answer and close subject requests",
        Capacity::Edit,
        "the controller",
    ),
    ("read a subject request", Capacity::Read, "the controller"),
    (
        "acknowledge or complete an Art. 19 notification",
        Capacity::Portal,
        "its recipient, or the processor that relays it",
    ),
    (
        "connect data sources for portability",
        Capacity::Administer,
        "the controller",
    ),
    (
        "list its people; invite them; give, change and take away roles in it; require two-factor sign-in of its members",
        Capacity::Administer,
        "the organisation",
    ),
    (
        "disable, enable or delete an account (never one's own, never an instance administrator's)",
        Capacity::Administer,
        "every organisation the account has a role in",
    ),
];

/// The organisations that answer for themselves on this instance: someone writes for them
/// (an editor or an admin).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Represented(HashSet<String>);

impl Represented {
    pub async fn load(store: &Store) -> Result<Self, AppError> {
        let mut tx = store.read().await?;
        let represented = Self::load_in(&mut tx).await?;
        tx.rollback().await?;
        Ok(represented)
    }

    pub async fn load_in(tx: &mut Tx) -> Result<Self, AppError> {
        Ok(Self(
            tx.represented_organisations().await?.into_iter().collect(),
        ))
    }

    pub fn of(organisations: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self(organisations.into_iter().map(Into::into).collect())
    }

    pub fn contains(&self, organisation: &str) -> bool {
        self.0.contains(organisation)
    }
}

/// Why a write is refused: the entry, the field at fault when one is, and what the caller
/// would have to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: EntityKind,
    pub id: String,
    pub field: Option<&'static str>,
    pub detail: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.id, self.detail)
    }
}

/// What the policy says of one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The write takes effect.
    Allow,
    /// The write becomes a proposal that `awaiting` must accept before it takes effect
    /// (a contract amendment).
    Propose {
        proposer: Slug,
        awaiting: Slug,
    },
    Refuse(Refusal),
}

/// Where the policy looks facts up: the register as it stands, and for a bulk write the
/// register as it would stand (an activity added by the same manifest).
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub current: &'a Register,
    pub desired: Option<&'a Register>,
}

impl<'a> Facts<'a> {
    pub fn of(current: &'a Register) -> Self {
        Self {
            current,
            desired: None,
        }
    }

    fn registers(&self) -> impl Iterator<Item = &'a Register> {
        std::iter::once(self.current).chain(self.desired)
    }

    /// The controllers (joint ones included) of an activity.
    fn controllers(&self, activity: &str) -> Vec<&'a Slug> {
        let mut found: Vec<&Slug> = Vec::new();
        for register in self.registers() {
            if let Some(a) = register.activity(activity) {
                found.extend(a.accepted_controllers());
            }
        }
        found
    }

    /// The links that engage `organisation`, in any activity.
    fn links_engaging(&self, organisation: &str) -> Vec<&'a Engagement> {
        let mut found: Vec<&Engagement> = Vec::new();
        for register in self.registers() {
            if let Some(ix) = register.organisation_index(organisation) {
                found.extend(
                    register
                        .engagements_as_processor(ix)
                        .iter()
                        .map(|&e| register.engagement_at(e)),
                );
            }
        }
        found
    }
}

/// The verdict on writing one entry: `before` as stored (none for a create), `after` as
/// written (none for a delete).
pub fn entry_write(
    caller: &Caller,
    facts: Facts<'_>,
    represented: &Represented,
    before: Option<&Entry>,
    after: Option<&Entry>,
) -> Verdict {
    if caller.admin {
        return Verdict::Allow;
    }
    let Some(entry) = after.or(before) else {
        return Verdict::Allow;
    };
    let refuse = |field: Option<&'static str>, detail: String| {
        Verdict::Refuse(Refusal {
            kind: entry.kind(),
            id: entry.id().to_string(),
            field,
            detail,
        })
    };
    match entry {
        Entry::Organisation(_) => organisation(
            caller,
            facts,
            represented,
            entry.id(),
            before.is_none(),
            refuse,
        ),
        Entry::Activity(_) => activity(caller, as_activity(before), as_activity(after), refuse),
        Entry::Contract(_) => contract_write(
            caller,
            represented,
            as_contract(before),
            as_contract(after),
            refuse,
        ),
        Entry::Engagement(_) => engagement(
            caller,
            facts,
            represented,
            as_engagement(before),
            as_engagement(after),
            refuse,
        ),
    }
}

fn as_activity(entry: Option<&Entry>) -> Option<&Activity> {
    match entry {
        Some(Entry::Activity(a)) => Some(a),
        _ => None,
    }
}

fn as_contract(entry: Option<&Entry>) -> Option<&Contract> {
    match entry {
        Some(Entry::Contract(c)) => Some(c),
        _ => None,
    }
}

fn as_engagement(entry: Option<&Entry>) -> Option<&Engagement> {
    match entry {
        Some(Entry::Engagement(e)) => Some(e),
        _ => None,
    }
}

fn organisation(
    caller: &Caller,
    facts: Facts<'_>,
    represented: &Represented,
    id: &Slug,
    create: bool,
    refuse: impl Fn(Option<&'static str>, String) -> Verdict,
) -> Verdict {
    if caller.writes_for(id.as_str()) {
        return Verdict::Allow;
    }
    if represented.contains(id.as_str()) {
        return refuse(
            None,
            format!(
                "{id} answers for its own identity on this instance: only its editors change it"
            ),
        );
    }
    if create && caller.writes_for_any() {
        // A processor about to be engaged: its identity is kept by whoever engages it until
        // it joins.
        return Verdict::Allow;
    }
    if facts
        .links_engaging(id.as_str())
        .iter()
        .any(|link| writes_link(caller, facts, represented, link))
    {
        return Verdict::Allow;
    }
    refuse(
        None,
        format!(
            "{id} has nobody on this instance: its identity is kept by the organisations that engaged it directly"
        ),
    )
}

fn activity(
    caller: &Caller,
    before: Option<&Activity>,
    after: Option<&Activity>,
    refuse: impl Fn(Option<&'static str>, String) -> Verdict,
) -> Verdict {
    let acceptance = |a: Option<&Activity>, by: &Slug| {
        a.and_then(|a| a.joint_acceptances.iter().find(|x| &x.by == by).cloned())
    };
    // The joint controllers whose acceptance this write adds, changes or removes.
    let mut accepting: Vec<&Slug> = before
        .into_iter()
        .chain(after)
        .flat_map(|a| a.joint_acceptances.iter().map(|x| &x.by))
        .filter(|by| acceptance(before, by) != acceptance(after, by))
        .collect();
    accepting.sort();
    accepting.dedup();
    let controls = before
        .into_iter()
        .chain(after)
        .all(|a| caller.writes_for(a.controller.as_str()));
    if controls {
        // The controller lists and delists joint controllers; it cannot accept for one.
        for by in accepting {
            let still_listed = after.is_some_and(|a| a.joint_controllers.contains(by));
            if still_listed && !caller.writes_for(by.as_str()) {
                return refuse(
                    Some("joint_acceptances"),
                    format!("only {by} accepts (or withdraws) its listing as a joint controller"),
                );
            }
        }
        return Verdict::Allow;
    }
    // Anyone else: a listed joint controller records its own acceptance, nothing more.
    let without_acceptances = |a: &Activity| Activity {
        joint_acceptances: Vec::new(),
        ..a.clone()
    };
    let only_acceptances = match (before, after) {
        (Some(b), Some(a)) => without_acceptances(b) == without_acceptances(a),
        _ => false,
    };
    let own = !accepting.is_empty()
        && accepting.iter().all(|by| {
            caller.writes_for(by.as_str())
                && after.is_some_and(|a| a.joint_controllers.contains(by))
        });
    if only_acceptances && own {
        return Verdict::Allow;
    }
    let controller = after
        .or(before)
        .map(|a| a.controller.to_string())
        .unwrap_or_default();
    refuse(
        Some("controller"),
        format!(
            "an activity is its controller's: only editors of {controller} write it (a joint controller records only its own acceptance)"
        ),
    )
}

fn contract_write(
    caller: &Caller,
    represented: &Represented,
    before: Option<&Contract>,
    after: Option<&Contract>,
    refuse: impl Fn(Option<&'static str>, String) -> Verdict,
) -> Verdict {
    // The parties before and after must be the same two unless the caller writes for both
    // sides of each: a party cannot put another pair under its contract.
    if let (Some(b), Some(a)) = (before, after)
        && b.between != a.between
        && !a
            .between
            .iter()
            .chain(&b.between)
            .all(|p| caller.writes_for(p.as_str()))
    {
        return refuse(
            Some("between"),
            "a contract keeps its parties: make a new contract between the new parties".to_owned(),
        );
    }
    let Some(contract) = after.or(before) else {
        return Verdict::Allow;
    };
    let [engaging, processor] = &contract.between;
    if before.is_some() && before == after {
        // Nothing to amend: a party may write the contract back as it is.
        return if caller.writes_for(engaging.as_str()) || caller.writes_for(processor.as_str()) {
            Verdict::Allow
        } else {
            refuse(
                Some("between"),
                format!("a contract is written by its parties ({engaging} and {processor})"),
            )
        };
    }
    match (
        caller.writes_for(engaging.as_str()),
        caller.writes_for(processor.as_str()),
    ) {
        (true, true) => Verdict::Allow,
        (false, false) => refuse(
            Some("between"),
            format!("a contract is written by its parties ({engaging} and {processor})"),
        ),
        (true, false) if !represented.contains(processor.as_str()) => Verdict::Allow,
        (true, false) => Verdict::Propose {
            proposer: engaging.clone(),
            awaiting: processor.clone(),
        },
        (false, true) => Verdict::Propose {
            proposer: processor.clone(),
            awaiting: engaging.clone(),
        },
    }
}

/// Whether the caller may write a link engaged by `engaged_by` in `activity`: the engaging
/// party's editors; while the engaging party has nobody on the instance, the controllers'.
fn writes_link(
    caller: &Caller,
    facts: Facts<'_>,
    represented: &Represented,
    link: &Engagement,
) -> bool {
    caller.writes_for(link.engaged_by.as_str())
        || (!represented.contains(link.engaged_by.as_str())
            && facts
                .controllers(link.activity.as_str())
                .iter()
                .any(|c| caller.writes_for(c.as_str())))
}

fn engagement(
    caller: &Caller,
    facts: Facts<'_>,
    represented: &Represented,
    before: Option<&Engagement>,
    after: Option<&Engagement>,
    refuse: impl Fn(Option<&'static str>, String) -> Verdict,
) -> Verdict {
    let without_authorisation = |e: &Engagement| Engagement {
        authorisation: None,
        ..e.clone()
    };
    let link_changed = match (before, after) {
        (Some(b), Some(a)) => without_authorisation(b) != without_authorisation(a),
        _ => true,
    };
    if let (Some(b), Some(a)) = (before, after)
        && b == a
    {
        // Nothing changes; still only someone who may write some of it may say so.
        let decides = b
            .authorisation
            .as_ref()
            .is_some_and(|d| caller.writes_for(d.by.as_str()));
        return if decides || writes_link(caller, facts, represented, b) {
            Verdict::Allow
        } else {
            refuse(
                Some("engaged_by"),
                format!(
                    "a link is written by its engaging party: only editors of {} write it",
                    b.engaged_by
                ),
            )
        };
    }
    if link_changed {
        for link in before.into_iter().chain(after) {
            if !writes_link(caller, facts, represented, link) {
                return refuse(
                    Some("engaged_by"),
                    format!(
                        "a link is written by its engaging party: only editors of {} write it",
                        link.engaged_by
                    ),
                );
            }
        }
    }
    // Deleting a link takes its decision with it; every other change of the decision is the
    // controller's own.
    let decision_before = before.and_then(|e| e.authorisation.as_ref());
    let decision_after = after.and_then(|e| e.authorisation.as_ref());
    if after.is_some() && decision_before != decision_after {
        for decision in decision_before.into_iter().chain(decision_after) {
            if !caller.writes_for(decision.by.as_str()) {
                return refuse(
                    Some("authorisation"),
                    format!(
                        "the authorisation of a link is {}'s decision: only its editors record it (or the workflow, from a decided change request)",
                        decision.by
                    ),
                );
            }
        }
    }
    Verdict::Allow
}

/// The verdicts on a bulk write (a manifest applied): every entry the plan adds, changes or
/// removes, judged one by one; the refusals, all of them. A proposal is a refusal here: a
/// manifest cannot amend another party's contract.
pub fn bulk_write(
    caller: &Caller,
    current: &Register,
    desired: &Register,
    represented: &Represented,
    plan: &custos_core::plan::Plan,
) -> Vec<Refusal> {
    let facts = Facts {
        current,
        desired: Some(desired),
    };
    let mut refusals = Vec::new();
    for change in &plan.changes {
        let before = current.parts().entry(change.kind, change.id.as_str());
        let after = desired.parts().entry(change.kind, change.id.as_str());
        match entry_write(caller, facts, represented, before.as_ref(), after.as_ref()) {
            Verdict::Allow => {}
            Verdict::Refuse(refusal) => refusals.push(refusal),
            Verdict::Propose { awaiting, .. } => refusals.push(Refusal {
                kind: change.kind,
                id: change.id.to_string(),
                field: None,
                detail: format!(
                    "a contract is bilateral: {awaiting} must accept a change (propose an amendment with POST /api/v1/contracts/{}/amendments)",
                    change.id
                ),
            }),
        }
    }
    refusals
}

/// Whether a write by `caller` touches another party's facts: what the audit log marks as an
/// administrator's override.
pub fn overrides(caller: &Caller, entry: &Entry) -> bool {
    if !caller.admin {
        return false;
    }
    let owners: Vec<&Slug> = match entry {
        Entry::Organisation(o) => vec![&o.id],
        Entry::Activity(a) => vec![&a.controller],
        Entry::Contract(c) => c.between.iter().collect(),
        Entry::Engagement(e) => vec![&e.engaged_by],
    };
    !owners.iter().any(|o| caller.member_of(o.as_str()))
}

/// The parties the table of `docs/access.md` is written for.
const PARTIES: [(&str, &str); 7] = [
    ("instance administrator", ""),
    ("controller's editor", "hypermarket-a"),
    ("processor's editor", "agency-b"),
    ("processor's portal user", "agency-b"),
    ("controller's viewer", "hypermarket-a"),
    ("sub-processor's editor", "mailer-c"),
    ("a stranger organisation's editor", "bank"),
];

fn party_caller(index: usize) -> Caller {
    let (_, organisation) = PARTIES[index];
    match index {
        0 => Caller::instance_admin(),
        3 => Caller::member(organisation, Role::Portal),
        4 => Caller::member(organisation, Role::Viewer),
        _ => Caller::member(organisation, Role::Editor),
    }
}

/// `docs/access.md`: the rules above, and what the policy answers for each party of the
/// marketing chain (hypermarket-a controls customer-marketing; agency-b is its processor,
/// mailer-c agency-b's; the bank is a stranger to it) for each write. Computed by asking
/// [`entry_write`], so it cannot drift from the code.
pub fn access_table(register: &Register) -> String {
    let represented = Represented::of(["hypermarket-a", "agency-b", "mailer-c", "bank"]);
    let facts = Facts::of(register);
    let org = |id: &str| register.organisation(id).cloned().map(Entry::Organisation);
    let activity = |id: &str| register.activity(id).cloned().map(Entry::Activity);
    let contract = |id: &str| {
        register
            .contracts()
            .iter()
            .find(|c| c.id.as_str() == id)
            .cloned()
            .map(Entry::Contract)
    };
    let link = |id: &str| {
        register
            .engagement_index(id)
            .map(|ix| Entry::Engagement(register.engagement_at(ix).clone()))
    };
    let changed = |entry: Option<Entry>, change: &dyn Fn(&mut Entry)| {
        entry.map(|mut e| {
            change(&mut e);
            e
        })
    };
    // The marketing activity as if it listed the bank as joint controller.
    let listed = changed(activity("customer-marketing"), &|e| {
        if let Entry::Activity(a) = e
            && let Ok(bank) = "bank".parse()
        {
            a.joint_controllers.push(bank);
        }
    });
    type Case = (&'static str, Option<Entry>, Option<Entry>);
    let cases: Vec<Case> = vec![
        (
            "change hypermarket-a's identity",
            org("hypermarket-a"),
            changed(org("hypermarket-a"), &|e| {
                if let Entry::Organisation(o) = e {
                    o.address = Some("elsewhere".to_owned());
                }
            }),
        ),
        (
            "change mailer-c's contact",
            org("mailer-c"),
            changed(org("mailer-c"), &|e| {
                if let Entry::Organisation(o) = e {
                    o.contact = None;
                }
            }),
        ),
        (
            "create a new organisation",
            None,
            changed(org("agency-e"), &|e| {
                if let Entry::Organisation(o) = e {
                    o.id = "agency-new".parse().unwrap_or_else(|_| o.id.clone());
                }
            }),
        ),
        (
            "change the activity customer-marketing",
            activity("customer-marketing"),
            changed(activity("customer-marketing"), &|e| {
                if let Entry::Activity(a) = e {
                    a.purposes.push("more".to_owned());
                }
            }),
        ),
        (
            "create an activity controlled by hypermarket-a",
            None,
            changed(activity("customer-marketing"), &|e| {
                if let Entry::Activity(a) = e {
                    a.id = "new-activity".parse().unwrap_or_else(|_| a.id.clone());
                }
            }),
        ),
        (
            "change contract dpa-a-b (hypermarket-a, agency-b)",
            contract("dpa-a-b"),
            changed(contract("dpa-a-b"), &|e| {
                if let Entry::Contract(c) = e {
                    c.reference = Some("v2".to_owned());
                }
            }),
        ),
        (
            "change link b-c (agency-b engages mailer-c)",
            link("b-c"),
            changed(link("b-c"), &|e| {
                if let Entry::Engagement(l) = e {
                    l.service = "more".into();
                }
            }),
        ),
        (
            "record hypermarket-a's authorisation on link b-c",
            link("b-c"),
            changed(link("b-c"), &|e| {
                if let Entry::Engagement(l) = e
                    && let Some(a) = &mut l.authorisation
                {
                    a.reference = Some("approved again".to_owned());
                }
            }),
        ),
        ("delete link b-c", link("b-c"), None),
        (
            "accept the bank's listing as joint controller of customer-marketing",
            listed.clone(),
            changed(listed.clone(), &|e| {
                if let Entry::Activity(a) = e
                    && let Ok(bank) = "bank".parse()
                {
                    a.joint_acceptances
                        .push(custos_core::model::JointAcceptance {
                            by: bank,
                            date: Date::constant(2026, 11, 25),
                        });
                }
            }),
        ),
    ];
    let mut out = String::from(ACCESS_PREAMBLE);
    out.push_str("\n| write |");
    for (name, organisation) in PARTIES {
        if organisation.is_empty() {
            out.push_str(&format!(" {name} |"));
        } else {
            out.push_str(&format!(" {name} ({organisation}) |"));
        }
    }
    out.push_str("\n| --- |");
    out.push_str(&" --- |".repeat(PARTIES.len()));
    out.push('\n');
    for (what, before, after) in &cases {
        out.push_str(&format!("| {what} |"));
        for index in 0..PARTIES.len() {
            let verdict = entry_write(
                &party_caller(index),
                facts,
                &represented,
                before.as_ref(),
                after.as_ref(),
            );
            out.push_str(match verdict {
                Verdict::Allow => " yes |",
                Verdict::Propose { .. } => " proposes |",
                Verdict::Refuse(_) => " no |",
            });
        }
        out.push('\n');
    }
    out.push_str(ACTIONS_PREAMBLE);
    out.push_str("\n| action | capacity | roles | for |\n| --- | --- | --- | --- |\n");
    for (action, capacity, whom) in ACTIONS {
        let roles: Vec<&str> = capacity.roles().iter().map(|r| r.as_str()).collect();
        out.push_str(&format!(
            "| {action} | {} | {} | {whom} |\n",
            capacity.name(),
            roles.join(", ")
        ));
    }
    out.push_str(ACCESS_NOTES);
    out
}

const ACTIONS_PREAMBLE: &str = "
## Acting for an organisation

Outside the register, what a member may do for its organisation depends on its role; instance
administrators may do all of it. What a caller may not read answers 404, what it reads but may
not do 403.
";

const ACCESS_PREAMBLE: &str = "# Who may assert what

<!-- Generated by `custos_app::policy::access_table` (a test fails when it is stale; run
`CUSTOS_UPDATE_DOCS=1 cargo test -p custos-app` to write it again). -->

Parties of one instance answer to each other through it, so each asserts only its own facts.
What a party may not assert, it cannot write; what it may not see answers 404. One module,
`custos-app/src/policy.rs`, decides for the API, the web UI, the CLI and manifests.

| fact | who asserts it |
| --- | --- |
| an organisation's identity (name, address, contact, DPO, certifications, history, language, public page) | its own editors; while nobody writes for it on the instance, whoever may write a link engaging it: the editors of the organisations that engaged it directly, or of the controllers where those have nobody either (every such change is audited with the organisation in its scope) |
| an activity | its controller's editors; joint controllers listed in it gain no write access |
| a joint controller's acceptance of its listing (`joint_acceptances`) | that joint controller's editors (`POST /api/v1/activities/{id}/joint-controllers/{org}/accept`); until it accepts, the activity is not its own: not in its notice, its record, its access answers or its view |
| a contract | both parties: a change by one is a proposed amendment that takes effect when the other accepts it; where the processor side has nobody on the instance, the engaging side changes it directly |
| an engagement (a link) | its engaging party's editors; while the engaging party has nobody on the instance, the editors of the activity's controllers |
| a link's authorisation | the deciding controller's editors, or the workflow (a decided or deemed-approved change request, recorded with its key and dossier version) |
| a change request | filed, answered with a new dossier, withdrawn and executed by the requester (portal, editors); decided by each controller's editors, on the current dossier version |
| templates, notices, webhooks, data sources | the organisation they belong to (data sources: its admins) |
| anything | instance administrators; a write on another party's facts is marked `admin-override` in the audit log |

\"Nobody on the instance\" means no user is an editor or admin of the organisation; portal
users and viewers read, they do not assert.

## What the policy answers on the marketing chain

Each cell is computed by asking the policy, for that party, about that write on the worked
example (every organisation of it with an editor on the instance): `yes` takes effect,
`proposes` becomes an amendment awaiting the other party, `no` is refused (403, naming the
field at fault; 404 where the caller cannot see the entry at all).
";

const ACCESS_NOTES: &str = "
A manifest is the operator's bulk write (`custos apply`; `POST /api/v1/manifest` for instance
administrators, since a plan compares the whole register). `custos apply --as EMAIL` applies it
as that user instead: every entry it adds, changes or removes goes through the same policy, and
one entry the user may not assert refuses the whole manifest, every such entry named.

A contract change that becomes a proposal answers `202 Accepted` with the amendment
(`/api/v1/contracts/{id}/amendments/{key}`); the awaited party accepts or rejects it, the
proposer withdraws it. Accepted, it takes effect like any write (validated, audited); a
proposal made on a version that has changed since is superseded and cannot be accepted.

A change request's approval stands on the dossier version it was given on: a new dossier
version reopens every controller's decision (a pre-authorisation named in the contract
stands), restarts the windows, and tells everyone what changed; `execute` refuses while any
decision stands on an older version. The link it creates records the request key and the
dossier version in its authorisation's `reference`.
";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use custos_core::manifest;
    use custos_core::model::{Authorisation, Decision};

    use super::*;

    fn examples() -> Register {
        manifest::parse(&manifest::examples::sources()).unwrap()
    }

    fn link(register: &Register, id: &str) -> Engagement {
        register
            .engagement_at(register.engagement_index(id).unwrap())
            .clone()
    }

    fn everyone() -> Represented {
        Represented::of(["hypermarket-a", "agency-b", "mailer-c", "bank"])
    }

    #[test]
    fn docs_access_md_is_generated_from_the_policy() {
        let generated = access_table(&examples());
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/access.md");
        if std::env::var_os("CUSTOS_UPDATE_DOCS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/access.md is stale: run `CUSTOS_UPDATE_DOCS=1 cargo test -p custos-app docs_access_md`"
        );
    }

    /// The processor cannot record the controller's decision on its own link, nor create a
    /// link that carries it (the approval-laundering of the issue "Who may assert what").
    #[test]
    fn a_processor_cannot_assert_the_controllers_authorisation() {
        let register = examples();
        let b = Caller::member("agency-b", Role::Editor);
        let mut new = link(&register, "b-c");
        new.id = "b-f".parse().unwrap();
        new.processor = "agency-e".parse().unwrap();
        new.authorisation = Some(Box::new(Authorisation {
            by: "hypermarket-a".parse().unwrap(),
            decision: Decision::Approved,
            date: "2026-01-01".parse().unwrap(),
            reference: None,
        }));
        let verdict = entry_write(
            &b,
            Facts::of(&register),
            &everyone(),
            None,
            Some(&Entry::Engagement(new.clone())),
        );
        let Verdict::Refuse(refusal) = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(refusal.field, Some("authorisation"));
        // Without the decision, the link is B's to write.
        new.authorisation = None;
        assert_eq!(
            entry_write(
                &b,
                Facts::of(&register),
                &everyone(),
                None,
                Some(&Entry::Engagement(new))
            ),
            Verdict::Allow
        );
        // The controller records its decision on B's link, and nothing else of it.
        let a = Caller::member("hypermarket-a", Role::Editor);
        let before = link(&register, "b-c");
        let mut decided = before.clone();
        decided.authorisation = Some(Box::new(Authorisation {
            by: "hypermarket-a".parse().unwrap(),
            decision: Decision::Objected,
            date: "2026-01-01".parse().unwrap(),
            reference: None,
        }));
        let ask = |after: &Engagement| {
            entry_write(
                &a,
                Facts::of(&register),
                &everyone(),
                Some(&Entry::Engagement(before.clone())),
                Some(&Entry::Engagement(after.clone())),
            )
        };
        assert_eq!(ask(&decided), Verdict::Allow);
        decided.service = "rewritten by the controller".into();
        assert!(matches!(ask(&decided), Verdict::Refuse(r) if r.field == Some("engaged_by")));
    }

    #[test]
    fn while_the_engaging_party_has_nobody_the_controller_keeps_its_chain() {
        let register = examples();
        let a = Caller::member("hypermarket-a", Role::Editor);
        let before = link(&register, "b-c");
        let mut after = before.clone();
        after.service = "documented by the controller".into();
        let ask = |represented: &Represented| {
            entry_write(
                &a,
                Facts::of(&register),
                represented,
                Some(&Entry::Engagement(before.clone())),
                Some(&Entry::Engagement(after.clone())),
            )
        };
        assert_eq!(ask(&Represented::of(["hypermarket-a"])), Verdict::Allow);
        assert!(matches!(ask(&everyone()), Verdict::Refuse(_)));
        // Likewise mailer-c's identity, engaged by agency-b.
        let mailer = register.organisation("mailer-c").unwrap().clone();
        let mut moved = mailer.clone();
        moved.address = Some("elsewhere".to_owned());
        let ask = |represented: &Represented| {
            entry_write(
                &a,
                Facts::of(&register),
                represented,
                Some(&Entry::Organisation(mailer.clone())),
                Some(&Entry::Organisation(moved.clone())),
            )
        };
        assert_eq!(ask(&Represented::of(["hypermarket-a"])), Verdict::Allow);
        assert!(matches!(
            ask(&Represented::of(["hypermarket-a", "agency-b"])),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            ask(&Represented::of(["hypermarket-a", "mailer-c"])),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn a_contract_change_by_one_party_is_a_proposal_to_the_other() {
        let register = examples();
        let contract = register
            .contracts()
            .iter()
            .find(|c| c.id.as_str() == "dpa-a-b")
            .unwrap()
            .clone();
        let mut weaker = contract.clone();
        weaker.security.clear();
        let ask = |caller: &Caller, represented: &Represented| {
            entry_write(
                caller,
                Facts::of(&register),
                represented,
                Some(&Entry::Contract(contract.clone())),
                Some(&Entry::Contract(weaker.clone())),
            )
        };
        let a = Caller::member("hypermarket-a", Role::Editor);
        let b = Caller::member("agency-b", Role::Editor);
        let proposal = |proposer: &str, awaiting: &str| Verdict::Propose {
            proposer: proposer.parse().unwrap(),
            awaiting: awaiting.parse().unwrap(),
        };
        assert_eq!(ask(&b, &everyone()), proposal("agency-b", "hypermarket-a"));
        assert_eq!(ask(&a, &everyone()), proposal("hypermarket-a", "agency-b"));
        // The processor side has nobody: the engaging side changes it; the reverse never.
        let only_a = Represented::of(["hypermarket-a"]);
        assert_eq!(ask(&a, &only_a), Verdict::Allow);
        assert_eq!(
            ask(&b, &Represented::of(["agency-b"])),
            proposal("agency-b", "hypermarket-a")
        );
        let stranger = Caller::member("bank", Role::Editor);
        assert!(matches!(ask(&stranger, &everyone()), Verdict::Refuse(_)));
        assert_eq!(ask(&Caller::instance_admin(), &everyone()), Verdict::Allow);
    }

    #[test]
    fn an_activity_is_its_controllers_alone() {
        let register = examples();
        let mut activity = register.activity("customer-marketing").unwrap().clone();
        activity.id = "planted".parse().unwrap();
        activity.joint_controllers = vec!["agency-b".parse().unwrap()];
        let ask = |caller: &Caller| {
            entry_write(
                caller,
                Facts::of(&register),
                &everyone(),
                None,
                Some(&Entry::Activity(activity.clone())),
            )
        };
        assert!(matches!(
            ask(&Caller::member("agency-b", Role::Editor)),
            Verdict::Refuse(r) if r.field == Some("controller")
        ));
        assert_eq!(
            ask(&Caller::member("hypermarket-a", Role::Editor)),
            Verdict::Allow
        );
        assert!(matches!(
            ask(&Caller::member("hypermarket-a", Role::Viewer)),
            Verdict::Refuse(_)
        ));
    }
}
