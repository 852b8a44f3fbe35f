//! Custos's use cases. Each one that writes is one transaction over the store: validate,
//! persist, commit — so a failure leaves the database as it was. The wall clock is read only
//! through [`Clock`], so tests decide what "today" is.

pub mod accounts;
pub mod audit;
pub mod breaches;
pub mod changes;
pub mod clock;
pub mod contracts;
pub mod dashboard;
pub mod entries;
pub mod joint;
pub mod ledger;
pub mod live;
pub mod manifest_files;
pub mod notices;
pub mod oidc;
pub mod outbound;
pub mod outbox;
pub mod people;
pub mod policy;
pub mod preview;
pub mod register;
pub mod rights;
pub mod sessions;
pub mod store;
pub mod timers;
pub mod totp;
pub mod visibility;
pub mod webhooks;

pub use audit::Actor;
pub use clock::{Clock, FixedClock, ManualClock, SystemClock, stamp};
pub use store::Store;

/// Throwaway PostgreSQL databases for the test suites of the layers above.
pub mod testing {
    pub use custos_store::testing::{PostgresDatabase, announce_postgres_skipped, announce_skip};
}

/// The records use cases take and return, as the store keeps them: plain data, with no way
/// to the database in them.
pub mod data {
    pub use custos_store::{
        Amendment, BreachHistoryEntry, BreachPhase, Communication, DataSource, DeliveryRecord,
        Filing, HistoryEntry, Membership, NewToken, NotificationRow, OAuthClient, Role, Scope,
        Session, StoredBreach, StoredCase, StoredHop, StoredNotice, StoredParty, StoredRequest,
        StoredSubjectRequest, StoredTemplate, SubjectHistoryEntry, Subscription, TokenRecord, User,
    };
}

use custos_core::manifest::ManifestError;
use custos_core::register::Problem;
use custos_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(StoreError),
    /// Every error of every manifest file, located.
    #[error("the manifest is invalid ({} error(s))", .0.len())]
    Manifest(Vec<ManifestError>),
    /// Input refused, naming the field and what was expected.
    #[error("{0}")]
    Invalid(String),
    /// The change would leave the register invalid: every problem.
    #[error("the change is refused: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rejected(Vec<Problem>),
    /// Not found (or not visible).
    #[error("{0} does not exist")]
    NotFound(String),
    /// Exists already.
    #[error("{0}")]
    Conflict(String),
    /// The caller's version is stale.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Too much of this at once: come back after `retry_after` seconds.
    #[error("too many at once: try again in {retry_after} s")]
    Busy { retry_after: u64 },
    /// The policy refuses: what the caller may not assert, each entry named (and its field).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Refused(Vec<policy::Refusal>),
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    /// The stored register no longer validates: edited outside Custos.
    #[error("the stored register is inconsistent: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    StoredRegister(Vec<Problem>),
}

impl From<StoreError> for AppError {
    /// A unique key taken is the caller's conflict, not the store's failure.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Duplicate(detail) => Self::Conflict(detail),
            other => Self::Store(other),
        }
    }
}
