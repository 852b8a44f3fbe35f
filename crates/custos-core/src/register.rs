//! A validated register: ids are unique, every reference resolves, every contract on a link is
//! between the link's parties, and the engagements of each activity form chains rooted at its
//! controllers with no cycle. A [`Register`] exists only in that state.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;

use crate::Date;
use crate::model::{Activity, Contract, Engagement, Organisation, OrganisationKind};
use crate::values::{CountryCode, MAX_TEXT_LEN, Slug};
use crate::{FastMap, FastSet};

mod change;
mod id_index;
pub use change::{Change, Entry, tag_of};
use id_index::{DenseIdIndex, IdIndex, Identified};

/// The four kinds of entry a register holds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum EntityKind {
    Organisation,
    Activity,
    Contract,
    Engagement,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organisation => "organisation",
            Self::Activity => "activity",
            Self::Contract => "contract",
            Self::Engagement => "engagement",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with one entry, and which entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: EntityKind,
    pub id: Slug,
    /// The id is used by an earlier entry of the same kind; this problem is about a later one.
    pub duplicate: bool,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.id, self.message)
    }
}

/// The entries of a register before validation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegisterParts {
    pub organisations: Vec<Organisation>,
    pub activities: Vec<Activity>,
    pub contracts: Vec<Contract>,
    pub engagements: Vec<Engagement>,
}

impl RegisterParts {
    /// Entries of every kind.
    pub fn entries(&self) -> usize {
        self.organisations.len()
            + self.activities.len()
            + self.contracts.len()
            + self.engagements.len()
    }

    /// Puts every section in id order, the canonical order of exports and comparisons.
    pub fn sort(&mut self) {
        // Registers read back from an export or a database usually come sorted already.
        // Entries are large: sorting them moves each many times, so sort (id, index) pairs and
        // move each entry into place once (`sort_by_cached_key`, stable).
        fn sort_by_id<T: Identified>(entries: &mut [T]) {
            if !entries.is_sorted_by(|a, b| a.id() <= b.id()) {
                entries.sort_by_cached_key(|entry| entry.id().clone());
            }
        }
        sort_by_id(&mut self.organisations);
        sort_by_id(&mut self.activities);
        sort_by_id(&mut self.contracts);
        sort_by_id(&mut self.engagements);
    }

    /// The entry of `kind` with `id`, copied (the sections are in id order: [`Self::sort`]).
    pub fn entry(&self, kind: EntityKind, id: &str) -> Option<Entry> {
        match kind {
            EntityKind::Organisation => by_id(&self.organisations, id)
                .cloned()
                .map(Entry::Organisation),
            EntityKind::Activity => by_id(&self.activities, id).cloned().map(Entry::Activity),
            EntityKind::Contract => by_id(&self.contracts, id).cloned().map(Entry::Contract),
            EntityKind::Engagement => by_id(&self.engagements, id).cloned().map(Entry::Engagement),
        }
    }

    /// The stored form (JSON) of the entry of `kind` with `id`, written from where it stands.
    pub fn entry_json(
        &self,
        kind: EntityKind,
        id: &str,
    ) -> Option<Result<String, serde_json::Error>> {
        match kind {
            EntityKind::Organisation => by_id(&self.organisations, id).map(serde_json::to_string),
            EntityKind::Activity => by_id(&self.activities, id).map(serde_json::to_string),
            EntityKind::Contract => by_id(&self.contracts, id).map(serde_json::to_string),
            EntityKind::Engagement => by_id(&self.engagements, id).map(serde_json::to_string),
        }
    }
}

/// The entry with `id` of entries in id order.
fn by_id<'a, T: Identified>(entries: &'a [T], id: &str) -> Option<&'a T> {
    entries
        .binary_search_by(|e| e.id().as_str().cmp(id))
        .ok()
        .map(|i| &entries[i])
}

/// Index of an organisation in [`Register::organisations`].
pub type OrgIx = u32;
/// Index of an engagement in [`Register::engagements`].
pub type EngagementIx = u32;

#[derive(Debug, Clone)]
pub struct Register {
    parts: RegisterParts,
    organisation_ix: DenseIdIndex,
    activity_ix: DenseIdIndex,
    contract_ix: IdIndex,
    engagement_ix: IdIndex,
    /// Per activity (same index as `activities`), its engagements.
    engagements_by_activity: Vec<Vec<EngagementIx>>,
    /// Per engagement, the indices of engaged_by and processor.
    link_parties: Vec<(OrgIx, OrgIx)>,
    /// Per engagement, the index of its contract in `contracts`, or [`Facts::NONE`].
    link_contracts: Vec<u32>,
    /// Per organisation, the engagements in which it is the processor.
    engagements_as_processor: Vec<Vec<EngagementIx>>,
    /// The entries that record acknowledgements, in kind and id order: few, where the checks
    /// would otherwise look at every entry.
    acknowledging: BTreeSet<(EntityKind, Slug)>,
    facts: Facts,
}

