//! The store suite: every scenario runs on SQLite, and on PostgreSQL when
//! `CUSTOS_TEST_POSTGRES_URL` names a server (CI sets it).

// A test fails by panicking; helpers here are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;

use custos_app::register as usecase;
use custos_core::manifest;
use custos_core::plan::{Action, Plan};
use custos_core::register::{EntityKind, Register};
use custos_store::testing::PostgresDatabase;
use custos_store::{Backend, Store};
use sqlx::{AnyConnection, Connection, Executor, Row};

fn examples() -> Register {
    manifest::parse(&manifest::examples::sources()).unwrap()
}

/// The same database as the use cases of custos-app take it.
fn app(store: &Store) -> custos_app::Store {
    custos_app::Store::from_store(store.clone())
}

fn actor() -> custos_app::Actor {
    custos_app::Actor::new("test", "2026-11-25T10:00:00Z".parse().unwrap())
}

/// Runs `scenario` on a fresh SQLite file, then on a fresh PostgreSQL database if configured.
async fn on_every_backend<F, Fut>(scenario: F)
where
    F: Fn(Store, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("custos.db").display());
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    scenario(store, url).await;

    if let Some(database) = PostgresDatabase::create().await.unwrap() {
        let store = Store::open(&database.url).await.unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        scenario(store.clone(), database.url.clone()).await;
        store.close().await;
        database.drop_database().await.unwrap();
    } else {
        custos_store::testing::announce_postgres_skipped();
    }
}

async fn raw(url: &str) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(url).await.unwrap()
}

async fn count(url: &str, table: &str) -> i64 {
    let mut connection = raw(url).await;
    let sql = format!("SELECT COUNT(*) FROM {table}");
    let row = connection
        .fetch_one(sqlx::AssertSqlSafe(sql))
        .await
        .unwrap();
    row.try_get::<i64, _>(0).unwrap()
}

#[tokio::test]
async fn apply_then_load_gives_back_the_register() {
    on_every_backend(|store, _| async move {
        let register = examples();
        let plan = usecase::apply(&app(&store), &register, &actor())
            .await
            .unwrap();
        assert_eq!(plan.summary().added, 11 + 3 + 8 + 8);
        assert_eq!(plan.summary().changed + plan.summary().removed, 0);
        let loaded = usecase::load(&app(&store)).await.unwrap();
        assert!(loaded == register);
        assert!(
            usecase::plan(&app(&store), &register)
                .await
                .unwrap()
                .is_empty(),
            "a second apply changes nothing"
        );
        let exported = usecase::export(&app(&store)).await.unwrap();
        assert!(manifest::parse_str("export.yaml", &exported).unwrap() == register);
    })
    .await;
}

#[tokio::test]
async fn apply_adds_changes_and_removes_by_id_and_keeps_keys() {
    on_every_backend(|store, url| async move {
        usecase::apply(&app(&store), &examples(), &actor())
            .await
            .unwrap();
        let key_of = |slug: &'static str| {
            let url = url.clone();
            async move {
                let mut connection = raw(&url).await;
                let row = connection
                    .fetch_one(
                        sqlx::query("SELECT key FROM organisations WHERE slug = $1").bind(slug),
                    )
                    .await
                    .unwrap();
                row.try_get::<String, _>(0).unwrap()
            }
        };
        let key_before = key_of("agency-b").await;
        assert_eq!(
            uuid::Uuid::parse_str(&key_before)
                .unwrap()
                .get_version_num(),
            7
        );

        // Agency B moves to Valencia; the migration example goes; a new organisation comes.
        let text = manifest::to_yaml(examples().parts()).replace(
            "Avinguda Diagonal 200, 08018 Barcelona, Spain",
            "Calle Colón 9, Valencia, Spain",
        );
        let mut parts = manifest::parse_str("x", &text).unwrap().into_parts();
        parts
            .engagements
            .retain(|e| e.id.as_str() != "website-migration");
        parts.contracts.retain(|c| c.id.as_str() != "generic-dpa");
        parts
            .activities
            .retain(|a| a.id.as_str() != "customer-accounts");
        parts
            .organisations
            .retain(|o| !["web-controller", "it-contractor"].contains(&o.id.as_str()));
        let mut newcomer = parts.organisations[0].clone();
        newcomer.id = "newcomer".parse().unwrap();
        parts.organisations.push(newcomer);
        let desired = Register::new(parts).unwrap();

        let plan = usecase::plan(&app(&store), &desired).await.unwrap();
        let listed: Vec<String> = plan
            .changes
            .iter()
            .map(|c| format!("{:?} {} {:?}", c.action, c.kind, c.id.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                "Change { fields: [\"address\"] } organisation \"agency-b\"",
                "Remove organisation \"it-contractor\"",
                "Add organisation \"newcomer\"",
                "Remove organisation \"web-controller\"",
                "Remove activity \"customer-accounts\"",
                "Remove contract \"generic-dpa\"",
                "Remove engagement \"website-migration\"",
            ]
        );
        let applied = usecase::apply(&app(&store), &desired, &actor())
            .await
            .unwrap();
        assert_eq!(applied, plan);
        assert!(usecase::load(&app(&store)).await.unwrap() == desired);
        assert_eq!(
            key_of("agency-b").await,
            key_before,
            "an update keeps the row's key"
        );
        assert_eq!(count(&url, "organisations").await, 10);
        assert_eq!(count(&url, "engagements").await, 7);
    })
    .await;
}

