//! Who does what, recorded: the audit entries of the use cases, and the verification of the
//! whole log.

use crate::Store;
use custos_core::audit::{ChainBreak, ChainVerifier, NewAuditEntry, Verified};
use custos_core::plan::{Action, Plan};
use custos_core::register::{EntityKind, RegisterParts};
use custos_core::values::Slug;
use custos_store::{AUDIT_PAGE, StoreError};
use jiff::Timestamp;
use serde::Serialize;

use crate::AppError;

/// Who acts, and when: every write records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `cli:USER`, `user:EMAIL`, `token:NAME`.
    pub name: String,
    pub at: Timestamp,
}

impl Actor {
    pub fn new(name: impl Into<String>, at: Timestamp) -> Self {
        Self {
            name: name.into(),
            at,
        }
    }

    /// The same actor, marked in the audit log as an instance administrator writing another
    /// party's facts (the party sees the mark in its audit listing).
    pub fn overriding(&self) -> Self {
        Self {
            name: format!("{} [admin-override]", self.name),
            at: self.at,
        }
    }

    /// An entry by this actor now; `scope` lists the organisations whose users may see it.
    pub fn entry(
        &self,
        action: &str,
        object_kind: &str,
        object_id: &str,
        scope: String,
        before: Option<String>,
        after: Option<String>,
    ) -> NewAuditEntry {
        NewAuditEntry {
            at: self.at.to_string(),
            actor: self.name.clone(),
            action: action.to_owned(),
            object_kind: object_kind.to_owned(),
            object_id: object_id.to_owned(),
            scope,
            before,
            after,
        }
    }
}

/// One entry per entry of the register that `plan` adds, changes or removes, with its body
/// before and after.
pub(crate) fn plan_entries(
    actor: &Actor,
    plan: &Plan,
    current: &RegisterParts,
    desired: &RegisterParts,
) -> Result<Vec<NewAuditEntry>, AppError> {
    plan.changes
        .iter()
        .map(|change| {
            let before = body_of(current, change.kind, &change.id)?;
            let after = body_of(desired, change.kind, &change.id)?;
            let action = match change.action {
                Action::Add => "create",
                Action::Change { .. } => "update",
                Action::Remove => "delete",
            };
            let scope = scope_of(desired, change.kind, &change.id)
                .or_else(|| scope_of(current, change.kind, &change.id))
                .unwrap_or_default();
            Ok(actor.entry(
                action,
                change.kind.as_str(),
                change.id.as_str(),
                scope,
                before,
                after,
            ))
        })
        .collect()
}

fn find<'a, T>(entries: &'a [T], id: &Slug, id_of: fn(&T) -> &Slug) -> Option<&'a T> {
    // Register parts are kept in id order.
    entries
        .binary_search_by(|e| id_of(e).cmp(id))
        .ok()
        .map(|i| &entries[i])
}

/// An entry's stored form: JSON text. Our types always serialise; a failure is a store error.
pub(crate) fn json<T: Serialize>(value: &T) -> Result<String, AppError> {
    serde_json::to_string(value).map_err(|e| AppError::Store(StoreError::Database(sqlx_encode(e))))
}

impl From<serde_json::Error> for AppError {
    fn from(error: serde_json::Error) -> Self {
        AppError::Store(StoreError::Database(sqlx_encode(error)))
    }
}

fn sqlx_encode(error: serde_json::Error) -> custos_store::SqlxError {
    custos_store::SqlxError::Encode(Box::new(error))
}

fn body_of(parts: &RegisterParts, kind: EntityKind, id: &Slug) -> Result<Option<String>, AppError> {
    Ok(parts.entry_json(kind, id.as_str()).transpose()?)
}

