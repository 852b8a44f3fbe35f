//! The difference between two registers, by kind and id: what `custos plan` shows and
//! `custos apply` carries out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::register::{EntityKind, RegisterParts};
use crate::values::Slug;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    Add,
    /// The top-level fields whose value differs.
    Change {
        fields: Vec<String>,
    },
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Change {
    pub kind: EntityKind,
    pub id: Slug,
    #[serde(flatten)]
    pub action: Action,
}

/// Changes in a stable order: by kind, then id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Plan {
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
}

impl Plan {
    /// What turns `current` into `desired`.
    pub fn between(current: &RegisterParts, desired: &RegisterParts) -> Self {
        let mut changes = Vec::new();
        diff(
            EntityKind::Organisation,
            &current.organisations,
            &desired.organisations,
            |o| &o.id,
            &mut changes,
        );
        diff(
            EntityKind::Activity,
            &current.activities,
            &desired.activities,
            |a| &a.id,
            &mut changes,
        );
        diff(
            EntityKind::Contract,
            &current.contracts,
            &desired.contracts,
            |c| &c.id,
            &mut changes,
        );
        diff(
            EntityKind::Engagement,
            &current.engagements,
            &desired.engagements,
            |e| &e.id,
            &mut changes,
        );
        Self { changes }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for change in &self.changes {
            match change.action {
                Action::Add => summary.added += 1,
                Action::Change { .. } => summary.changed += 1,
                Action::Remove => summary.removed += 1,
            }
        }
        summary
    }

    /// The ids of one kind that a given action touches.
    pub fn ids(&self, kind: EntityKind, wanted: fn(&Action) -> bool) -> BTreeSet<&Slug> {
        self.changes
            .iter()
            .filter(|c| c.kind == kind && wanted(&c.action))
            .map(|c| &c.id)
            .collect()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to add, {} to change, {} to remove",
            self.added, self.changed, self.removed
        )
    }
}

/// One line: `+ organisation c`, `- engagement x`, `~ organisation a (country, name)`.
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            Action::Add => write!(f, "+ {} {}", self.kind, self.id),
            Action::Remove => write!(f, "- {} {}", self.kind, self.id),
            Action::Change { fields } => {
                write!(f, "~ {} {} ({})", self.kind, self.id, fields.join(", "))
            }
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.changes {
            writeln!(f, "{change}")?;
        }
        write!(f, "{}", self.summary())
    }
}

fn diff<T: Serialize + PartialEq>(
    kind: EntityKind,
    current: &[T],
    desired: &[T],
    id: fn(&T) -> &Slug,
    changes: &mut Vec<Change>,
) {
    let start = changes.len();
    let before: BTreeMap<&Slug, &T> = current.iter().map(|e| (id(e), e)).collect();
    let after: BTreeMap<&Slug, &T> = desired.iter().map(|e| (id(e), e)).collect();
    for (slug, new) in &after {
        match before.get(slug) {
            None => changes.push(Change {
                kind,
                id: (*slug).clone(),
                action: Action::Add,
            }),
            Some(old) if old != new => changes.push(Change {
                kind,
                id: (*slug).clone(),
                action: Action::Change {
                    fields: changed_fields(*old, *new),
                },
            }),
            Some(_) => {}
        }
    }
    for slug in before.keys().filter(|slug| !after.contains_key(*slug)) {
        changes.push(Change {
            kind,
            id: (*slug).clone(),
            action: Action::Remove,
        });
    }
    changes[start..].sort_by(|a, b| a.id.cmp(&b.id));
}

fn changed_fields<T: Serialize>(old: &T, new: &T) -> Vec<String> {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return vec!["*".to_owned()];
    };
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest;

    #[test]
    fn plan_names_added_changed_and_removed_by_id() {
        let current = manifest::parse_str(
            "a",
            "version: 1\norganisations:\n  - {id: a, name: A, country: ES}\n  - {id: b, name: B, country: ES}\n",
        )
        .unwrap();
        let desired = manifest::parse_str(
            "b",
            "version: 1\norganisations:\n  - {id: a, name: A2, country: FR}\n  - {id: c, name: C, country: ES}\n",
        )
        .unwrap();
        let plan = Plan::between(current.parts(), desired.parts());
        assert_eq!(
            plan.to_string(),
            "~ organisation a (country, name)\n- organisation b\n+ organisation c\n1 to add, 1 to change, 1 to remove"
        );
        assert!(Plan::between(desired.parts(), desired.parts()).is_empty());
    }
}
