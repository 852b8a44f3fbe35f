//! The register kept in memory at a known version of the database, so that a chain question
//! costs microseconds and a write costs what it changes.
//!
//! Every write of the register increments its version in the database and records the entries
//! it changed (`register_changes`). A server brings its copy up to date by applying the changes
//! after its own version, in place ([`Register::apply_change`]); a write too large to list, or a
//! copy too far behind, reads the whole register again. Servers sharing one PostgreSQL each
//! [`LiveRegister::sync`] after their own writes and on a short poll (`custos serve`), so a
//! write on one is read on the others within the poll interval.
//!
//! Readers hold an `Arc` of the current [`Snapshot`] for as long as they need it, without a
//! lock. A change is made in place once the readers of the current snapshot have let it go
//! (they hold it for one request); one that keeps it longer costs a copy instead of a wait.

use std::collections::HashSet;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use custos_core::Date;
use custos_core::chain::ChainError;
use custos_core::checks::{ChainFindings, Evidence, Report};
use custos_core::register::{Change, Register};
use custos_core::values::Slug;
use custos_store::{ImageRead, RegisterChange};
use tokio::sync::{Mutex, MutexGuard, RwLock};

use crate::{AppError, Store};

/// The register as of one version of the database.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub version: u64,
    register: Register,
    /// The activities the recent changes touched: what the checks judge again to bring the
    /// findings of an earlier version up to this one.
    touched: TouchLog,
}

/// The activities whose chains each recent change touched, by version.
#[derive(Debug, Clone, Default)]
struct TouchLog {
    /// The changes of every version after this one are listed, and of no earlier one.
    from: u64,
    changes: std::collections::VecDeque<(u64, HashSet<Slug>)>,
}

/// Changes listed in a snapshot's log: a report older than these is computed whole.
const TOUCH_LOG_CHANGES: usize = 4096;

impl TouchLog {
    fn starting_at(version: u64) -> Self {
        Self {
            from: version,
            changes: Default::default(),
        }
    }

    fn record(&mut self, version: u64, touched: HashSet<Slug>) {
        if self.changes.len() >= TOUCH_LOG_CHANGES
            && let Some((forgotten, _)) = self.changes.pop_front()
        {
            // A version whose changes are no longer all listed is no longer covered.
            self.from = self.from.max(forgotten);
        }
        self.changes.push_back((version, touched));
    }

    /// The activities touched by the versions after `version`; none when the log does not
    /// reach back that far.
    fn since(&self, version: u64) -> Option<HashSet<Slug>> {
        (version >= self.from).then(|| {
            self.changes
                .iter()
                .filter(|(changed, _)| *changed > version)
                .flat_map(|(_, touched)| touched.iter().cloned())
                .collect()
        })
    }
}

impl Deref for Snapshot {
    type Target = Register;
    fn deref(&self) -> &Register {
        &self.register
    }
}

impl Snapshot {
    pub fn register(&self) -> &Register {
        &self.register
    }
}

/// The server's copy of the register.
#[derive(Debug)]
pub struct LiveRegister {
    current: RwLock<Arc<Snapshot>>,
    /// One write of the register at a time in this process: the next writer starts from the
    /// version the last one left.
    writer: Mutex<()>,
    /// The checks' reports over the current version, per day judged and evidence.
    reports: std::sync::Mutex<Reports>,
}

/// Reports of the checks computed over one version of the register.
#[derive(Debug, Default)]
struct Reports {
    version: u64,
    computed: Vec<(Date, Evidence, Arc<Report>)>,
    /// The chains' findings last computed, per day judged: what the next version's report
    /// starts from.
    chains: Vec<Arc<KeptChains>>,
}

/// The chains' findings of one version, and the contracts' history they were judged with.
#[derive(Debug)]
struct KeptChains {
    version: u64,
    history: custos_core::history::ContractHistory,
    findings: ChainFindings,
}

/// Days judged whose chains' findings are kept (today, and the days asked for with `?at=`).
const KEPT_CHAINS: usize = 4;

/// Reports kept per version (days asked for with `?at=` beside today).
const KEPT_REPORTS: usize = 8;

