//! The command line: what each command does, with an example, as `--help` shows it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use custos_core::Date;

/// Custos: who processes which personal data on whose behalf, along the whole chain of
/// processors and sub-processors, and what the GDPR makes of it.
///
/// The register (organisations, processing activities, contracts, engagements) is kept in a
/// database, SQLite by default, and written as YAML manifests kept in git. Questions about a
/// chain can be asked of the database or, with --from, of manifest files directly.
#[derive(Debug, Parser)]
#[command(
    name = "custos",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Where the register is stored: sqlite://PATH (created if missing) or postgres://...
    #[arg(
        long,
        global = true,
        env = "CUSTOS_DATABASE_URL",
        default_value = "sqlite://custos.db",
        hide_env_values = true,
        help_heading = "Database"
    )]
    pub database_url: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the worked examples: a demo database, a demo administrator and a portal user.
    ///
    /// Applies the three worked examples (the marketing chain, the courier chain, the careless
    /// migration) to the demo database, creates the demo administrator and a portal user for
    /// agency B, prints the marketing chain, its recipients and its transfers, then serves the
    /// API on --listen and prints the URL and both logins. Stop it with Ctrl-C.
    #[command(
        after_help = "Example:\n  custos demo\n  custos demo --listen 127.0.0.1:9000\n  custos demo --no-serve    # the tour only"
    )]
    Demo(DemoArgs),

    /// Serve the JSON API (and its OpenAPI description) over the database.
    ///
    /// /api/v1 needs a session (POST /api/v1/session) or a bearer API token; /api/docs is an
    /// interactive page over /api/v1/openapi.json; /healthz and /readyz are for probes. Stops
    /// on SIGTERM or Ctrl-C after the requests in flight. When no user exists yet, it prints a
    /// one-time link to create the first administrator (or use custos user create --admin).
    /// Logs go to standard error (CUSTOS_LOG=debug for more). Beside the server run the
    /// outbox dispatcher (webhooks; e-mail through CUSTOS_SMTP_URL, or .eml files in
    /// CUSTOS_MAIL_DIR; sender CUSTOS_MAIL_FROM; links to CUSTOS_PUBLIC_URL) and the timers
    /// of change requests (reminders CUSTOS_REMINDER_HOURS=72,24 before a deadline).
    #[command(
        after_help = "Example:\n  custos serve --listen 0.0.0.0:8080 --database-url postgres://custos@db/custos"
    )]
    Serve(ServeArgs),

    /// Show what applying manifests would change in the database, without changing it.
    ///
    /// Lists, by kind and id, the entries to add (+), change (~, with the fields) and remove
    /// (-). Manifests are checked first: any error, in any file, stops it with exit code 2.
    #[command(
        after_help = "Example:\n  custos plan register/\n  custos plan org.yaml activities.yaml --format json"
    )]
    Plan(ManifestArgs),

    /// Make the database hold exactly the register of the manifests.
    ///
    /// The manifests are the whole truth: entries missing from them are removed. Everything
    /// happens in one transaction: on any error nothing is written. Prints what changed.
    /// With --as, the change is that user's and goes through the policy of docs/access.md:
    /// an entry the user may not assert (another party's facts) refuses the whole manifest,
    /// every such entry named.
    #[command(
        after_help = "Example:\n  custos plan register/    # look first\n  custos apply register/\n  custos apply register/ --as dpo@hypermarket-a.example"
    )]
    Apply(ApplyArgs),

    /// Write the stored register as one manifest (to standard output, or --output FILE).
    ///
    /// Entries come in id order; applying the export changes nothing.
    #[command(after_help = "Example:\n  custos export --output register.yaml")]
    Export {
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },

    /// Copy the SQLite database to a new file, consistent and compacted, while the server runs
    /// (docs/deploy.md: schedule it, keep copies elsewhere, rehearse the restore). On
    /// PostgreSQL, use its own tools.
    #[command(after_help = "Example:\n  custos backup /var/backups/custos/custos-$(date +%F).db")]
    Backup {
        /// The new file (it must not exist).
        file: PathBuf,
    },

    /// Show the chain of a processing activity: every processor at every depth, with paths.
    ///
    /// Depth 1 is a processor engaged by the controller; each link shows its processor,
    /// country, service, contract and authorisation, and marks transfers outside the EEA.
    #[command(
        after_help = "Example:\n  custos chain customer-marketing\n  custos chain customer-marketing --at 2026-05-31 --format json\n  custos chain customer-marketing --from examples/"
    )]
    Chain(QueryArgs),

    /// List the recipients of an activity: every processor at every level, with its identity.
    ///
    /// Name, address, country, contact person and service of each (Arts 13(1)(e), 15(1)(c);
    /// EDPB Opinion 22/2024), then the recipient categories with sector and location.
    #[command(after_help = "Example:\n  custos recipients customer-marketing")]
    Recipients(QueryArgs),

    /// List every transfer outside the EEA in an activity's chain, at any depth.
    ///
    /// Each with exporter, importer, destination and mechanism, and whether the mechanism
    /// holds on the date (adequacy decisions, SCC modules and sets, certifications such as
    /// the EU-US Data Privacy Framework). Exit code 1 when any transfer is not valid.
    #[command(
        after_help = "Example:\n  custos transfers customer-marketing\n  custos transfers customer-marketing --at 2019-06-01"
    )]
    Transfers(QueryArgs),

    /// Show where an organisation sits: every activity and controller whose chain passes
    /// through it, with the paths.
    ///
    /// These are the controllers a processor must ask before it engages a new sub-processor
    /// (Art. 28(2), 28(4)).
    #[command(after_help = "Example:\n  custos upstream hosting-d")]
    Upstream(UpstreamArgs),

    /// Check the register against the rules: every link of every chain that breaks the law.
    ///
    /// Offline over manifest files (PATH...; no database needed), or over the stored register
    /// when no PATH is given. Each finding names its rule, severity and the articles it rests
    /// on, the link with its depth and path from the controller, the manifest entry to fix
    /// (file:line:column) and the remediation. Findings acknowledged on their entry (with a
    /// reason and an expiry; see docs/manifest.md) are shown but do not count.
    ///
    /// Every engagement ever recorded is checked, each judged on --at (default today) while in
    /// force, else on its last day if it has ended or its first day if it has not started.
    ///
    /// Exit codes: 0 no finding counts at or above --fail-on; 1 at least one does; 2 the
    /// manifests, the arguments or the database could not be read.
    #[command(
        after_help = "Examples:\n  custos check register/\n  custos check register/ --format sarif > custos.sarif\n  custos check register/ --fail-on warning --activity customer-marketing\n  custos check --database-url postgres://custos@db/custos\n  custos check --list-rules --format markdown > docs/rules.md"
    )]
    Check(CheckArgs),

    /// Privacy-notice sections (recipients, transfers): generate, publish versions, compare.
    ///
    /// The "Recipients" and "Transfers" sections of a controller's privacy notice (GDPR Arts
    /// 13(1)(e)(f), 14(1)(e)(f)), generated from the chains of its activities: every processor
    /// at every level, named or as categories with sector and location, and every transfer
    /// outside the EEA wherever it happens in a chain, with its safeguard.
    #[command(subcommand)]
    Notice(NoticeCommand),

    /// The record of processing activities (GDPR Art. 30) of an organisation.
    ///
    /// As controller (Art. 30(1), the default): each activity with purposes, categories of
    /// subjects, data and recipients, retention and measures, the catalogue of actual
    /// recipients (every link of every chain) and the transfers with their safeguards. As
    /// processor (--processor, Art. 30(2)): each controller it acts for, the processing, the
    /// transfers and the security measures. CSV gives one section (--section); XLSX a sheet per
    /// section; HTML a printable page; PDF a document to hand to an auditor.
    #[command(
        after_help = "Examples:\n  custos ropa hypermarket-a --format xlsx --output ropa.xlsx\n  custos ropa hypermarket-a --format pdf --output ropa.pdf\n  custos ropa mailer-c --processor --format csv\n  custos ropa hypermarket-a --format csv --section recipients --from examples/"
    )]
    Ropa(RopaArgs),

    /// Sub-processor change requests: file, list, show, decide, execute (as the server does).
    ///
    /// A processor asks to add (or replace) a sub-processor with a dossier; every controller
    /// whose data would reach the candidate decides, under its own contract's terms: specific
    /// (an explicit yes) or general (silence until the window ends is a yes). The server
    /// (`custos serve`) delivers the notifications and fires the windows' timers.
    #[command(subcommand)]
    Change(ChangeCommand),

    /// Webhook endpoints of organisations (Standard Webhooks; see docs/workflow.md).
    #[command(subcommand)]
    Webhook(WebhookCommand),

    /// The disclosure ledger: which recipient got which subject's data, keyed, never in clear.
    #[command(subcommand)]
    Ledger(LedgerCommand),

    /// Data-subject requests (Arts 12, 15–22): enter, list, show, verify, extend, tell the
    /// recipients (Art. 19), answer, export, close or refuse — as the server does; the server
    /// (`custos serve`) sends the e-mails and fires the deadline timers. See docs/rights.md.
    #[command(subcommand)]
    Request(RequestCommand),

    /// Personal-data breaches (Arts 33-34): report one where it happened, list them, see one
    /// with its relays and cases, count the subjects whose data was there, and write an
    /// organisation's register of breaches (Art. 33(5)).
    ///
    /// The server relays reports up the chain, runs each controller's 72-hour clock and sends
    /// the e-mails; see docs/breaches.md.
    #[command(subcommand)]
    Breach(BreachCommand),

    /// The audit log: every write (apply, users, and the server's writes) with who, when,
    /// before and after, hash-chained.
    #[command(subcommand)]
    Audit(AuditCommand),

    /// Users of the server: who may sign in, and their roles in organisations.
    #[command(subcommand)]
    User(UserCommand),

    /// Print the JSON Schema of manifest files.
    #[command(after_help = "Example:\n  custos schema > custos-manifest.schema.json")]
    Schema,
}

