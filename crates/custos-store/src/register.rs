//! The register's rows: read the whole register, apply a plan, and the register's version
//! with the changes of each write (what servers apply to the copy they keep in memory).

use custos_core::model::{Activity, Contract, Engagement, Organisation};
use custos_core::plan::{Action, Plan};
use custos_core::register::{EntityKind, Entry, RegisterParts};
use custos_core::values::Slug;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::AnyArguments;
// SQL text here is built only from the constant table and column names of `Table` and
// numbered placeholders; every value is bound.
use sqlx::{Arguments, AssertSqlSafe, Row};

use crate::{Backend, StoreError, Tx};

/// From this many new rows into an empty table, secondary indexes are built after the load.
const BULK_LOAD_ROWS: usize = 20_000;

/// A write that changes more entries than this is recorded as one change of kind `*`:
/// servers read the whole register again rather than a long list.
const LISTED_CHANGES: usize = 1_000;

/// Changes kept in `register_changes`: a server further behind reads the whole register.
const KEPT_VERSIONS: i64 = 10_000;

/// One recorded change of the register.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterChange {
    pub version: u64,
    pub kind: EntityKind,
    pub slug: String,
    /// The entry after the change, none when it was removed.
    pub after: Option<Entry>,
}

/// What changed since a version: the changes in order, or `None` when they cannot be listed
/// (a large write, or older than the changes kept): then read the whole register.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangesSince {
    pub version: u64,
    pub changes: Option<Vec<RegisterChange>>,
}

/// Rows per multi-row INSERT: 9 columns x 500 rows stays under SQLite's 32766 parameters.
const INSERT_BATCH: usize = 500;

/// Rows a page when a table is read whole (see `Tx::load_table`).
const LOAD_PAGE: i64 = 4096;
/// Pages parsed at once while the next is read: parsing is most of the work, and takes every
/// core there is. Four rather than two keep the parsers busy when SQLite's thread stalls (at
/// 1M: the read 1.56 s instead of 1.7; a page held is ~2 MB).
const PAGES_IN_FLIGHT: usize = 4;

/// `parts` in id order, sorted on a blocking thread (rows come in the order they are stored,
/// which is id order but for entries added one at a time; each half of a two-connection read
/// is sorted while the other is still read).
pub(crate) async fn in_id_order(mut parts: RegisterParts) -> RegisterParts {
    match tokio::task::spawn_blocking(move || {
        parts.sort();
        parts
    })
    .await
    {
        Ok(parts) => parts,
        Err(failed) => std::panic::resume_unwind(failed.into_panic()),
    }
}

/// The order a table is read in pages: the column, how a page starts after the cursor
/// (`$1`), and the cursor before the first row.
struct PageOrder {
    column: &'static str,
    after_cursor: &'static str,
    first: &'static str,
}

/// A page of a table being parsed: the cursor it starts after, and the parse.
struct PageParse<T> {
    after: String,
    parse: tokio::task::JoinHandle<Result<Vec<T>, String>>,
}

/// A page of entries from its ids (space-separated) and bodies (one JSON document a line),
/// each body's id checked against its row's; the reason when not.
fn parse_page<T: Table>(slugs: &str, bodies: &str) -> Result<Vec<T>, String> {
    let mut slugs = slugs.split(' ');
    let mut entries = Vec::with_capacity(LOAD_PAGE as usize);
    // Texts that links repeat (services, categories) are held once a page.
    custos_core::values::Text::shared_while(|| {
        for entry in serde_json::Deserializer::from_str(bodies).into_iter::<T>() {
            let entry = entry.map_err(|e| e.to_string())?;
            if slugs.next() != Some(entry.slug()) {
                return Err(format!("a body has the id {} out of place", entry.slug()));
            }
            entries.push(entry);
        }
        Ok(())
    })?;
    match slugs.next() {
        None => Ok(entries),
        Some(_) => Err("fewer bodies than ids".to_owned()),
    }
}

/// How one kind of entry maps to its table.
trait Table: Serialize + DeserializeOwned {
    const TABLE: &'static str;
    /// Columns after `key`, `slug` and before `body`.
    const COLUMNS: &'static [&'static str];
    fn slug(&self) -> &str;
    /// Values for [`Self::COLUMNS`], in order.
    fn columns(&self) -> Vec<Option<String>>;
}

