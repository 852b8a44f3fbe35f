//! Criterion benchmarks of the chain derivations and the checks (docs/benchmarks.md).

// A benchmark stops on a broken fixture by panicking, like a test.
#![allow(clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use custos_core::Date;
use custos_core::chain::Chain;
use custos_core::manifest;
use custos_core::register::Register;
use custos_core::synthetic::{Shape, generate};
use custos_core::transfer::transfers;

fn derive_all(register: &Register, on: Date) -> usize {
    let mut total = 0;
    for activity in register.activities() {
        let chain =
            Chain::derive(register, activity.id.as_str(), Some(on)).expect("valid activity");
        total +=
            chain.links.len() + chain.recipients().recipients.len() + transfers(&chain, on).len();
    }
    total
}

fn benches(c: &mut Criterion) {
    let on = Date::constant(2026, 11, 24);
    let examples = manifest::parse(&manifest::examples::sources()).expect("examples parse");
    c.bench_function(
        "examples: chain+recipients+transfers of customer-marketing",
        |b| {
            b.iter(|| {
                let chain =
                    Chain::derive(&examples, "customer-marketing", Some(on)).expect("exists");
                (
                    chain.recipients().recipients.len(),
                    transfers(&chain, on).len(),
                )
            })
        },
    );

    let shape = if std::env::var_os("CUSTOS_BENCH_SMALL").is_some() {
        Shape::SMALL
    } else {
        Shape::TARGET
    };
    let register = Register::new(generate(shape)).expect("the generator makes valid registers");
    let mut group = c.benchmark_group("synthetic register");
    group.sample_size(10);
    group.bench_function(
        format!(
            "{} orgs, {} engagements: derive every chain, recipients, transfers",
            shape.organisations, shape.engagements
        ),
        |b| b.iter(|| derive_all(&register, on)),
    );
    group.bench_function(
        format!("{} engagements: validate and index", shape.engagements),
        |b| {
            b.iter_batched(
                || register.parts().clone(),
                |parts| Register::new(parts).map(|r| r.engagements().len()),
                criterion::BatchSize::LargeInput,
            )
        },
    );
    drop(register);
    let with_contracts = Register::new(generate(Shape {
        contracts: true,
        ..shape
    }))
    .expect("the generator makes valid registers");
    group.bench_function(
        format!(
            "{} orgs, {} engagements with contracts: every rule of the checks",
            shape.organisations, shape.engagements
        ),
        |b| {
            b.iter(|| {
                custos_core::checks::check(&with_contracts, on)
                    .expect("chains derive")
                    .findings
                    .len()
            })
        },
    );
    group.finish();
}

criterion_group!(chain, benches);
criterion_main!(chain);
