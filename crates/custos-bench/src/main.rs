//! `custos-bench`: writes the synthetic register as manifest files, and times the in-memory
//! derivations on it. See docs/benchmarks.md.

mod breach;
mod ledger;
mod local;
mod people;
mod signin;
mod workflow;
mod writes;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use custos_core::Date;
use custos_core::chain::Chain;
use custos_core::manifest;
use custos_core::register::{Register, RegisterParts};
use custos_core::synthetic::{Shape, generate};
use custos_core::transfer::transfers;

const USAGE: &str =
    "usage: custos-bench generate DIR [OPTIONS] | derive [OPTIONS] | check [OPTIONS] | records | workflow
                    | ledger-ingest [--events N] [--batch N] [--bulk] [--database-url URL]
                    | ledger-growth [--sizes N,N,..] [--keep DIR | --database-url URL]
                    | signin-flood | breach | breach-affected | people | writes [--database-url URL]
                    | start --database-url URL [--from rows|image] | serve --database-url URL [--writes N] [--read-seconds S]

  generate DIR   write the synthetic register as manifest files under DIR
                 (organisations.yaml, activities.yaml, contracts.yaml, engagements-NNN.yaml)
  derive         build the register in memory and time chains, recipients and transfers
                 of every activity
  check          build the register (with contracts) in memory and time every rule of the
                 checks over it
  records        one controller with 1,000 activities and 50k engagements: time its Art. 30
                 record as XLSX and as PDF (writes ropa-bench.xlsx and ropa-bench.pdf here)
  workflow       a hosting provider under 100k controllers files one request (SQLite, in a
                 temporary directory); then 20k webhooks to loopback endpoints
  ledger-ingest  N NDJSON events (2M; --small 200k) imported into SQLite in batches of
                 --batch (100k): events/s of the whole pipeline (--database-url: into an
                 empty PostgreSQL database instead, by COPY)
  ledger-growth  one ledger grown through --sizes (1000000,10000000): at each size the
                 recipient lookup's and the whole HTTP answer's p50/p99 (--keep DIR keeps it;
                 --database-url URL grows it in an empty PostgreSQL database, kept;
                 --measure SUBJECTS with either measures a kept ledger again, loading nothing)
  breach         a breach at a hosting provider under 100k controllers (--small 10k): every
                 case, hop, relay, clock, event and e-mail written (SQLite)
  breach-affected  the subjects of a 1M-event ledger (--small 100k) whose data a breached
                 hosting provider held, counted 5 times: p50/p99
  signin-flood   authenticated chain reads for 30 s (--small 5 s) while 200 sign-ins/s with
                 random addresses from random clients arrive: the reads' p50/p99
  people         2,000 accounts (--small 200) across the worked examples' organisations: the
                 people page and the accounts API (p50/p99), the OAuth2 token grant
  writes         the register (--engagements N --contracts) applied, the server started: its
                 time to ready and memory, 500 PUTs of engagements through the API (p50/p99),
                 the findings, a 10 s read load, memory after (--database-url: an empty
                 PostgreSQL database instead of a temporary SQLite file; --keep DIR keeps
                 DIR/writes.db, for `custos serve` on it)
  start          the register of --database-url read and built in memory as a server starts:
                 each phase's time and memory; --from rows (the default: every row, as with
                 no image) or --from image (its image and the changes after it; the first
                 run writes the image, as a server does, for the next)
  serve          `custos serve` (the binary beside this one) started over --database-url, which
                 holds the synthetic register of --engagements N (kept by writes --keep): its
                 time to ready and RSS, --writes (10000) PUTs, --read-seconds (60) of chain reads
                 by 4 clients, its RSS after each
  --small        a hundredth of the target shape (1k organisations, 10k engagements)
  --engagements N  N engagements, N/10 organisations (e.g. 12000 for a 10 MB directory)
  --contracts    give every link a complete DPA and every sub-processor an approval
                 (always on for check; --no-contracts there for the worst case)";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mut shape = if flag("--small") {
        Shape::SMALL
    } else {
        Shape::TARGET
    };
    if let Some(n) = args
        .iter()
        .position(|a| a == "--engagements")
        .and_then(|i| args.get(i + 1))
    {
        let engagements: usize = n.parse().context("--engagements expects a number")?;
        shape.engagements = engagements;
        shape.organisations = (engagements / 10).max(60);
    }
    shape.contracts = flag("--contracts");
    let positional: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            !a.starts_with("--")
                && (*i == 0
                    || !matches!(
                        args[i - 1].as_str(),
                        "--engagements"
                            | "--events"
                            | "--batch"
                            | "--sizes"
                            | "--keep"
                            | "--measure"
                            | "--database-url"
                            | "--writes"
                            | "--read-seconds"
                            | "--from"
                    ))
        })
        .map(|(_, a)| a)
        .collect();
    match positional.as_slice() {
        [command, dir] if command.as_str() == "generate" => {
            write_manifests(shape, PathBuf::from(dir))
        }
        [command] if command.as_str() == "derive" => derive(shape),
        [command] if command.as_str() == "records" => records(),
        [command] if command.as_str() == "workflow" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(workflow::run(
                if flag("--small") { 10_000 } else { 100_000 },
                if flag("--small") { 2_000 } else { 20_000 },
            )),
        [command] if command.as_str() == "ledger-ingest" => {
            let number = |name: &str, default: usize| -> anyhow::Result<usize> {
                match args
                    .iter()
                    .position(|a| a == name)
                    .and_then(|i| args.get(i + 1))
                {
                    Some(n) => n
                        .parse()
                        .with_context(|| format!("{name} expects a number")),
                    None => Ok(default),
                }
            };
            let events = number(
                "--events",
                if flag("--small") { 200_000 } else { 2_000_000 },
            )?;
            let batch = number("--batch", 100_000)?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(ledger::ingest(
                    events,
                    batch,
                    flag("--bulk"),
                    value("--database-url"),
                ))
        }
        [command] if command.as_str() == "breach" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(breach::fan_out(if flag("--small") {
                10_000
            } else {
                100_000
            })),
        [command] if command.as_str() == "breach-affected" => {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(breach::affected(if flag("--small") {
                    100_000
                } else {
                    1_000_000
                }))
        }
        [command] if command.as_str() == "serve" => {
            let url = value("--database-url")
                .context("serve needs --database-url URL (a database kept by writes --keep)")?;
            let number = |name: &str, default: usize| -> anyhow::Result<usize> {
                value(name).map_or(Ok(default), |n| {
                    n.parse()
                        .with_context(|| format!("{name} expects a number"))
                })
            };
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(writes::serve(
                    &url,
                    shape,
                    number("--writes", 10_000)?,
                    number("--read-seconds", 60)? as u64,
                ))
        }
        [command] if command.as_str() == "start" => {
            let url = value("--database-url")
                .context("start needs --database-url URL (e.g. sqlite://DIR/writes.db)")?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(writes::start(
                    &url,
                    match value("--from").as_deref() {
                        None | Some("rows") => writes::StartFrom::Rows,
                        Some("image") => writes::StartFrom::Image,
                        Some(other) => anyhow::bail!("--from expects rows or image, not {other}"),
                    },
                ))
        }
        [command] if command.as_str() == "writes" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(writes::run(
                shape,
                value("--database-url"),
                value("--keep"),
                500,
            )),
        [command] if command.as_str() == "people" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(people::run(if flag("--small") { 200 } else { 2_000 })),
        [command] if command.as_str() == "signin-flood" => {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(signin::flood(200, if flag("--small") { 5 } else { 30 }))
        }
        [command] if command.as_str() == "ledger-growth" => {
            let sizes: Vec<usize> = match args
                .iter()
                .position(|a| a == "--sizes")
                .and_then(|i| args.get(i + 1))
            {
                Some(list) => list
                    .split(',')
                    .map(|n| {
                        n.parse()
                            .context("--sizes expects numbers separated by commas")
                    })
                    .collect::<anyhow::Result<_>>()?,
                None if flag("--small") => vec![100_000, 1_000_000],
                None => vec![1_000_000, 10_000_000],
            };
            let measure_only = value("--measure")
                .map(|n| {
                    n.parse::<usize>()
                        .context("--measure expects a number of subjects")
                })
                .transpose()?;
            let database = ledger::Database::of(value("--database-url"), value("--keep"));
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            match measure_only {
                Some(subjects) if database.is_kept() => {
                    runtime.block_on(ledger::measure(&database, subjects))
                }
                Some(_) => anyhow::bail!(
                    "--measure needs the kept ledger: --keep DIR or --database-url URL"
                ),
                None => runtime.block_on(ledger::growth(&sizes, &database)),
            }
        }
        [command] if command.as_str() == "check" => check(Shape {
            contracts: !flag("--no-contracts"),
            ..shape
        }),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

fn write_manifests(shape: Shape, dir: PathBuf) -> anyhow::Result<()> {
    let started = Instant::now();
    let parts = generate(shape);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: String, parts: RegisterParts| -> anyhow::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, manifest::to_yaml(&parts))
            .with_context(|| format!("cannot write {}", path.display()))
    };
    write(
        "organisations.yaml".into(),
        RegisterParts {
            organisations: parts.organisations,
            ..Default::default()
        },
    )?;
    write(
        "activities.yaml".into(),
        RegisterParts {
            activities: parts.activities,
            ..Default::default()
        },
    )?;
    if !parts.contracts.is_empty() {
        write(
            "contracts.yaml".into(),
            RegisterParts {
                contracts: parts.contracts,
                ..Default::default()
            },
        )?;
    }
    for (n, chunk) in parts.engagements.chunks(50_000).enumerate() {
        write(
            format!("engagements-{n:03}.yaml"),
            RegisterParts {
                engagements: chunk.to_vec(),
                ..Default::default()
            },
        )?;
    }
    println!(
        "wrote {} organisations and {} engagements to {} in {:.1?}",
        shape.organisations,
        shape.engagements,
        dir.display(),
        started.elapsed()
    );
    Ok(())
}

