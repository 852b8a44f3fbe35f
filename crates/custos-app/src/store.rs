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

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    custos_store::redact(url)
}
