//! The outbox: events written in the transaction of the change they report, fanned out to a
//! delivery per webhook endpoint and e-mail address; and the dispatcher that drains it.
//!
//! Webhooks follow Standard Webhooks: `webhook-id` (the event's key: the same for every
//! retry, so receivers deduplicate), `webhook-timestamp` (seconds), `webhook-signature`
//! (`v1,` + base64 HMAC-SHA256 over `id.timestamp.body` with the endpoint's secret). A delivery
//! is claimed with a lease, sent outside any transaction, then recorded; a process killed in
//! between leaves the lease to run out and the delivery to be sent again (at least once,
//! never dropped). Failures are retried with backoff and jitter for more than a day; then the
//! delivery fails, its endpoint is disabled and the endpoint's other deliveries are held until
//! someone enables it again, when all of them are due at once, in order.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::Store;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use custos_render::Language;
use custos_render::notice::TemplateKind;
use custos_store::{AttemptOutcome, ClaimedDelivery, NewDelivery, NewEvent, Subscription, Tx};
use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use sha2::Sha256;

use crate::clock::stamp;
use crate::{AppError, Clock};

/// Waits before each retry (after the first attempt): Standard Webhooks' schedule, some 27 h
/// in all. Each is stretched or shrunk by up to a tenth at random.
pub const RETRY_SCHEDULE: [SignedDuration; 7] = [
    SignedDuration::from_secs(5),
    SignedDuration::from_secs(5 * 60),
    SignedDuration::from_secs(30 * 60),
    SignedDuration::from_secs(2 * 3600),
    SignedDuration::from_secs(5 * 3600),
    SignedDuration::from_secs(10 * 3600),
    SignedDuration::from_secs(10 * 3600),
];

/// How long a claimed delivery is reserved for its sender.
pub const LEASE: SignedDuration = SignedDuration::from_secs(60);

/// An event to write, with who should hear of it.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: &'static str,
    pub subject: String,
    /// Organisations whose webhooks receive it (and whose people may see it).
    pub scope: Vec<String>,
    /// Who receives it by e-mail (address, language, time zone), and the template.
    pub mail: Vec<Mailbox>,
    pub mail_template: Option<TemplateKind>,
    pub data: serde_json::Value,
}

impl Event {
    /// An event for webhooks only (no e-mail).
    pub fn hook(
        kind: &'static str,
        subject: &str,
        scope: Vec<String>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            kind,
            subject: subject.to_owned(),
            scope,
            mail: Vec::new(),
            mail_template: None,
            data,
        }
    }
}

/// Writes `events` and their deliveries in `tx`. `subscriptions` are every enabled endpoint
/// (read once by the caller: a request may reach 100k controllers).
pub async fn write(
    tx: &mut Tx,
    events: Vec<Event>,
    subscriptions: &[Subscription],
    at: Timestamp,
) -> Result<(), AppError> {
    let now = stamp(at);
    let mut by_organisation: HashMap<&str, Vec<&Subscription>> = HashMap::new();
    for subscription in subscriptions.iter().filter(|s| s.enabled) {
        by_organisation
            .entry(subscription.organisation.as_str())
            .or_default()
            .push(subscription);
    }
    let mut rows = Vec::with_capacity(events.len());
    let mut deliveries = Vec::new();
    for event in events {
        let key = uuid::Uuid::now_v7().to_string();
        let mut targets: BTreeSet<&str> = BTreeSet::new();
        for organisation in &event.scope {
            for subscription in by_organisation
                .get(organisation.as_str())
                .into_iter()
                .flatten()
            {
                if subscription.wants(event.kind) && targets.insert(&subscription.key) {
                    deliveries.push(NewDelivery {
                        key: uuid::Uuid::now_v7().to_string(),
                        event_key: key.clone(),
                        channel: "webhook".to_owned(),
                        target: subscription.key.clone(),
                        subject: event.subject.clone(),
                        language: Language::En.as_str().to_owned(),
                        time_zone: None,
                        next_attempt_at: now.clone(),
                    });
                }
            }
        }
        if let Some(template) = event.mail_template {
            let mut addresses: BTreeSet<&str> = BTreeSet::new();
            for mailbox in &event.mail {
                if addresses.insert(&mailbox.address) {
                    deliveries.push(NewDelivery {
                        key: uuid::Uuid::now_v7().to_string(),
                        event_key: key.clone(),
                        channel: format!("email:{}", template.name()),
                        target: mailbox.address.clone(),
                        subject: event.subject.clone(),
                        language: mailbox.language.as_str().to_owned(),
                        time_zone: mailbox.time_zone.clone(),
                        next_attempt_at: now.clone(),
                    });
                }
            }
        }
        rows.push(NewEvent {
            key,
            kind: event.kind.to_owned(),
            subject: event.subject,
            scope: event.scope.join(" "),
            payload: serde_json::json!({
                "type": event.kind,
                "timestamp": at.to_string(),
                "data": event.data,
            }),
            created_at: now.clone(),
        });
    }
    tx.insert_events(&rows).await?;
    tx.insert_deliveries(&deliveries).await?;
    Ok(())
}

