//! One entry put or removed in a valid register, checked against only what it can affect and
//! applied to the indexes in place: a write costs what it changes, not what the register
//! holds. `Register::new` over the changed entries is the reference this must agree with
//! (the property test in `tests/core/properties.rs`).

use std::collections::HashSet;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::id_index::Shift;
use super::{
    ChainLink, EngagementIx, EntityKind, Facts, LinkFacts, Lookup, OrgIx, Problem, Register,
    acknowledgement_problems, activity_problems, contract_problems, engagement_problems,
    organisation_problems,
};
use crate::Date;
use crate::model::{
    Acknowledgement, Activity, Contract, Engagement, Organisation, OrganisationKind,
};
use crate::values::Slug;

/// One entry of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Organisation(Organisation),
    Activity(Activity),
    Contract(Contract),
    Engagement(Engagement),
}

impl Entry {
    pub fn kind(&self) -> EntityKind {
        match self {
            Self::Organisation(_) => EntityKind::Organisation,
            Self::Activity(_) => EntityKind::Activity,
            Self::Contract(_) => EntityKind::Contract,
            Self::Engagement(_) => EntityKind::Engagement,
        }
    }

    pub fn id(&self) -> &Slug {
        match self {
            Self::Organisation(e) => &e.id,
            Self::Activity(e) => &e.id,
            Self::Contract(e) => &e.id,
            Self::Engagement(e) => &e.id,
        }
    }

    /// The entry as JSON, its stored form.
    pub fn json(&self) -> Result<String, serde_json::Error> {
        match self {
            Self::Organisation(e) => serde_json::to_string(e),
            Self::Activity(e) => serde_json::to_string(e),
            Self::Contract(e) => serde_json::to_string(e),
            Self::Engagement(e) => serde_json::to_string(e),
        }
    }

    /// The entry of `kind` read back from its stored form.
    pub fn from_json(kind: EntityKind, json: &str) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            EntityKind::Organisation => Self::Organisation(serde_json::from_str(json)?),
            EntityKind::Activity => Self::Activity(serde_json::from_str(json)?),
            EntityKind::Contract => Self::Contract(serde_json::from_str(json)?),
            EntityKind::Engagement => Self::Engagement(serde_json::from_str(json)?),
        })
    }

    /// The findings accepted on this entry.
    pub fn acknowledgements(&self) -> &[Acknowledgement] {
        match self {
            Self::Organisation(e) => &e.acknowledgements,
            Self::Activity(e) => &e.acknowledgements,
            Self::Contract(e) => &e.acknowledgements,
            Self::Engagement(e) => &e.acknowledgements,
        }
    }

    /// The entry with `acknowledgement` on it, in place of one of the same rule: the manifest's
    /// `acknowledgements`, written as any other field.
    pub fn acknowledged(mut self, acknowledgement: Acknowledgement) -> Self {
        let list = match &mut self {
            Self::Organisation(e) => &mut e.acknowledgements,
            Self::Activity(e) => &mut e.acknowledgements,
            Self::Contract(e) => &mut e.acknowledgements,
            Self::Engagement(e) => &mut e.acknowledgements,
        };
        list.retain(|a| a.rule != acknowledgement.rule);
        list.push(acknowledgement);
        self
    }

    /// The entry's version tag: a digest of its stored form, quoted as an HTTP entity tag.
    pub fn tag(&self) -> String {
        match self {
            Self::Organisation(e) => tag_of(e),
            Self::Activity(e) => tag_of(e),
            Self::Contract(e) => tag_of(e),
            Self::Engagement(e) => tag_of(e),
        }
    }
}