/// The worked examples with `extra` more processors, each with one link on the first link's
/// activity: each step adds an organisation and a link together.
fn examples_with_processors(extra: usize) -> Register {
    let mut parts = examples().into_parts();
    let (organisation, link) = (parts.organisations[0].clone(), parts.engagements[0].clone());
    for n in 0..extra {
        let mut processor = organisation.clone();
        processor.id = format!("extra-processor-{n}").parse().unwrap();
        let mut engaged = link.clone();
        engaged.id = format!("extra-link-{n}").parse().unwrap();
        engaged.processor = processor.id.clone();
        engaged.contract = None;
        parts.organisations.push(processor);
        parts.engagements.push(engaged);
    }
    Register::new(parts).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_register_read_on_two_connections_is_of_one_version_while_writes_land() {
    on_every_backend(|store, _| async move {
        usecase::apply(&app(&store), &examples(), &actor())
            .await
            .unwrap();
        let (first, _) = store.read_register().await.unwrap();
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                for extra in 1..=60 {
                    let desired = examples_with_processors(extra);
                    usecase::apply(&app(&store), &desired, &actor())
                        .await
                        .unwrap();
                }
            })
        };
        let (organisations, links) = (
            examples().organisations().len(),
            examples().engagements().len(),
        );
        let mut versions_read = std::collections::BTreeSet::new();
        while !writer.is_finished() {
            // The links are read on one connection, the organisations on another: of one
            // version, they grow together.
            let (version, parts) = store.read_register().await.unwrap();
            let extra = (version - first) as usize;
            assert_eq!(
                parts.organisations.len(),
                organisations + extra,
                "at version {version}"
            );
            assert_eq!(
                parts.engagements.len(),
                links + extra,
                "at version {version}"
            );
            // Stored in the order they were added (extra-processor-2 after -10), read in id order.
            assert!(parts.organisations.is_sorted_by(|a, b| a.id < b.id));
            assert!(parts.engagements.is_sorted_by(|a, b| a.id < b.id));
            assert!(Register::new(parts).is_ok());
            versions_read.insert(version);
        }
        writer.await.unwrap();
        assert!(
            versions_read.len() > 1,
            "reads landed between writes: {versions_read:?}"
        );
    })
    .await;
}

/// The register as a server loads it at start (from the image when one is usable).
async fn loaded(store: &Store) -> (u64, custos_core::register::RegisterParts) {
    let live = custos_app::live::LiveRegister::load(&app(store))
        .await
        .unwrap();
    let snapshot = live.snapshot().await;
    (snapshot.version, snapshot.parts().clone())
}

/// Writes the image of `parts` as the register at `version`, whatever the register is.
async fn plant_image(store: &Store, version: u64, parts: &custos_core::register::RegisterParts) {
    let mut writer = store.register_image_writer(version).await.unwrap();
    let chunks = custos_store::image_chunks(parts)
        .iter()
        .map(|range| custos_store::encode_chunk(parts, range).unwrap())
        .collect();
    writer.write(chunks).await.unwrap();
    writer.finish().await.unwrap();
}

