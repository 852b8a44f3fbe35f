//! What the dashboard needs beyond the other use cases: the findings a user last marked as
//! seen (to tell the new ones), and the contract amendments waiting for an organisation.

use std::collections::HashSet;

use custos_core::checks::Finding;
use sha2::{Digest, Sha256};

use crate::audit::Actor;
use crate::{AppError, Store};

/// A finding's identity across days and versions: its rule, the entry it names, the activity
/// and the link. The message is left out, so a finding whose words change is not new.
pub fn fingerprint(finding: &Finding) -> String {
    let mut hash = Sha256::new();
    for part in [
        finding.rule,
        finding.object.kind.as_str(),
        finding.object.id.as_str(),
        finding.activity.as_ref().map_or("", |a| a.as_str()),
        finding.engagement.as_ref().map_or("", |e| e.as_str()),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The findings a user marked as seen, and when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub fingerprints: HashSet<String>,
    pub marked_at: Option<String>,
}

impl Seen {
    /// Whether `finding` is new to the user: never marked as seen.
    pub fn is_new(&self, finding: &Finding) -> bool {
        !self.fingerprints.contains(&fingerprint(finding))
    }
}

pub async fn findings_seen(store: &Store, user_key: &str) -> Result<Seen, AppError> {
    let mut tx = store.read().await?;
    let found = tx.findings_seen(user_key).await?;
    tx.rollback().await?;
    Ok(
        found.map_or_else(Seen::default, |(fingerprints, marked_at)| Seen {
            fingerprints: fingerprints.split_whitespace().map(str::to_owned).collect(),
            marked_at: Some(marked_at),
        }),
    )
}

/// Records `findings` as seen by the user (in place of what was recorded), audited.
pub async fn mark_findings_seen(
    store: &Store,
    user_key: &str,
    findings: &[Finding],
    actor: &Actor,
) -> Result<(), AppError> {
    let mut fingerprints: Vec<String> = findings.iter().map(fingerprint).collect();
    fingerprints.sort();
    fingerprints.dedup();
    let mut tx = store.begin().await?;
    tx.mark_findings_seen(user_key, &fingerprints.join(" "), &actor.at.to_string())
        .await?;
    tx.append_audit(vec![actor.entry(
        "mark_findings_seen",
        "user",
        user_key,
        String::new(),
        None,
        Some(format!("{{\"findings\": {}}}", fingerprints.len())),
    )])
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The open contract amendments waiting for one of `organisations` to answer, oldest first.
pub async fn amendments_awaiting(
    store: &Store,
    organisations: &[String],
) -> Result<Vec<custos_store::Amendment>, AppError> {
    let mut tx = store.read().await?;
    let found = tx.open_amendments_awaiting(organisations).await?;
    tx.rollback().await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::checks::check;
    use custos_core::manifest;

    #[test]
    fn a_fingerprint_names_the_finding_not_its_words() {
        let register = manifest::parse(&manifest::examples::sources()).unwrap_or_else(|e| {
            panic!("{e:?}");
        });
        let on = "2026-11-25".parse().unwrap_or_else(|e| panic!("{e}"));
        let findings = check(&register, on)
            .unwrap_or_else(|e| panic!("{e}"))
            .findings;
        let prints: HashSet<String> = findings.iter().map(fingerprint).collect();
        assert_eq!(prints.len(), findings.len(), "each finding its own");
        let mut reworded = findings[0].clone();
        reworded.message = format!("{} (reworded)", reworded.message).into();
        assert_eq!(fingerprint(&reworded), fingerprint(&findings[0]));
        let seen = Seen {
            fingerprints: prints,
            marked_at: None,
        };
        assert!(findings.iter().all(|f| !seen.is_new(f)));
        assert!(Seen::default().is_new(&findings[0]));
    }
}