/// How far behind the register the newest image may fall before another is written: a
/// start applies at most this many versions' changes after reading the image.
pub const IMAGE_BEHIND: u64 = 1_000;

/// Below this many entries the register is read from its rows in milliseconds: no image.
pub const IMAGE_MIN_ENTRIES: usize = 10_000;

/// What [`LiveRegister::keep_image`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKept {
    /// The register is too small to need one.
    TooSmall,
    /// The newest image is recent enough.
    Current,
    /// The register moved on while the image was written: it was dropped.
    Abandoned,
    /// The image of this version was written.
    Written(u64),
}

/// How long a change waits for the readers of the snapshot before copying it instead.
const READERS_WAIT: Duration = Duration::from_millis(50);
const READERS_POLL: Duration = Duration::from_millis(1);

impl LiveRegister {
    /// The register at the database's version: from its image and the changes after it when
    /// there is one to use, from the rows otherwise.
    pub async fn load(store: &Store) -> Result<Self, AppError> {
        match Self::load_from_image(store).await? {
            Some(live) => Ok(live),
            None => Ok(Self::holding(read_whole(store).await?)),
        }
    }

    fn holding(snapshot: Snapshot) -> Self {
        Self {
            current: RwLock::new(Arc::new(snapshot)),
            writer: Mutex::new(()),
            reports: std::sync::Mutex::new(Reports::default()),
        }
    }

    /// The register from its image, brought up to the database's version by the changes
    /// after it; none when there is no image, or it cannot be used (unreadable, invalid,
    /// older than the changes kept): the caller reads the rows.
    async fn load_from_image(store: &Store) -> Result<Option<Self>, AppError> {
        let (version, parts, changes) = match store.pool().read_register_image().await? {
            ImageRead::Missing => return Ok(None),
            ImageRead::Unusable(reason) => {
                tracing::warn!(%reason, "the register's image cannot be read: reading the rows");
                return Ok(None);
            }
            ImageRead::Read {
                version,
                parts,
                changes,
            } => (version, parts, changes),
        };
        let register = match Register::new(parts) {
            Ok(register) => register,
            Err(problems) => {
                tracing::warn!(
                    version,
                    problems = problems.len(),
                    "the register's image is not a valid register: reading the rows"
                );
                return Ok(None);
            }
        };
        let live = Self::holding(Snapshot {
            version,
            register,
            touched: TouchLog::starting_at(version),
        });
        Ok(live.advance(changes).await.then_some(live))
    }