impl Table for Organisation {
    const TABLE: &'static str = "organisations";
    const COLUMNS: &'static [&'static str] = &["name", "country"];
    fn slug(&self) -> &str {
        self.id.as_str()
    }
    fn columns(&self) -> Vec<Option<String>> {
        vec![Some(self.name.clone()), Some(self.country.to_string())]
    }
}

impl Table for Activity {
    const TABLE: &'static str = "activities";
    const COLUMNS: &'static [&'static str] = &["controller"];
    fn slug(&self) -> &str {
        self.id.as_str()
    }
    fn columns(&self) -> Vec<Option<String>> {
        vec![Some(self.controller.to_string())]
    }
}

impl Table for Contract {
    const TABLE: &'static str = "contracts";
    const COLUMNS: &'static [&'static str] = &["party_a", "party_b"];
    fn slug(&self) -> &str {
        self.id.as_str()
    }
    fn columns(&self) -> Vec<Option<String>> {
        vec![
            Some(self.between[0].to_string()),
            Some(self.between[1].to_string()),
        ]
    }
}

impl Table for Engagement {
    const TABLE: &'static str = "engagements";
    const COLUMNS: &'static [&'static str] = &[
        "activity",
        "engaged_by",
        "processor",
        "contract",
        "since",
        "until",
    ];
    fn slug(&self) -> &str {
        self.id.as_str()
    }
    fn columns(&self) -> Vec<Option<String>> {
        vec![
            Some(self.activity.to_string()),
            Some(self.engaged_by.to_string()),
            Some(self.processor.to_string()),
            self.contract.as_ref().map(ToString::to_string),
            Some(self.since.to_string()),
            self.until.map(|d| d.to_string()),
        ]
    }
}

/// Times the register is read on two connections before it is read on one, should writes
/// keep landing between the two connections' snapshots.
const SPLIT_READ_ATTEMPTS: usize = 3;

/// SQLite's page cache while a table is read whole, in KiB.
pub(crate) const SCAN_CACHE_KIB: i64 = 2048;

/// The tables one connection of a split read reads.
#[derive(Debug, Clone, Copy)]
enum Share {
    /// Organisations, activities and contracts.
    Entries,
    Links,
}

impl crate::Store {
    /// The whole register and its version, as [`Tx::load_register`] reads it, on two
    /// connections at once: the links on one, the other entries on the other. One connection
    /// reads and aggregates rows on one thread, which was a large register's start's slowest
    /// part. Each connection reads in its own snapshot, and the two are used together only if
    /// they saw the same version (every write of the register changes it); otherwise they are
    /// read again, and after a few attempts in one transaction.
    pub async fn read_register(&self) -> Result<(u64, RegisterParts), StoreError> {
        for _ in 0..SPLIT_READ_ATTEMPTS {
            let ((version, mut parts), (links_version, links)) = tokio::try_join!(
                self.read_share(Share::Entries),
                self.read_share(Share::Links)
            )?;
            if links_version == version {
                parts.engagements = links.engagements;
                return Ok((version, parts));
            }
        }
        let mut tx = self.read().await?;
        let (version, _) = tx.versions().await?;
        let parts = tx.load_register().await?;
        tx.rollback().await?;
        Ok((version, parts))
    }

    /// The tables of `share`, in id order, read in a snapshot of their own, and its version.
    /// The connection scans with a small page cache, given back its usual one after (should
    /// the read fail, it keeps the small one: slower writes on it, nothing wrong).
    async fn read_share(&self, share: Share) -> Result<(u64, RegisterParts), StoreError> {
        let mut tx = self.read().await?;
        tx.page_cache(SCAN_CACHE_KIB).await?;
        let (version, _) = tx.versions().await?;
        let mut parts = RegisterParts::default();
        match share {
            Share::Entries => {
                parts.organisations = tx.load_table().await?;
                parts.activities = tx.load_table().await?;
                parts.contracts = tx.load_table().await?;
            }
            Share::Links => parts.engagements = tx.load_table().await?,
        }
        tx.page_cache(crate::PAGE_CACHE_KIB).await?;
        tx.rollback().await?;
        Ok((version, in_id_order(parts).await))
    }
}