/// The organisations whose users may see an entry about this object: the organisation
/// itself, the controllers of an activity, the parties of a contract, and for an engagement
/// the controllers of its activity and both parties.
fn scope_of(parts: &RegisterParts, kind: EntityKind, id: &Slug) -> Option<String> {
    let controllers = |activity: &Slug| {
        find(&parts.activities, activity, |a| &a.id)
            .map(|a| {
                a.accepted_controllers()
                    .map(Slug::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    match kind {
        EntityKind::Organisation => {
            find(&parts.organisations, id, |o| &o.id).map(|o| o.id.to_string())
        }
        EntityKind::Activity => find(&parts.activities, id, |a| &a.id).map(|a| controllers(&a.id)),
        EntityKind::Contract => find(&parts.contracts, id, |c| &c.id)
            .map(|c| format!("{} {}", c.between[0], c.between[1])),
        EntityKind::Engagement => find(&parts.engagements, id, |e| &e.id).map(|e| {
            format!(
                "{} {} {}",
                controllers(&e.activity),
                e.engaged_by,
                e.processor
            )
        }),
    }
}

/// The outcome of `custos audit verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Verification {
    Intact(Verified),
    Broken(ChainBreak),
}

/// Recomputes the whole chain, a page at a time, and compares its end with the head; with
/// `expect_head`, a head hash kept elsewhere (from `GET /api/v1/audit/head`) must still be in
/// the chain, so a log truncated below it, or rewritten, is found even if it chains again.
pub async fn verify(store: &Store, expect_head: Option<&str>) -> Result<Verification, AppError> {
    let expected = expect_head.map(|h| h.trim().to_ascii_lowercase());
    let mut kept_head_found = expected.is_none();
    let mut tx = store.read().await?;
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = tx.audit_entries(after, AUDIT_PAGE).await?;
        for entry in &page {
            if let Err(broken) = verifier.check(entry) {
                tx.rollback().await?;
                return Ok(Verification::Broken(broken));
            }
            kept_head_found |= expected.as_deref() == Some(entry.hash.as_str());
        }
        match page.last() {
            Some(last) => after = last.seq,
            None => break,
        }
    }
    let (seq, hash) = tx.audit_head().await?;
    tx.rollback().await?;
    Ok(match verifier.finish(Some((seq, &hash))) {
        Ok(_) if !kept_head_found => Verification::Broken(ChainBreak::KeptHeadMissing {
            hash: expected.unwrap_or_default(),
        }),
        Ok(verified) => Verification::Intact(verified),
        Err(broken) => Verification::Broken(broken),
    })
}

/// Up to `limit` entries of the log after position `after`, in order.
pub async fn page(
    store: &Store,
    after: u64,
    limit: u32,
) -> Result<Vec<custos_core::audit::AuditEntry>, AppError> {
    let mut tx = store.read().await?;
    let entries = tx.audit_entries(after, limit).await?;
    tx.rollback().await?;
    Ok(entries)
}

/// Up to `limit` entries older than `before` (none: from the head), newest first.
pub async fn page_before(
    store: &Store,
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<custos_core::audit::AuditEntry>, AppError> {
    let mut tx = store.read().await?;
    let entries = tx.audit_entries_before(before, limit).await?;
    tx.rollback().await?;
    Ok(entries)
}

/// How many entries [`page`] reads at a time when a listing filters them.
pub const PAGE: u32 = AUDIT_PAGE;

/// The head of the log, signed by the instance: a party keeps it, and `custos audit verify
/// --expect-head HASH` later proves that the log was not truncated below it or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedHead {
    /// The position of the last entry.
    pub seq: u64,
    /// Its hash (hex).
    pub hash: String,
    /// When the head was read and signed.
    pub at: String,
    /// `ed25519`.
    pub algorithm: &'static str,
    /// The instance's public key (base64 of the 32 raw bytes).
    pub public_key: String,
    /// Base64 of the signature over [`SignedHead::message`].
    pub signature: String,
}

impl SignedHead {
    /// The bytes signed: `custos-audit-head:SEQ:HASH:AT`.
    pub fn message(seq: u64, hash: &str, at: &str) -> String {
        format!("custos-audit-head:{seq}:{hash}:{at}")
    }
}

/// The name of the instance's audit signing key among its secrets.
const SIGNING_KEY: &str = "audit-signing-key";

/// The instance's Ed25519 key (PKCS#8), made on first use and kept among its secrets.
async fn signing_key(
    store: &Store,
    now: jiff::Timestamp,
) -> Result<ring::signature::Ed25519KeyPair, AppError> {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let unusable = |e: String| AppError::Invalid(format!("the audit signing key: {e}"));
    let stored = store.read().await?.instance_secret(SIGNING_KEY).await?;
    let pkcs8 = match stored {
        Some(kept) => STANDARD.decode(kept).map_err(|e| unusable(e.to_string()))?,
        None => {
            let made =
                ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                    .map_err(|e| unusable(e.to_string()))?;
            let mut tx = store.begin().await?;
            // Two first uses racing keep the first key stored.
            let kept = tx
                .put_instance_secret(
                    SIGNING_KEY,
                    &STANDARD.encode(made.as_ref()),
                    &crate::stamp(now),
                )
                .await?;
            tx.commit().await?;
            STANDARD.decode(kept).map_err(|e| unusable(e.to_string()))?
        }
    };
    ring::signature::Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|e| unusable(e.to_string()))
}

/// The head of the log now, signed with the instance's key.
pub async fn signed_head(store: &Store, now: jiff::Timestamp) -> Result<SignedHead, AppError> {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use ring::signature::KeyPair as _;
    let key = signing_key(store, now).await?;
    let mut tx = store.read().await?;
    let (seq, hash) = tx.audit_head().await?;
    tx.rollback().await?;
    let at = now.to_string();
    let signature = key.sign(SignedHead::message(seq, &hash, &at).as_bytes());
    Ok(SignedHead {
        seq,
        hash,
        at,
        algorithm: "ed25519",
        public_key: STANDARD.encode(key.public_key().as_ref()),
        signature: STANDARD.encode(signature.as_ref()),
    })
}
