//! The audit log's hash chain: every write appends an entry whose hash covers the previous
//! entry's hash and the entry itself, so altering, inserting or deleting an entry anywhere
//! breaks the chain from there on (Art. 5(2): the controller demonstrates what happened).
//!
//! The hash is SHA-256 over the previous hash and every stored field, each length-prefixed,
//! exactly as stored: a change of one byte in the database is a change of the hash.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry of the audit log as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditEntry {
    /// 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// When, as an RFC 3339 UTC timestamp.
    pub at: String,
    /// Who: `user:EMAIL`, `token:NAME`, `cli:USER`.
    pub actor: String,
    /// What: `create`, `update`, `delete`, or `apply` for a manifest apply.
    pub action: String,
    /// The kind of object (`organisation`, `engagement`, `user`, ...).
    pub object_kind: String,
    pub object_id: String,
    /// Organisations whose users may see the entry, space-separated slugs.
    pub scope: String,
    /// The object before, as JSON text; none for a creation.
    pub before: Option<String>,
    /// The object after, as JSON text; none for a deletion.
    pub after: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// An entry about to be appended: the store gives it its place (seq and previous hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub scope: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl NewAuditEntry {
    /// Places the entry after `prev_hash` at `seq`, and hashes it.
    pub fn seal(self, seq: u64, prev_hash: &str) -> AuditEntry {
        let mut entry = AuditEntry {
            seq,
            at: self.at,
            actor: self.actor,
            action: self.action,
            object_kind: self.object_kind,
            object_id: self.object_id,
            scope: self.scope,
            before: self.before,
            after: self.after,
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        entry.hash = entry.expected_hash();
        entry
    }
}

impl AuditEntry {
    /// The hash this entry must carry, from its fields and its `prev_hash`.
    pub fn expected_hash(&self) -> String {
        let mut hasher = Sha256::new();
        let seq = self.seq.to_string();
        let fields: [Option<&str>; 10] = [
            Some(&self.prev_hash),
            Some(&seq),
            Some(&self.at),
            Some(&self.actor),
            Some(&self.action),
            Some(&self.object_kind),
            Some(&self.object_id),
            Some(&self.scope),
            self.before.as_deref(),
            self.after.as_deref(),
        ];
        for field in fields {
            match field {
                // Length-prefixed, and absent distinct from empty: no two entries hash alike
                // by moving bytes between fields.
                Some(text) => {
                    hasher.update(b"+");
                    hasher.update((text.len() as u64).to_be_bytes());
                    hasher.update(text.as_bytes());
                }
                None => hasher.update(b"-"),
            }
        }
        hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// Whether `scope` names the organisation.
    pub fn concerns(&self, organisation: &str) -> bool {
        self.scope.split(' ').any(|s| s == organisation)
    }
}

/// The first place where the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum ChainBreak {
    #[error("entry {seq} was altered: its hash does not match its content")]
    Altered { seq: u64 },
    #[error(
        "entry {expected} is missing (deleted): the log goes from entry {previous} to entry {found}"
    )]
    Missing {
        previous: u64,
        expected: u64,
        found: u64,
    },
    #[error(
        "entry {seq} does not follow entry {previous}: it was inserted, or an entry before it was altered or deleted"
    )]
    Unlinked { seq: u64, previous: u64 },
    #[error(
        "the log ends at entry {last}, but its head records entry {head}: entries after {last} were deleted, or the head was altered"
    )]
    Truncated { last: u64, head: u64 },
    #[error("the head of the log does not match its last entry {seq}")]
    HeadAltered { seq: u64 },
    /// A head someone kept is no longer in the log: the log was truncated below it, or
    /// rewritten, even if what is left chains correctly.
    #[error(
        "the head kept elsewhere, {hash}, is not in the log: the log was truncated below it or rewritten"
    )]
    KeptHeadMissing { hash: String },
}

/// Checks entries in order, one page at a time, keeping only the last hash.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    previous_seq: u64,
    previous_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            previous_seq: 0,
            previous_hash: GENESIS.to_owned(),
        }
    }
}

