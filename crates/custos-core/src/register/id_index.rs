//! The position of each entry of one kind by its id.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry as Slot;

use crate::model::{Activity, Contract, Engagement, Organisation};
use crate::values::Slug;

/// An entry with an id.
pub(crate) trait Identified {
    fn id(&self) -> &Slug;
}

impl Identified for Organisation {
    fn id(&self) -> &Slug {
        &self.id
    }
}

impl Identified for Activity {
    fn id(&self) -> &Slug {
        &self.id
    }
}

impl Identified for Contract {
    fn id(&self) -> &Slug {
        &self.id
    }
}

impl Identified for Engagement {
    fn id(&self) -> &Slug {
        &self.id
    }
}

impl Identified for Slug {
    fn id(&self) -> &Slug {
        self
    }
}

/// Moving the positions after an inserted or removed entry.
#[derive(Clone, Copy)]
pub(crate) enum Shift {
    Insert,
    Remove,
}

impl Shift {
    /// `position` after an entry was inserted at, or removed from, `at`.
    pub(crate) fn apply(self, position: u32, at: u32) -> u32 {
        match self {
            Self::Insert if position >= at => position + 1,
            Self::Remove if position > at => position - 1,
            _ => position,
        }
    }
}

/// Positions into a slice of entries, found by id. It holds the positions only and compares
/// ids through the entries themselves: a `HashMap<Slug, u32>` kept a second copy of every id,
/// 64 MB for a million engagements, where this takes 5 bytes an entry. Every method takes the
/// slice the positions point into. Hashed with SipHash under a random key, as the standard
/// map is: ids are written by the parties of an instance.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdIndex {
    table: HashTable<u32>,
    hasher: RandomState,
}

impl IdIndex {
    /// Indexes `entries`; the positions of the entries whose id an earlier entry has, in order.
    pub(crate) fn build<T: Identified>(entries: &[T]) -> (Self, Vec<usize>) {
        let mut index = Self {
            table: HashTable::with_capacity(entries.len()),
            hasher: RandomState::new(),
        };
        let mut repeated = Vec::new();
        for (position, entry) in entries.iter().enumerate() {
            let hasher = &index.hasher;
            let slot = index.table.entry(
                hasher.hash_one(entry.id().as_str()),
                |&p| entries[p as usize].id() == entry.id(),
                |&p| hasher.hash_one(entries[p as usize].id().as_str()),
            );
            match slot {
                Slot::Occupied(_) => repeated.push(position),
                Slot::Vacant(slot) => {
                    slot.insert(position as u32);
                }
            }
        }
        (index, repeated)
    }

    /// The position of `id` in `entries`.
    pub(crate) fn get<T: Identified>(&self, entries: &[T], id: &str) -> Option<u32> {
        self.table
            .find(self.hasher.hash_one(id), |&p| {
                entries[p as usize].id().as_str() == id
            })
            .copied()
    }

    /// The position of an id that a validated reference names.
    #[allow(clippy::expect_used)] // references are validated before an index is built or changed
    pub(crate) fn position_of<T: Identified>(&self, entries: &[T], id: &str) -> u32 {
        self.get(entries, id)
            .expect("a validated reference names an entry of the register")
    }

    /// After an entry was inserted into `entries` at `position`: the positions from there on
    /// move up one, and the new entry is indexed.
    pub(crate) fn inserted<T: Identified>(&mut self, entries: &[T], position: u32) {
        self.shift(position, Shift::Insert);
        let hasher = &self.hasher;
        self.table.insert_unique(
            hasher.hash_one(entries[position as usize].id().as_str()),
            position,
            |&p| hasher.hash_one(entries[p as usize].id().as_str()),
        );
    }

    /// Before the entry at `position` is removed from `entries`: it leaves the index, and the
    /// positions after it move down one.
    pub(crate) fn removing<T: Identified>(&mut self, entries: &[T], position: u32) {
        let hash = self
            .hasher
            .hash_one(entries[position as usize].id().as_str());
        if let Ok(slot) = self.table.find_entry(hash, |&p| p == position) {
            slot.remove();
        }
        self.shift(position, Shift::Remove);
    }

    fn shift(&mut self, at: u32, shift: Shift) {
        for position in self.table.iter_mut() {
            *position = shift.apply(*position, at);
        }
    }

    /// Whether it finds every entry of `entries` at its position, and nothing else.
    pub(crate) fn indexes_exactly<T: Identified>(&self, entries: &[T]) -> bool {
        self.table.len() == entries.len()
            && entries
                .iter()
                .enumerate()
                .all(|(p, e)| self.get(entries, e.id().as_str()) == Some(p as u32))
    }
}

/// An [`IdIndex`] that compares ids in a dense copy of them rather than through the entries,
/// for a kind of few, large entries that millions of references name. An organisation is 560
/// bytes: the ids of 100,000 read through the entries are spread over 56 MB, and each lookup
/// (every link names two parties, every contract two) missed the cache; their copy takes 2.4
/// MB, which stays in it. It holds the ids in the entries' order, kept so by the same calls.
#[derive(Debug, Clone, Default)]
pub(crate) struct DenseIdIndex {
    ids: Vec<Slug>,
    index: IdIndex,
}

impl DenseIdIndex {
    /// Indexes `entries`; the positions of the entries whose id an earlier entry has, in order.
    pub(crate) fn build<T: Identified>(entries: &[T]) -> (Self, Vec<usize>) {
        let ids: Vec<Slug> = entries.iter().map(|entry| entry.id().clone()).collect();
        let (index, repeated) = IdIndex::build(&ids);
        (Self { ids, index }, repeated)
    }

    /// The position of `id`.
    pub(crate) fn get(&self, id: &str) -> Option<u32> {
        self.index.get(&self.ids, id)
    }

    /// The position of an id that a validated reference names.
    pub(crate) fn position_of(&self, id: &str) -> u32 {
        self.index.position_of(&self.ids, id)
    }

    /// After an entry with `id` was inserted at `position`.
    pub(crate) fn inserted(&mut self, position: u32, id: Slug) {
        self.ids.insert(position as usize, id);
        self.index.inserted(&self.ids, position);
    }

    /// Before the entry at `position` is removed.
    pub(crate) fn removing(&mut self, position: u32) {
        self.index.removing(&self.ids, position);
        self.ids.remove(position as usize);
    }

    /// Whether it holds the ids of `entries` in order and finds each at its position.
    pub(crate) fn indexes_exactly<T: Identified>(&self, entries: &[T]) -> bool {
        self.ids.len() == entries.len()
            && self
                .ids
                .iter()
                .zip(entries)
                .all(|(id, entry)| id == entry.id())
            && self.index.indexes_exactly(&self.ids)
    }
}
