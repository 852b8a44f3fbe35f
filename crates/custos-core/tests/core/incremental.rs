//! The incremental path of a write (`Register::check_change`, `Register::apply_change`) against
//! the reference, `Register::new` over the changed entries: for random registers and random
//! sequences of single-entry writes, both accept or both refuse (with the same problems), and
//! after every accepted write the register kept up to date in place has the same entries and
//! the same indexes as one built afresh.

use custos_core::checks::{self, ChainFindings};
use custos_core::history::ContractHistory;
use custos_core::model::{Acknowledgement, Authorisation, Decision};
use custos_core::register::{Change, EntityKind, Entry, Register, RegisterParts};
use custos_core::synthetic::{Shape, generate};
use custos_core::values::Slug;
use proptest::prelude::*;

use crate::date;

/// One random write: which kind, which entry (an index), what to do, and a value to use.
type Step = (u8, u16, u8, u16);

fn pick<T: Clone>(entries: &[T], index: u16) -> Option<T> {
    (!entries.is_empty()).then(|| entries[index as usize % entries.len()].clone())
}

fn org_id(parts: &RegisterParts, value: u16) -> Slug {
    pick(&parts.organisations, value)
        .map(|o| o.id)
        .unwrap_or_else(|| "nobody".parse().unwrap())
}

/// The write a step makes of `parts`, if the register has an entry of that kind.
fn change_of(parts: &RegisterParts, step: Step, serial: usize) -> Option<Change> {
    let (kind, index, action, value) = step;
    let fresh: Slug = format!("new-{serial}").parse().unwrap();
    let entry = match kind % 4 {
        0 => Entry::Organisation(pick(&parts.organisations, index)?),
        1 => Entry::Activity(pick(&parts.activities, index)?),
        2 => Entry::Contract(pick(&parts.contracts, index)?),
        _ => Entry::Engagement(pick(&parts.engagements, index)?),
    };
    let (kind, id) = (entry.kind(), entry.id().clone());
    let changed = match (action % 6, entry) {
        (0, _) => return Some(Change::Remove(kind, id)),
        // A copy under a new id, the rest as it was.
        (1, Entry::Organisation(mut o)) => {
            o.id = fresh;
            Entry::Organisation(o)
        }
        (1, Entry::Activity(mut a)) => {
            a.id = fresh;
            Entry::Activity(a)
        }
        (1, Entry::Contract(mut c)) => {
            c.id = fresh;
            Entry::Contract(c)
        }
        (1, Entry::Engagement(mut e)) => {
            e.id = fresh;
            Entry::Engagement(e)
        }
        // A new party or another activity: references that may break, chains that may cycle.
        (2, Entry::Organisation(mut o)) => {
            o.sector = Some(format!("Sector {}", value % 3));
            Entry::Organisation(o)
        }
        (2, Entry::Activity(mut a)) => {
            a.controller = org_id(parts, value);
            Entry::Activity(a)
        }
        (2, Entry::Contract(mut c)) => {
            c.between[value as usize % 2] = org_id(parts, value);
            Entry::Contract(c)
        }
        (2, Entry::Engagement(mut e)) => {
            e.engaged_by = org_id(parts, value);
            Entry::Engagement(e)
        }
        (3, Entry::Engagement(mut e)) => {
            e.processor = org_id(parts, value);
            e.contract = None;
            Entry::Engagement(e)
        }
        (3, Entry::Activity(mut a)) => {
            a.joint_controllers = vec![org_id(parts, value)];
            Entry::Activity(a)
        }
        (4, Entry::Engagement(mut e)) => {
            e.activity = pick(&parts.activities, value)
                .map(|a| a.id)
                .unwrap_or(e.activity);
            e.authorisation = Some(Box::new(Authorisation {
                by: org_id(parts, value / 7),
                decision: Decision::Approved,
                date: date("2025-01-01"),
                reference: None,
            }));
            Entry::Engagement(e)
        }
        (4, Entry::Contract(mut c)) => {
            c.between = [org_id(parts, value), org_id(parts, value / 5)];
            Entry::Contract(c)
        }
        // What the checks judge: a contract's clauses and term, a party's country.
        (5, Entry::Contract(mut c)) => {
            c.clauses = Default::default();
            c.expires = (value % 2 == 0).then(|| date("2025-06-30"));
            Entry::Contract(c)
        }
        (5, Entry::Organisation(mut o)) => {
            o.country = ["IN", "US", "FR", "BR"][value as usize % 4]
                .parse()
                .unwrap();
            Entry::Organisation(o)
        }
        // A new period, a new category (or the last day before the first: refused).
        // A finding acknowledged, or the acknowledgements withdrawn.
        (5, Entry::Engagement(mut e)) => {
            e.acknowledgements = match value % 3 {
                0 => Vec::new(),
                n => vec![Acknowledgement {
                    rule: ["no-contract", "unauthorised-subprocessor"][n as usize - 1]
                        .parse()
                        .unwrap(),
                    reason: "Accepted while the contract is renegotiated".to_owned(),
                    until: date("2027-06-30"),
                    by: None,
                }],
            };
            Entry::Engagement(e)
        }
        (_, Entry::Engagement(mut e)) => {
            e.until = (value % 3 == 0).then(|| date("2024-12-31"));
            e.category = Some(format!("Category {}", value % 4).into());
            Entry::Engagement(e)
        }
        (_, mut other) => {
            if let Entry::Organisation(o) = &mut other {
                o.name = format!("Renamed {value}");
            }
            other
        }
    };
    Some(Change::Put(Box::new(changed)))
}