#[derive(Debug, Subcommand)]
pub enum ChangeCommand {
    /// File a request from a YAML or JSON file (requester, service, dossier; docs/workflow.md).
    #[command(after_help = "Example:\n  custos change file request.yaml")]
    File {
        /// The request.
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List every request, newest first.
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show a request with its controllers and history.
    Show {
        key: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Record a controller's decision (a decision received outside Custos: --outside).
    #[command(
        after_help = "Example:\n  custos change decide 01234... --controller hypermarket-a --decision approve\n  custos change decide 01234... --controller hypermarket-a --decision object --reasons 'Outside the EEA'"
    )]
    Decide {
        key: String,
        #[arg(long)]
        controller: String,
        #[arg(long, value_enum)]
        decision: DecisionArg,
        #[arg(long)]
        reasons: Option<String>,
        /// The decision came outside Custos (an e-mail, a letter): say what and when.
        #[arg(long, value_name = "DESCRIPTION")]
        outside: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Engage the candidate once every controller approved (or let its window pass).
    Execute {
        key: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecisionArg {
    Approve,
    Object,
    RequestInformation,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Record the events of an NDJSON file (`-`: standard input), one JSON object a line:
    /// {"identifier": "ana@example.com", "activity": "...", "recipient": "...",
    /// "categories": ["email"], "at": "2025-06-01T10:00:00Z"}. Identifiers are keyed with the
    /// instance's pepper (HMAC-SHA256) before they reach the database.
    #[command(after_help = "Example:\n  custos ledger import disclosures.ndjson")]
    Import {
        file: PathBuf,
        /// Events a transaction.
        #[arg(long, default_value_t = 100_000)]
        batch: usize,
        /// Drop the subject index during the import and build it once at the end: for loads
        /// large compared with the ledger (lookups are slow meanwhile).
        #[arg(long)]
        bulk: bool,
    },
    /// The specific recipients of one subject's data (Art. 15(1)(c)), as the chains stood
    /// when it was disclosed, with the transfers among them. For an operator: requests from
    /// data subjects, with identity verification, are the server's.
    Answer {
        identifier: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum BreachCommand {
    /// Report a breach at PARTY from a JSON file of its facts (docs/breaches.md).
    #[command(after_help = "Example:\n  custos breach report --party it-contractor facts.json")]
    Report {
        #[arg(long)]
        party: String,
        /// The facts as JSON: occurred_from, aware_at, nature, description, data_categories,
        /// contact, and what else is known.
        facts: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The breaches, newest first (of one organisation with --organisation).
    List {
        #[arg(long)]
        organisation: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Pass a breach on for ORGANISATION to the parties that engaged it (acknowledging it).
    Relay {
        key: String,
        #[arg(long = "for", value_name = "ORGANISATION")]
        organisation: String,
    },
    /// Record a controller's decision: not-notifiable, notify-authority,
    /// notify-authority-and-subjects or subjects-not-told (with --exception).
    #[command(
        after_help = "Example:\n  custos breach decide 0193... --controller web-controller --kind notify-authority --reasons \"National ID numbers exposed\""
    )]
    Decide {
        key: String,
        #[arg(long)]
        controller: String,
        #[arg(long)]
        kind: String,
        #[arg(long)]
        reasons: String,
        /// unintelligible, risk-no-longer-likely or disproportionate-effort (Art. 34(3)).
        #[arg(long)]
        exception: Option<String>,
        /// Required after 72 hours (Art. 33(1)).
        #[arg(long)]
        delay_reasons: Option<String>,
    },
    /// Record that a controller filed the report with its supervisory authority.
    File {
        key: String,
        #[arg(long)]
        controller: String,
        /// When it was submitted (RFC 3339); now by default.
        #[arg(long)]
        submitted_at: Option<jiff::Timestamp>,
        #[arg(long)]
        reference: Option<String>,
    },
    /// One breach: its facts, the relays and every controller's case.
    Show {
        key: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// How many subjects' data the breached party held during the breach, from the
    /// disclosure ledger; with --identifiers, which of the controller's own identifiers (one
    /// a line, matched through their keyed hashes, never stored).
    #[command(
        after_help = "Example:\n  custos breach affected 0193...\n  custos breach affected 0193... --controller web-controller --identifiers customers.txt"
    )]
    Affected {
        key: String,
        #[arg(long)]
        controller: Option<String>,
        #[arg(long, value_name = "FILE")]
        identifiers: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// An organisation's register of breaches (Art. 33(5)) as CSV, XLSX, PDF, HTML or JSON.
    #[command(
        after_help = "Example:\n  custos breach register web-controller --format xlsx --output breaches.xlsx"
    )]
    Register {
        organisation: String,
        #[arg(long, value_enum, default_value_t = DocumentFormat::Csv)]
        format: DocumentFormat,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// A document's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DocumentFormat {
    Json,
    Csv,
    Xlsx,
    Pdf,
    Html,
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Enter a request received by letter, phone or at a desk; a one-time link goes to the
    /// address to verify it (or record another verification with `verify`).
    #[command(
        after_help = "Example:\n  custos request enter --controller hypermarket-a --kind access --email ana@example.com --received 2026-11-20"
    )]
    Enter {
        #[arg(long)]
        controller: String,
        /// access, rectification, erasure, restriction, objection or portability.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        details: String,
        /// Portability: the other controller's endpoint to transmit the data to.
        #[arg(long)]
        transmit_to: Option<String>,
        /// The day the request arrived (YYYY-MM-DD), when it is entered later: the deadline
        /// counts from it. Today by default; never in the future.
        #[arg(long, value_name = "DATE")]
        received: Option<custos_core::Date>,
    },
    /// The requests, newest first, with their deadlines.
    List {
        #[arg(long)]
        controller: Option<String>,
        /// Only the open ones.
        #[arg(long)]
        open: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// One request with its history and its Art. 19 notifications.
    Show {
        key: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Record a verification of the subject's identity made another way, with evidence.
    Verify {
        key: String,
        #[arg(long)]
        method: String,
        #[arg(long)]
        evidence: String,
    },
    /// Extend by two further months (within the first month, with reasons told to the subject).
    Extend {
        key: String,
        #[arg(long)]
        reasons: String,
    },
    /// Tell every recipient of the subject's data (rectification, erasure, restriction).
    Notify { key: String },
    /// The access answer (verified requests): text, JSON, HTML or PDF (--output for PDF).
    Answer {
        key: String,
        #[arg(long, value_enum, default_value_t = AnswerFormat::Text)]
        format: AnswerFormat,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// The portability export (ZIP) from the controller's data sources.
    Export {
        key: String,
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Close a fulfilled request (an access request sends its answer).
    Close {
        key: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Refuse a request (manifestly unfounded or excessive), with reasons.
    Refuse {
        key: String,
        #[arg(long)]
        reasons: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AnswerFormat {
    Text,
    Json,
    Html,
    Pdf,
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add an endpoint; prints its key and signing secret (shown once).
    Add {
        #[arg(long)]
        organisation: String,
        #[arg(long)]
        url: String,
        /// Only these event types (repeat); default all.
        #[arg(long = "event")]
        events: Vec<String>,
    },
    /// Turn an endpoint on again: its held and failed deliveries are due at once, in order.
    Enable { key: String },
    /// Turn an endpoint off: its deliveries are held.
    Disable { key: String },
    /// The delivery log of an endpoint, newest first.
    Deliveries {
        key: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum NoticeCommand {
    /// Print a controller's notice sections as they stand (nothing is stored).
    #[command(
        after_help = "Examples:\n  custos notice generate hypermarket-a\n  custos notice generate hypermarket-a --style categories --lang es --format markdown\n  custos notice generate hypermarket-a --template my-notice.html --from examples/"
    )]
    Generate(NoticeGenerateArgs),

    /// Publish the notice as it stands today: the next immutable version, audited.
    ///
    /// The checks then report `notice-out-of-date` as soon as the register says something
    /// else (a recipient added or removed, a transfer changed).
    #[command(
        after_help = "Example:\n  custos notice publish hypermarket-a --name website --lang es"
    )]
    Publish(NoticePublishArgs),

    /// List the published versions of a controller's notices.
    #[command(after_help = "Example:\n  custos notice versions hypermarket-a")]
    Versions {
        /// The controller's id.
        organisation: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },

    /// Show what a version changed from the one before it (default: the latest version).
    #[command(
        disable_version_flag = true,
        after_help = "Example:\n  custos notice diff hypermarket-a --name website --version 2"
    )]
    Diff {
        /// The controller's id.
        organisation: String,
        /// The notice's name.
        #[arg(long, default_value = "website")]
        name: String,
        /// The version to compare with the one before it; default the latest.
        #[arg(long)]
        version: Option<u32>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct NoticeSelection {
    /// The controller's id.
    pub organisation: String,

    /// Name recipients (the default), or give their categories with sector and location.
    #[arg(long, value_enum, default_value_t = NoticeStyleArg::Named)]
    pub style: NoticeStyleArg,

    /// Cover only this activity (repeat for several); default every activity it controls.
    #[arg(long = "activity", value_name = "ID")]
    pub activities: Vec<String>,

    /// The language of the text.
    #[arg(long, value_enum, default_value_t = LanguageArg::En)]
    pub lang: LanguageArg,
}

#[derive(Debug, Args)]
pub struct NoticeGenerateArgs {
    #[command(flatten)]
    pub selection: NoticeSelection,

    #[arg(long, value_enum, default_value_t = NoticeFormatArg::Html)]
    pub format: NoticeFormatArg,

    /// The day the notice describes (YYYY-MM-DD); default today.
    #[arg(long, value_name = "DATE")]
    pub at: Option<Date>,

    /// Use this minijinja template instead of the organisation's or the built-in one
    /// (context: `notice`; filters `country` and `date`; see docs/notices.md).
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,

    /// Read the register from these manifest files instead of the database.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub from: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct NoticePublishArgs {
    #[command(flatten)]
    pub selection: NoticeSelection,

    /// The notice's name: a controller may keep several (one per website or app).
    #[arg(long, default_value = "website")]
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NoticeStyleArg {
    Named,
    Categories,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LanguageArg {
    En,
    Es,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NoticeFormatArg {
    Html,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct RopaArgs {
    /// The organisation's id.
    pub organisation: String,

    /// The processor's record (Art. 30(2)) instead of the controller's (Art. 30(1)).
    #[arg(long)]
    pub processor: bool,

    #[arg(long, value_enum, default_value_t = RopaFormat::Html)]
    pub format: RopaFormat,

    /// For CSV, the section to write: activities, recipients, transfers (controller);
    /// processing, transfers (processor). Default the first.
    #[arg(long, value_name = "SECTION")]
    pub section: Option<String>,

    /// The day the record describes (YYYY-MM-DD); default today.
    #[arg(long, value_name = "DATE")]
    pub at: Option<Date>,

    /// The language of the document; default the organisation's (its `language`).
    #[arg(long, value_enum)]
    pub lang: Option<LanguageArg>,

    /// Write to this file instead of standard output (needed for xlsx and pdf on a terminal).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Read the register from these manifest files instead of the database.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub from: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RopaFormat {
    Html,
    Pdf,
    Xlsx,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to keep the demo register (recreated from the examples at each run).
    #[arg(long, value_name = "URL", default_value = "sqlite://custos-demo.db")]
    pub demo_database_url: String,

    /// Where the demo server listens (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,

    /// Print the tour and exit instead of serving.
    #[arg(long)]
    pub no_serve: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address and port to listen on (port 0: any free port).
    #[arg(
        long,
        value_name = "ADDR",
        env = "CUSTOS_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: std::net::SocketAddr,

    /// Mark cookies Secure: set it when the server is reached over TLS (behind a proxy); implied
    /// when CUSTOS_PUBLIC_URL starts with https://.
    #[arg(long, env = "CUSTOS_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Sign-in with this OpenID Provider (its issuer URL; docs/people.md). Needs
    /// CUSTOS_OIDC_CLIENT_ID, CUSTOS_OIDC_CLIENT_SECRET and CUSTOS_PUBLIC_URL (the callback is
    /// PUBLIC_URL/login/oidc/callback).
    #[arg(long, value_name = "URL", env = "CUSTOS_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// The client id this instance has at the OpenID Provider.
    #[arg(
        long,
        value_name = "ID",
        env = "CUSTOS_OIDC_CLIENT_ID",
        requires = "oidc_issuer"
    )]
    pub oidc_client_id: Option<String>,

    /// The claim whose `organisation=role` values give roles (e.g. custos_memberships); without
    /// it, people need an invitation.
    #[arg(long, value_name = "CLAIM", env = "CUSTOS_OIDC_MEMBERSHIP_CLAIM")]
    pub oidc_membership_claim: Option<String>,

    /// What the sign-in button says: "Sign in with LABEL".
    #[arg(
        long,
        value_name = "LABEL",
        env = "CUSTOS_OIDC_LABEL",
        default_value = "your organisation's account"
    )]
    pub oidc_label: String,
}

#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// Manifest files or directories (every *.yaml and *.yml inside, at any depth).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,

    /// Apply as this user (its e-mail address): only what its organisations may assert.
    /// Without it, the operator applies as the instance's administrator.
    #[arg(long = "as", value_name = "EMAIL")]
    pub as_user: Option<String>,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The processing activity's id.
    pub activity: String,

    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Args)]
pub struct UpstreamArgs {
    /// The organisation's id.
    pub organisation: String,

    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The day to look at (YYYY-MM-DD); default today. Engagements in force that day only.
    #[arg(long, value_name = "DATE", conflicts_with = "all")]
    pub at: Option<Date>,

    /// Every engagement ever recorded, whatever its dates (transfers are judged today).
    #[arg(long)]
    pub all: bool,

    /// Read the register from these manifest files instead of the database.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub from: Vec<PathBuf>,

    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs: one JSON document on standard output.
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Manifest files or directories; none to check the stored register.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// The day to judge the register on (YYYY-MM-DD); default today.
    #[arg(long, value_name = "DATE")]
    pub at: Option<Date>,

    /// Exit with code 1 when a finding that counts is at this severity or above.
    #[arg(long, value_enum, value_name = "SEVERITY", default_value_t = SeverityArg::Error)]
    pub fail_on: SeverityArg,

    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,

    /// Only findings in the chain of this activity.
    #[arg(long, value_name = "ID", help_heading = "Filters")]
    pub activity: Option<String>,

    /// Only findings about this organisation, on a path through it, or in an activity it
    /// controls.
    #[arg(long, value_name = "ID", help_heading = "Filters")]
    pub organisation: Option<String>,

    /// Only findings at this severity or above.
    #[arg(long, value_enum, value_name = "SEVERITY", help_heading = "Filters")]
    pub severity: Option<SeverityArg>,

    /// Only findings of this rule (see --list-rules).
    #[arg(long, value_name = "RULE", help_heading = "Filters")]
    pub rule: Option<String>,

    /// Print the rules (id, severity, articles, what they find, remediation) instead of
    /// checking; --format text, json or markdown.
    #[arg(long)]
    pub list_rules: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    /// The register shows processing that breaks the law.
    Error,
    /// A gap to close or a record to complete.
    Warning,
    /// Worth knowing.
    Info,
}

impl From<SeverityArg> for custos_core::checks::Severity {
    fn from(value: SeverityArg) -> Self {
        match value {
            SeverityArg::Error => Self::Error,
            SeverityArg::Warning => Self::Warning,
            SeverityArg::Info => Self::Info,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// For people: findings grouped by activity.
    Text,
    /// For programs: the report as one JSON document.
    Json,
    /// SARIF 2.1.0, for code-scanning tools that annotate the manifest lines.
    Sarif,
    /// Markdown (with --list-rules: the text of docs/rules.md).
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's hash chain and name the first altered, inserted or deleted
    /// entry.
    ///
    /// Each entry's hash covers the previous entry's hash and every field of the entry; the
    /// head (last entry and hash) is kept apart, so deleting the last entries is found too.
    /// Prints the number of entries and the head hash: record it elsewhere to anchor the log.
    /// With --expect-head, a head hash kept earlier (printed here, or from GET
    /// /api/v1/audit/head) must still be in the log: a log truncated below it, or rewritten,
    /// is broken even if what is left chains again.
    /// Exit code 0 intact, 1 broken, 2 the database could not be read.
    #[command(
        after_help = "Example:\n  custos audit verify\n  custos audit verify --format json\n  custos audit verify --expect-head 3f2a...c9"
    )]
    Verify {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// A head hash kept elsewhere that the log must still contain.
        #[arg(long, value_name = "HASH")]
        expect_head: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from standard input (one line), or asked for
    /// without echo on a terminal; at least 12 characters. It is stored only as an argon2id
    /// hash.
    #[command(
        after_help = "Examples:\n  custos user create --admin dpo@hypermarket-a.example\n  echo \"$PASSWORD\" | custos user create jordi@agency-b.example --member agency-b=portal"
    )]
    Create(UserCreateArgs),
    /// List the users: address, state (active, invited, disabled), two-factor, roles.
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Disable an account: its sessions end, signing in and its tokens are refused.
    Disable { email: String },
    /// Enable a disabled account again.
    Enable { email: String },
    /// Delete an account with its roles, sessions and tokens (the audit log keeps its acts).
    Delete { email: String },
    /// Give a role in an organisation (ORGANISATION=ROLE), or take it away (ORGANISATION=none).
    #[command(after_help = "Example:\n  custos user role jordi@agency-b.example agency-b=editor")]
    Role {
        email: String,
        #[arg(value_name = "ORGANISATION=ROLE")]
        membership: String,
    },
    /// Send a password-reset link to the address (when it has an account).
    ResetPassword { email: String },
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    /// The user's e-mail address, with which they sign in.
    pub email: String,

    /// An instance administrator: sees and may change everything.
    #[arg(long)]
    pub admin: bool,

    /// A role in an organisation, ORGANISATION=ROLE with ROLE one of admin, editor, viewer,
    /// portal (a processor's staff); repeat for several organisations.
    #[arg(long = "member", value_name = "ORGANISATION=ROLE")]
    pub members: Vec<String>,
}

#[cfg(test)]
mod tests {
    /// clap checks the whole command tree (unique names, valid defaults) only when asked: a
    /// clash would otherwise surface as a panic the first time a user runs that subcommand.
    #[test]
    fn the_command_tree_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
