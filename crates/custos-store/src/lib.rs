//! Custos storage: the register in SQLite (the embedded default) or PostgreSQL, through one
//! interface.
//!
//! Both backends run the same SQL through sqlx's `Any` driver (numbered `$n` parameters work
//! on both), so a query cannot drift between them; the migrations are embedded in the binary
//! and applied when the store opens. Every write happens inside a
//! [`Tx`] that the use case commits, so a failure leaves the database as it was.

mod accounts;
mod amendments;
mod audit;
mod breaches;
mod changes;
mod image;
mod ledger;
mod notices;
mod outbox;
mod people;
mod register;
mod rights;
pub mod testing;

pub use accounts::{AccountLink, OAuthClient, OidcPending, PendingSignIn, TotpState};
pub use amendments::{Amendment, SupersededContract};
pub use breaches::{
    BreachHistoryEntry, BreachPhase, Communication, Filing, StoredBreach, StoredCase, StoredHop,
};
pub use changes::{HistoryEntry, StoredParty, StoredRequest};
pub use image::{
    CHUNKS_A_TRANSACTION, ChunkRange, EncodedChunk, ImageRead, ImageWriter, encode_chunk,
    image_chunks,
};
pub use ledger::{LedgerBatch, subject_halves};
pub use notices::{NewNoticeVersion, StoredNotice, StoredTemplate};
pub use outbox::{
    AttemptOutcome, ClaimedDelivery, DeliveryRecord, NewDelivery, NewEvent, Subscription, Timer,
};
pub use people::{IdempotentAnswer, Membership, NewToken, Role, Scope, Session, TokenRecord, User};
pub use register::{ChangesSince, RegisterChange};
pub use rights::{DataSource, NotificationRow, StoredSubjectRequest, SubjectHistoryEntry};

/// sqlx's error, for the layers above that wrap their own failures into `StoreError`.
pub use sqlx::Error as SqlxError;

/// How many audit entries to read at a time when walking the log.
pub const AUDIT_PAGE: u32 = 10_000;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, Migrator};
use sqlx::{Any, AnyPool, Executor};

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL {0:?}: expected sqlite://PATH (embedded, the default) or postgres://USER@HOST/DATABASE"
    )]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A unique value taken already (an e-mail address), said as the user should hear it.
    #[error("{0}")]
    Duplicate(String),
    /// A row that no longer parses: the database was edited by hand or by a newer version.
    #[error("{table} row {slug}: {reason}")]
    Corrupt {
        table: &'static str,
        slug: String,
        reason: String,
    },
    /// The register's image could not be written.
    #[error("the register's image: {0}")]
    Image(String),
}

/// SQLite's page cache per connection, in KiB (see `Store::open`).
pub(crate) const PAGE_CACHE_KIB: i64 = 65536;

/// A connection pool to the register's database, migrated.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    /// PostgreSQL's native connections, for COPY (none on SQLite).
    copy_pool: Option<sqlx::PgPool>,
    backend: Backend,
}

/// The migrations both backends run: one set while their SQL is the same.
static SHARED_MIGRATIONS: Migrator = sqlx::migrate!("./migrations");
/// The migrations of PostgreSQL alone (the partitioned ledger). A new migration takes the next
/// number after both directories' last, so the two sets interleave without sharing a number;
/// a file already applied is never edited (sqlx checks their checksums).
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations-postgres");

/// Migrations already in the binary, as a source `Migrator::new` takes.
#[derive(Debug)]
struct Embedded(Vec<Migration>);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move { Ok(self.0) })
    }
}