/// The version tag of any entry: a digest of its stored form, quoted as an HTTP entity tag.
pub fn tag_of<T: Serialize>(entry: &T) -> String {
    let body = serde_json::to_vec(entry).unwrap_or_default();
    let digest = Sha256::digest(&body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// One entry put in place of the one of its kind and id (or added), or removed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Put(Box<Entry>),
    Remove(EntityKind, Slug),
}

impl Change {
    /// The kind and id of the entry changed.
    pub fn target(&self) -> (EntityKind, &Slug) {
        match self {
            Self::Put(entry) => (entry.kind(), entry.id()),
            Self::Remove(kind, id) => (*kind, id),
        }
    }

    /// The entry after the change, none if removed.
    pub fn after(&self) -> Option<&Entry> {
        match self {
            Self::Put(entry) => Some(&**entry),
            Self::Remove(..) => None,
        }
    }
}

/// The register as `change` would leave it, for looking ids up.
struct Overlay<'a> {
    register: &'a Register,
    change: &'a Change,
}

impl Overlay<'_> {
    /// `Some(after)` when `kind` `id` is the changed entry.
    fn changed(&self, kind: EntityKind, id: &Slug) -> Option<Option<&Entry>> {
        let (changed_kind, changed_id) = self.change.target();
        (changed_kind == kind && changed_id == id).then(|| self.change.after())
    }
}

impl Lookup for Overlay<'_> {
    fn organisation_exists(&self, id: &Slug) -> bool {
        match self.changed(EntityKind::Organisation, id) {
            Some(after) => after.is_some(),
            None => self.register.organisation_index(id.as_str()).is_some(),
        }
    }
    fn activity(&self, id: &Slug) -> Option<&Activity> {
        match self.changed(EntityKind::Activity, id) {
            Some(Some(Entry::Activity(activity))) => Some(activity),
            Some(_) => None,
            None => self.register.activity(id.as_str()),
        }
    }
    fn contract(&self, id: &Slug) -> Option<&Contract> {
        match self.changed(EntityKind::Contract, id) {
            Some(Some(Entry::Contract(contract))) => Some(contract),
            Some(_) => None,
            None => self.register.contract(id.as_str()),
        }
    }
}

