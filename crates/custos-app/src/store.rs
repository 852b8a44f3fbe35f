//! The database as the edges see it: opened, handed to use cases, closed. Its transactions
//! belong to the use cases (crate-private here), so neither the server nor the CLI can write
//! around the policy, the audit log or the outbox: the compiler keeps the layering, since
//! custos-web and custos-cli do not depend on custos-store.

use custos_store::{StoreError, Tx};

pub use custos_store::Backend;

/// A handle on the database (a pool: cheap to clone).
#[derive(Debug, Clone)]
pub struct Store(custos_store::Store);

impl Store {
    /// Opens (and migrates) the database a URL names: `sqlite://PATH` or `postgres://...`.
    pub async fn open(url: &str) -> Result<Self, crate::AppError> {
        Ok(Self(custos_store::Store::open(url).await?))
    }

    /// For programs that also write below the use cases (the benchmarks' loaders).
    pub fn from_store(store: custos_store::Store) -> Self {
        Self(store)
    }

    pub fn backend(&self) -> Backend {
        self.0.backend()
    }

    pub async fn close(self) {
        self.0.close().await;
    }

    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        self.0.begin().await
    }

    pub(crate) async fn read(&self) -> Result<Tx, StoreError> {
        self.0.read().await
    }

    /// The pool itself, for reads that need no transaction.
    pub(crate) fn pool(&self) -> &custos_store::Store {
        &self.0
    }

    pub(crate) async fn flush_log(&self) -> Result<(), StoreError> {
        self.0.flush_log().await
    }
}

/// Writes a consistent copy of the SQLite database to `path`, which must not exist yet,
/// audited; on PostgreSQL, a refusal that names its tools (`pg_dump`, base backups).
pub async fn backup(
    store: &Store,
    path: &std::path::Path,
    actor: &crate::Actor,
) -> Result<(), crate::AppError> {
    if store.backend() != Backend::Sqlite {
        return Err(crate::AppError::Invalid(
            "backup: on PostgreSQL, back up with its own tools (pg_dump, or base backups with WAL archiving; docs/deploy.md)".to_owned(),
        ));
    }
    if path.exists() {
        return Err(crate::AppError::Invalid(format!(
            "backup: {} exists already; name a new file",
            path.display()
        )));
    }
    let text = path.to_str().ok_or_else(|| {
        crate::AppError::Invalid("backup: the path is not valid UTF-8".to_owned())
    })?;
    // The entry goes first, so that the copy holds the record of its own making.
    let mut tx = store.begin().await?;
    tx.append_audit(vec![actor.entry(
        "backup",
        "database",
        "sqlite",
        String::new(),
        None,
        Some(serde_json::json!({"to": text}).to_string()),
    )])
    .await?;
    tx.commit().await?;
    store.0.backup_into(text).await?;
    Ok(())
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    custos_store::redact(url)
}