/// Installs rustls' ring provider for the process: every HTTPS client (webhooks, and any
/// reqwest client of the same build) needs one. A second install is refused, harmlessly.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A new endpoint secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::Invalid(format!("no randomness available: {e}")))?;
    Ok(format!("whsec_{}", BASE64.encode(bytes)))
}

/// An event's payload as receivers see it: without the fields only e-mails use
/// (`template_owner`, whose templates write the mail).
fn public_payload(stored: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(stored) {
        Ok(mut payload) => {
            if let Some(data) = payload.get_mut("data").and_then(|d| d.as_object_mut()) {
                data.remove("template_owner");
            }
            payload.to_string()
        }
        Err(_) => stored.to_owned(),
    }
}

/// The `webhook-signature` of a message (Standard Webhooks, version 1).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, AppError> {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|e| AppError::Invalid(format!("secret: not base64 after whsec_: {e}")))?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
        .map_err(|e| AppError::Invalid(format!("secret: {e}")))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// Where e-mails go.
#[derive(Clone)]
pub enum Mailer {
    /// SMTP (`CUSTOS_SMTP_URL`: `smtp://host:25`, `smtps://user:password@host:465`, ...).
    Smtp(lettre::AsyncSmtpTransport<lettre::Tokio1Executor>),
    /// `.eml` files in a directory: the demo and the tests.
    Files(std::path::PathBuf),
    /// Nowhere: e-mail deliveries fail (and are retried) until a transport is configured.
    None,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp(_) => f.write_str("Mailer::Smtp"),
            Self::Files(dir) => write!(f, "Mailer::Files({})", dir.display()),
            Self::None => f.write_str("Mailer::None"),
        }
    }
}

impl Mailer {
    pub fn smtp(url: &str) -> Result<Self, AppError> {
        let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
            .map_err(|e| AppError::Invalid(format!("CUSTOS_SMTP_URL: {e}")))?
            .build();
        Ok(Self::Smtp(transport))
    }
}

