//! The `custos` command.

mod breaches;
mod changes;
mod check;
mod cli;
mod documents;
mod ledger;
mod output;
mod requests;
mod users;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use custos_app::Store;
use custos_app::register as usecase;
use custos_app::{AppError, Clock, SystemClock, manifest_files};
use custos_core::chain::{Chain, involvement};
use custos_core::manifest;
use custos_core::register::Register;
use custos_core::transfer::transfers;
use serde::Serialize;

use crate::cli::{
    AuditCommand, CheckArgs, Cli, Command, Format, ManifestArgs, SourceArgs, UserCommand,
};

/// Exit codes: 0 done, 1 done but something is wrong (an invalid transfer) or a failure,
/// 2 bad input (arguments, manifests).
const EXIT_FINDINGS: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    quiet_on_a_closed_pipe();
    let cli = Cli::parse();
    // For check, exit code 1 means findings: any failure to check is 2, so CI cannot mistake
    // a database outage for a finding.
    let checking = matches!(cli.command, Command::Check(_));
    match run(cli, &SystemClock).await {
        Ok(code) => code,
        Err(error) => {
            if let Some(AppError::Manifest(errors)) = error.downcast_ref::<AppError>() {
                for e in errors {
                    eprintln!("{e}");
                }
                eprintln!(
                    "error: {} error(s) in the manifest; nothing was written",
                    errors.len()
                );
                return ExitCode::from(EXIT_BAD_INPUT);
            }
            eprintln!("error: {error:#}");
            let bad_input = checking
                || matches!(
                    error.downcast_ref::<AppError>(),
                    Some(AppError::Read { .. } | AppError::Invalid(_))
                )
                || error
                    .downcast_ref::<custos_core::chain::ChainError>()
                    .is_some();
            ExitCode::from(if bad_input {
                EXIT_BAD_INPUT
            } else {
                EXIT_FINDINGS
            })
        }
    }
}

