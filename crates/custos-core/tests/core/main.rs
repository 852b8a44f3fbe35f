//! The core's behaviour through its public interface: the worked examples of SPEC.md as
//! fixtures, located manifest errors, bad graphs, transfers on dates, and properties of random
//! chains.

// A test fails by panicking; helpers here are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod chains;
mod changes;
mod checks;
mod fuzz;
mod incremental;
mod ledger;
mod manifests;
mod notices;
mod properties;
mod rights;
mod transfers;

use custos_core::Date;
use custos_core::manifest;
use custos_core::register::Register;

pub fn date(s: &str) -> Date {
    s.parse().unwrap()
}

pub fn examples() -> Register {
    manifest::parse(&manifest::examples::sources()).unwrap()
}

/// Parses one manifest text, panicking with its errors.
pub fn register(text: &str) -> Register {
    match manifest::parse_str("test.yaml", text) {
        Ok(register) => register,
        Err(errors) => panic!("{errors:#?}"),
    }
}

/// Parses one manifest text that must fail; returns the errors as displayed.
pub fn errors(text: &str) -> Vec<String> {
    match manifest::parse_str("test.yaml", text) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}