/// What the dispatcher needs besides the store.
#[derive(Clone)]
pub struct Dispatcher {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub http: reqwest::Client,
    /// Where webhooks may go (public addresses only, unless the instance allows private ones).
    pub outbound: crate::outbound::Outbound,
    pub mailer: Mailer,
    /// The sender of e-mails.
    pub mail_from: String,
    /// Where people act on a request (`https://custos.example`); links are relative without.
    pub public_url: String,
    /// Deliveries claimed and sent at once.
    pub batch: u32,
    /// How long a claimed delivery is reserved; cut short (the process died), it is sent
    /// again after this.
    pub lease: SignedDuration,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("mailer", &self.mailer)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

/// The webhook client: 15 s, no redirects, addresses checked when connecting.
fn webhook_client(outbound: crate::outbound::Outbound) -> Result<reqwest::Client, AppError> {
    outbound.client(std::time::Duration::from_secs(15), "Custos-Webhooks/1")
}

/// What one attempt came to.
struct Sent {
    key: String,
    attempt: u32,
    status: Option<u16>,
    error: Option<String>,
    /// The subscription to disable when this was its last chance.
    channel_target: (String, String),
}

impl Dispatcher {
    pub fn new(store: Store, clock: Arc<dyn Clock>, mailer: Mailer) -> Result<Self, AppError> {
        let outbound = crate::outbound::Outbound::PUBLIC_ONLY;
        Ok(Self {
            store,
            clock,
            http: webhook_client(outbound)?,
            outbound,
            mailer,
            mail_from: "Custos <custos@localhost>".to_owned(),
            public_url: String::new(),
            batch: 256,
            lease: LEASE,
        })
    }

    /// Sends webhooks under `outbound` (private addresses only where the instance allows them).
    pub fn with_outbound(mut self, outbound: crate::outbound::Outbound) -> Result<Self, AppError> {
        self.http = webhook_client(outbound)?;
        self.outbound = outbound;
        Ok(self)
    }

    /// The public URL for links, unless `CUSTOS_PUBLIC_URL` set one already.
    pub fn with_public_url(mut self, url: String) -> Self {
        if self.public_url.is_empty() {
            self.public_url = url;
        }
        self
    }