/// Compact copies of the few fields that chain derivation reads for every link, so that a
/// walk over a large register reads small dense arrays instead of whole scattered entries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// Sectors and recipient categories, each text once.
    pub texts: Vec<String>,
    pub org_country: Vec<CountryCode>,
    /// Index into `texts`, or [`Facts::NONE`].
    pub org_sector: Vec<u32>,
    pub org_is_international: Vec<bool>,
    pub links: Vec<LinkFacts>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkFacts {
    pub since: Date,
    /// Last day in force; `Date::MAX` while it lasts.
    pub until: Date,
    /// Index into [`Facts::texts`] of the recipient category.
    pub category: u32,
    pub has_locations: bool,
}

impl Facts {
    pub const NONE: u32 = u32::MAX;

    fn build(parts: &RegisterParts) -> Self {
        let mut interner = Interner::default();
        let org_sector: Vec<u32> = parts
            .organisations
            .iter()
            .map(|o| {
                o.sector
                    .as_deref()
                    .map_or(Self::NONE, |s| interner.intern(s))
            })
            .collect();
        let links = parts
            .engagements
            .iter()
            .map(|e| LinkFacts::of(e, interner.intern(e.category())))
            .collect();
        Self {
            texts: interner.texts,
            org_country: parts.organisations.iter().map(|o| o.country).collect(),
            org_sector,
            org_is_international: parts
                .organisations
                .iter()
                .map(|o| o.kind == OrganisationKind::InternationalOrganisation)
                .collect(),
            links,
        }
    }
}

#[derive(Default)]
struct Interner<'a> {
    texts: Vec<String>,
    index: HashMap<&'a str, u32>,
}

impl<'a> Interner<'a> {
    fn intern(&mut self, text: &'a str) -> u32 {
        *self.index.entry(text).or_insert_with(|| {
            self.texts.push(text.to_owned());
            (self.texts.len() - 1) as u32
        })
    }
}

impl LinkFacts {
    /// The facts of `link`, its recipient category interned as `category`.
    fn of(link: &Engagement, category: u32) -> Self {
        Self {
            since: link.since,
            until: link.until.unwrap_or(Date::MAX),
            category,
            has_locations: !link.locations.is_empty(),
        }
    }

    pub fn in_force_on(&self, date: Date) -> bool {
        self.since <= date && date <= self.until
    }
}

impl Default for Register {
    fn default() -> Self {
        Self::empty()
    }
}

impl PartialEq for Register {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts
    }
}

impl Register {
    pub fn empty() -> Self {
        Self {
            parts: RegisterParts::default(),
            organisation_ix: DenseIdIndex::default(),
            activity_ix: DenseIdIndex::default(),
            contract_ix: IdIndex::default(),
            engagement_ix: IdIndex::default(),
            engagements_by_activity: Vec::new(),
            link_parties: Vec::new(),
            link_contracts: Vec::new(),
            engagements_as_processor: Vec::new(),
            acknowledging: BTreeSet::new(),
            facts: Facts::default(),
        }
    }

    /// Validates `parts`; on failure returns every problem found, not just the first.
    pub fn new(mut parts: RegisterParts) -> Result<Self, Vec<Problem>> {
        parts.sort();
        // The id indexes, the engagements' on a thread of their own.
        let ((organisation_ix, activity_ix, contract_ix, mut problems), (engagement_ix, links)) =
            in_parallel(
                parts.engagements.len(),
                || {
                    let mut problems = Vec::new();
                    let (kind, entries) = (EntityKind::Organisation, &parts.organisations);
                    let organisations = unique_dense_ids(kind, entries, &mut problems);
                    let activities =
                        unique_dense_ids(EntityKind::Activity, &parts.activities, &mut problems);
                    let contracts =
                        unique_ids(EntityKind::Contract, &parts.contracts, &mut problems);
                    (organisations, activities, contracts, problems)
                },
                || {
                    let mut problems = Vec::new();
                    let engagements =
                        unique_ids(EntityKind::Engagement, &parts.engagements, &mut problems);
                    (engagements, problems)
                },
            );
        problems.extend(links);
        let mut register = Self {
            engagements_by_activity: vec![Vec::new(); parts.activities.len()],
            engagements_as_processor: vec![Vec::new(); parts.organisations.len()],
            link_parties: Vec::with_capacity(parts.engagements.len()),
            link_contracts: Vec::with_capacity(parts.engagements.len()),
            acknowledging: parts
                .entries_acknowledging()
                .filter(|(_, _, acknowledgements)| !acknowledgements.is_empty())
                .map(|(kind, id, _)| (kind, id.clone()))
                .collect(),
            facts: Facts::default(),
            parts,
            organisation_ix,
            activity_ix,
            contract_ix,
            engagement_ix,
        };
        register.check_references(&mut problems);
        if problems.is_empty() {
            register.check_chains(&mut problems);
        }
        if problems.is_empty() {
            register.facts = Facts::build(&register.parts);
        }
        if problems.is_empty() {
            Ok(register)
        } else {
            Err(problems)
        }
    }