impl Register {
    /// Whether the register would still be valid with `change`: the problems
    /// `Register::new` would report over the changed entries, found by looking only at what
    /// the change can affect (the entry, the entries that refer to it, the chains of the
    /// activities it touches).
    pub fn check_change(&self, change: &Change) -> Result<(), Vec<Problem>> {
        let overlay = Overlay {
            register: self,
            change,
        };
        let (kind, id) = change.target();
        let mut problems = Vec::new();
        let mut report = |kind, id: &Slug, messages: Vec<String>| {
            problems.extend(messages.into_iter().map(|m| Problem::of(kind, id, m)));
        };
        if let Some(entry) = change.after() {
            report(kind, id, acknowledgement_problems(entry.acknowledgements()));
            let messages = match entry {
                Entry::Organisation(org) => organisation_problems(org),
                Entry::Activity(activity) => activity_problems(activity, &overlay),
                Entry::Contract(contract) => contract_problems(contract, &overlay),
                Entry::Engagement(link) => engagement_problems(link, &overlay),
            };
            report(kind, id, messages);
        }
        // The entries that refer to the changed one, judged against it.
        for referring in self.referring_to(kind, id, change.after().is_none()) {
            let messages = match referring {
                EntryRef::Activity(activity) => activity_problems(activity, &overlay),
                EntryRef::Contract(contract) => contract_problems(contract, &overlay),
                EntryRef::Engagement(link) => engagement_problems(link, &overlay),
            };
            report(referring.kind(), referring.id(), messages);
        }
        if problems.is_empty() {
            for (activity, links) in self.chains_touched(change) {
                self.chain_problems(activity, &links, &mut problems);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The stored entries whose references `kind` `id` can break: what names an organisation
    /// that is removed, the links of an activity or under a contract.
    fn referring_to(&self, kind: EntityKind, id: &Slug, removed: bool) -> Vec<EntryRef<'_>> {
        let parts = &self.parts;
        match kind {
            EntityKind::Organisation if removed => {
                let Some(org) = self.organisation_index(id.as_str()) else {
                    return Vec::new();
                };
                let activities = parts
                    .activities
                    .iter()
                    .filter(|a| a.controllers().any(|c| c == id))
                    .map(EntryRef::Activity);
                let contracts = parts
                    .contracts
                    .iter()
                    .filter(|c| {
                        c.between.contains(id)
                            || c.subprocessing.iter().any(|s| s.preauthorised.contains(id))
                    })
                    .map(EntryRef::Contract);
                let links = self
                    .link_parties
                    .iter()
                    .enumerate()
                    .filter(|(_, (by, processor))| *by == org || *processor == org)
                    .map(|(ix, _)| EntryRef::Engagement(&parts.engagements[ix]));
                activities.chain(contracts).chain(links).collect()
            }
            EntityKind::Activity => self
                .activity_index(id.as_str())
                .map(|ix| {
                    self.engagements_by_activity[ix as usize]
                        .iter()
                        .map(|&link| EntryRef::Engagement(self.engagement_at(link)))
                        .collect()
                })
                .unwrap_or_default(),
            EntityKind::Contract => self
                .contract_index(id.as_str())
                .map(|ix| {
                    self.link_contracts
                        .iter()
                        .enumerate()
                        .filter(|&(_, &contract)| contract == ix)
                        .map(|(link, _)| EntryRef::Engagement(&parts.engagements[link]))
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The activities whose chains `change` alters, each with its links as they would be (in
    /// id order). Only called once every reference resolves, so every party is indexed.
    fn chains_touched<'a>(&'a self, change: &'a Change) -> Vec<(&'a Activity, Vec<ChainLink<'a>>)> {
        let links_of = |activity_ix: u32, skip: Option<EngagementIx>| -> Vec<ChainLink<'a>> {
            self.engagements_by_activity[activity_ix as usize]
                .iter()
                .filter(|&&ix| Some(ix) != skip)
                .map(|&ix| self.chain_link(ix))
                .collect()
        };
        match change.after() {
            Some(Entry::Activity(activity)) => match self.activity_index(activity.id.as_str()) {
                Some(ix) => vec![(activity, links_of(ix, None))],
                None => Vec::new(),
            },
            _ if change.target().0 == EntityKind::Engagement => {
                let (_, id) = change.target();
                let before = self.engagement_index(id.as_str());
                let mut touched = Vec::new();
                if let Some(before) = before {
                    let old_activity = &self.engagement_at(before).activity;
                    let moved = match change.after() {
                        Some(Entry::Engagement(link)) => &link.activity != old_activity,
                        _ => true,
                    };
                    if moved {
                        let ix = self.activity_ix.position_of(old_activity.as_str());
                        touched.push((
                            &self.parts.activities[ix as usize],
                            links_of(ix, Some(before)),
                        ));
                    }
                }
                if let Some(Entry::Engagement(link)) = change.after() {
                    let ((by, processor), ix) = self.positions_of(link);
                    let mut links = links_of(ix, before);
                    let position = links.partition_point(|l| l.engagement.id < link.id);
                    links.insert(
                        position,
                        ChainLink {
                            engagement: link,
                            by,
                            processor,
                        },
                    );
                    touched.push((&self.parts.activities[ix as usize], links));
                }
                touched
            }
            _ => Vec::new(),
        }
    }

    /// The activities whose chains `change` may alter, judged on the register before it: the
    /// activity changed; a link's activity, before and after; the activities of a contract's
    /// links; the activities an organisation controls or is a party of a link in. What the
    /// checks of one activity read is its links, their parties and their contracts
    /// ([`crate::checks::ChainFindings`]).
    pub fn chains_touched_by(&self, change: &Change) -> HashSet<Slug> {
        let (kind, id) = change.target();
        let mut touched = HashSet::new();
        match kind {
            EntityKind::Activity => {
                touched.insert(id.clone());
            }
            EntityKind::Engagement => {
                touched.extend(self.engagement(id.as_str()).map(|e| e.activity.clone()));
                if let Some(Entry::Engagement(link)) = change.after() {
                    touched.insert(link.activity.clone());
                }
            }
            EntityKind::Contract => {
                touched.extend(self.activities_of_contracts(std::slice::from_ref(id)));
            }
            EntityKind::Organisation => {
                touched.extend(
                    self.activities()
                        .iter()
                        .filter(|a| a.controllers().any(|c| c == id))
                        .map(|a| a.id.clone()),
                );
                if let Some(org) = self.organisation_index(id.as_str()) {
                    touched.extend(
                        self.link_parties
                            .iter()
                            .zip(self.engagements())
                            .filter(|((by, processor), _)| *by == org || *processor == org)
                            .map(|(_, link)| link.activity.clone()),
                    );
                }
            }
        }
        touched
    }

    /// The activities with a link under one of `contracts`.
    pub fn activities_of_contracts(&self, contracts: &[Slug]) -> HashSet<Slug> {
        if contracts.is_empty() {
            return HashSet::new();
        }
        self.engagements()
            .iter()
            .filter(|link| {
                link.contract
                    .as_ref()
                    .is_some_and(|c| contracts.contains(c))
            })
            .map(|link| link.activity.clone())
            .collect()
    }

    /// Checks `change` and, when the register stays valid, makes it in place; otherwise
    /// leaves the register as it was and returns every problem.
    pub fn apply_change(&mut self, change: Change) -> Result<(), Vec<Problem>> {
        self.check_change(&change)?;
        let (kind, id) = change.target();
        let key = (kind, id.clone());
        match change.after() {
            Some(entry) if !entry.acknowledgements().is_empty() => {
                self.acknowledging.insert(key);
            }
            _ => {
                self.acknowledging.remove(&key);
            }
        }
        match change {
            Change::Put(entry) => match *entry {
                Entry::Organisation(org) => self.put_organisation(org),
                Entry::Activity(activity) => self.put_activity(activity),
                Entry::Contract(contract) => self.put_contract(contract),
                Entry::Engagement(link) => self.put_engagement(link),
            },
            Change::Remove(EntityKind::Organisation, id) => self.remove_organisation(&id),
            Change::Remove(EntityKind::Activity, id) => self.remove_activity(&id),
            Change::Remove(EntityKind::Contract, id) => self.remove_contract(&id),
            Change::Remove(EntityKind::Engagement, id) => self.remove_engagement(&id),
        }
        Ok(())
    }

    fn put_organisation(&mut self, org: Organisation) {
        let sector = self.facts.intern(org.sector.as_deref());
        let international = org.kind == OrganisationKind::InternationalOrganisation;
        let country = org.country;
        if let Some(ix) = self.organisation_index(org.id.as_str()) {
            let ix = ix as usize;
            self.parts.organisations[ix] = org;
            self.facts.org_country[ix] = country;
            self.facts.org_sector[ix] = sector;
            self.facts.org_is_international[ix] = international;
            return;
        }
        let at = self.parts.organisations.partition_point(|o| o.id < org.id);
        let at_ix = at as OrgIx;
        for (by, processor) in &mut self.link_parties {
            *by = Shift::Insert.apply(*by, at_ix);
            *processor = Shift::Insert.apply(*processor, at_ix);
        }
        self.engagements_as_processor.insert(at, Vec::new());
        self.facts.org_country.insert(at, country);
        self.facts.org_sector.insert(at, sector);
        self.facts.org_is_international.insert(at, international);
        self.organisation_ix.inserted(at_ix, org.id.clone());
        self.parts.organisations.insert(at, org);
    }

    fn remove_organisation(&mut self, id: &Slug) {
        let Some(ix) = self.organisation_index(id.as_str()) else {
            return;
        };
        self.organisation_ix.removing(ix);
        for (by, processor) in &mut self.link_parties {
            *by = Shift::Remove.apply(*by, ix);
            *processor = Shift::Remove.apply(*processor, ix);
        }
        let at = ix as usize;
        self.engagements_as_processor.remove(at);
        self.facts.org_country.remove(at);
        self.facts.org_sector.remove(at);
        self.facts.org_is_international.remove(at);
        self.parts.organisations.remove(at);
    }

    fn put_activity(&mut self, activity: Activity) {
        if let Some(ix) = self.activity_index(activity.id.as_str()) {
            self.parts.activities[ix as usize] = activity;
            return;
        }
        let at = self
            .parts
            .activities
            .partition_point(|a| a.id < activity.id);
        self.engagements_by_activity.insert(at, Vec::new());
        self.activity_ix.inserted(at as u32, activity.id.clone());
        self.parts.activities.insert(at, activity);
    }

    fn remove_activity(&mut self, id: &Slug) {
        let Some(ix) = self.activity_index(id.as_str()) else {
            return;
        };
        self.activity_ix.removing(ix);
        self.engagements_by_activity.remove(ix as usize);
        self.parts.activities.remove(ix as usize);
    }

    fn put_contract(&mut self, contract: Contract) {
        if let Some(ix) = self.contract_index(contract.id.as_str()) {
            self.parts.contracts[ix as usize] = contract;
            return;
        }
        let at = self.parts.contracts.partition_point(|c| c.id < contract.id);
        let at_ix = at as u32;
        shift_contracts(&mut self.link_contracts, at_ix, Shift::Insert);
        self.parts.contracts.insert(at, contract);
        self.contract_ix.inserted(&self.parts.contracts, at_ix);
    }

    fn remove_contract(&mut self, id: &Slug) {
        let Some(ix) = self.contract_index(id.as_str()) else {
            return;
        };
        self.contract_ix.removing(&self.parts.contracts, ix);
        shift_contracts(&mut self.link_contracts, ix, Shift::Remove);
        self.parts.contracts.remove(ix as usize);
    }

    fn put_engagement(&mut self, link: Engagement) {
        let (parties, activity) = self.positions_of(&link);
        let contract = self.contract_ix_of(&link);
        let facts = LinkFacts::of(&link, self.facts.intern(Some(link.category())));
        if let Some(ix) = self.engagement_index(link.id.as_str()) {
            let at = ix as usize;
            let old_processor = self.link_parties[at].1;
            let (_, old_activity) = self.positions_of(&self.parts.engagements[at]);
            if old_activity != activity {
                remove_sorted(&mut self.engagements_by_activity[old_activity as usize], ix);
                insert_sorted(&mut self.engagements_by_activity[activity as usize], ix);
            }
            if old_processor != parties.1 {
                remove_sorted(
                    &mut self.engagements_as_processor[old_processor as usize],
                    ix,
                );
                insert_sorted(&mut self.engagements_as_processor[parties.1 as usize], ix);
            }
            self.link_parties[at] = parties;
            self.link_contracts[at] = contract;
            self.facts.links[at] = facts;
            self.parts.engagements[at] = link;
            return;
        }
        let at = self.parts.engagements.partition_point(|e| e.id < link.id);
        let at_ix = at as EngagementIx;
        shift_lists(&mut self.engagements_by_activity, at_ix, Shift::Insert);
        shift_lists(&mut self.engagements_as_processor, at_ix, Shift::Insert);
        insert_sorted(&mut self.engagements_by_activity[activity as usize], at_ix);
        insert_sorted(
            &mut self.engagements_as_processor[parties.1 as usize],
            at_ix,
        );
        self.link_parties.insert(at, parties);
        self.link_contracts.insert(at, contract);
        self.facts.links.insert(at, facts);
        self.parts.engagements.insert(at, link);
        self.engagement_ix.inserted(&self.parts.engagements, at_ix);
    }

    fn remove_engagement(&mut self, id: &Slug) {
        let Some(ix) = self.engagement_index(id.as_str()) else {
            return;
        };
        let at = ix as usize;
        let (_, activity) = self.positions_of(&self.parts.engagements[at]);
        let processor = self.link_parties[at].1;
        remove_sorted(&mut self.engagements_by_activity[activity as usize], ix);
        remove_sorted(&mut self.engagements_as_processor[processor as usize], ix);
        self.engagement_ix.removing(&self.parts.engagements, ix);
        shift_lists(&mut self.engagements_by_activity, ix, Shift::Remove);
        shift_lists(&mut self.engagements_as_processor, ix, Shift::Remove);
        self.link_parties.remove(at);
        self.link_contracts.remove(at);
        self.facts.links.remove(at);
        self.parts.engagements.remove(at);
    }

    /// Whether every index equals the one `Register::new` builds over the same entries (for
    /// tests of the incremental path): the same positions, lists and facts, texts compared
    /// by what they say.
    #[doc(hidden)]
    pub fn same_indexes_as(&self, other: &Register) -> bool {
        let text =
            |facts: &Facts, ix: u32| (ix != Facts::NONE).then(|| facts.texts[ix as usize].clone());
        let sectors = |r: &Register| -> Vec<Option<String>> {
            r.facts
                .org_sector
                .iter()
                .map(|&s| text(&r.facts, s))
                .collect()
        };
        let links = |r: &Register| -> Vec<(Date, Date, Option<String>, bool)> {
            r.facts
                .links
                .iter()
                .map(|l| {
                    (
                        l.since,
                        l.until,
                        text(&r.facts, l.category),
                        l.has_locations,
                    )
                })
                .collect()
        };
        self.parts == other.parts
            && self
                .organisation_ix
                .indexes_exactly(&self.parts.organisations)
            && self.activity_ix.indexes_exactly(&self.parts.activities)
            && self.contract_ix.indexes_exactly(&self.parts.contracts)
            && self.engagement_ix.indexes_exactly(&self.parts.engagements)
            && self.engagements_by_activity == other.engagements_by_activity
            && self.link_parties == other.link_parties
            && self.link_contracts == other.link_contracts
            && self.engagements_as_processor == other.engagements_as_processor
            && self.acknowledging == other.acknowledging
            && self.facts.org_country == other.facts.org_country
            && self.facts.org_is_international == other.facts.org_is_international
            && sectors(self) == sectors(other)
            && links(self) == links(other)
    }
}

/// A stored entry, borrowed.
#[derive(Clone, Copy)]
enum EntryRef<'a> {
    Activity(&'a Activity),
    Contract(&'a Contract),
    Engagement(&'a Engagement),
}

impl EntryRef<'_> {
    fn kind(&self) -> EntityKind {
        match self {
            Self::Activity(_) => EntityKind::Activity,
            Self::Contract(_) => EntityKind::Contract,
            Self::Engagement(_) => EntityKind::Engagement,
        }
    }
    fn id(&self) -> &Slug {
        match self {
            Self::Activity(a) => &a.id,
            Self::Contract(c) => &c.id,
            Self::Engagement(e) => &e.id,
        }
    }
}

fn shift_lists(lists: &mut [Vec<EngagementIx>], at: EngagementIx, shift: Shift) {
    for position in lists.iter_mut().flatten() {
        *position = shift.apply(*position, at);
    }
}

fn shift_contracts(positions: &mut [u32], at: u32, shift: Shift) {
    for position in positions.iter_mut().filter(|p| **p != Facts::NONE) {
        *position = shift.apply(*position, at);
    }
}

fn insert_sorted(list: &mut Vec<EngagementIx>, ix: EngagementIx) {
    let at = list.partition_point(|&l| l < ix);
    list.insert(at, ix);
}

fn remove_sorted(list: &mut Vec<EngagementIx>, ix: EngagementIx) {
    if let Ok(at) = list.binary_search(&ix) {
        list.remove(at);
    }
}

impl Facts {
    /// The index of `text` in `texts`, added if new; [`Facts::NONE`] for none. The texts are
    /// few (sectors and recipient categories), so a scan is cheaper than a second map.
    fn intern(&mut self, text: Option<&str>) -> u32 {
        let Some(text) = text else {
            return Self::NONE;
        };
        match self.texts.iter().position(|t| t == text) {
            Some(ix) => ix as u32,
            None => {
                self.texts.push(text.to_owned());
                (self.texts.len() - 1) as u32
            }
        }
    }
}