    /// Claims due deliveries, sends them concurrently, records the outcomes. Returns how many
    /// were attempted: zero when nothing was due.
    pub async fn run_once(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let lease_until = now.checked_add(self.lease).unwrap_or(now);
        let claimed = {
            let mut tx = self.store.begin().await?;
            let claimed = tx
                .claim_deliveries(&stamp(now), &stamp(lease_until), self.batch)
                .await?;
            tx.commit().await?;
            claimed
        };
        if claimed.is_empty() {
            return Ok(0);
        }
        let subscriptions: HashMap<String, Subscription> = {
            let mut tx = self.store.read().await?;
            tx.subscriptions(None)
                .await?
                .into_iter()
                .map(|s| (s.key.clone(), s))
                .collect()
        };
        let templates = self.templates().await?;
        let mut tasks = tokio::task::JoinSet::new();
        for delivery in claimed {
            let this = self.clone();
            let subscription = subscriptions.get(&delivery.target).cloned();
            let templates = templates.clone();
            tasks.spawn(async move { this.attempt(delivery, subscription, &templates).await });
        }
        // Each outcome is recorded as soon as it is known, in small groups: a slow endpoint
        // does not keep the others' outcomes unrecorded (and sent again after a crash).
        let mut done = 0;
        let mut ready = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(sent) => ready.push(sent),
                // A send that panicked keeps its lease; it will be retried when it ends.
                Err(error) => tracing::error!(%error, "a delivery task failed"),
            }
            // Take whatever else has finished too, then record the group.
            while let Some(joined) = tasks.try_join_next() {
                if let Ok(sent) = joined {
                    ready.push(sent);
                }
            }
            done += ready.len();
            self.record(&ready).await?;
            ready.clear();
        }
        Ok(done)
    }

    /// Organisations' own e-mail templates, by (organisation, name, language).
    async fn templates(&self) -> Result<Arc<HashMap<(String, String, String), String>>, AppError> {
        let mut tx = self.store.read().await?;
        let all = tx.all_templates().await?;
        Ok(Arc::new(
            all.into_iter()
                .map(|t| ((t.organisation, t.name, t.language), t.body))
                .collect(),
        ))
    }

    async fn attempt(
        &self,
        delivery: ClaimedDelivery,
        subscription: Option<Subscription>,
        templates: &HashMap<(String, String, String), String>,
    ) -> Sent {
        let attempt = delivery.attempts + 1;
        let outcome = if delivery.channel == "webhook" {
            match subscription {
                Some(subscription) => self.post(&delivery, &subscription).await,
                None => Err((None, "the subscription no longer exists".to_owned())),
            }
        } else {
            self.mail(&delivery, templates).await.map_err(|e| (None, e))
        };
        let (status, error) = match outcome {
            Ok(status) => (Some(status), None),
            Err((status, error)) => (status, Some(error)),
        };
        Sent {
            key: delivery.key,
            attempt,
            status,
            error,
            channel_target: (delivery.channel, delivery.target),
        }
    }

    async fn post(
        &self,
        delivery: &ClaimedDelivery,
        subscription: &Subscription,
    ) -> Result<u16, (Option<u16>, String)> {
        let timestamp = self.clock.now().as_second();
        let payload = public_payload(&delivery.payload);
        let body = payload.as_bytes();
        let signature = sign(&subscription.secret, &delivery.event_key, timestamp, body)
            .map_err(|e| (None, e.to_string()))?;
        let url = self
            .outbound
            .check_url("url", &subscription.url)
            .map_err(|e| (None, e.to_string()))?;
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.event_key)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(payload)
            .send()
            .await
            .map_err(|e| (None, format!("{e}")))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            Ok(status)
        } else {
            Err((Some(status), format!("the endpoint answered {status}")))
        }
    }

    async fn mail(
        &self,
        delivery: &ClaimedDelivery,
        templates: &HashMap<(String, String, String), String>,
    ) -> Result<u16, String> {
        use lettre::AsyncTransport as _;
        let name = delivery.channel.strip_prefix("email:").unwrap_or_default();
        let kind: TemplateKind = name.parse()?;
        let language: Language = delivery.language.parse().unwrap_or_default();
        let zone = delivery
            .time_zone
            .as_deref()
            .and_then(|z| jiff::tz::TimeZone::get(z).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        let payload: serde_json::Value =
            serde_json::from_str(&delivery.payload).map_err(|e| e.to_string())?;
        let mut context = payload["data"].clone();
        // Where to act: the event's own path (a data subject's verification link), else the
        // change request's page.
        let path = context["path"].as_str().map_or_else(
            || format!("/change-requests/{}", delivery.subject),
            str::to_owned,
        );
        let base_url = self.public_url.trim_end_matches('/');
        context["link"] = format!("{base_url}{path}").into();
        context["base_url"] = base_url.into();
        // The template of the organisation the e-mail speaks for: the controller's for the
        // requester's news, the requester's for a controller's.
        let owner = context["template_owner"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let custom = templates.get(&(owner, name.to_owned(), language.as_str().to_owned()));
        let mail = custos_render::mail::render(
            kind,
            &context,
            language,
            &zone,
            custom.map(String::as_str),
        )
        .map_err(|e| e.to_string())?;
        let message = lettre::Message::builder()
            .from(
                self.mail_from
                    .parse()
                    .map_err(|e| format!("mail from: {e}"))?,
            )
            .to(delivery
                .target
                .parse()
                .map_err(|e| format!("address: {e}"))?)
            .subject(mail.subject)
            .message_id(Some(format!(
                "<{}.{}@custos>",
                delivery.event_key, delivery.key
            )))
            // multipart/alternative, text then HTML; lettre writes MIME-Version with it.
            .multipart(lettre::message::MultiPart::alternative_plain_html(
                mail.body, mail.html,
            ))
            .map_err(|e| e.to_string())?;
        match &self.mailer {
            Mailer::Smtp(transport) => transport
                .send(message)
                .await
                .map(|_| 250)
                .map_err(|e| e.to_string()),
            Mailer::Files(dir) => lettre::AsyncFileTransport::<lettre::Tokio1Executor>::new(dir)
                .send(message)
                .await
                .map(|_| 250)
                .map_err(|e| e.to_string()),
            Mailer::None => Err("no e-mail transport is configured (CUSTOS_SMTP_URL)".to_owned()),
        }
    }

    /// Records every outcome in one transaction; a delivery out of retries fails and, for a
    /// webhook, disables its endpoint (holding its other deliveries).
    async fn record(&self, results: &[Sent]) -> Result<(), AppError> {
        let now = self.clock.now();
        let at = stamp(now);
        let mut tx = self.store.begin().await?;
        let mut disable: BTreeSet<&str> = BTreeSet::new();
        for sent in results {
            let outcome_at;
            let outcome = if sent.error.is_none() {
                AttemptOutcome::Delivered
            } else if let Some(wait) = RETRY_SCHEDULE.get(sent.attempt as usize - 1) {
                outcome_at = stamp(now.checked_add(jitter(*wait)).unwrap_or(now));
                AttemptOutcome::Retry { at: &outcome_at }
            } else {
                if sent.channel_target.0 == "webhook" {
                    disable.insert(&sent.channel_target.1);
                }
                AttemptOutcome::Failed
            };
            tx.record_attempt(
                &sent.key,
                sent.attempt,
                &at,
                sent.status,
                sent.error.as_deref(),
                outcome,
            )
            .await?;
        }
        let mut audit = Vec::new();
        for key in disable {
            let reason = format!("deliveries failed for more than a day; last at {at}");
            tx.set_subscription_enabled(key, false, Some(&reason), &at)
                .await?;
            let organisation = tx
                .subscription(key)
                .await?
                .map(|s| s.organisation)
                .unwrap_or_default();
            audit.push(crate::Actor::new("custos:outbox", now).entry(
                "disable",
                "webhook_subscription",
                key,
                organisation,
                None,
                Some(reason),
            ));
        }
        if !audit.is_empty() {
            tx.append_audit(audit).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Runs until `stop` resolves: drains what is due, then waits a second.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let idle = match self.run_once().await {
                Ok(0) => true,
                Ok(_) => false,
                Err(error) => {
                    tracing::error!(%error, "delivering the outbox failed");
                    true
                }
            };
            if *stop.borrow() {
                return;
            }
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

/// `wait` stretched or shrunk by up to a tenth, so that retries of many deliveries spread out.
fn jitter(wait: SignedDuration) -> SignedDuration {
    let mut byte = [0u8; 1];
    let tenth = wait.as_millis() / 10;
    if getrandom::fill(&mut byte).is_err() || tenth == 0 {
        return wait;
    }
    // byte / 255 in [0, 1] -> offset in [-tenth, +tenth].
    let offset = (i128::from(byte[0]) * 2 * tenth / 255) - tenth;
    SignedDuration::from_millis(i64::try_from(wait.as_millis() + offset).unwrap_or(i64::MAX))
}

/// Where an e-mail goes and how its words and times are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub address: String,
    pub language: Language,
    /// The zone its times are written in (IANA); none, UTC.
    pub time_zone: Option<String>,
}

impl Mailbox {
    /// `address`, written to as the organisation `id` is (its language and time zone).
    pub fn for_organisation(
        register: &custos_core::register::Register,
        id: &str,
        address: String,
    ) -> Self {
        Self {
            address,
            language: language_of(register, id),
            time_zone: register
                .organisation(id)
                .and_then(|o| o.time_zone.as_ref())
                .map(|z| z.as_str().to_owned()),
        }
    }
}

/// Where an organisation's notifications go: its DPO, else its privacy contact; in its
/// language and time zone.
pub(crate) fn mailbox(register: &custos_core::register::Register, id: &str) -> Option<Mailbox> {
    let organisation = register.organisation(id)?;
    let address = organisation
        .dpo
        .as_ref()
        .and_then(|c| c.email.as_ref())
        .or_else(|| organisation.contact.as_ref().and_then(|c| c.email.as_ref()))?;
    Some(Mailbox::for_organisation(
        register,
        id,
        address.as_str().to_owned(),
    ))
}

/// The language an organisation is written to in (its `language`; English by default).
pub fn language_of(register: &custos_core::register::Register, id: &str) -> Language {
    custos_render::rights::language_of(
        register
            .organisation(id)
            .and_then(|o| o.language.as_deref()),
    )
}