/// The migrations of a backend, in order of their numbers.
async fn migrator(backend: Backend) -> Result<Migrator, StoreError> {
    let mut migrations: Vec<Migration> = SHARED_MIGRATIONS.iter().cloned().collect();
    if backend == Backend::Postgres {
        migrations.extend(POSTGRES_MIGRATIONS.iter().cloned());
    }
    Ok(Migrator::new(Embedded(migrations)).await?)
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating an SQLite file if needed) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = Backend::of(url)?;
        let pool = match backend {
            Backend::Sqlite => {
                let pool = AnyPoolOptions::new()
                    .max_connections(4)
                    .after_connect(|connection, _| {
                        Box::pin(async move {
                            // Per connection: enforce references, wait for the single writer
                            // instead of failing, fsync at checkpoints only (safe in WAL), and
                            // keep 64 MiB of pages so the indexes of a large register stay in
                            // memory while it is written (the default is 2 MiB), and overwrite
                            // what is deleted (a closed request's address must not linger in
                            // free pages).
                            connection
                                .execute(sqlx::AssertSqlSafe(format!(
                                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                                     PRAGMA synchronous = NORMAL; PRAGMA cache_size = -{PAGE_CACHE_KIB}; \
                                     PRAGMA secure_delete = ON;"
                                )))
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&sqlite_url(url))
                    .await?;
                pool.execute("PRAGMA journal_mode = WAL;").await?;
                pool
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?
            }
        };
        migrator(backend).await?.run(&pool).await?;
        // COPY, for the ledger's bulk writes, is not in sqlx's `Any` driver: a small pool of
        // native connections, opened when first used.
        let copy_pool = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy(url)?,
            ),
        };
        let store = Self {
            pool,
            copy_pool,
            backend,
        };
        let mut tx = store.begin().await?;
        tx.move_legacy_disclosures().await?;
        // A bulk load that died before rebuilding the ledger's index left it out.
        tx.build_ledger_index().await?;
        tx.commit().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction for a use case that writes. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`), so a read-then-write cannot fail halfway on a busy database.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let inner = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx {
            inner,
            backend: self.backend,
        })
    }

    /// Starts a transaction that only reads: one consistent snapshot across tables.
    pub async fn read(&self) -> Result<Tx, StoreError> {
        let inner = match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?
            }
        };
        Ok(Tx {
            inner,
            backend: self.backend,
        })
    }

    /// Writes the SQLite log back into the database and empties it, so that overwritten rows
    /// (an erased address) leave no copy in the log file. Best effort: a reader holding an
    /// old snapshot keeps the log until it ends. Nothing to do on PostgreSQL.
    pub async fn flush_log(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            self.pool
                .execute("PRAGMA wal_checkpoint(TRUNCATE);")
                .await?;
        }
        Ok(())
    }

    /// Writes a consistent copy of an SQLite database to `path` (`VACUUM INTO`: one snapshot,
    /// compacted, readable while the server runs). None on PostgreSQL, whose tools do it.
    pub async fn backup_into(&self, path: &str) -> Result<bool, StoreError> {
        if self.backend != Backend::Sqlite {
            return Ok(false);
        }
        sqlx::query("VACUUM INTO $1")
            .bind(path.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(true)
    }

    pub async fn close(self) {
        self.pool.close().await;
        if let Some(copy_pool) = self.copy_pool {
            copy_pool.close().await;
        }
    }
}

/// One transaction; dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    inner: sqlx::Transaction<'static, Any>,
    backend: Backend,
}

impl fmt::Debug for Tx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tx")
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.inner.commit().await?)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.inner.rollback().await?)
    }
}

/// A stored row that no longer parses: which table, which row, why.
pub(crate) fn corrupt(table: &'static str, slug: &str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table,
        slug: slug.to_owned(),
        reason: reason.to_string(),
    }
}

/// The `VALUES` rows of a multi-row INSERT of `rows` rows of `width` columns. SQLite looks a
/// numbered parameter's name up by a linear scan, which makes a 4,500-parameter statement
/// quadratic: anonymous `?` parameters bind directly there; PostgreSQL needs `$n`.
pub(crate) fn values_rows(backend: Backend, rows: usize, width: usize) -> String {
    (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=width)
                .map(|col| match backend {
                    Backend::Sqlite => "?".to_owned(),
                    Backend::Postgres => format!("${}", row * width + col),
                })
                .collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `sqlite://PATH` opens or creates the file; options already in the URL are kept.
fn sqlite_url(url: &str) -> String {
    if url.contains('?') || url.contains(":memory:") {
        url.to_owned()
    } else {
        format!("{url}?mode=rwc")
    }
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

impl FromStr for Backend {
    type Err = StoreError;
    fn from_str(url: &str) -> Result<Self, StoreError> {
        Self::of(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_and_hide_passwords() {
        assert_eq!(Backend::of("sqlite://custos.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::of("postgres://u:p@h/db").unwrap(),
            Backend::Postgres
        );
        let error = Backend::of("mysql://root:secret@h/db")
            .unwrap_err()
            .to_string();
        assert!(error.contains("expected sqlite://"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        assert_eq!(redact("postgres://u:p@h/db"), "postgres://u:***@h/db");
        assert_eq!(sqlite_url("sqlite://x.db"), "sqlite://x.db?mode=rwc");
    }
}