    pub fn into_parts(self) -> RegisterParts {
        self.parts
    }

    pub fn parts(&self) -> &RegisterParts {
        &self.parts
    }

    pub fn organisations(&self) -> &[Organisation] {
        &self.parts.organisations
    }

    pub fn activities(&self) -> &[Activity] {
        &self.parts.activities
    }

    pub fn contracts(&self) -> &[Contract] {
        &self.parts.contracts
    }

    pub fn engagements(&self) -> &[Engagement] {
        &self.parts.engagements
    }

    pub fn organisation(&self, id: &str) -> Option<&Organisation> {
        self.organisation_index(id)
            .map(|ix| self.organisation_at(ix))
    }

    pub fn activity(&self, id: &str) -> Option<&Activity> {
        self.activity_index(id)
            .map(|ix| &self.parts.activities[ix as usize])
    }

    pub fn contract(&self, id: &str) -> Option<&Contract> {
        self.contract_index(id)
            .map(|ix| &self.parts.contracts[ix as usize])
    }

    pub fn contract_index(&self, id: &str) -> Option<u32> {
        self.contract_ix.get(&self.parts.contracts, id)
    }

    pub fn engagement(&self, id: &str) -> Option<&Engagement> {
        self.engagement_index(id).map(|ix| self.engagement_at(ix))
    }

    pub fn engagement_index(&self, id: &str) -> Option<EngagementIx> {
        self.engagement_ix.get(&self.parts.engagements, id)
    }

    pub fn organisation_index(&self, id: &str) -> Option<OrgIx> {
        self.organisation_ix.get(id)
    }

    pub fn organisation_at(&self, ix: OrgIx) -> &Organisation {
        &self.parts.organisations[ix as usize]
    }

    pub fn engagement_at(&self, ix: EngagementIx) -> &Engagement {
        &self.parts.engagements[ix as usize]
    }

    pub fn activity_index(&self, id: &str) -> Option<u32> {
        self.activity_ix.get(id)
    }

    /// The positions of an engagement's parties and activity, which validation has found.
    fn positions_of(&self, link: &Engagement) -> ((OrgIx, OrgIx), u32) {
        let org = |id: &Slug| self.organisation_ix.position_of(id.as_str());
        let activity = self.activity_ix.position_of(link.activity.as_str());
        ((org(&link.engaged_by), org(&link.processor)), activity)
    }

    /// The entries that record acknowledgements (kind and id), in that order.
    pub fn acknowledging(&self) -> impl Iterator<Item = (EntityKind, &Slug)> {
        self.acknowledging.iter().map(|(kind, id)| (*kind, id))
    }

    pub fn engagements_of_activity(&self, activity_ix: u32) -> &[EngagementIx] {
        &self.engagements_by_activity[activity_ix as usize]
    }

    pub fn engagements_as_processor(&self, org: OrgIx) -> &[EngagementIx] {
        &self.engagements_as_processor[org as usize]
    }

    /// (engaged_by, processor) of an engagement.
    pub(crate) fn facts(&self) -> &Facts {
        &self.facts
    }

    pub fn link_parties(&self, ix: EngagementIx) -> (OrgIx, OrgIx) {
        self.link_parties[ix as usize]
    }

    /// The contract of an engagement, found without hashing its id.
    pub fn link_contract(&self, ix: EngagementIx) -> Option<&Contract> {
        self.link_contracts
            .get(ix as usize)
            .and_then(|&c| self.parts.contracts.get(c as usize))
    }