async fn run(cli: Cli, clock: &dyn Clock) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&manifest::json_schema())?
            );
        }
        Command::Plan(args) => {
            let desired = parse_manifests(&args)?;
            let store = open(&cli.database_url).await?;
            let plan = usecase::plan(&store, &desired).await?;
            emit(args.format, &plan, || output::plan_text(&plan, false))?;
        }
        Command::Apply(args) => {
            let desired = parse_manifests(&args.manifests)?;
            let store = open(&cli.database_url).await?;
            let plan = match &args.as_user {
                Some(email) => {
                    let caller = custos_app::people::caller_of(&store, email).await?;
                    let actor = custos_app::Actor::new(
                        format!(
                            "{} as user:{}",
                            cli_actor(clock).name,
                            email.trim().to_lowercase()
                        ),
                        clock.now(),
                    );
                    usecase::apply_by(&store, &desired, &actor, &caller).await?
                }
                None => usecase::apply(&store, &desired, &cli_actor(clock)).await?,
            };
            emit(args.manifests.format, &plan, || {
                output::plan_text(&plan, true)
            })?;
        }
        Command::Export { output } => {
            let store = open(&cli.database_url).await?;
            let yaml = usecase::export(&store).await?;
            match output {
                Some(path) => std::fs::write(&path, yaml)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => print!("{yaml}"),
            }
        }
        Command::Backup { file } => {
            let store = open(&cli.database_url).await?;
            custos_app::store::backup(&store, &file, &cli_actor(clock)).await?;
            println!(
                "Backed up {} to {}: restore by stopping the server and putting this file in its place.",
                custos_app::store::redact(&cli.database_url),
                file.display()
            );
        }
        Command::Chain(args) => {
            let (register, at) = register_for(&cli.database_url, &args.source, clock).await?;
            let chain = Chain::derive(&register, &args.activity, at)?;
            emit(args.source.format, &chain.view(), || {
                output::chain_text(&chain)
            })?;
        }
        Command::Recipients(args) => {
            let (register, at) = register_for(&cli.database_url, &args.source, clock).await?;
            let chain = Chain::derive(&register, &args.activity, at)?;
            let recipients = chain.recipients();
            emit(args.source.format, &recipients, || {
                output::recipients_text(&args.activity, at, &recipients)
            })?;
        }
        Command::Transfers(args) => {
            let (register, at) = register_for(&cli.database_url, &args.source, clock).await?;
            let chain = Chain::derive(&register, &args.activity, at)?;
            let on = at.unwrap_or_else(|| clock.today());
            let found = transfers(&chain, on);
            emit(args.source.format, &found, || {
                output::transfers_text(&args.activity, at, on, &found)
            })?;
            if found.iter().any(|t| !t.assessment.valid) {
                return Ok(ExitCode::from(EXIT_FINDINGS));
            }
        }
        Command::Upstream(args) => {
            let (register, at) = register_for(&cli.database_url, &args.source, clock).await?;
            let found = involvement(&register, &args.organisation, at)?;
            emit(args.source.format, &found, || {
                output::upstream_text(&args.organisation, at, &found)
            })?;
        }
        Command::Demo(args) => demo(&args, clock).await?,
        Command::Serve(args) => serve(&cli.database_url, &args).await?,
        Command::Check(args) => return check_command(&cli.database_url, &args, clock).await,
        Command::Change(command) => changes::change(&cli.database_url, command, clock).await?,
        Command::Webhook(command) => changes::webhook(&cli.database_url, command, clock).await?,
        Command::Ledger(command) => ledger::ledger(&cli.database_url, command, clock).await?,
        Command::Request(command) => requests::request(&cli.database_url, command, clock).await?,
        Command::Breach(command) => breaches::breach(&cli.database_url, command, clock).await?,
        Command::Notice(command) => documents::notice(&cli.database_url, command, clock).await?,
        Command::Ropa(args) => documents::ropa(&cli.database_url, &args, clock).await?,
        Command::Audit(AuditCommand::Verify {
            format,
            expect_head,
        }) => {
            let store = open(&cli.database_url).await?;
            let verification = custos_app::audit::verify(&store, expect_head.as_deref()).await?;
            emit(format, &verification, || {
                output::verification_text(&verification)
            })?;
            if matches!(verification, custos_app::audit::Verification::Broken(_)) {
                return Ok(ExitCode::from(EXIT_FINDINGS));
            }
        }
        Command::User(UserCommand::Create(args)) => {
            users::create(&cli.database_url, &args, clock).await?;
        }
        Command::User(command) => {
            let store = open(&cli.database_url).await?;
            users::run(&store, &command, &cli_actor(clock)).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `custos check`: exit 0 clean, 1 findings at or above --fail-on, 2 when it could not check.
async fn check_command(
    database_url: &str,
    args: &CheckArgs,
    clock: &dyn Clock,
) -> anyhow::Result<ExitCode> {
    if args.list_rules {
        print!("{}", check::rules_listing(args.format)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(rule) = &args.rule {
        check::known_rule(rule).map_err(anyhow::Error::msg)?;
    }
    let on = args.at.unwrap_or_else(|| clock.today());
    let filter = custos_core::checks::Filter {
        activity: args.activity.clone(),
        organisation: args.organisation.clone(),
        severity: args.severity.map(Into::into),
        rule: args.rule.clone(),
    };
    let redacted = custos_app::store::redact(database_url);
    let (register, sources) = if args.paths.is_empty() {
        let store = open(database_url).await?;
        (usecase::load(&store).await?, None)
    } else {
        let sources = manifest_files::read(&args.paths)?;
        let (register, map) = manifest::parse_located(&sources).map_err(AppError::Manifest)?;
        (register, Some(map))
    };
    let origin = match &sources {
        Some(map) => check::Origin::Manifests(map),
        None => check::Origin::Database(&redacted),
    };
    // From the database, published notices are judged too (notice-out-of-date).
    let mut report = match &sources {
        Some(_) => custos_core::checks::check(&register, on)?,
        None => custos_app::notices::check(&open(database_url).await?, &register, on).await?,
    };
    report.retain(&filter, &register);
    print!(
        "{}",
        check::render(args.format, &report, &register, &origin)?
    );
    Ok(if report.fails_at(args.fail_on.into()) {
        ExitCode::from(EXIT_FINDINGS)
    } else {
        ExitCode::SUCCESS
    })
}

/// `custos ... | head` ends quietly when `head` has read enough: Rust's `print!` panics on
/// a closed pipe (it ignores SIGPIPE), so that one panic becomes a plain exit, as with any
/// Unix tool. Every other panic keeps its message.
fn quiet_on_a_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// `CUSTOS_TRUSTED_PROXIES`: the addresses of the proxies in front of the server (comma
/// separated), whose `X-Forwarded-For` names the client for sign-in throttling.
fn trusted_proxies() -> anyhow::Result<Vec<std::net::IpAddr>> {
    let Ok(raw) = std::env::var("CUSTOS_TRUSTED_PROXIES") else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse().map_err(|_| {
                anyhow::anyhow!("CUSTOS_TRUSTED_PROXIES: {a:?} is not an IP address (expected e.g. 10.0.0.2,10.0.0.3)")
            })
        })
        .collect()
}

/// The actor of the CLI's writes: the operating-system user who ran it.
pub(crate) fn cli_actor(clock: &dyn Clock) -> custos_app::Actor {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    custos_app::Actor::new(format!("cli:{user}"), clock.now())
}

pub(crate) async fn open(url: &str) -> anyhow::Result<Store> {
    Store::open(url).await.with_context(|| {
        format!(
            "cannot open the database {}",
            custos_app::store::redact(url)
        )
    })
}

fn parse_manifests(args: &ManifestArgs) -> anyhow::Result<Register> {
    let sources = manifest_files::read(&args.paths)?;
    Ok(usecase::parse(&sources)?)
}

/// The register to ask (manifests with --from, else the database) and the day to ask about.
async fn register_for(
    database_url: &str,
    source: &SourceArgs,
    clock: &dyn Clock,
) -> anyhow::Result<(Register, Option<custos_core::Date>)> {
    let at = if source.all {
        None
    } else {
        Some(source.at.unwrap_or_else(|| clock.today()))
    };
    let register = if source.from.is_empty() {
        usecase::load(&open(database_url).await?).await?
    } else {
        usecase::parse(&manifest_files::read(&source.from)?)?
    };
    Ok((register, at))
}

fn emit<T: Serialize>(
    format: Format,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    match format {
        Format::Text => print!("{}", text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(value)?),
    }
    Ok(())
}

/// The demo's logins: printed at start, fixed so that a rerun keeps them.
const DEMO_ADMIN: (&str, &str) = ("admin@custos.demo", "custos-demo-admin");
const DEMO_PORTAL: (&str, &str) = ("portal@agency-b.demo", "custos-demo-portal");

async fn demo(args: &cli::DemoArgs, clock: &dyn Clock) -> anyhow::Result<()> {
    let url = args.demo_database_url.as_str();
    let store = open(url).await?;
    let register = usecase::parse(&manifest::examples::sources())?;
    let plan = usecase::apply(&store, &register, &cli_actor(clock)).await?;
    let register = usecase::load(&store).await?;
    let today = clock.today();
    let summary = plan.summary();
    println!(
        "Custos demo: the three worked examples of SPEC.md are in {} ({} organisations, {} activities, {} engagements; {} added, {} changed, {} removed now).\n",
        custos_app::store::redact(url),
        register.organisations().len(),
        register.activities().len(),
        register.engagements().len(),
        summary.added,
        summary.changed,
        summary.removed
    );
    seed_subject_requests(&store, &register, clock).await?;
    seed_breach(&store, &register, clock).await?;
    let chain = Chain::derive(&register, "customer-marketing", Some(today))?;
    println!("{}", output::chain_text(&chain));
    println!(
        "{}",
        output::recipients_text("customer-marketing", Some(today), &chain.recipients())
    );
    println!(
        "{}",
        output::transfers_text(
            "customer-marketing",
            Some(today),
            today,
            &transfers(&chain, today)
        )
    );
    println!("Explore further (the same commands work on your own manifests with --from PATH):");
    for command in [
        "chain customer-marketing --at 2026-05-31      # before agency E joined",
        "chain document-delivery                       # the courier chain: courier 3 unauthorised at depth 3",
        "chain customer-accounts --all                 # the careless migration (ended in 2024)",
        "upstream hosting-d                            # whom D's sub-processor requests must reach",
        "check                                         # every rule: what the courier and migration cases break",
        "transfers customer-marketing --format json",
        "notice generate hypermarket-a --format markdown # the notice's recipients and transfers",
        "ropa hypermarket-a --format pdf -o ropa.pdf   # the Art. 30 record (also xlsx, csv, html)",
        "change list                                   # sub-processor change requests",
        "request list                                  # data-subject requests (an erasure told down the chain)",
        "export",
    ] {
        println!("  custos --database-url {url} {command}");
    }
    if args.no_serve {
        return Ok(());
    }
    for ((email, password), is_admin, memberships) in [
        (DEMO_ADMIN, true, vec![]),
        (
            DEMO_PORTAL,
            false,
            vec![("agency-b".to_owned(), custos_app::data::Role::Portal)],
        ),
    ] {
        let created = custos_app::people::create_user(
            &store,
            custos_app::people::NewUser {
                email: email.to_owned(),
                password: password.to_owned(),
                is_admin,
                memberships,
            },
            &cli_actor(clock),
        )
        .await;
        match created {
            Ok(_) | Err(AppError::Conflict(_)) => {}
            Err(error) => return Err(error.into()),
        }
    }
    init_logging();
    // Where e-mails go: an SMTP server when one is configured, else files (a folder of its
    // own for the demo); the tour says which.
    let smtp = std::env::var("CUSTOS_SMTP_URL").is_ok();
    let mail_dir = (!smtp).then(|| {
        std::env::var("CUSTOS_MAIL_DIR").unwrap_or_else(|_| "custos-demo-mail".to_owned())
    });
    if let Some(dir) = &mail_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    }
    let dispatcher = dispatcher(&store, mail_dir.as_ref().map(std::path::PathBuf::from))?;
    let server = custos_web::Server::bind(
        &custos_web::Config {
            listen: args.listen,
            secure_cookies: false,
            outbound: custos_app::outbound::Outbound::from_env(),
            trusted_proxies: trusted_proxies()?,
            oidc: None,
        },
        store,
        std::sync::Arc::new(custos_app::SystemClock),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let address = server.local_addr()?;
    println!("\nCustos is serving the demo at http://{address}/");
    println!("  API explorer: http://{address}/api/docs");
    println!(
        "  administrator: {} / {}  (sees everything)",
        DEMO_ADMIN.0, DEMO_ADMIN.1
    );
    println!(
        "  portal user of agency B: {} / {}  (sees B's links and what B engaged)",
        DEMO_PORTAL.0, DEMO_PORTAL.1
    );
    match &mail_dir {
        Some(dir) => println!("  e-mails are written to {dir}/ as .eml files"),
        None => println!("  e-mails are sent through the SMTP server of CUSTOS_SMTP_URL"),
    }
    println!(
        "  agency B's public sub-processor page: http://{address}/public/organisations/agency-b/subprocessors"
    );
    println!(
        "  a data subject's request to the hypermarket: http://{address}/public/organisations/hypermarket-a/requests"
    );
    println!("Stop with Ctrl-C.");
    server
        .serve_with_workers(
            dispatcher.with_public_url(format!("http://{address}")),
            shutdown_signal(),
        )
        .await?;
    Ok(())
}

/// The marketing chain's customer in the demo: her data went to B in 2025 (the ledger), she
/// asked for access (answered) and erasure (told to B, relayed to C and D). Once: a rerun
/// keeps what is there.
/// The careless migration's exposure, reported by the contractor: the controller's 72 hours
/// run from the demo's start (docs/breaches.md).
async fn seed_breach(store: &Store, register: &Register, clock: &dyn Clock) -> anyhow::Result<()> {
    use custos_app::breaches;
    if !breaches::list(store, None).await?.is_empty() {
        return Ok(());
    }
    let facts = serde_json::from_value(serde_json::json!({
        "occurred_from": "2024-06-20T00:00:00Z",
        "aware_at": "2024-07-02T08:00:00Z",
        "nature": ["confidentiality"],
        "description": "Backups of the customer database were copied to a public folder during the website migration and indexed by a search engine",
        "systems": ["website database backups"],
        "data_categories": ["name", "postal-address", "email", "phone", "birth-date", "national-id"],
        "subject_categories": ["customers"],
        "subjects": {"min": 20000, "max": 22000},
        "consequences": "Identity theft and fraud with the national ID numbers; phishing",
        "measures_taken": "Folder removed; the search engine asked to drop its copies",
        "contact": {"name": "IT Contractor security", "email": "info@it-contractor.example"}}))?;
    breaches::report(
        store,
        register,
        "it-contractor",
        facts,
        &cli_actor(clock),
        &breaches::Settings::default(),
    )
    .await?;
    Ok(())
}

async fn seed_subject_requests(
    store: &Store,
    register: &Register,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    use custos_app::rights::{self, NewRequest, Received};
    if !rights::list(store, None).await?.is_empty() {
        return Ok(());
    }
    let actor = cli_actor(clock);
    let email = "ana.garcia@example.com";
    custos_app::ledger::record(
        store,
        register,
        vec![custos_app::ledger::LedgerEvent {
            identifier: email.to_owned(),
            activity: "customer-marketing".parse()?,
            recipient: "agency-b".parse()?,
            categories: vec!["email".parse()?, "order-history".parse()?],
            at: "2025-05-10T10:00:00Z".parse()?,
        }],
        &actor,
    )
    .await?;
    let settings = rights::Settings::from_env()?;
    for kind in [
        custos_core::rights::RequestKind::Access,
        custos_core::rights::RequestKind::Erasure,
    ] {
        let new = NewRequest {
            controller: "hypermarket-a".parse()?,
            kind,
            email: email.to_owned(),
            details: String::new(),
            transmit_to: None,
            received_on: None,
        };
        if let Received::Filed { view, .. } =
            rights::receive(store, register, new, "staff", &actor, &settings).await?
        {
            let key = &view.request.key;
            rights::record_verification(
                store,
                register,
                key,
                "in person",
                "ID card at the Valencia store",
                &actor,
            )
            .await?;
            if kind.propagates() {
                rights::notify_recipients(store, register, key, &actor, &settings).await?;
            }
        }
    }
    Ok(())
}

/// `CUSTOS_REMINDER_HOURS=72,24`: reminders that many hours before a decision deadline.
fn reminder_hours(raw: &str) -> anyhow::Result<Vec<jiff::SignedDuration>> {
    raw.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<i64>()
                .ok()
                .filter(|h| (1..=24 * 365).contains(h))
                .map(jiff::SignedDuration::from_hours)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "CUSTOS_REMINDER_HOURS: {s:?} is not a number of hours (1 to 8760)"
                    )
                })
        })
        .collect()
}