#[tokio::test]
async fn a_start_reads_the_image_and_the_changes_after_it_as_the_rows_say() {
    on_every_backend(|store, url| async move {
        assert!(matches!(
            store.read_register_image().await.unwrap(),
            custos_store::ImageRead::Missing
        ));
        usecase::apply(&app(&store), &examples(), &actor())
            .await
            .unwrap();
        let live = custos_app::live::LiveRegister::load(&app(&store))
            .await
            .unwrap();
        use custos_app::live::ImageKept;
        let too_small = live.keep_image(&app(&store), 1_000).await.unwrap();
        assert_eq!(too_small, ImageKept::TooSmall);
        let (version, rows) = store.read_register().await.unwrap();
        assert_eq!(
            live.keep_image(&app(&store), 0).await.unwrap(),
            ImageKept::Written(version)
        );
        assert!(
            count(&url, "register_image_chunks").await >= 4,
            "a chunk per kind"
        );
        // Read back, every field of every entry is what the rows hold.
        match store.read_register_image().await.unwrap() {
            custos_store::ImageRead::Read {
                version: at,
                parts,
                changes,
            } => {
                assert_eq!(at, version);
                assert!(parts == rows);
                assert_eq!(changes, Vec::new());
            }
            other => panic!("expected the image, found {other:?}"),
        }
        // Writes after the image are read as its changes; the image stays until it is
        // far behind.
        for extra in 1..=3 {
            usecase::apply(&app(&store), &examples_with_processors(extra), &actor())
                .await
                .unwrap();
        }
        let (now, rows) = store.read_register().await.unwrap();
        match store.read_register_image().await.unwrap() {
            custos_store::ImageRead::Read {
                version: at,
                changes,
                ..
            } => {
                assert_eq!(at, version);
                assert_eq!(changes.last().map(|c| c.version), Some(now));
                assert_eq!(changes.len(), 6, "an organisation and a link each");
            }
            other => panic!("expected the image, found {other:?}"),
        }
        assert_eq!(loaded(&store).await, (now, rows.clone()));
        let live = custos_app::live::LiveRegister::load(&app(&store))
            .await
            .unwrap();
        assert_eq!(
            live.keep_image(&app(&store), 0).await.unwrap(),
            ImageKept::Current
        );
        // A newer image replaces the older, and an image of another program's format.
        let mut connection = raw(&url).await;
        connection
            .execute(
                "INSERT INTO register_images (format, version, chunks) VALUES ('older-program', 1, 1); \
                 INSERT INTO register_image_chunks (format, version, seq, kind, data) \
                 SELECT 'older-program', 1, 0, kind, data FROM register_image_chunks WHERE seq = 0",
            )
            .await
            .unwrap();
        plant_image(&store, now, &rows).await;
        assert_eq!(store.newest_register_image().await.unwrap(), Some(now));
        assert_eq!(count(&url, "register_images").await, 1);
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT DISTINCT version FROM register_image_chunks")
                .fetch_all(&mut connection)
                .await
                .unwrap();
        assert_eq!(versions, vec![now as i64]);
        assert_eq!(loaded(&store).await, (now, rows));
    })
    .await;
}

#[tokio::test]
async fn a_large_apply_leaves_the_image_of_the_register_it_wrote() {
    on_every_backend(|store, _| async move {
        let large = Register::new(custos_core::synthetic::generate(
            custos_core::synthetic::Shape::SMALL,
        ))
        .unwrap();
        usecase::apply(&app(&store), &large, &actor())
            .await
            .unwrap();
        let (version, rows) = store.read_register().await.unwrap();
        assert_eq!(store.newest_register_image().await.unwrap(), Some(version));
        match store.read_register_image().await.unwrap() {
            custos_store::ImageRead::Read {
                version: at, parts, ..
            } => {
                assert_eq!(at, version);
                assert!(parts == rows);
            }
            other => panic!("expected the image, found {other:?}"),
        }
        // A small apply after it leaves the image as it is: a start reads its change after it.
        let mut parts = large.into_parts();
        parts.engagements[0].service = "Changed after the image".into();
        let changed = Register::new(parts).unwrap();
        usecase::apply(&app(&store), &changed, &actor())
            .await
            .unwrap();
        assert_eq!(store.newest_register_image().await.unwrap(), Some(version));
        let (now, rows) = store.read_register().await.unwrap();
        assert_eq!(now, version + 1);
        assert_eq!(loaded(&store).await, (now, rows));
    })
    .await;
}

#[tokio::test]
async fn an_image_damaged_or_planted_is_passed_over_for_the_rows() {
    on_every_backend(|store, url| async move {
        usecase::apply(&app(&store), &examples(), &actor())
            .await
            .unwrap();
        let (version, rows) = store.read_register().await.unwrap();
        // An image that decodes to a register the rows do not hold (a link to a processor
        // that does not exist): validated as rows are, refused, and the rows read.
        let mut planted = rows.clone();
        planted.engagements[0].processor = "nobody".parse().unwrap();
        plant_image(&store, version, &planted).await;
        assert!(matches!(
            store.read_register_image().await.unwrap(),
            custos_store::ImageRead::Read { .. }
        ));
        assert_eq!(loaded(&store).await, (version, rows.clone()));

        // A chunk's bytes cut short, or a chunk missing: the image cannot be read.
        let mut connection = raw(&url).await;
        let forget_images = "DELETE FROM register_images; DELETE FROM register_image_chunks";
        for damage in [
            "UPDATE register_image_chunks SET data = substr(data, 1, 10) WHERE seq = 0",
            "DELETE FROM register_image_chunks WHERE seq = 1",
        ] {
            connection.execute(forget_images).await.unwrap();
            plant_image(&store, version, &rows).await;
            connection.execute(damage).await.unwrap();
            assert!(
                matches!(
                    store.read_register_image().await.unwrap(),
                    custos_store::ImageRead::Unusable(_)
                ),
                "{damage}"
            );
            assert_eq!(loaded(&store).await, (version, rows.clone()));
        }

        // An image followed by a write too large to list (more than a thousand changes, too
        // few entries for the apply to write an image of its own): passed over before its
        // chunks are decoded, the rows read.
        connection.execute(forget_images).await.unwrap();
        plant_image(&store, version, &rows).await;
        usecase::apply(&app(&store), &examples_with_processors(600), &actor())
            .await
            .unwrap();
        assert!(matches!(
            store.read_register_image().await.unwrap(),
            custos_store::ImageRead::Unusable(_)
        ));
        let (version, rows) = store.read_register().await.unwrap();
        assert_eq!(loaded(&store).await, (version, rows.clone()));

        // An image abandoned halfway (the register moved on): never read, its chunks gone.
        connection.execute(forget_images).await.unwrap();
        let mut writer = store.register_image_writer(version).await.unwrap();
        let first = custos_store::image_chunks(&rows)[0].clone();
        let chunk = custos_store::encode_chunk(&rows, &first).unwrap();
        writer.write(vec![chunk]).await.unwrap();
        assert_eq!(count(&url, "register_image_chunks").await, 1);
        writer.discard().await.unwrap();
        assert_eq!(count(&url, "register_image_chunks").await, 0);
        assert!(matches!(
            store.read_register_image().await.unwrap(),
            custos_store::ImageRead::Missing
        ));
    })
    .await;
}