    /// Writes the image of the register as this server holds it, unless it has fewer than
    /// `min_entries` entries (its rows read in milliseconds) or the newest image is less than
    /// [`IMAGE_BEHIND`] versions behind it. Each few chunks are encoded from the snapshot of
    /// the image's version, held only meanwhile; should the register move on before the image
    /// is whole, what was written is dropped and the image is left for another time.
    pub async fn keep_image(
        &self,
        store: &Store,
        min_entries: usize,
    ) -> Result<ImageKept, AppError> {
        // The snapshot is not held across a wait on the database: a write landing meanwhile
        // would copy the register rather than change it in place.
        let (version, chunks) = {
            let snapshot = self.snapshot().await;
            if snapshot.parts().entries() < min_entries {
                return Ok(ImageKept::TooSmall);
            }
            (
                snapshot.version,
                custos_store::image_chunks(snapshot.parts()),
            )
        };
        if store
            .pool()
            .newest_register_image()
            .await?
            .is_some_and(|newest| newest + IMAGE_BEHIND > version)
        {
            return Ok(ImageKept::Current);
        }
        let mut writer = store.pool().register_image_writer(version).await?;
        for batch in chunks.chunks(custos_store::CHUNKS_A_TRANSACTION) {
            let snapshot = self.snapshot().await;
            if snapshot.version != version {
                writer.discard().await?;
                return Ok(ImageKept::Abandoned);
            }
            let batch = batch.to_vec();
            let encoded = match tokio::task::spawn_blocking(move || {
                batch
                    .iter()
                    .map(|range| custos_store::encode_chunk(snapshot.parts(), range))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            {
                Ok(encoded) => encoded?,
                Err(failed) => std::panic::resume_unwind(failed.into_panic()),
            };
            writer.write(encoded).await?;
        }
        writer.finish().await?;
        Ok(ImageKept::Written(version))
    }

    /// The register as of the last change this server applied.
    pub async fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().await.clone()
    }

    /// Every check over the current snapshot judged `on` with `evidence`, computed once per
    /// version of the register (and day and evidence), with the snapshot it was computed on.
    /// A new version's report starts from the chains' findings of the last one computed and
    /// judges again only the activities the changes since touched.
    pub async fn report(
        &self,
        on: Date,
        evidence: Evidence,
    ) -> Result<(Arc<Snapshot>, Arc<Report>), ChainError> {
        let snapshot = self.snapshot().await;
        let (cached, base) = match self.reports.lock() {
            Ok(reports) => (
                (reports.version == snapshot.version)
                    .then(|| {
                        reports
                            .computed
                            .iter()
                            .find(|(day, seen, _)| *day == on && *seen == evidence)
                            .map(|(_, _, report)| report.clone())
                    })
                    .flatten(),
                reports
                    .chains
                    .iter()
                    .find(|kept| kept.findings.on() == on)
                    .cloned(),
            ),
            Err(_) => (None, None),
        };
        if let Some(report) = cached {
            return Ok((snapshot, report));
        }
        // Every check over a large register is a second of CPU (the activities one write
        // touched, milliseconds): on a blocking thread, so the runtime's threads keep
        // answering other requests meanwhile.
        let (report, chains) = {
            let (snapshot, evidence) = (snapshot.clone(), evidence.clone());
            match tokio::task::spawn_blocking(move || {
                judge(&snapshot, on, &evidence, base.as_deref())
            })
            .await
            {
                Ok(judged) => judged?,
                Err(failed) => std::panic::resume_unwind(failed.into_panic()),
            }
        };
        let report = Arc::new(report);
        // A report of a version older than the kept ones (computed while a write landed) is
        // answered but not kept.
        if let Ok(mut reports) = self.reports.lock()
            && reports.version <= snapshot.version
        {
            if reports.version != snapshot.version {
                reports.version = snapshot.version;
                reports.computed.clear();
            }
            if reports.computed.len() >= KEPT_REPORTS {
                reports.computed.remove(0);
            }
            reports.computed.push((on, evidence, report.clone()));
            reports.chains.retain(|kept| kept.findings.on() != on);
            if reports.chains.len() >= KEPT_CHAINS {
                reports.chains.remove(0);
            }
            reports.chains.push(Arc::new(chains));
        }
        Ok((snapshot, report))
    }

    /// Serialises this process's writes of the register.
    pub(crate) async fn writing(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    /// Brings the copy up to the database's version: the changes since its own, or the whole
    /// register when they cannot be listed. Returns whether anything changed.
    pub async fn sync(&self, store: &Store) -> Result<bool, AppError> {
        let mine = self.snapshot().await.version;
        let mut tx = store.read().await?;
        let since = tx.register_changes_since(mine).await?;
        tx.rollback().await?;
        if since.version == mine {
            return Ok(false);
        }
        let applied = match since.changes {
            // A database older than the copy (restored from a backup) is read whole.
            Some(changes) if since.version > mine => self.advance(changes).await,
            _ => false,
        };
        if !applied {
            let whole = read_whole(store).await?;
            *self.current.write().await = Arc::new(whole);
        }
        Ok(true)
    }

    /// Applies `changes` (in version order) after the copy's version, in place when no
    /// reader holds the snapshot. False when one could not be applied: the copy stays at the
    /// last version it reached, and the caller reads the register whole.
    pub(crate) async fn advance(&self, changes: Vec<RegisterChange>) -> bool {
        let mut current = self.current.write().await;
        let mut waited = Duration::ZERO;
        let snapshot = loop {
            if Arc::get_mut(&mut current).is_some() || waited >= READERS_WAIT {
                break Arc::make_mut(&mut current);
            }
            // Readers finish their request and drop the snapshot; new readers wait on the
            // lock meanwhile.
            tokio::time::sleep(READERS_POLL).await;
            waited += READERS_POLL;
        };
        // A write's changes share its version: skip the versions the copy has, whole.
        let reached = snapshot.version;
        for change in changes {
            if change.version <= reached {
                continue;
            }
            let Some(change_of) = core_change(change.kind, &change.slug, change.after) else {
                return false;
            };
            let touched = snapshot.register.chains_touched_by(&change_of);
            if let Err(problems) = snapshot.register.apply_change(change_of) {
                tracing::warn!(
                    version = change.version,
                    problems = problems.len(),
                    "a recorded change does not apply to the register in memory: reading it whole"
                );
                return false;
            }
            snapshot.touched.record(change.version, touched);
            snapshot.version = change.version;
        }
        true
    }
}

fn core_change(
    kind: custos_core::register::EntityKind,
    slug: &str,
    after: Option<custos_core::register::Entry>,
) -> Option<Change> {
    match after {
        Some(entry) => Some(Change::Put(Box::new(entry))),
        None => slug.parse().ok().map(|id| Change::Remove(kind, id)),
    }
}

/// The report of `snapshot` judged `on`: from `base`, the chains' findings of an earlier
/// version, when the snapshot lists what changed since (the activities touched, and those of
/// the contracts whose history differs are judged again); whole otherwise.
fn judge(
    snapshot: &Snapshot,
    on: Date,
    evidence: &Evidence,
    base: Option<&KeptChains>,
) -> Result<(Report, KeptChains), ChainError> {
    let history = &evidence.contracts;
    let since_base = base
        .filter(|base| base.version <= snapshot.version)
        .and_then(|base| Some((base, snapshot.touched.since(base.version)?)));
    let findings = match since_base {
        Some((base, mut touched)) => {
            touched.extend(
                snapshot.activities_of_contracts(&base.history.contracts_differing_from(history)),
            );
            base.findings.updated(snapshot, on, history, &touched)?
        }
        None => ChainFindings::compute(snapshot, on, history)?,
    };
    let report = findings.report(snapshot, &evidence.published, &evidence.breaches);
    let kept = KeptChains {
        version: snapshot.version,
        history: history.clone(),
        findings,
    };
    Ok((report, kept))
}

/// The whole register and its version, read in one snapshot.
async fn read_whole(store: &Store) -> Result<Snapshot, AppError> {
    let (version, parts) = store.pool().read_register().await?;
    let register = Register::new(parts).map_err(AppError::StoredRegister)?;
    Ok(Snapshot {
        version,
        register,
        touched: TouchLog::starting_at(version),
    })
}

/// The register's version and the access version of the database, in one cheap read: what a
/// server polls to follow the others.
pub async fn versions(store: &Store) -> Result<(u64, u64), AppError> {
    let mut tx = store.read().await?;
    let versions = tx.versions().await?;
    tx.rollback().await?;
    Ok(versions)
}

/// Says that who may sign in changed (a sign-out, a revocation, a membership): every server
/// drops the sign-ins it remembers when it next polls.
pub async fn access_changed(store: &Store) -> Result<(), AppError> {
    let mut tx = store.begin().await?;
    tx.bump_access_version().await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use custos_core::manifest;
    use custos_core::synthetic::{Shape, generate};

    use super::*;
    use crate::audit::Actor;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("live.db").display());
        (dir, Store::open(&url).await.unwrap())
    }

