//! What a change of one entry would do, before it is saved: the recipients it adds to or
//! removes from the chains of the activities it touches, and the findings it resolves or
//! raises, as the person asking may see them. Nothing is written; the same validation as the
//! write says whether the register could take the change at all.

use std::collections::{BTreeSet, HashSet};

use custos_core::Date;
use custos_core::chain::{Chain, ChainError};
use custos_core::checks::Finding;
use custos_core::register::{Problem, Register, RegisterParts};

use crate::dashboard::fingerprint;
use crate::entries::{Entry, Write, insert, remove};

/// One activity's recipients, before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientChange {
    pub activity: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// What the change would do.
#[derive(Debug, Clone)]
pub struct Preview {
    pub recipients: Vec<RecipientChange>,
    pub resolved: Vec<Finding>,
    pub raised: Vec<Finding>,
}

#[derive(Debug)]
pub enum PreviewError {
    /// The register could not take the change: the problems, as a write would say them.
    Rejected(Vec<Problem>),
    Chain(ChainError),
}

impl From<ChainError> for PreviewError {
    fn from(error: ChainError) -> Self {
        Self::Chain(error)
    }
}

/// The activities whose chains a change of `entry` can alter.
fn touched(register: &Register, entry: &Entry) -> BTreeSet<String> {
    let id = entry.id().as_str();
    match entry {
        Entry::Activity(_) => BTreeSet::from([id.to_owned()]),
        Entry::Engagement(e) => BTreeSet::from([e.activity.to_string()]),
        Entry::Contract(_) => register
            .engagements()
            .iter()
            .filter(|e| e.contract.as_ref().is_some_and(|c| c.as_str() == id))
            .map(|e| e.activity.to_string())
            .collect(),
        Entry::Organisation(_) => register
            .engagements()
            .iter()
            .filter(|e| e.processor.as_str() == id || e.engaged_by.as_str() == id)
            .map(|e| e.activity.to_string())
            .chain(
                register
                    .activities()
                    .iter()
                    .filter(|a| a.controllers().any(|c| c.as_str() == id))
                    .map(|a| a.id.to_string()),
            )
            .collect(),
    }
}

fn recipient_names(
    register: &Register,
    activity: &str,
    on: Date,
) -> Result<Vec<String>, ChainError> {
    if register.activity(activity).is_none() {
        return Ok(Vec::new());
    }
    let chain = Chain::derive(register, activity, Some(on))?;
    Ok(chain
        .recipients()
        .recipients
        .iter()
        .map(|r| format!("{} ({})", r.organisation.name, r.organisation.id))
        .collect())
}

/// What `write` would do to `current` on `on`; `findings` gives the findings of a register
/// as the person asking sees them (visibility applied).
pub fn preview(
    current: &Register,
    write: &Write,
    on: Date,
    findings: impl Fn(&Register) -> Result<Vec<Finding>, ChainError>,
) -> Result<Preview, PreviewError> {
    let (kind, id) = write.target();
    let mut parts: RegisterParts = current.parts().clone();
    remove(&mut parts, kind, id);
    let after_entry = match write {
        Write::Put(entry) => {
            insert(&mut parts, (**entry).clone());
            Some((**entry).clone())
        }
        Write::Remove(..) => None,
    };
    let after = Register::new(parts).map_err(PreviewError::Rejected)?;
    let before_entry = current.parts().entry(kind, id.as_str());
    let mut activities = BTreeSet::new();
    for (register, entry) in [
        (current, before_entry.as_ref()),
        (&after, after_entry.as_ref()),
    ] {
        if let Some(entry) = entry {
            activities.extend(touched(register, entry));
        }
    }
    let mut recipients = Vec::new();
    for activity in &activities {
        let was = recipient_names(current, activity, on)?;
        let will = recipient_names(&after, activity, on)?;
        let added: Vec<String> = will.iter().filter(|r| !was.contains(r)).cloned().collect();
        let removed: Vec<String> = was.iter().filter(|r| !will.contains(r)).cloned().collect();
        if !added.is_empty() || !removed.is_empty() {
            recipients.push(RecipientChange {
                activity: activity.clone(),
                added,
                removed,
            });
        }
    }
    let was = findings(current)?;
    let will = findings(&after)?;
    let was_prints: HashSet<String> = was.iter().map(fingerprint).collect();
    let will_prints: HashSet<String> = will.iter().map(fingerprint).collect();
    Ok(Preview {
        recipients,
        resolved: was
            .into_iter()
            .filter(|f| !will_prints.contains(&fingerprint(f)))
            .collect(),
        raised: will
            .into_iter()
            .filter(|f| !was_prints.contains(&fingerprint(f)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::checks::{Finding, check};
    use custos_core::manifest;
    use custos_core::model::Engagement;

    fn examples() -> Register {
        manifest::parse(&manifest::examples::sources()).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn counting(register: &Register) -> Result<Vec<Finding>, ChainError> {
        let on = "2026-11-25".parse().unwrap_or_else(|e| panic!("{e}"));
        Ok(check(register, on)?
            .findings
            .into_iter()
            .filter(Finding::counts)
            .collect())
    }

    #[test]
    fn a_new_link_adds_its_processor_and_a_missing_contract_is_raised() {
        let register = examples();
        let mut link: Engagement = register
            .engagements()
            .iter()
            .find(|e| e.id.as_str() == "a-b")
            .cloned()
            .unwrap_or_else(|| panic!("a-b"));
        link.id = "a-d".parse().unwrap_or_else(|e| panic!("{e}"));
        link.processor = "courier-1".parse().unwrap_or_else(|e| panic!("{e}"));
        link.contract = None;
        let on = "2026-11-25".parse().unwrap_or_else(|e| panic!("{e}"));
        let shown = preview(
            &register,
            &Write::Put(Box::new(Entry::Engagement(link))),
            on,
            counting,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(shown.recipients.len(), 1);
        assert_eq!(shown.recipients[0].activity, "customer-marketing");
        assert!(shown.recipients[0].removed.is_empty());
        assert!(
            shown.recipients[0]
                .added
                .iter()
                .any(|r| r.contains("(courier-1)")),
            "{:?}",
            shown.recipients
        );
        assert_eq!(
            shown.raised.iter().map(|f| f.rule).collect::<Vec<_>>(),
            ["no-contract"]
        );
        assert!(shown.resolved.is_empty());
    }

    #[test]
    fn a_change_the_register_cannot_take_is_rejected_with_its_problems() {
        let register = examples();
        let mut link = register.engagements()[0].clone();
        link.processor = "nobody-here".parse().unwrap_or_else(|e| panic!("{e}"));
        let on = "2026-11-25".parse().unwrap_or_else(|e| panic!("{e}"));
        match preview(
            &register,
            &Write::Put(Box::new(Entry::Engagement(link))),
            on,
            counting,
        ) {
            Err(PreviewError::Rejected(problems)) => {
                assert!(
                    problems
                        .iter()
                        .any(|p| p.to_string().contains("nobody-here")),
                    "{problems:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