#[tokio::test]
async fn an_empty_register_erases_every_row() {
    on_every_backend(|store, url| async move {
        usecase::apply(&app(&store), &examples(), &actor())
            .await
            .unwrap();
        let plan = usecase::apply(&app(&store), &Register::empty(), &actor())
            .await
            .unwrap();
        assert_eq!(plan.summary().removed, 30);
        for table in ["organisations", "activities", "contracts", "engagements"] {
            assert_eq!(count(&url, table).await, 0, "{table}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_failed_apply_leaves_the_database_as_it_was() {
    on_every_backend(|store, url| async move {
        // First the organisations and activities only.
        let mut partial = examples().into_parts();
        partial.engagements.clear();
        partial.contracts.clear();
        let partial = Register::new(partial).unwrap();
        usecase::apply(&app(&store), &partial, &actor()).await.unwrap();

        // Someone writes an engagement behind Custos's back, so the next apply, planned
        // against what it read before, collides on a unique slug after other writes.
        let full = examples();
        let stale_plan = Plan::between(partial.parts(), full.parts());
        let mut connection = raw(&url).await;
        connection
            .execute(
                "INSERT INTO engagements (key, slug, activity, engaged_by, processor, since, body) \
                 VALUES ('k', 'c2-c3', 'document-delivery', 'bank', 'courier-1', '2025-01-01', '{}')",
            )
            .await
            .unwrap();
        connection.close().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        let error = tx.apply(&stale_plan, full.parts()).await.unwrap_err();
        assert!(error.to_string().to_lowercase().contains("unique"), "{error}");
        drop(tx);

        assert_eq!(count(&url, "contracts").await, 0, "contracts written before the failure are gone");
        assert_eq!(count(&url, "engagements").await, 1, "only the row written outside");
        assert_eq!(count(&url, "organisations").await, 11);
    })
    .await;
}

#[tokio::test]
async fn a_corrupt_row_is_named() {
    on_every_backend(|store, url| async move {
        usecase::apply(&app(&store), &examples(), &actor()).await.unwrap();
        let mut connection = raw(&url).await;
        connection
            .execute("UPDATE organisations SET body = '{\"id\": \"mailer-c\", \"name\": \"M\", \"country\": \"ZZ\"}' WHERE slug = 'mailer-c'")
            .await
            .unwrap();
        connection.close().await.unwrap();
        let error = usecase::load(&app(&store)).await.unwrap_err().to_string();
        assert!(error.contains("organisations row mailer-c"), "{error}");
        assert!(error.contains("ISO 3166-1"), "{error}");

        // A body that parses but carries another row's id is named too.
        let mut connection = raw(&url).await;
        connection
            .execute("UPDATE organisations SET body = '{\"id\": \"agency-b\", \"name\": \"M\", \"country\": \"FR\"}' WHERE slug = 'mailer-c'")
            .await
            .unwrap();
        connection.close().await.unwrap();
        let error = usecase::load(&app(&store)).await.unwrap_err().to_string();
        assert!(error.contains("organisations row mailer-c: its body has the id agency-b"), "{error}");
    })
    .await;
}

#[tokio::test]
async fn the_database_enforces_references_too() {
    on_every_backend(|store, url| async move {
        usecase::apply(&app(&store), &examples(), &actor()).await.unwrap();
        let mut connection = raw(&url).await;
        let orphan = connection
            .execute(
                "INSERT INTO engagements (key, slug, activity, engaged_by, processor, since, body) \
                 VALUES ('k2', 'orphan', 'no-such-activity', 'bank', 'courier-1', '2025-01-01', '{}')",
            )
            .await;
        assert!(orphan.is_err(), "a dangling activity must be refused by the database");
        let deleting_a_referenced_organisation = connection.execute("DELETE FROM organisations WHERE slug = 'agency-b'").await;
        assert!(deleting_a_referenced_organisation.is_err());
        drop(store);
    })
    .await;
}

#[tokio::test]
async fn plan_actions_cover_every_kind() {
    // Removing everything and adding it back touches each table in both directions.
    on_every_backend(|store, _| async move {
        usecase::apply(&app(&store), &examples(), &actor())
            .await
            .unwrap();
        usecase::apply(&app(&store), &Register::empty(), &actor())
            .await
            .unwrap();
        let plan = usecase::apply(&app(&store), &examples(), &actor())
            .await
            .unwrap();
        for kind in [
            EntityKind::Organisation,
            EntityKind::Activity,
            EntityKind::Contract,
            EntityKind::Engagement,
        ] {
            assert!(
                !plan.ids(kind, |a| matches!(a, Action::Add)).is_empty(),
                "{kind}"
            );
        }
        assert!(usecase::load(&app(&store)).await.unwrap() == examples());
    })
    .await;
}

mod round_trip {
    use custos_core::synthetic::{Shape, generate};
    use proptest::prelude::*;

    use super::*;

    fn small(seed: u64) -> Register {
        Register::new(generate(Shape {
            organisations: 40,
            engagements: 120,
            engagements_per_activity: 12,
            max_depth: 6,
            seed,
            contracts: false,
            single_controller: false,
        }))
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

        /// apply then export gives back the register; applying another register on top
        /// leaves exactly that one.
        #[test]
        fn apply_then_export_gives_back_the_register(first in any::<u64>(), second in any::<u64>()) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(on_every_backend(|store, _| async move {
                let register = small(first);
                usecase::apply(&app(&store), &register, &actor()).await.unwrap();
                let exported = usecase::export(&app(&store)).await.unwrap();
                let parsed = manifest::parse_str("export.yaml", &exported).unwrap();
                assert!(parsed == register, "export differs from what was applied");
                assert!(usecase::plan(&app(&store), &parsed).await.unwrap().is_empty());

                let other = small(second);
                usecase::apply(&app(&store), &other, &actor()).await.unwrap();
                assert!(usecase::load(&app(&store)).await.unwrap() == other);
            }));
        }
    }
}

/// The names of the indexes on `table`, as the database holds them.
async fn index_names(url: &str, table: &str) -> Vec<String> {
    let sql = if url.starts_with("sqlite:") {
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 ORDER BY name"
    } else {
        "SELECT indexname::text FROM pg_indexes WHERE tablename = $1 ORDER BY indexname"
    };
    let mut connection = raw(url).await;
    let rows = connection
        .fetch_all(sqlx::query(sql).bind(table))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect()
}

#[tokio::test]
async fn a_bulk_load_into_an_empty_table_keeps_every_index() {
    use custos_core::synthetic::{Shape, generate};
    let large = Register::new(generate(Shape {
        organisations: 2_000,
        engagements: 25_000,
        engagements_per_activity: 50,
        max_depth: 8,
        seed: 11,
        contracts: false,
        single_controller: false,
    }))
    .unwrap();
    on_every_backend(|store, url| {
        let large = large.clone();
        async move {
            let before = index_names(&url, "engagements").await;
            assert!(before.iter().any(|n| n == "engagements_by_activity"), "{before:?}");
            usecase::apply(&app(&store), &large, &actor()).await.unwrap();
            assert_eq!(index_names(&url, "engagements").await, before);
            assert_eq!(count(&url, "engagements").await, 25_000);
            assert!(usecase::load(&app(&store)).await.unwrap() == large);
            // The references are still enforced after the load.
            let mut connection = raw(&url).await;
            let orphan = connection
                .execute(
                    "INSERT INTO engagements (key, slug, activity, engaged_by, processor, since, body) \
                     VALUES ('k3', 'orphan', 'no-such-activity', 'org-1', 'org-2', '2025-01-01', '{}')",
                )
                .await;
            assert!(orphan.is_err());
        }
    })
    .await;
}

#[tokio::test]
async fn every_apply_is_audited_and_the_chain_verifies() {
    use custos_app::audit::{Verification, verify};
    on_every_backend(|store, _| async move {
        assert_eq!(
            verify(&app(&store), None).await.unwrap(),
            Verification::Intact(custos_core::audit::Verified {
                entries: 0,
                head: custos_core::audit::GENESIS.to_owned()
            })
        );
        let first = usecase::apply(&app(&store), &examples(), &actor())
            .await
            .unwrap();
        let text = manifest::to_yaml(examples().parts()).replace(
            "Avinguda Diagonal 200, 08018 Barcelona, Spain",
            "Calle Colón 9, Valencia, Spain",
        );
        let moved = manifest::parse_str("x", &text).unwrap();
        let second = usecase::apply(&app(&store), &moved, &actor())
            .await
            .unwrap();
        assert_eq!(second.changes.len(), 1);
        let Verification::Intact(verified) = verify(&app(&store), None).await.unwrap() else {
            panic!("the log must verify")
        };
        assert_eq!(verified.entries as usize, first.changes.len() + 1);

        let mut tx = store.read().await.unwrap();
        let entries = tx.audit_entries(0, 1000).await.unwrap();
        tx.rollback().await.unwrap();
        let last = entries.last().unwrap();
        assert_eq!(
            (
                last.action.as_str(),
                last.object_kind.as_str(),
                last.object_id.as_str()
            ),
            ("update", "organisation", "agency-b")
        );
        assert_eq!(last.actor, "test");
        assert_eq!(last.at, "2026-11-25T10:00:00Z");
        assert!(last.before.as_deref().unwrap().contains("Barcelona"));
        assert!(last.after.as_deref().unwrap().contains("Valencia"));
        let link = entries.iter().find(|e| e.object_id == "c2-c3").unwrap();
        assert_eq!(link.action, "create");
        assert!(link.before.is_none());
        assert_eq!(link.scope, "bank courier-2 courier-3");
    })
    .await;
}

#[tokio::test]
async fn editing_any_audit_row_in_the_database_is_found_and_named() {
    use custos_app::audit::{Verification, verify};
    use custos_core::audit::ChainBreak;
    on_every_backend(|store, url| async move {
        usecase::apply(
            &app(&store),
            &manifest::parse_str("m", manifest::examples::MARKETING_CHAIN).unwrap(),
            &actor(),
        )
        .await
        .unwrap();
        let entries = count(&url, "audit_log").await;
        assert!(entries >= 10);
        let mut connection = raw(&url).await;
        let columns = [
            "at",
            "actor",
            "action",
            "object_kind",
            "object_id",
            "scope",
            "before_body",
            "after_body",
            "prev_hash",
            "hash",
        ];
        for seq in 1..=entries {
            for column in columns {
                let update = |value: &str| {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE audit_log SET {column} = $1 WHERE seq = $2"
                    )))
                    .bind(value.to_owned())
                    .bind(seq)
                };
                let original: Option<String> = connection
                    .fetch_one(
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "SELECT {column} FROM audit_log WHERE seq = $1"
                        )))
                        .bind(seq),
                    )
                    .await
                    .unwrap()
                    .try_get(0)
                    .unwrap();
                let tampered = format!("{}x", original.clone().unwrap_or_default());
                connection.execute(update(&tampered)).await.unwrap();
                let found = verify(&app(&store), None).await.unwrap();
                let seq = seq as u64;
                let named = match &found {
                    Verification::Broken(ChainBreak::Altered { seq: s }) => *s == seq,
                    Verification::Broken(ChainBreak::Unlinked { seq: s, .. }) => {
                        *s == seq && column == "prev_hash"
                    }
                    _ => false,
                };
                assert!(named, "{column} of entry {seq}: {found:?}");
                let restore = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE audit_log SET {column} = $1 WHERE seq = $2"
                )))
                .bind(original)
                .bind(seq as i64);
                connection.execute(restore).await.unwrap();
            }
        }
        assert!(matches!(
            verify(&app(&store), None).await.unwrap(),
            Verification::Intact(_)
        ));

        // A deleted entry in the middle, and deleted last entries.
        connection
            .execute(sqlx::query("DELETE FROM audit_log WHERE seq = 3"))
            .await
            .unwrap();
        assert_eq!(
            verify(&app(&store), None).await.unwrap(),
            Verification::Broken(ChainBreak::Missing {
                previous: 2,
                expected: 3,
                found: 4
            })
        );
        connection
            .execute(sqlx::query("DELETE FROM audit_log WHERE seq >= 3"))
            .await
            .unwrap();
        assert_eq!(
            verify(&app(&store), None).await.unwrap(),
            Verification::Broken(ChainBreak::Truncated {
                last: 2,
                head: entries as u64
            })
        );
    })
    .await;
}