    fn actor() -> Actor {
        Actor::new("test", "2026-11-29T10:00:00Z".parse().unwrap())
    }

    /// A database holding the worked examples, and a server's copy of it.
    async fn serving_the_examples() -> (tempfile::TempDir, Store, Register, LiveRegister) {
        let (dir, store) = store().await;
        let examples = manifest::parse(&manifest::examples::sources()).unwrap();
        crate::register::apply(&store, &examples, &actor())
            .await
            .unwrap();
        let live = LiveRegister::load(&store).await.unwrap();
        (dir, store, examples, live)
    }

    /// The copy equals the register read afresh, at the database's version.
    async fn assert_follows(live: &LiveRegister, store: &Store) {
        let fresh = read_whole(store).await.unwrap();
        let kept = live.snapshot().await;
        assert_eq!(kept.version, fresh.version);
        assert!(
            kept.same_indexes_as(&fresh),
            "the copy differs from the stored register"
        );
    }

    #[tokio::test]
    async fn a_server_follows_writes_made_elsewhere_by_their_changes() {
        let (_dir, store) = store().await;
        let live = LiveRegister::load(&store).await.unwrap();
        assert_eq!(live.snapshot().await.version, 0);
        // One write of several entries (the worked examples) by another process.
        let examples = manifest::parse(&manifest::examples::sources()).unwrap();
        crate::register::apply(&store, &examples, &actor())
            .await
            .unwrap();
        assert!(live.sync(&store).await.unwrap());
        assert_follows(&live, &store).await;
        // Another: a processor removed with its links, one renamed, one added.
        let mut parts = examples.parts().clone();
        // A processor at the end of its chains: nobody is engaged by it.
        let gone = parts
            .engagements
            .iter()
            .map(|e| e.processor.clone())
            .find(|p| !parts.engagements.iter().any(|e| &e.engaged_by == p))
            .unwrap();
        parts
            .engagements
            .retain(|e| e.processor != gone && e.engaged_by != gone);
        parts.contracts.retain(|c| !c.between.contains(&gone));
        parts.organisations.retain(|o| o.id != gone);
        parts.organisations[0].name = "Renamed".to_owned();
        let desired = Register::new(parts).unwrap();
        let plan = crate::register::apply(&store, &desired, &actor())
            .await
            .unwrap();
        assert!(plan.changes.len() > 3, "{plan:?}");
        assert!(live.sync(&store).await.unwrap());
        assert_follows(&live, &store).await;
        assert!(!live.sync(&store).await.unwrap(), "nothing new");
    }