impl Tx {
    /// The whole register as stored, every row parsed again (the database is an edge).
    pub async fn load_register(&mut self) -> Result<RegisterParts, StoreError> {
        let parts = RegisterParts {
            organisations: self.load_table().await?,
            activities: self.load_table().await?,
            contracts: self.load_table().await?,
            engagements: self.load_table().await?,
        };
        self.released_pages().await?;
        Ok(in_id_order(parts).await)
    }

    /// After a whole table was read: on SQLite, the connection's page cache (64 MiB) is full
    /// of pages the register now holds parsed; they are let go.
    async fn released_pages(&mut self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA shrink_memory")
                .execute(&mut *self.inner)
                .await?;
        }
        Ok(())
    }

    /// SQLite's page cache of this connection, in KiB: a scan reads each page once and needs
    /// little, writes want the indexes of a large register kept (`Store::open` sets 64 MiB).
    pub(crate) async fn page_cache(&mut self, kib: i64) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query(AssertSqlSafe(format!("PRAGMA cache_size = -{kib}")))
                .execute(&mut *self.inner)
                .await?;
        }
        Ok(())
    }

    /// The register's version, locked until this transaction ends (on PostgreSQL a row lock
    /// that orders every writer of the register; SQLite's `BEGIN IMMEDIATE` already has).
    /// Call it before reading what a write of the register is decided on.
    pub async fn lock_register(&mut self) -> Result<u64, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT version FROM versions WHERE name = 'register'",
            Backend::Postgres => "SELECT version FROM versions WHERE name = 'register' FOR UPDATE",
        };
        let version: i64 = sqlx::query_scalar(sql).fetch_one(&mut *self.inner).await?;
        Ok(version as u64)
    }

    /// The register's version and the access version, in one read.
    pub async fn versions(&mut self) -> Result<(u64, u64), StoreError> {
        let rows = sqlx::query("SELECT name, version FROM versions")
            .fetch_all(&mut *self.inner)
            .await?;
        let mut versions = (0, 0);
        for row in rows {
            let name: String = row.try_get(0)?;
            let version: i64 = row.try_get(1)?;
            match name.as_str() {
                "register" => versions.0 = version as u64,
                "access" => versions.1 = version as u64,
                _ => {}
            }
        }
        Ok(versions)
    }

    /// Marks a change of who may sign in (a sign-out, a revocation, a membership): every
    /// server drops the sign-ins it remembers.
    pub async fn bump_access_version(&mut self) -> Result<(), StoreError> {
        sqlx::query("UPDATE versions SET version = version + 1 WHERE name = 'access'")
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    /// The changes of the register after `version`, in order.
    pub async fn register_changes_since(
        &mut self,
        version: u64,
    ) -> Result<ChangesSince, StoreError> {
        let (current, _) = self.versions().await?;
        if current <= version {
            return Ok(ChangesSince {
                version: current,
                changes: Some(Vec::new()),
            });
        }
        let rows = sqlx::query(
            "SELECT version, kind, slug, body FROM register_changes WHERE version > $1 \
             ORDER BY version, position",
        )
        .bind(version as i64)
        .fetch_all(&mut *self.inner)
        .await?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            let at: i64 = row.try_get(0)?;
            let kind: String = row.try_get(1)?;
            let slug: String = row.try_get(2)?;
            let body: Option<String> = row.try_get(3)?;
            let kind = match kind.as_str() {
                "organisation" => EntityKind::Organisation,
                "activity" => EntityKind::Activity,
                "contract" => EntityKind::Contract,
                "engagement" => EntityKind::Engagement,
                _ => {
                    return Ok(ChangesSince {
                        version: current,
                        changes: None,
                    });
                }
            };
            let after = body
                .map(|body| Entry::from_json(kind, &body))
                .transpose()
                .map_err(|e| crate::corrupt("register_changes", &slug, e))?;
            changes.push(RegisterChange {
                version: at as u64,
                kind,
                slug,
                after,
            });
        }
        // Every version after ours must be there, or the log was pruned past it.
        let first_missing = changes.first().is_none_or(|c| c.version != version + 1);
        Ok(ChangesSince {
            version: current,
            changes: (!first_missing).then_some(changes),
        })
    }

    /// Increments the register's version and records what `plan` changed (bodies from
    /// `desired`); returns the new version.
    async fn record_changes(
        &mut self,
        plan: &Plan,
        desired: &RegisterParts,
    ) -> Result<u64, StoreError> {
        let version: i64 = sqlx::query_scalar(
            "UPDATE versions SET version = version + 1 WHERE name = 'register' RETURNING version",
        )
        .fetch_one(&mut *self.inner)
        .await?;
        let mut rows: Vec<(String, String, Option<String>)> = Vec::new();
        if plan.changes.len() > LISTED_CHANGES {
            rows.push(("*".to_owned(), "*".to_owned(), None));
        } else {
            for change in &plan.changes {
                let body = match change.action {
                    Action::Remove => None,
                    _ => desired
                        .entry_json(change.kind, change.id.as_str())
                        .transpose()
                        .map_err(encode)?,
                };
                rows.push((change.kind.as_str().to_owned(), change.id.to_string(), body));
            }
        }
        for (position, (kind, slug, body)) in rows.into_iter().enumerate() {
            sqlx::query(
                "INSERT INTO register_changes (version, position, kind, slug, body) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(version)
            .bind(position as i32)
            .bind(kind)
            .bind(slug)
            .bind(body)
            .execute(&mut *self.inner)
            .await?;
        }
        sqlx::query("DELETE FROM register_changes WHERE version <= $1")
            .bind(version - KEPT_VERSIONS)
            .execute(&mut *self.inner)
            .await?;
        Ok(version as u64)
    }

    /// Carries out `plan`, taking the new entries from `desired` (in id order, as a
    /// register's parts are; it may hold only the entries the plan adds or changes), and
    /// records it as the register's next version, which it returns. Referenced rows go in
    /// before the rows that reference them, and out after.
    pub async fn apply(&mut self, plan: &Plan, desired: &RegisterParts) -> Result<u64, StoreError> {
        let removed = |kind| plan.ids(kind, |a| matches!(a, Action::Remove));
        let added = |kind| plan.ids(kind, |a| matches!(a, Action::Add));
        let changed = |kind| plan.ids(kind, |a| matches!(a, Action::Change { .. }));

        self.delete::<Engagement>(removed(EntityKind::Engagement))
            .await?;
        macro_rules! upsert {
            ($kind:expr, $entries:ident) => {{
                let new: Vec<_> = added($kind)
                    .into_iter()
                    .filter_map(|id| find(&desired.$entries, id))
                    .collect();
                self.bulk_insert(&new).await?;
                for id in changed($kind) {
                    if let Some(entry) = find(&desired.$entries, id) {
                        self.update(entry).await?;
                    }
                }
            }};
        }
        upsert!(EntityKind::Organisation, organisations);
        upsert!(EntityKind::Activity, activities);
        upsert!(EntityKind::Contract, contracts);
        upsert!(EntityKind::Engagement, engagements);
        self.delete::<Contract>(removed(EntityKind::Contract))
            .await?;
        self.delete::<Activity>(removed(EntityKind::Activity))
            .await?;
        self.delete::<Organisation>(removed(EntityKind::Organisation))
            .await?;
        self.record_changes(plan, desired).await
    }

    /// How this backend reads a table in pages. SQLite reads in the order rows are stored
    /// (`rowid`): in slug order each row was a seek from the slug index into the table, a
    /// tenth of a large register's start. PostgreSQL reads in slug order. The cursor travels
    /// as text either way.
    fn page_order(&self) -> PageOrder {
        match self.backend {
            Backend::Sqlite => PageOrder {
                column: "rowid",
                after_cursor: "CAST($1 AS INTEGER)",
                first: "0",
            },
            Backend::Postgres => PageOrder {
                column: "slug",
                after_cursor: "$1",
                first: "",
            },
        }
    }

    /// Every row of a table, parsed. Rows are read a page at a time, each page
    /// as one row of two aggregated texts (ids, and bodies a line each): fetched one
    /// by one, a million rows cost a wake-up of this task each, which was most of a large
    /// register's start. Pages are parsed on blocking threads while the next is read.
    async fn load_table<T: Table + Send + 'static>(&mut self) -> Result<Vec<T>, StoreError> {
        // The two aggregates see the page's rows in one pass, so ids and bodies line up
        // (`parse_page` checks it); the entries come in the order of `page_order`.
        let PageOrder {
            column,
            after_cursor,
            first,
        } = self.page_order();
        let sql = format!(
            "SELECT string_agg(slug, ' '), string_agg(body, '\n'), CAST(max(position) AS TEXT), \
             count(*) FROM (SELECT {column} AS position, slug, body FROM {} \
             WHERE {column} > {after_cursor} ORDER BY {column} LIMIT $2) AS page",
            T::TABLE
        );
        let mut entries = Vec::new();
        let mut after = first.to_owned();
        let mut parsing: std::collections::VecDeque<PageParse<T>> = Default::default();
        loop {
            let row = sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(after.clone())
                .bind(LOAD_PAGE)
                .fetch_one(&mut *self.inner)
                .await?;
            let count: i64 = row.try_get(3)?;
            if count > 0 {
                let last: String = row.try_get(2)?;
                // The row goes to the parse whole: its texts are read in place, not copied.
                let parse = move || -> Result<Vec<T>, String> {
                    let text = |column: usize| -> Result<&str, String> {
                        row.try_get::<&str, _>(column).map_err(|e| e.to_string())
                    };
                    parse_page(text(0)?, text(1)?)
                };
                parsing.push_back(PageParse {
                    after: std::mem::replace(&mut after, last),
                    parse: tokio::task::spawn_blocking(parse),
                });
            }
            if count < LOAD_PAGE {
                break;
            }
            if parsing.len() > PAGES_IN_FLIGHT
                && let Some(oldest) = parsing.pop_front()
            {
                entries.extend(self.parsed_page(oldest).await?);
            }
        }
        while let Some(page) = parsing.pop_front() {
            entries.extend(self.parsed_page(page).await?);
        }
        // Grown by doubling: up to half again of a large table's room would stay unused.
        entries.shrink_to_fit();
        Ok(entries)
    }

    /// The entries of a page being parsed; should it not parse, its rows are read again one by
    /// one to name the one at fault.
    async fn parsed_page<T: Table>(&mut self, page: PageParse<T>) -> Result<Vec<T>, StoreError> {
        let PageParse { after, parse } = page;
        let reason = match parse.await {
            Ok(Ok(entries)) => return Ok(entries),
            Ok(Err(reason)) => reason,
            Err(failed) => failed.to_string(),
        };
        let PageOrder {
            column,
            after_cursor,
            ..
        } = self.page_order();
        let sql = format!(
            "SELECT slug, body FROM {} WHERE {column} > {after_cursor} ORDER BY {column} LIMIT $2",
            T::TABLE
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after.clone())
            .bind(LOAD_PAGE)
            .fetch_all(&mut *self.inner)
            .await?;
        for row in &rows {
            let slug: String = row.try_get(0)?;
            let body: String = row.try_get(1)?;
            let corrupt = |reason: String| StoreError::Corrupt {
                table: T::TABLE,
                slug: slug.clone(),
                reason,
            };
            let entry: T = serde_json::from_str(&body).map_err(|e| corrupt(e.to_string()))?;
            if entry.slug() != slug {
                return Err(corrupt(format!("its body has the id {}", entry.slug())));
            }
        }
        Err(StoreError::Corrupt {
            table: T::TABLE,
            slug: format!("(the page after {after:?})"),
            reason,
        })
    }

    /// Inserts many rows. Into an empty table, a large load drops the table's non-unique
    /// indexes and builds them again afterwards, in the same transaction: building an index
    /// once from sorted keys is far cheaper than maintaining it row by row. Unique indexes and
    /// references stay enforced throughout.
    async fn bulk_insert<T: Table>(&mut self, entries: &[&T]) -> Result<(), StoreError> {
        if entries.len() < BULK_LOAD_ROWS || !self.table_is_empty(T::TABLE).await? {
            return self.insert(entries).await;
        }
        let indexes = self.secondary_indexes(T::TABLE).await?;
        for (name, _) in &indexes {
            let sql = format!("DROP INDEX {name}");
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut *self.inner)
                .await?;
        }
        self.insert(entries).await?;
        for (_, definition) in indexes {
            sqlx::query(AssertSqlSafe(definition))
                .execute(&mut *self.inner)
                .await?;
        }
        Ok(())
    }

    async fn table_is_empty(&mut self, table: &'static str) -> Result<bool, StoreError> {
        let sql = format!("SELECT 1 FROM {table} LIMIT 1");
        Ok(sqlx::query(AssertSqlSafe(sql))
            .fetch_optional(&mut *self.inner)
            .await?
            .is_none())
    }

    /// (name, CREATE statement) of the table's non-unique indexes, as the database holds them.
    async fn secondary_indexes(
        &mut self,
        table: &'static str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 \
                 AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = current_schema() \
                 AND tablename = $1 AND indexdef NOT LIKE 'CREATE UNIQUE%' ORDER BY indexname"
            }
        };
        let rows = sqlx::query(sql)
            .bind(table)
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?)))
            .collect()
    }

    async fn insert<T: Table>(&mut self, entries: &[&T]) -> Result<(), StoreError> {
        let width = 3 + T::COLUMNS.len();
        for batch in entries.chunks(INSERT_BATCH) {
            let sql = format!(
                "INSERT INTO {} (key, slug, {}, body) VALUES {}",
                T::TABLE,
                T::COLUMNS.join(", "),
                crate::values_rows(self.backend, batch.len(), width)
            );
            let mut arguments = AnyArguments::default();
            for entry in batch {
                arguments
                    .add(uuid::Uuid::now_v7().to_string())
                    .map_err(sqlx::Error::Encode)?;
                arguments
                    .add(entry.slug().to_owned())
                    .map_err(sqlx::Error::Encode)?;
                for value in entry.columns() {
                    arguments.add(value).map_err(sqlx::Error::Encode)?;
                }
                arguments.add(body(*entry)?).map_err(sqlx::Error::Encode)?;
            }
            sqlx::query_with(AssertSqlSafe(sql), arguments)
                .execute(&mut *self.inner)
                .await?;
        }
        Ok(())
    }

    async fn update<T: Table>(&mut self, entry: &T) -> Result<(), StoreError> {
        let assignments: Vec<String> = T::COLUMNS
            .iter()
            .enumerate()
            .map(|(i, column)| format!("{column} = ${}", i + 2))
            .collect();
        let sql = format!(
            "UPDATE {} SET {}, body = ${} WHERE slug = $1",
            T::TABLE,
            assignments.join(", "),
            T::COLUMNS.len() + 2
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(entry.slug().to_owned());
        for value in entry.columns() {
            query = query.bind(value);
        }
        query.bind(body(entry)?).execute(&mut *self.inner).await?;
        Ok(())
    }

    async fn delete<T: Table>(
        &mut self,
        slugs: impl IntoIterator<Item = &custos_core::values::Slug>,
    ) -> Result<(), StoreError> {
        let sql = format!("DELETE FROM {} WHERE slug = $1", T::TABLE);
        for slug in slugs {
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(slug.to_string())
                .execute(&mut *self.inner)
                .await?;
        }
        Ok(())
    }
}

/// The entry with `id` of sorted `entries`.
fn find<'a, T: Table>(entries: &'a [T], id: &Slug) -> Option<&'a T> {
    entries
        .binary_search_by(|e| e.slug().cmp(id.as_str()))
        .ok()
        .map(|i| &entries[i])
}

fn body<T: Serialize>(entry: &T) -> Result<String, StoreError> {
    serde_json::to_string(entry).map_err(encode)
}

/// Our types always serialise; a failure is an encoding error of the query.
fn encode(error: serde_json::Error) -> StoreError {
    StoreError::Database(sqlx::Error::Encode(Box::new(error)))
}