#[tokio::test]
async fn users_memberships_sessions_and_tokens_keep_only_hashes() {
    use custos_app::people::{NewUser, create_user, password_matches};
    use custos_store::{NewToken, Role, Scope};
    on_every_backend(|store, url| async move {
        let user = create_user(
            &app(&store),
            NewUser {
                email: "  Jordi@Agency-B.example ".into(),
                password: "correct horse battery".into(),
                is_admin: false,
                memberships: vec![("agency-b".into(), Role::Portal)],
            },
            &actor(),
        )
        .await
        .unwrap();
        assert_eq!(user.email, "jordi@agency-b.example");
        assert!(user.password_hash.starts_with("$argon2id$"));
        assert!(password_matches(
            "correct horse battery",
            &user.password_hash
        ));
        assert!(!password_matches(
            "correct horse battery!",
            &user.password_hash
        ));

        let duplicate = create_user(
            &app(&store),
            NewUser {
                email: "jordi@agency-b.example".into(),
                password: "another long password".into(),
                is_admin: true,
                memberships: vec![],
            },
            &actor(),
        )
        .await
        .unwrap_err();
        assert!(
            duplicate.to_string().contains("exists already"),
            "{duplicate}"
        );
        let short = create_user(
            &app(&store),
            NewUser {
                email: "x@y.example".into(),
                password: "short".into(),
                is_admin: false,
                memberships: vec![],
            },
            &actor(),
        )
        .await
        .unwrap_err();
        assert!(
            short.to_string().contains("at least 12 characters"),
            "{short}"
        );

        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.count_users().await.unwrap(), 1);
        assert_eq!(
            tx.memberships(&user.key).await.unwrap(),
            [custos_store::Membership {
                organisation: "agency-b".into(),
                role: Role::Portal
            }]
        );
        tx.insert_session(
            "session-hash",
            &user.key,
            "csrf",
            "2026-11-25T10:00:00Z",
            "2026-11-26T10:00:00Z",
        )
        .await
        .unwrap();
        let session = tx.session("session-hash").await.unwrap().unwrap();
        assert_eq!(session.user.email, user.email);
        tx.delete_session("session-hash").await.unwrap();
        assert!(tx.session("session-hash").await.unwrap().is_none());
        let token = tx
            .insert_token(
                &user.key,
                &NewToken {
                    name: "ci".into(),
                    token_hash: "token-hash".into(),
                    scopes: vec![Scope::Read],
                    created_at: "2026-11-25T10:00:00Z".into(),
                    expires_at: None,
                },
            )
            .await
            .unwrap();
        let (found, owner) = tx.token_by_hash("token-hash").await.unwrap().unwrap();
        assert_eq!(
            (found.name.as_str(), owner.key.as_str()),
            ("ci", user.key.as_str())
        );
        assert_eq!(found.scopes, [Scope::Read]);
        assert!(
            tx.revoke_token(&user.key, &token.key, "2026-11-25T11:00:00Z")
                .await
                .unwrap()
        );
        assert!(
            !tx.revoke_token(&user.key, &token.key, "2026-11-25T11:00:00Z")
                .await
                .unwrap()
        );
        let (revoked, _) = tx.token_by_hash("token-hash").await.unwrap().unwrap();
        assert!(revoked.revoked_at.is_some());
        tx.commit().await.unwrap();

        // The user's creation is audited without its password hash.
        assert_eq!(count(&url, "audit_log").await, 1);
        let mut connection = raw(&url).await;
        let after: String = connection
            .fetch_one(sqlx::query(
                "SELECT after_body FROM audit_log WHERE seq = 1",
            ))
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert!(after.contains("jordi@agency-b.example") && after.contains("portal"));
        assert!(!after.contains("argon2"));
    })
    .await;
}