    /// Every entry's own problems and references. Contracts and engagements, a million each in
    /// a large register, are checked on two threads. A link's references are looked up once:
    /// the checks ask for them, and the per-link indexes are made of them.
    fn check_references(&mut self, problems: &mut Vec<Problem>) {
        let whole = Whole(self);
        let parts = &self.parts;
        // The links are most of the work: both threads resolve them a chunk at a time, one
        // after checking the other entries, so that neither waits for the other.
        let chunks = parts.engagements.chunks(LINKS_A_CHUNK).enumerate();
        let chunks = std::sync::Mutex::new(chunks);
        let resolve_links = || {
            let mut resolved = Vec::new();
            loop {
                let next = chunks.lock().ok().and_then(|mut chunks| chunks.next());
                let Some((n, links)) = next else {
                    return resolved;
                };
                let mut found = Vec::new();
                let mut positions = Vec::with_capacity(links.len());
                for link in links {
                    let references = ResolvedLink::of(self, link);
                    for message in engagement_problems(link, &references) {
                        found.push(Problem::of(EntityKind::Engagement, &link.id, message));
                    }
                    positions.push(references.positions);
                }
                resolved.push((n, found, positions));
            }
        };
        let ((mut first, mut links), more_links) = in_parallel(
            parts.engagements.len(),
            || {
                let mut found = Vec::new();
                for (kind, id, acknowledgements) in parts.entries_acknowledging() {
                    for message in acknowledgement_problems(acknowledgements) {
                        found.push(Problem::of(kind, id, message));
                    }
                }
                for org in &parts.organisations {
                    for message in organisation_problems(org) {
                        found.push(Problem::of(EntityKind::Organisation, &org.id, message));
                    }
                }
                for activity in &parts.activities {
                    for message in activity_problems(activity, &whole) {
                        found.push(Problem::of(EntityKind::Activity, &activity.id, message));
                    }
                }
                for contract in &parts.contracts {
                    for message in contract_problems(contract, &whole) {
                        found.push(Problem::of(EntityKind::Contract, &contract.id, message));
                    }
                }
                (found, resolve_links())
            },
            resolve_links,
        );
        links.extend(more_links);
        links.sort_unstable_by_key(|(n, _, _)| *n);
        let mut resolved = Vec::with_capacity(parts.engagements.len());
        for (_, mut found, positions) in links {
            first.append(&mut found);
            resolved.extend(positions);
        }
        problems.append(&mut first);
        if problems.is_empty() {
            self.index_links(resolved);
        }
    }

    /// The per-link indexes, from the positions of what each link names (every one found).
    #[allow(clippy::expect_used)] // made once validation found no problem: every reference resolves
    fn index_links(&mut self, resolved: Vec<LinkPositions>) {
        let mut link_parties = Vec::with_capacity(resolved.len());
        let mut link_contracts = Vec::with_capacity(resolved.len());
        // Each list made at its size: grown a push at a time, a million links reallocated
        // a hundred thousand small lists several times each.
        let mut by_activity = vec![0usize; self.engagements_by_activity.len()];
        let mut as_processor = vec![0usize; self.engagements_as_processor.len()];
        for at in &resolved {
            if let (Some(activity), Some(processor)) = (at.activity, at.processor) {
                by_activity[activity as usize] += 1;
                as_processor[processor as usize] += 1;
            }
        }
        for (list, size) in self.engagements_by_activity.iter_mut().zip(by_activity) {
            list.reserve_exact(size);
        }
        for (list, size) in self.engagements_as_processor.iter_mut().zip(as_processor) {
            list.reserve_exact(size);
        }
        for (ix, at) in resolved.into_iter().enumerate() {
            let found = "a valid link's parties and activity are entries of the register";
            let (by, processor) = (at.by.expect(found), at.processor.expect(found));
            let activity = at.activity.expect(found);
            let ix = ix as EngagementIx;
            link_parties.push((by, processor));
            link_contracts.push(at.contract.unwrap_or(Facts::NONE));
            self.engagements_by_activity[activity as usize].push(ix);
            self.engagements_as_processor[processor as usize].push(ix);
        }
        self.link_parties = link_parties;
        self.link_contracts = link_contracts;
    }

    /// The index of a link's contract in `contracts`, or [`Facts::NONE`].
    fn contract_ix_of(&self, link: &Engagement) -> u32 {
        link.contract
            .as_ref()
            .and_then(|id| self.contract_index(id.as_str()))
            .unwrap_or(Facts::NONE)
    }

    /// Per activity: every link hangs from a controller through other links of the activity,
    /// no processor appears twice on one path, and no party is engaged twice by the same party
    /// over overlapping periods.
    /// On two threads, half the activities each.
    fn check_chains(&self, problems: &mut Vec<Problem>) {
        let check = |activities: std::ops::Range<usize>| {
            let mut found = Vec::new();
            for activity_ix in activities {
                let links: Vec<ChainLink<'_>> = self.engagements_by_activity[activity_ix]
                    .iter()
                    .map(|&ix| self.chain_link(ix))
                    .collect();
                self.chain_problems(&self.parts.activities[activity_ix], &links, &mut found);
            }
            found
        };
        let count = self.parts.activities.len();
        let (mut first, second) = in_parallel(
            self.parts.engagements.len(),
            || check(0..count / 2),
            || check(count / 2..count),
        );
        first.extend(second);
        problems.append(&mut first);
    }

