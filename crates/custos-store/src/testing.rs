//! Databases for tests: a fresh PostgreSQL database per test when `CUSTOS_TEST_POSTGRES_URL`
//! names a server, so the same suite runs on both backends.

use sqlx::any::install_default_drivers;
// The database name is generated here from a UUID, never taken from input.
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Executor};

use crate::StoreError;

/// The variable that names a PostgreSQL server for the tests (any database on it; the tests
/// create and drop their own).
pub const POSTGRES_ENV: &str = "CUSTOS_TEST_POSTGRES_URL";

/// A PostgreSQL database made for one test.
#[derive(Debug)]
pub struct PostgresDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PostgresDatabase {
    /// Creates a fresh database on the server of `CUSTOS_TEST_POSTGRES_URL`; none when unset.
    pub async fn create() -> Result<Option<Self>, StoreError> {
        let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
            return Ok(None);
        };
        install_default_drivers();
        let name = format!("custos_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = AnyConnection::connect(&admin_url).await?;
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await?;
        admin.close().await?;
        Ok(Some(Self {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        }))
    }

    /// Drops the database; call it at the end of the test.
    pub async fn drop_database(self) -> Result<(), StoreError> {
        let mut admin = AnyConnection::connect(&self.admin_url).await?;
        admin
            .execute(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .await?;
        admin.close().await?;
        Ok(())
    }
}

/// `url` with its database name replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// Says in the test output that part of the running test was skipped, and why. It writes to
/// the process's stderr directly: the test harness captures `eprintln!` and shows it only for
/// failing tests, so a skip told that way goes unseen.
pub fn announce_skip(what: &str) {
    use std::io::Write as _;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "SKIPPED in {test}: {what}");
}

/// [`announce_skip`] for the PostgreSQL half of a test when no server is configured.
pub fn announce_postgres_skipped() {
    announce_skip(&format!("PostgreSQL ({POSTGRES_ENV} is not set)"));
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/postgres", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(
            super::with_database("postgres://u@h", "t1"),
            "postgres://u@h/t1"
        );
        assert_eq!(
            super::with_database("postgres://u@h/x?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }
}
