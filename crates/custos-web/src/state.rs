//! What every request shares: the store, the clock, and the validated register kept in memory
//! so that a chain question costs microseconds (`custos_app::live`: kept at the database's
//! version by applying each write's changes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use custos_app::Clock;
use custos_app::Store;
use custos_app::live::{LiveRegister, Snapshot};

use crate::error::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub live: Arc<LiveRegister>,
    pub throttle: Arc<LoginThrottle>,
    /// Cookies get `Secure` (the server runs behind TLS).
    pub secure_cookies: bool,
    /// The hash of the one-time setup secret, while no user exists.
    pub setup: Arc<std::sync::Mutex<Option<String>>>,
    pub auth_cache: Arc<AuthCache>,
    /// Reminders before decision deadlines of change requests.
    pub workflow: Arc<custos_app::changes::Settings>,
    /// Limits and periods of data-subject requests.
    pub rights: Arc<custos_app::rights::Settings>,
    /// Where outbound requests may go.
    pub outbound: custos_app::outbound::Outbound,
    /// Proxies whose `X-Forwarded-For` names the client (none: the peer is the client).
    pub trusted_proxies: Arc<Vec<std::net::IpAddr>>,
    /// The instance's OpenID Provider, when one is configured.
    pub oidc: Option<Arc<custos_app::oidc::Oidc>>,
}

impl AppState {
    pub async fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        secure_cookies: bool,
        outbound: custos_app::outbound::Outbound,
    ) -> Result<Self, ApiError> {
        let live = LiveRegister::load(&store).await?;
        Ok(Self {
            store,
            clock,
            live: Arc::new(live),
            throttle: Arc::new(LoginThrottle::default()),
            secure_cookies,
            setup: Arc::new(std::sync::Mutex::new(None)),
            auth_cache: Arc::new(AuthCache::default()),
            workflow: Arc::new(custos_app::changes::Settings::default()),
            rights: Arc::new(custos_app::rights::Settings {
                outbound,
                ..custos_app::rights::Settings::from_env()?
            }),
            outbound,
            trusted_proxies: Arc::new(Vec::new()),
            oidc: None,
        })
    }

    /// The register as of the last change this server applied.
    pub async fn register(&self) -> Arc<Snapshot> {
        self.live.snapshot().await
    }

    /// What the checks read besides the register (published notices, earlier contracts).
    pub async fn evidence(&self) -> Result<custos_core::checks::Evidence, ApiError> {
        Ok(custos_app::notices::evidence(&self.store, self.clock.now()).await?)
    }

    /// Every check over the register judged `on`, computed once per version of the register
    /// (and evidence), with the snapshot it was computed on.
    pub async fn report(
        &self,
        on: custos_core::Date,
    ) -> Result<(Arc<Snapshot>, Arc<custos_core::checks::Report>), ApiError> {
        let evidence = self.evidence().await?;
        Ok(self.live.report(on, evidence).await?)
    }

    /// Brings the register up to the database's version after a write.
    pub async fn reload(&self) -> Result<(), ApiError> {
        self.live.sync(&self.store).await?;
        Ok(())
    }

    /// After a sign-out, a revocation or a change of membership: this server forgets the
    /// sign-ins it remembers now, every other server when it next polls.
    pub async fn access_changed(&self) {
        self.auth_cache.clear();
        if let Err(error) = custos_app::live::access_changed(&self.store).await {
            tracing::error!(%error, "other servers were not told that access changed");
        }
    }
}

/// Failed sign-ins per e-mail address: after [`LoginThrottle::FREE_ATTEMPTS`] failures, each
/// further attempt waits twice as long as the last, up to 15 minutes; a success clears it.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, i64)>>,
}

impl LoginThrottle {
    /// Failures an e-mail address may have before it waits.
    pub const FREE_ATTEMPTS: u32 = 5;
    /// Failures a client address may have before it waits: more, since many people may sign
    /// in from behind one address.
    pub const FREE_ATTEMPTS_PER_CLIENT: u32 = 20;
    const MAX_WAIT_SECONDS: i64 = 15 * 60;
    /// Addresses remembered at most, so that a flood of made-up addresses cannot fill memory.
    const MAX_TRACKED: usize = 100_000;

    /// Seconds to wait before `email` may try again, if any (`now` in Unix seconds).
    pub fn wait(&self, email: &str, now: i64) -> Option<u64> {
        let failures = self.failures.lock().ok()?;
        let &(_, until) = failures.get(email)?;
        (until > now).then(|| u64::try_from(until - now).unwrap_or(0))
    }

    pub fn failed(&self, email: &str, now: i64) {
        self.failed_after(email, now, Self::FREE_ATTEMPTS);
    }

    /// Counts a failure for `key`, which waits once it has had `free` of them.
    pub fn failed_after(&self, key: &str, now: i64, free: u32) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= Self::MAX_TRACKED {
            failures.retain(|_, (_, until)| *until > now);
        }
        let entry = failures.entry(key.to_owned()).or_insert((0, now));
        entry.0 += 1;
        if entry.0 >= free {
            let doublings = (entry.0 - free).min(10);
            entry.1 = now + (1i64 << doublings).min(Self::MAX_WAIT_SECONDS);
        }
    }

    pub fn succeeded(&self, email: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(email);
        }
    }
}

/// Who a session or a token is, remembered for a moment so that a busy client does not cost
/// two database reads per request. Signing out and revoking a token clear it at once in this
/// process, and in every other process when it next polls the access version (`custos
/// serve` polls every 200 ms); at worst an entry lives [`AuthCache::TTL_MS`].
#[derive(Debug, Default)]
pub struct AuthCache {
    entries: Mutex<HashMap<String, CachedPrincipal>>,
}

#[derive(Debug, Clone)]
struct CachedPrincipal {
    principal: crate::auth::Principal,
    /// When the session or token expires, if it does.
    expires: Option<jiff::Timestamp>,
    fetched: jiff::Timestamp,
}

impl AuthCache {
    pub const TTL_MS: i64 = 2_000;
    const MAX_ENTRIES: usize = 10_000;

    pub fn get(&self, key: &str, now: jiff::Timestamp) -> Option<crate::auth::Principal> {
        let entries = self.entries.lock().ok()?;
        let cached = entries.get(key)?;
        let fresh = now.as_millisecond() - cached.fetched.as_millisecond() < Self::TTL_MS;
        let valid = cached.expires.is_none_or(|expires| now < expires);
        (fresh && valid).then(|| cached.principal.clone())
    }

    pub fn put(
        &self,
        key: String,
        principal: &crate::auth::Principal,
        expires: Option<jiff::Timestamp>,
        now: jiff::Timestamp,
    ) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(
                key,
                CachedPrincipal {
                    principal: principal.clone(),
                    expires,
                    fetched: now,
                },
            );
        }
    }

    /// After a sign-out or a revocation.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}