impl ChainVerifier {
    /// The next entry, in seq order.
    pub fn check(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        let expected = self.previous_seq + 1;
        if entry.seq > expected {
            return Err(ChainBreak::Missing {
                previous: self.previous_seq,
                expected,
                found: entry.seq,
            });
        }
        if entry.seq < expected || entry.prev_hash != self.previous_hash {
            return Err(ChainBreak::Unlinked {
                seq: entry.seq,
                previous: self.previous_seq,
            });
        }
        if entry.hash != entry.expected_hash() {
            return Err(ChainBreak::Altered { seq: entry.seq });
        }
        self.previous_seq = entry.seq;
        self.previous_hash = entry.hash.clone();
        Ok(())
    }

    /// After the last entry: the head (last seq and hash, kept apart) must match.
    pub fn finish(&self, head: Option<(u64, &str)>) -> Result<Verified, ChainBreak> {
        let (head_seq, head_hash) = head.unwrap_or((0, GENESIS));
        if head_seq > self.previous_seq {
            return Err(ChainBreak::Truncated {
                last: self.previous_seq,
                head: head_seq,
            });
        }
        if head_seq < self.previous_seq {
            return Err(ChainBreak::Unlinked {
                seq: head_seq + 1,
                previous: head_seq,
            });
        }
        if head_hash != self.previous_hash {
            return Err(ChainBreak::HeadAltered {
                seq: self.previous_seq,
            });
        }
        Ok(Verified {
            entries: self.previous_seq,
            head: self.previous_hash.clone(),
        })
    }
}

/// A verified log: how many entries, and the hash of the last (publish it to anchor the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub entries: u64,
    pub head: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut previous = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let entry = NewAuditEntry {
                    at: format!("2026-11-25T10:00:{seq:02}Z"),
                    actor: "cli:test".into(),
                    action: "create".into(),
                    object_kind: "organisation".into(),
                    object_id: format!("org-{seq}"),
                    scope: format!("org-{seq}"),
                    before: None,
                    after: Some(format!("{{\"id\":\"org-{seq}\"}}")),
                }
                .seal(seq, &previous);
                previous = entry.hash.clone();
                entry
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry], head: Option<(u64, &str)>) -> Result<Verified, ChainBreak> {
        let mut verifier = ChainVerifier::default();
        for entry in entries {
            verifier.check(entry)?;
        }
        verifier.finish(head)
    }

    fn head(entries: &[AuditEntry]) -> Option<(u64, &str)> {
        entries.last().map(|e| (e.seq, e.hash.as_str()))
    }

    #[test]
    fn an_intact_chain_verifies_and_names_its_head() {
        let entries = chain(5);
        let verified = verify(&entries, head(&entries)).unwrap();
        assert_eq!(verified.entries, 5);
        assert_eq!(verified.head, entries[4].hash);
        assert_eq!(verify(&[], None).unwrap().entries, 0);
    }

    #[test]
    fn every_kind_of_tampering_is_named() {
        let entries = chain(5);
        let h = head(&entries);

        let mut altered = entries.clone();
        altered[2].after = Some("{\"id\":\"org-x\"}".into());
        assert_eq!(verify(&altered, h), Err(ChainBreak::Altered { seq: 3 }));

        let mut absent = entries.clone();
        absent[1].before = Some(String::new());
        assert_eq!(verify(&absent, h), Err(ChainBreak::Altered { seq: 2 }));

        let mut deleted = entries.clone();
        deleted.remove(1);
        assert_eq!(
            verify(&deleted, h),
            Err(ChainBreak::Missing {
                previous: 1,
                expected: 2,
                found: 3
            })
        );

        // A forged entry 3 sealed over entry 2 re-hashes fine but entry 4 no longer follows.
        let mut inserted = entries.clone();
        inserted[2] = NewAuditEntry {
            at: "2026-11-25T10:00:03Z".into(),
            actor: "intruder".into(),
            action: "delete".into(),
            object_kind: "organisation".into(),
            object_id: "org-3".into(),
            scope: String::new(),
            before: None,
            after: None,
        }
        .seal(3, &entries[1].hash);
        assert_eq!(
            verify(&inserted, h),
            Err(ChainBreak::Unlinked {
                seq: 4,
                previous: 3
            })
        );

        let truncated = &entries[..4];
        assert_eq!(
            verify(truncated, h),
            Err(ChainBreak::Truncated { last: 4, head: 5 })
        );
        assert_eq!(
            verify(&entries, Some((5, GENESIS))),
            Err(ChainBreak::HeadAltered { seq: 5 })
        );
    }
}