    fn chain_link(&self, ix: EngagementIx) -> ChainLink<'_> {
        let (by, processor) = self.link_parties(ix);
        ChainLink {
            engagement: self.engagement_at(ix),
            by,
            processor,
        }
    }

    /// The chain problems of one activity whose links (in id order) are `links`, every
    /// reference of which resolves.
    fn chain_problems(
        &self,
        activity: &Activity,
        links: &[ChainLink<'_>],
        problems: &mut Vec<Problem>,
    ) {
        if links.is_empty() {
            return;
        }
        let roots: FastSet<OrgIx> = activity
            .controllers()
            .filter_map(|c| self.organisation_index(c.as_str()))
            .collect();
        // Children by engaging party, as positions in `links`.
        let mut children: FastMap<OrgIx, Vec<usize>> = FastMap::default();
        let processors: FastSet<OrgIx> = links.iter().map(|l| l.processor).collect();
        let mut problem = |link: usize, message: String| {
            problems.push(Problem::of(
                EntityKind::Engagement,
                &links[link].engagement.id,
                message,
            ));
        };
        for (position, link) in links.iter().enumerate() {
            let engagement = link.engagement;
            if roots.contains(&link.processor) {
                problem(
                    position,
                    format!(
                        "{} is a controller of activity {}: a controller cannot be its own processor in the chain",
                        engagement.processor, activity.id
                    ),
                );
            } else if !roots.contains(&link.by) && !processors.contains(&link.by) {
                problem(
                    position,
                    format!(
                        "engaged_by {} is not in the chain of activity {}: it is neither its controller nor a processor engaged for it",
                        engagement.engaged_by, activity.id
                    ),
                );
            } else {
                children.entry(link.by).or_default().push(position);
            }
        }
        check_duplicate_links(links, &children, &mut problem);
        self.check_cycles(activity, links, &roots, &children, &mut problem);
    }

    /// Depth-first over the organisations of one activity: a link back to an organisation on
    /// the current path is a cycle; links never reached hang from a cycle.
    fn check_cycles(
        &self,
        activity: &Activity,
        links: &[ChainLink<'_>],
        roots: &FastSet<OrgIx>,
        children: &FastMap<OrgIx, Vec<usize>>,
        problem: &mut impl FnMut(usize, String),
    ) {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            OnPath,
            Done,
        }
        let mut state: FastMap<OrgIx, State> = FastMap::default();
        let mut reached: FastSet<usize> = FastSet::default();
        for &root in roots {
            // (organisation, next child to visit); the stack is the current path.
            let mut stack: Vec<(OrgIx, usize)> = vec![(root, 0)];
            state.insert(root, State::OnPath);
            while let Some(&mut (org, ref mut next)) = stack.last_mut() {
                let kids = children.get(&org).map_or(&[][..], Vec::as_slice);
                if let Some(&link) = kids.get(*next) {
                    *next += 1;
                    reached.insert(link);
                    let processor = links[link].processor;
                    match state.get(&processor) {
                        Some(State::OnPath) => {
                            let path: Vec<&str> = stack
                                .iter()
                                .map(|&(o, _)| self.organisation_at(o).id.as_str())
                                .chain([self.organisation_at(processor).id.as_str()])
                                .collect();
                            problem(
                                link,
                                format!(
                                    "cycle in activity {}: {} appears twice on the path {}",
                                    activity.id,
                                    self.organisation_at(processor).id,
                                    path.join(" → ")
                                ),
                            );
                        }
                        Some(State::Done) => {}
                        None => {
                            state.insert(processor, State::OnPath);
                            stack.push((processor, 0));
                        }
                    }
                } else {
                    state.insert(org, State::Done);
                    stack.pop();
                }
            }
        }
        for &link in children.values().flatten() {
            if !reached.contains(&link) {
                let engagement = links[link].engagement;
                problem(
                    link,
                    format!(
                        "{} → {} cannot be reached from the controller of activity {}: its engaged_by is only engaged inside a cycle",
                        engagement.engaged_by, engagement.processor, activity.id
                    ),
                );
            }
        }
    }
}