/// The outbox dispatcher of a server, configured from the environment: `CUSTOS_SMTP_URL`
/// (SMTP), else `CUSTOS_MAIL_DIR` (.eml files), else `mail_dir`; `CUSTOS_MAIL_FROM`;
/// `CUSTOS_PUBLIC_URL` (links in e-mails); `CUSTOS_DELIVERY_LEASE_SECONDS`.
fn dispatcher(
    store: &Store,
    mail_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<custos_app::outbox::Dispatcher> {
    use custos_app::outbox::{Dispatcher, Mailer};
    let mailer = match (
        std::env::var("CUSTOS_SMTP_URL"),
        std::env::var("CUSTOS_MAIL_DIR"),
    ) {
        (Ok(url), _) => Mailer::smtp(&url)?,
        (Err(_), Ok(dir)) => Mailer::Files(dir.into()),
        (Err(_), Err(_)) => mail_dir.map_or(Mailer::None, Mailer::Files),
    };
    let mut dispatcher = Dispatcher::new(
        store.clone(),
        std::sync::Arc::new(custos_app::SystemClock),
        mailer,
    )?
    .with_outbound(custos_app::outbound::Outbound::from_env())?;
    if let Ok(from) = std::env::var("CUSTOS_MAIL_FROM") {
        dispatcher.mail_from = from;
    }
    if let Ok(url) = std::env::var("CUSTOS_PUBLIC_URL") {
        dispatcher.public_url = url;
    }
    if let Some(seconds) = std::env::var("CUSTOS_DELIVERY_LEASE_SECONDS")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    {
        dispatcher.lease = jiff::SignedDuration::from_secs(seconds.max(1));
    }
    Ok(dispatcher)
}

async fn serve(database_url: &str, args: &cli::ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let store = open(database_url).await?;
    let dispatcher = dispatcher(&store, None)?;
    let server = custos_web::Server::bind(
        &custos_web::Config {
            listen: args.listen,
            // Behind TLS whenever the public URL says so, whatever the flag.
            secure_cookies: args.secure_cookies
                || std::env::var("CUSTOS_PUBLIC_URL").is_ok_and(|u| u.starts_with("https://")),
            outbound: custos_app::outbound::Outbound::from_env(),
            trusted_proxies: trusted_proxies()?,
            oidc: oidc_settings(args)?,
        },
        store,
        std::sync::Arc::new(custos_app::SystemClock),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let server = match std::env::var("CUSTOS_REMINDER_HOURS") {
        Ok(raw) => server.with_reminders(reminder_hours(&raw)?),
        Err(_) => server,
    };
    let address = server.local_addr()?;
    println!(
        "Custos serves {} at http://{address}/ (API explorer at /api/docs)",
        custos_app::store::redact(database_url)
    );
    if let Some(secret) = server
        .setup_secret()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        println!(
            "No user exists yet. Create the first administrator, once, in a browser:\n  http://{address}/setup?token={secret}\nor with:\n  curl -X POST http://{address}/api/v1/setup -H 'Content-Type: application/json' \\\n    -d '{{\"setup_token\": \"{secret}\", \"email\": \"you@example.org\", \"password\": \"...\"}}'\nor stop the server and run: custos user create --admin you@example.org"
        );
    }
    let public_url = format!("http://{address}");
    server
        .serve_with_workers(dispatcher.with_public_url(public_url), shutdown_signal())
        .await?;
    println!("Stopped.");
    Ok(())
}

/// Structured logs on standard error; CUSTOS_LOG sets the filter (default info).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// SIGTERM or Ctrl-C: stop accepting, finish what is in flight.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// The OpenID Provider of `custos serve`, when `--oidc-issuer` names one: its client id and
/// the public URL are required, the secret comes from the environment only (never a flag, which
/// any local user could read in the process list).
fn oidc_settings(
    args: &crate::cli::ServeArgs,
) -> anyhow::Result<Option<custos_app::oidc::OidcSettings>> {
    let Some(issuer) = args.oidc_issuer.clone() else {
        return Ok(None);
    };
    let client_id = args
        .oidc_client_id
        .clone()
        .context("--oidc-issuer needs --oidc-client-id (CUSTOS_OIDC_CLIENT_ID)")?;
    let client_secret = std::env::var("CUSTOS_OIDC_CLIENT_SECRET")
        .context("--oidc-issuer needs CUSTOS_OIDC_CLIENT_SECRET in the environment")?;
    let public_url = std::env::var("CUSTOS_PUBLIC_URL")
        .context("--oidc-issuer needs CUSTOS_PUBLIC_URL (the provider sends people back there)")?;
    Ok(Some(custos_app::oidc::OidcSettings {
        issuer,
        client_id,
        client_secret,
        public_url,
        membership_claim: args.oidc_membership_claim.clone(),
        label: args.oidc_label.clone(),
    }))
}