/// The records target: a controller with 1,000 activities and 50k engagements.
fn records() -> anyhow::Result<()> {
    let shape = Shape {
        organisations: 5_000,
        engagements: 50_000,
        engagements_per_activity: 50,
        max_depth: 8,
        seed: 2026,
        contracts: true,
        single_controller: true,
    };
    let register = Register::new(generate(shape))
        .map_err(|problems| anyhow::anyhow!("{} problems", problems.len()))?;
    let on = Date::constant(2026, 11, 24);
    let started = Instant::now();
    let record = custos_core::records::controller_record(&register, "org-0", on)?;
    let document =
        custos_render::Document::controller(&record, "benchmark", custos_render::Language::En);
    let model = started.elapsed();
    println!(
        "record of org-0: {} activities, {} recipient rows, {} transfers  {model:>9.2?}",
        record.activities.len(),
        record.recipients.len(),
        record.transfers.len()
    );
    let started = Instant::now();
    let xlsx = document.xlsx()?;
    let xlsx_time = started.elapsed();
    let started = Instant::now();
    let pdf = document.pdf();
    let pdf_time = started.elapsed();
    std::fs::write("ropa-bench.xlsx", &xlsx)?;
    std::fs::write("ropa-bench.pdf", &pdf)?;
    println!(
        "xlsx {:>6} KiB  {xlsx_time:>9.2?}  (with the record: {:.2?})",
        xlsx.len() / 1024,
        model + xlsx_time
    );
    println!(
        "pdf  {:>6} KiB  {pdf_time:>9.2?}  (with the record: {:.2?})",
        pdf.len() / 1024,
        model + pdf_time
    );
    Ok(())
}

