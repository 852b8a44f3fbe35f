//! Earlier versions of contracts. A contract changes (an accepted amendment, an edit), and a
//! link judged on a day before the change is judged against the text in force that day, not
//! the one in force now: the courier chain of 2023 stays judged on its 2023 contract.

use std::collections::HashMap;

use crate::Date;
use crate::model::Contract;
use crate::values::Slug;

/// One superseded version of a contract and the last day it was in force.
#[derive(Debug, Clone, PartialEq)]
pub struct EarlierVersion {
    pub contract: Contract,
    pub until: Date,
}

/// A version of a contract and the days it was in force.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Version<'a> {
    /// From 1, the oldest.
    pub number: u32,
    /// First day in force; none for the first version (in force since it was recorded).
    pub from: Option<Date>,
    /// Last day in force; none for the version in force now.
    pub until: Option<Date>,
    pub contract: &'a Contract,
}

/// The superseded versions of every contract that changed, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContractHistory {
    by_contract: HashMap<Slug, Vec<EarlierVersion>>,
}

impl ContractHistory {
    /// From superseded versions in any order. A version replaced on the day it took effect
    /// was never in force for a whole day: only the last version of a day counts.
    pub fn new(versions: impl IntoIterator<Item = EarlierVersion>) -> Self {
        let mut by_contract: HashMap<Slug, Vec<EarlierVersion>> = HashMap::new();
        for version in versions {
            by_contract
                .entry(version.contract.id.clone())
                .or_default()
                .push(version);
        }
        for versions in by_contract.values_mut() {
            // Stable: versions replaced on the same day keep their order, the last one wins.
            versions.sort_by_key(|v| v.until);
            let mut kept: Vec<EarlierVersion> = Vec::with_capacity(versions.len());
            for version in versions.drain(..) {
                if kept.last().is_some_and(|last| last.until == version.until) {
                    kept.pop();
                }
                kept.push(version);
            }
            *versions = kept;
        }
        Self { by_contract }
    }

    pub fn is_empty(&self) -> bool {
        self.by_contract.is_empty()
    }

    /// The contracts whose superseded versions differ between this history and `other`.
    pub fn contracts_differing_from(&self, other: &Self) -> Vec<Slug> {
        let mut differing: Vec<Slug> = self
            .by_contract
            .iter()
            .filter(|(id, versions)| other.by_contract.get(*id) != Some(versions))
            .map(|(id, _)| id.clone())
            .collect();
        differing.extend(
            other
                .by_contract
                .keys()
                .filter(|id| !self.by_contract.contains_key(*id))
                .cloned(),
        );
        differing
    }

    /// The version of `current` in force on `day`: the first superseded version still in force
    /// that day, or else the current one.
    pub fn on<'a>(&'a self, current: &'a Contract, day: Date) -> &'a Contract {
        self.by_contract
            .get(&current.id)
            .and_then(|versions| versions.iter().find(|v| day <= v.until))
            .map_or(current, |v| &v.contract)
    }

    /// Every version of a contract with the days it was in force, numbered from 1, the
    /// current one last.
    pub fn versions<'a>(&'a self, current: Option<&'a Contract>, id: &Slug) -> Vec<Version<'a>> {
        let mut out = Vec::new();
        let mut from: Option<Date> = None;
        for version in self.by_contract.get(id).into_iter().flatten() {
            out.push(Version {
                number: out.len() as u32 + 1,
                from,
                until: Some(version.until),
                contract: &version.contract,
            });
            from = version.until.tomorrow().ok();
        }
        if let Some(current) = current {
            out.push(Version {
                number: out.len() as u32 + 1,
                from,
                until: None,
                contract: current,
            });
        }
        out
    }
}