    #[tokio::test]
    async fn a_write_too_large_to_list_is_read_whole() {
        let (_dir, store) = store().await;
        let live = LiveRegister::load(&store).await.unwrap();
        // More entries than one batch of audit entries, too.
        let large = Register::new(generate(Shape {
            organisations: 600,
            engagements: 10_000,
            ..Shape::SMALL
        }))
        .unwrap();
        let plan = crate::register::apply(&store, &large, &actor())
            .await
            .unwrap();
        assert!(plan.changes.len() > 10_000);
        match crate::audit::verify(&store, None).await.unwrap() {
            crate::audit::Verification::Intact(verified) => {
                assert_eq!(
                    verified.entries,
                    plan.changes.len() as u64,
                    "one entry per change"
                );
            }
            broken => panic!("{broken:?}"),
        }
        let mut tx = store.read().await.unwrap();
        let since = tx.register_changes_since(0).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(since.changes, None, "more than can be listed");
        assert!(live.sync(&store).await.unwrap());
        assert_follows(&live, &store).await;
        assert_eq!(live.snapshot().await.engagements().len(), 10_000);
    }

    #[tokio::test]
    async fn the_checks_run_once_per_version_and_again_after_a_write() {
        let (_dir, store, examples, live) = serving_the_examples().await;
        let on: Date = "2026-11-29".parse().unwrap();
        let (_, first) = live.report(on, Evidence::default()).await.unwrap();
        let (_, again) = live.report(on, Evidence::default()).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "computed once for the version");
        let (_, other_day) = live
            .report("2024-01-01".parse().unwrap(), Evidence::default())
            .await
            .unwrap();
        assert!(
            !Arc::ptr_eq(&first, &other_day),
            "another day is judged anew"
        );
        // A write that acknowledges a finding on a link.
        let finding = first
            .findings
            .iter()
            .find(|f| f.object.kind == custos_core::register::EntityKind::Engagement && f.counts())
            .unwrap();
        let engagement = finding.object.id.clone();
        let mut parts = examples.parts().clone();
        let link = parts
            .engagements
            .iter_mut()
            .find(|l| l.id == engagement)
            .unwrap();
        link.acknowledgements
            .push(custos_core::model::Acknowledgement {
                rule: finding.rule.parse().unwrap(),
                reason: "Accepted for the test".to_owned(),
                until: "2027-12-31".parse().unwrap(),
                by: None,
            });
        let desired = Register::new(parts).unwrap();
        crate::register::apply(&store, &desired, &actor())
            .await
            .unwrap();
        live.sync(&store).await.unwrap();
        let (snapshot, after) = live.report(on, Evidence::default()).await.unwrap();
        assert_eq!(snapshot.version, 2);
        assert!(
            !Arc::ptr_eq(&first, &after),
            "a new version is checked again"
        );
        let acknowledged = after
            .findings
            .iter()
            .find(|f| f.engagement.as_ref() == Some(&engagement) && f.rule == finding.rule)
            .unwrap();
        assert!(
            !acknowledged.counts(),
            "the write is in the report: {acknowledged:?}"
        );
    }

    /// The chains' findings kept for `on`.
    fn kept_chains(live: &LiveRegister, on: Date) -> Arc<KeptChains> {
        live.reports
            .lock()
            .unwrap()
            .chains
            .iter()
            .find(|kept| kept.findings.on() == on)
            .cloned()
            .unwrap()
    }

    #[tokio::test]
    async fn after_a_write_only_the_activities_it_touched_are_judged_again() {
        use custos_core::checks::check_with_evidence;
        use custos_core::history::{ContractHistory, EarlierVersion};

        let (_dir, store, examples, live) = serving_the_examples().await;
        let on: Date = "2026-11-29".parse().unwrap();
        let (_, first) = live.report(on, Evidence::default()).await.unwrap();
        let before = kept_chains(&live, on);
        // A contract loses its clauses: the activities of its links have new findings.
        let original = examples
            .contracts()
            .iter()
            .find(|c| {
                let touched = examples.activities_of_contracts(std::slice::from_ref(&c.id));
                !touched.is_empty() && touched.len() < examples.activities().len()
            })
            .unwrap()
            .clone();
        let touched = examples.activities_of_contracts(std::slice::from_ref(&original.id));
        let mut parts = examples.parts().clone();
        let contract = parts
            .contracts
            .iter_mut()
            .find(|c| c.id == original.id)
            .unwrap();
        contract.clauses = Default::default();
        crate::register::apply(&store, &Register::new(parts).unwrap(), &actor())
            .await
            .unwrap();
        live.sync(&store).await.unwrap();
        let (snapshot, after) = live.report(on, Evidence::default()).await.unwrap();
        assert_ne!(
            first.findings, after.findings,
            "the write changed the findings"
        );
        assert_eq!(
            *after,
            check_with_evidence(&snapshot, on, &Evidence::default()).unwrap(),
            "judged again in part, as every check afresh"
        );
        let updated = kept_chains(&live, on);
        assert_eq!(updated.version, snapshot.version);
        for activity in snapshot.activities() {
            let shared = updated
                .findings
                .shares_with(&before.findings, activity.id.as_str());
            assert_eq!(shared, !touched.contains(&activity.id), "{}", activity.id);
        }
        // The contract's earlier text in force on the day judged (evidence, not a write): its
        // activities are judged against it, the others are kept.
        let evidence = Evidence {
            contracts: ContractHistory::new([EarlierVersion {
                contract: original.clone(),
                until: "2026-12-31".parse().unwrap(),
            }]),
            ..Evidence::default()
        };
        let (snapshot, with_history) = live.report(on, evidence.clone()).await.unwrap();
        assert_eq!(
            *with_history,
            check_with_evidence(&snapshot, on, &evidence).unwrap()
        );
        assert_eq!(
            with_history.findings, first.findings,
            "judged on the text in force that day, the findings of before the write"
        );
        let judged_with_history = kept_chains(&live, on);
        for activity in snapshot.activities() {
            let shared = judged_with_history
                .findings
                .shares_with(&updated.findings, activity.id.as_str());
            assert_eq!(shared, !touched.contains(&activity.id), "{}", activity.id);
        }
    }
}