fn derive(shape: Shape) -> anyhow::Result<()> {
    let started = Instant::now();
    let parts = generate(shape);
    println!("generated                 {:>9.2?}", started.elapsed());
    let started = Instant::now();
    let register =
        Register::new(parts).map_err(|problems| anyhow::anyhow!("{} problems", problems.len()))?;
    println!("validated and indexed     {:>9.2?}", started.elapsed());
    let on = Date::constant(2026, 11, 24);

    let total = Instant::now();
    let started = Instant::now();
    let chains: Vec<Chain<'_>> = register
        .activities()
        .iter()
        .map(|activity| Chain::derive(&register, activity.id.as_str(), Some(on)))
        .collect::<Result<_, _>>()?;
    let links: usize = chains.iter().map(|c| c.links.len()).sum();
    println!(
        "{:>6} chains            {:>9.2?}  ({links} links)",
        chains.len(),
        started.elapsed()
    );
    let started = Instant::now();
    let recipients: usize = chains.iter().map(|c| c.recipients().recipients.len()).sum();
    println!(
        "recipients                {:>9.2?}  ({recipients} recipients)",
        started.elapsed()
    );
    let started = Instant::now();
    let found: usize = chains.iter().map(|c| transfers(c, on).len()).sum();
    println!(
        "transfers                 {:>9.2?}  ({found} transfers)",
        started.elapsed()
    );
    println!("chains+recipients+transfers {:>7.2?}", total.elapsed());
    Ok(())
}

fn check(shape: Shape) -> anyhow::Result<()> {
    let started = Instant::now();
    let parts = generate(shape);
    println!(
        "generated                 {:>9.2?}  ({} engagements, {} contracts)",
        started.elapsed(),
        parts.engagements.len(),
        parts.contracts.len()
    );
    let started = Instant::now();
    let register =
        Register::new(parts).map_err(|problems| anyhow::anyhow!("{} problems", problems.len()))?;
    println!("validated and indexed     {:>9.2?}", started.elapsed());
    let on = Date::constant(2026, 11, 24);
    for run in 1..=3 {
        let started = Instant::now();
        let report = custos_core::checks::check(&register, on)?;
        println!(
            "check, run {run}              {:>9.2?}  ({} errors, {} warnings, {} info)",
            started.elapsed(),
            report.summary.errors,
            report.summary.warnings,
            report.summary.infos
        );
    }
    // After one write: the findings kept per activity, the touched activities judged again,
    // and the report assembled from them (what a server does on the first read after a write).
    let history = custos_core::history::ContractHistory::default();
    let kept = custos_core::checks::ChainFindings::compute(&register, on, &history)?;
    let mut register = register;
    for run in 1..=3 {
        let mut link = register.engagements()[register.engagements().len() / (run + 1)].clone();
        link.service = format!("Processing, revision {run}").into();
        let change = custos_core::register::Change::Put(Box::new(
            custos_core::register::Entry::Engagement(link),
        ));
        let started = Instant::now();
        let touched = register.chains_touched_by(&change);
        register
            .apply_change(change)
            .map_err(|problems| anyhow::anyhow!("{} problems", problems.len()))?;
        let applied = started.elapsed();
        let started = Instant::now();
        let updated = kept.updated(&register, on, &history, &touched)?;
        let judged = started.elapsed();
        let started = Instant::now();
        let report = updated.report(&register, &[], &[]);
        println!(
            "after a write, run {run}     {:>9.2?}  (write {applied:.2?}; {} activity judged again in {judged:.2?}; {} findings)",
            started.elapsed(),
            touched.len(),
            report.findings.len()
        );
    }
    Ok(())
}
