//! Custos's domain and law, with no IO and no async.
//!
//! - [`audit`]: the audit log's hash chain and its verification.
//! - [`values`]: identifiers and values parsed once at the edge (slugs, countries, e-mail
//!   addresses, retention periods).
//! - [`refdata`]: reference data compiled in from `data/` (countries and the EEA, adequacy
//!   decisions, standard contractual clauses), all dated.
//! - [`model`]: organisations, processing activities, contracts, engagements.
//! - [`register`]: a validated register: every reference resolves and every chain is a tree.
//! - [`chain`]: the chain of an activity at any depth, as of a date; its recipients; the
//!   reverse lookup.
//! - [`transfer`]: every cross-border transfer in a chain and whether its mechanism holds on a
//!   date.
//! - [`checks`]: the rules that find what breaks the law in every chain, with the articles
//!   they rest on and what to do.
//! - [`plan`]: the difference between two registers, by kind and id.
//! - [`breach`]: personal-data breaches along the chain (Arts 33–34): facts, routes up to
//!   every controller, the ENISA severity aid, decisions.
//! - [`ledger`]: the disclosure ledger and the access answer (Art. 15).
//! - [`rights`]: data-subject requests: kinds, deadlines, the Art. 19 notification tree.
//! - [`synthetic`]: generated registers for benchmarks and property tests.
//! - [`manifest`]: the register as YAML files (privacy as code), with located errors.

/// Maps and sets keyed by the register's own positions: a fast hash is safe for them, as no
/// input chooses the keys (ids, which parties write, are hashed with SipHash under a random key).
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

pub mod audit;
pub mod breach;
pub mod chain;
pub mod change;
pub mod checks;
pub mod history;
pub mod ledger;
pub mod manifest;
pub mod model;
pub mod notice;
pub mod plan;
pub mod records;
pub mod refdata;
pub mod register;
pub mod rights;
pub mod synthetic;
pub mod transfer;
pub mod values;

pub use jiff::civil::Date;

/// The source of the register's entry types, whose field order an image of the register
/// depends on: the store keys its images by a digest of it, so that an image written before
/// any change to them is never read after.
pub const MODEL_SOURCES: [&str; 2] = [include_str!("model.rs"), include_str!("values.rs")];