/// The entries as `change` leaves them.
fn changed_parts(parts: &RegisterParts, change: &Change) -> RegisterParts {
    let mut parts = parts.clone();
    let (kind, id) = change.target();
    match kind {
        EntityKind::Organisation => parts.organisations.retain(|e| &e.id != id),
        EntityKind::Activity => parts.activities.retain(|e| &e.id != id),
        EntityKind::Contract => parts.contracts.retain(|e| &e.id != id),
        EntityKind::Engagement => parts.engagements.retain(|e| &e.id != id),
    }
    match change.after().cloned() {
        Some(Entry::Organisation(e)) => parts.organisations.push(e),
        Some(Entry::Activity(e)) => parts.activities.push(e),
        Some(Entry::Contract(e)) => parts.contracts.push(e),
        Some(Entry::Engagement(e)) => parts.engagements.push(e),
        None => {}
    }
    parts
}

/// A small random register: a few activities with chains up to 4 deep.
fn small(seed: u64, contracts: bool) -> Shape {
    Shape {
        organisations: 24,
        engagements: 90,
        engagements_per_activity: 15,
        max_depth: 4,
        seed,
        contracts,
        single_controller: false,
    }
}

fn messages(problems: &[custos_core::register::Problem]) -> Vec<String> {
    let mut messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
    messages.sort();
    messages.dedup();
    messages
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn incremental_writes_agree_with_validating_the_whole_register(
        seed in any::<u64>(),
        contracts in any::<bool>(),
        steps in prop::collection::vec(any::<Step>(), 1..60),
    ) {
        let mut register = Register::new(generate(small(seed, contracts))).unwrap();
        for (serial, step) in steps.into_iter().enumerate() {
            let Some(change) = change_of(register.parts(), step, serial) else { continue };
            let whole = Register::new(changed_parts(register.parts(), &change));
            match (register.check_change(&change), &whole) {
                (Ok(()), Ok(_)) => {}
                (Err(incremental), Err(full)) => {
                    prop_assert_eq!(messages(&incremental), messages(full), "{:?}", change);
                }
                (incremental, full) => prop_assert!(
                    false,
                    "incremental {:?} but full {:?} for {:?}",
                    incremental.err(),
                    full.as_ref().err(),
                    change
                ),
            }
            let before = register.clone();
            let applied = register.apply_change(change.clone());
            match whole {
                Ok(whole) => {
                    prop_assert!(applied.is_ok());
                    prop_assert!(register.same_indexes_as(&whole), "indexes differ after {:?}", change);
                }
                Err(_) => {
                    prop_assert!(applied.is_err());
                    prop_assert!(register.same_indexes_as(&before), "a refused change altered the register");
                }
            }
        }
        // Derivation over the register kept in place answers as over a fresh one.
        let fresh = Register::new(register.parts().clone()).unwrap();
        for activity in register.activities() {
            let kept = custos_core::chain::Chain::derive(&register, activity.id.as_str(), None).unwrap();
            let built = custos_core::chain::Chain::derive(&fresh, activity.id.as_str(), None).unwrap();
            let walk = |chain: &custos_core::chain::Chain| -> Vec<(String, u32)> {
                chain.links.iter().map(|l| (chain.engagement(l).id.to_string(), l.depth)).collect()
            };
            prop_assert_eq!(walk(&kept), walk(&built));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The checks' findings kept per activity and brought up to date through the activities
    /// each write touches (`Register::chains_touched_by`) make the same report as every check
    /// run afresh, and the activities a write did not touch are not judged again.
    #[test]
    fn findings_kept_per_activity_agree_with_checking_the_whole_register(
        seed in any::<u64>(),
        contracts in any::<bool>(),
        steps in prop::collection::vec(any::<Step>(), 1..40),
    ) {
        let on = date("2026-06-01");
        let history = ContractHistory::default();
        let mut register = Register::new(generate(small(seed, contracts))).unwrap();
        let mut kept = ChainFindings::compute(&register, on, &history).unwrap();
        for (serial, step) in steps.into_iter().enumerate() {
            let Some(change) = change_of(register.parts(), step, serial) else { continue };
            let touched = register.chains_touched_by(&change);
            if register.apply_change(change.clone()).is_err() {
                continue;
            }
            let updated = kept.updated(&register, on, &history, &touched).unwrap();
            let afresh = checks::check(&register, on).unwrap();
            prop_assert_eq!(updated.report(&register, &[], &[]), afresh, "after {:?}", change);
            for activity in register.activities() {
                if !touched.contains(&activity.id) {
                    prop_assert!(
                        updated.shares_with(&kept, activity.id.as_str()),
                        "{} was judged again after {:?}", activity.id, change
                    );
                }
            }
            kept = updated;
        }
    }
}