/// One link of an activity's chain, its parties resolved.
#[derive(Clone, Copy)]
struct ChainLink<'a> {
    engagement: &'a Engagement,
    by: OrgIx,
    processor: OrgIx,
}

/// No party engages the same processor twice over overlapping periods.
fn check_duplicate_links(
    links: &[ChainLink<'_>],
    children: &FastMap<OrgIx, Vec<usize>>,
    problem: &mut impl FnMut(usize, String),
) {
    for siblings in children.values() {
        let mut by_processor: FastMap<OrgIx, Vec<usize>> = FastMap::default();
        for &link in siblings {
            by_processor
                .entry(links[link].processor)
                .or_default()
                .push(link);
        }
        for same in by_processor.values().filter(|same| same.len() > 1) {
            for (i, &first) in same.iter().enumerate() {
                for &second in &same[i + 1..] {
                    let (a, b) = (links[first].engagement, links[second].engagement);
                    let overlap = a.since <= b.until.unwrap_or(Date::MAX)
                        && b.since <= a.until.unwrap_or(Date::MAX);
                    if overlap {
                        problem(
                            second,
                            format!(
                                "{} engages {} twice for activity {} over overlapping periods (also engagement {})",
                                b.engaged_by, b.processor, b.activity, a.id
                            ),
                        );
                    }
                }
            }
        }
    }
}

impl Problem {
    fn of(kind: EntityKind, id: &Slug, message: String) -> Self {
        Self {
            kind,
            id: id.clone(),
            duplicate: false,
            message,
        }
    }
}

impl RegisterParts {
    /// (kind, id, acknowledgements) of every entry.
    fn entries_acknowledging(
        &self,
    ) -> impl Iterator<Item = (EntityKind, &Slug, &Vec<crate::model::Acknowledgement>)> {
        self.organisations
            .iter()
            .map(|o| (EntityKind::Organisation, &o.id, &o.acknowledgements))
            .chain(
                self.activities
                    .iter()
                    .map(|a| (EntityKind::Activity, &a.id, &a.acknowledgements)),
            )
            .chain(
                self.contracts
                    .iter()
                    .map(|c| (EntityKind::Contract, &c.id, &c.acknowledgements)),
            )
            .chain(
                self.engagements
                    .iter()
                    .map(|e| (EntityKind::Engagement, &e.id, &e.acknowledgements)),
            )
    }
}

/// What the reference checks look an id up in: the register, or the register as a change
/// would leave it.
pub(crate) trait Lookup {
    fn organisation_exists(&self, id: &Slug) -> bool;
    fn activity(&self, id: &Slug) -> Option<&Activity>;
    fn contract(&self, id: &Slug) -> Option<&Contract>;
}

/// The register being built, as it stands.
struct Whole<'a>(&'a Register);

impl Lookup for Whole<'_> {
    fn organisation_exists(&self, id: &Slug) -> bool {
        self.0.organisation_index(id.as_str()).is_some()
    }
    fn activity(&self, id: &Slug) -> Option<&Activity> {
        self.0.activity(id.as_str())
    }
    fn contract(&self, id: &Slug) -> Option<&Contract> {
        self.0.contract(id.as_str())
    }
}

/// Where a link's references point, each looked up once: `None` for one that names nothing.
struct LinkPositions {
    by: Option<OrgIx>,
    processor: Option<OrgIx>,
    activity: Option<u32>,
    contract: Option<u32>,
}

/// The register being built, with one link's references already looked up.
struct ResolvedLink<'a> {
    register: &'a Register,
    link: &'a Engagement,
    positions: LinkPositions,
}

impl<'a> ResolvedLink<'a> {
    fn of(register: &'a Register, link: &'a Engagement) -> Self {
        let org = |id: &Slug| register.organisation_index(id.as_str());
        Self {
            register,
            link,
            positions: LinkPositions {
                by: org(&link.engaged_by),
                processor: org(&link.processor),
                activity: register.activity_index(link.activity.as_str()),
                contract: link
                    .contract
                    .as_ref()
                    .and_then(|id| register.contract_index(id.as_str())),
            },
        }
    }
}

impl Lookup for ResolvedLink<'_> {
    fn organisation_exists(&self, id: &Slug) -> bool {
        if id == &self.link.engaged_by {
            self.positions.by.is_some()
        } else if id == &self.link.processor {
            self.positions.processor.is_some()
        } else {
            self.register.organisation_index(id.as_str()).is_some()
        }
    }
    fn activity(&self, id: &Slug) -> Option<&Activity> {
        if id == &self.link.activity {
            let ix = self.positions.activity?;
            Some(&self.register.parts.activities[ix as usize])
        } else {
            self.register.activity(id.as_str())
        }
    }
    fn contract(&self, id: &Slug) -> Option<&Contract> {
        if Some(id) == self.link.contract.as_ref() {
            let ix = self.positions.contract?;
            Some(&self.register.parts.contracts[ix as usize])
        } else {
            self.register.contract(id.as_str())
        }
    }
}