#[tokio::test]
async fn ledger_rows_of_the_first_table_move_to_the_compact_one_when_the_store_opens() {
    on_every_backend(|store, url| async move {
        let key = "ab".repeat(32);
        let mut connection = raw(&url).await;
        let insert = format!(
            "INSERT INTO disclosures (key, subject_key, activity, recipient, categories, disclosed_at, recorded_at) \
             VALUES ('k1', '{key}', 'customer-marketing', 'agency-b', 'email order-history', \
             '2025-06-01T10:00:00.000000Z', '2025-06-02T00:00:00.000000Z')"
        );
        connection.execute(sqlx::AssertSqlSafe(insert)).await.unwrap();
        connection.close().await.unwrap();
        store.close().await;
        let store = Store::open(&url).await.unwrap();
        assert_eq!(count(&url, "disclosures").await, 0);
        assert_eq!(count(&url, "ledger_events").await, 1);
        let found = store.read().await.unwrap().disclosures_of(&key).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].at.to_string(), "2025-06-01T10:00:00Z");
        assert_eq!(found[0].categories.len(), 2);
        assert!(store.read().await.unwrap().disclosures_of(&"cd".repeat(32)).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_bulk_load_that_died_without_its_ledger_index_gets_it_back_on_open() {
    on_every_backend(|store, url| async move {
        let mut tx = store.begin().await.unwrap();
        tx.drop_ledger_index().await.unwrap();
        tx.commit().await.unwrap();
        assert!(
            !index_names(&url, "ledger_events")
                .await
                .contains(&"ledger_events_subject".to_owned())
        );
        store.close().await;
        let _store = Store::open(&url).await.unwrap();
        assert!(
            index_names(&url, "ledger_events")
                .await
                .contains(&"ledger_events_subject".to_owned())
        );
    })
    .await;
}

fn ledger_event(identifier: &str, at: &str) -> custos_app::ledger::LedgerEvent {
    serde_json::from_value(serde_json::json!({
        "identifier": identifier,
        "activity": "customer-marketing",
        "recipient": "agency-b",
        "categories": ["email", "order-history"],
        "at": at,
    }))
    .unwrap()
}

#[tokio::test]
async fn a_ledger_batch_is_recorded_with_its_audit_entry_or_not_at_all() {
    use custos_app::audit::{Verification, verify};
    on_every_backend(|store, url| async move {
        let register = examples();
        let events: Vec<_> = (0..300)
            .map(|i| ledger_event(&format!("person{i}@example.com"), "2026-03-01T10:00:00Z"))
            .collect();
        let recorded = custos_app::ledger::record(&app(&store), &register, events, &actor())
            .await
            .unwrap();
        assert_eq!(recorded, 300);
        assert_eq!(count(&url, "ledger_events").await, 300);
        assert_eq!(count(&url, "audit_log").await, 1);

        // The stored kind made to disagree with the events' own: the next batch is refused
        // whole, its rows and its audit entry with it.
        let mut connection = raw(&url).await;
        connection
            .execute("UPDATE ledger_kinds SET recipient = 'someone-else'")
            .await
            .unwrap();
        let again = vec![ledger_event("person0@example.com", "2026-03-02T10:00:00Z")];
        let refused = custos_app::ledger::record(&app(&store), &register, again, &actor()).await;
        assert!(
            refused.unwrap_err().to_string().contains("share an id"),
            "a colliding kind is refused"
        );
        assert_eq!(count(&url, "ledger_events").await, 300);
        assert_eq!(count(&url, "audit_log").await, 1);
        connection
            .execute("UPDATE ledger_kinds SET recipient = 'agency-b'")
            .await
            .unwrap();

        // Batches and ordinary writes append to one chain.
        usecase::apply(&app(&store), &register, &actor())
            .await
            .unwrap();
        let more = vec![ledger_event("person1@example.com", "2026-03-03T10:00:00Z")];
        custos_app::ledger::record(&app(&store), &register, more, &actor())
            .await
            .unwrap();
        match verify(&app(&store), None).await.unwrap() {
            Verification::Intact(verified) => assert!(verified.entries >= 3),
            broken => panic!("the chain is broken: {broken:?}"),
        }
        let key = custos_core::ledger::subject_key(
            &custos_app::ledger::pepper(&app(&store), "2026-11-25T10:00:00Z".parse().unwrap())
                .await
                .unwrap(),
            "person1@example.com",
        )
        .unwrap();
        let found = store
            .read()
            .await
            .unwrap()
            .disclosures_of(&key)
            .await
            .unwrap();
        assert_eq!(
            found.len(),
            2,
            "the subject's two events, whichever way they came"
        );
    })
    .await;
}

/// The partitions of `table` on PostgreSQL, by name.
async fn partitions(url: &str, table: &str) -> Vec<String> {
    let mut connection = raw(url).await;
    let rows = connection
        .fetch_all(
            sqlx::query(
                "SELECT c.relname::text FROM pg_inherits i \
                 JOIN pg_class c ON c.oid = i.inhrelid \
                 JOIN pg_class p ON p.oid = i.inhparent \
                 WHERE p.relname = $1 AND c.relkind = 'r' ORDER BY 1",
            )
            .bind(table),
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect()
}

#[tokio::test]
async fn on_postgres_the_ledger_is_partitioned_by_subject_and_a_lookup_reads_one_partition() {
    let Some(database) = PostgresDatabase::create().await.unwrap() else {
        custos_store::testing::announce_postgres_skipped();
        return;
    };
    let url = database.url.clone();
    // A ledger recorded before the partitions existed (the shared migrations only).
    {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::migrate!("./migrations").run(&pool).await.unwrap();
        pool.execute(
            "INSERT INTO ledger_events (subject_hi, subject_lo, kind, disclosed_at, recorded_at) \
             SELECT n * 7919, n, 1, n, n FROM generate_series(1, 1000) n",
        )
        .await
        .unwrap();
        pool.close().await;
    }
    let store = Store::open(&url).await.unwrap();
    let names = partitions(&url, "ledger_events").await;
    assert_eq!(names.len(), 16, "{names:?}");
    assert_eq!(count(&url, "ledger_events").await, 1000, "the rows moved");
    let mut connection = raw(&url).await;
    let filled: i64 = connection
        .fetch_one("SELECT COUNT(DISTINCT tableoid) FROM ledger_events")
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert!(filled > 8, "subjects spread over the partitions: {filled}");
    assert!(
        index_names(&url, "ledger_events")
            .await
            .contains(&"ledger_events_subject".to_owned())
    );

    // Events recorded now go by COPY into the partitions too.
    let register = examples();
    let events: Vec<_> = (0..50)
        .map(|i| ledger_event(&format!("p{i}@example.com"), "2026-03-01T10:00:00Z"))
        .collect();
    custos_app::ledger::record(&app(&store), &register, events, &actor())
        .await
        .unwrap();
    assert_eq!(count(&url, "ledger_events").await, 1050);

    // One subject's lookup is planned on one partition.
    let plan: Vec<String> = connection
        .fetch_all(sqlx::query(
            "EXPLAIN SELECT kind FROM ledger_events WHERE subject_hi = 7919 AND subject_lo = 1",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect();
    let plan = plan.join("\n");
    let scanned = names
        .iter()
        .filter(|name| plan.contains(name.as_str()))
        .count();
    assert_eq!(scanned, 1, "{plan}");

    connection.close().await.unwrap();
    store.close().await;
    database.drop_database().await.unwrap();
}