/// Acknowledgements name rules of the checks and give a reason.
fn acknowledgement_problems(acknowledgements: &[crate::model::Acknowledgement]) -> Vec<String> {
    let mut problems = Vec::new();
    for acknowledgement in acknowledgements {
        if crate::checks::rules::rule(acknowledgement.rule.as_str()).is_none() {
            problems.push(format!(
                "acknowledgements: {:?} is not a rule of the checks (custos check --list-rules)",
                acknowledgement.rule.as_str()
            ));
        }
        if let Some(message) = text_problem("acknowledgements.reason", &acknowledgement.reason) {
            problems.push(message);
        }
    }
    problems
}

fn organisation_problems(org: &Organisation) -> Vec<String> {
    let mut problems: Vec<String> = [("name", Some(&org.name)), ("address", org.address.as_ref())]
        .into_iter()
        .filter_map(|(field, text)| text.and_then(|t| text_problem(field, t)))
        .collect();
    problems.extend(translation_problems(&org.translations, &["sector"]));
    problems
}

fn activity_problems(activity: &Activity, lookup: &impl Lookup) -> Vec<String> {
    let mut problems = Vec::new();
    if !lookup.organisation_exists(&activity.controller) {
        problems.push(missing_org("controller", &activity.controller));
    }
    for joint in &activity.joint_controllers {
        if !lookup.organisation_exists(joint) {
            problems.push(missing_org("joint_controllers", joint));
        } else if joint == &activity.controller {
            problems.push(format!(
                "joint_controllers names the controller {joint} again"
            ));
        }
    }
    for acceptance in &activity.joint_acceptances {
        if !activity.joint_controllers.contains(&acceptance.by) {
            problems.push(format!(
                "joint_acceptances: {} is not among the joint controllers",
                acceptance.by
            ));
        }
    }
    problems
}

fn contract_problems(contract: &Contract, lookup: &impl Lookup) -> Vec<String> {
    let mut problems = Vec::new();
    for party in &contract.between {
        if !lookup.organisation_exists(party) {
            problems.push(missing_org("between", party));
        }
    }
    if contract.between[0] == contract.between[1] {
        problems.push(format!(
            "between names {} twice: a contract is between two different parties",
            contract.between[0]
        ));
    }
    for named in contract.subprocessing.iter().flat_map(|s| &s.preauthorised) {
        if !lookup.organisation_exists(named) {
            problems.push(missing_org("subprocessing.preauthorised", named));
        }
    }
    problems.extend(contract_term_problems(contract));
    problems
}

fn engagement_problems(link: &Engagement, lookup: &impl Lookup) -> Vec<String> {
    let mut problems = Vec::new();
    let activity = lookup.activity(&link.activity);
    if activity.is_none() {
        problems.push(format!(
            "activity {:?} is not an activity of the register",
            link.activity.as_str()
        ));
    }
    for (field, org) in [
        ("engaged_by", &link.engaged_by),
        ("processor", &link.processor),
    ] {
        if !lookup.organisation_exists(org) {
            problems.push(missing_org(field, org));
        }
    }
    if link.engaged_by == link.processor {
        problems.push(format!("{} cannot engage itself", link.processor));
    }
    if let Some(message) = text_problem("service", &link.service) {
        problems.push(message);
    }
    problems.extend(translation_problems(
        &link.translations,
        &["service", "category"],
    ));
    if link.until.is_some_and(|until| until < link.since) {
        problems.push(format!(
            "until ({}) is before since ({}): expected the last day in force, on or after since",
            link.until.map(|d| d.to_string()).unwrap_or_default(),
            link.since
        ));
    }
    if let Some(contract_id) = &link.contract {
        match lookup.contract(contract_id) {
            None => problems.push(format!(
                "contract {:?} is not a contract of the register",
                contract_id.as_str()
            )),
            Some(contract) => {
                let between = &contract.between;
                let parties_match = (between[0] == link.engaged_by && between[1] == link.processor)
                    || (between[1] == link.engaged_by && between[0] == link.processor);
                if !parties_match {
                    problems.push(format!(
                        "contract {contract_id} is between {} and {}, not between the link's parties {} and {}",
                        between[0], between[1], link.engaged_by, link.processor
                    ));
                }
            }
        }
    }
    if let (Some(authorisation), Some(activity)) = (&link.authorisation, activity)
        && !activity.controllers().any(|c| c == &authorisation.by)
    {
        problems.push(format!(
            "authorisation.by is {}, but only a controller of activity {} ({}) decides on its processors",
            authorisation.by,
            activity.id,
            activity
                .controllers()
                .map(Slug::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    problems
}

/// Links resolved at a time by either of the two threads that validate a large register.
const LINKS_A_CHUNK: usize = 16_384;

/// Entries from which validation shares its work between two threads.
const PARALLEL_FROM: usize = 10_000;

/// `a` and `b` on two threads (this one and another) when there are `entries` enough to share:
/// a register of a million links is validated in half the time on two cores.
fn in_parallel<A: Send, B: Send>(
    entries: usize,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if entries < PARALLEL_FROM {
        return (a(), b());
    }
    std::thread::scope(|scope| {
        let b = scope.spawn(b);
        let a = a();
        match b.join() {
            Ok(b) => (a, b),
            Err(panicked) => std::panic::resume_unwind(panicked),
        }
    })
}

fn unique_ids<T: Identified>(
    kind: EntityKind,
    entries: &[T],
    problems: &mut Vec<Problem>,
) -> IdIndex {
    let (index, repeated) = IdIndex::build(entries);
    repeated_ids(kind, entries, repeated, problems);
    index
}

/// As [`unique_ids`], the index over a dense copy of the ids.
fn unique_dense_ids<T: Identified>(
    kind: EntityKind,
    entries: &[T],
    problems: &mut Vec<Problem>,
) -> DenseIdIndex {
    let (index, repeated) = DenseIdIndex::build(entries);
    repeated_ids(kind, entries, repeated, problems);
    index
}

/// A problem for each entry at `repeated` whose id an earlier entry has.
fn repeated_ids<T: Identified>(
    kind: EntityKind,
    entries: &[T],
    repeated: Vec<usize>,
    problems: &mut Vec<Problem>,
) {
    for position in repeated {
        let id = entries[position].id();
        problems.push(Problem {
            kind,
            id: id.clone(),
            duplicate: true,
            message: format!("the id {id} is used by another {kind} too: ids must be unique"),
        });
    }
}

fn missing_org(field: &str, id: &Slug) -> String {
    format!(
        "{field} {:?} is not an organisation of the register",
        id.as_str()
    )
}

/// A contract's dates in order (signed, renewal, expiry) and its document well named.
fn contract_term_problems(contract: &Contract) -> Vec<String> {
    let mut problems = Vec::new();
    if let (Some(signed), Some(expires)) = (contract.signed, contract.expires)
        && expires < signed
    {
        problems.push(format!(
            "expires: {expires} is before the contract was signed ({signed})"
        ));
    }
    if let (Some(renewal), Some(expires)) = (contract.renewal, contract.expires)
        && renewal > expires
    {
        problems.push(format!(
            "renewal: {renewal} is after the contract expires ({expires}): renew before it ends"
        ));
    }
    if let Some(document) = &contract.document {
        if let Some(problem) = text_problem("document.name", &document.name) {
            problems.push(problem);
        } else if document.name.len() > 255 {
            problems.push("document.name: at most 255 bytes expected".to_owned());
        }
        let hex = document.sha256.len() == 64
            && document
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex {
            problems.push(format!(
                "document.sha256: {:?} is not a SHA-256 in lowercase hex (64 characters)",
                document.sha256
            ));
        }
    }
    problems
}

/// What is wrong with an entry's `translations`: a language that is not a two-letter code, a
/// field that cannot be translated (`fields` can), an empty or overlong text.
fn translation_problems(translations: &crate::model::Translations, fields: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for (language, texts) in translations {
        if language.len() != 2 || !language.bytes().all(|b| b.is_ascii_lowercase()) {
            problems.push(format!(
                "translations: {language:?} is not a language code (two lower-case letters, e.g. es)"
            ));
        }
        for (field, text) in texts {
            if !fields.contains(&field.as_str()) {
                problems.push(format!(
                    "translations.{language}: {field:?} cannot be translated here: expected {}",
                    fields.join(" or ")
                ));
            } else if let Some(message) =
                text_problem(&format!("translations.{language}.{field}"), text)
            {
                problems.push(message);
            }
        }
    }
    problems
}

fn text_problem(field: &str, text: &str) -> Option<String> {
    if text.trim().is_empty() {
        Some(format!("{field} is empty: expected text"))
    } else if text.len() > MAX_TEXT_LEN {
        Some(format!(
            "{field} is {} bytes long: at most {MAX_TEXT_LEN} expected",
            text.len()
        ))
    } else {
        None
    }
}
