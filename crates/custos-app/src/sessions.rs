//! Signing in and out, sessions, API tokens, the one-time setup: the use cases the server's
//! authentication calls. Secrets (session ids, tokens) are random 256-bit values shown once;
//! the database keeps their SHA-256 only (a fast hash is enough for high-entropy secrets;
//! passwords are argon2id, in `people`).

use custos_store::{Membership, NewToken, Session, TokenRecord, User};
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::audit::Actor;
use crate::{AppError, Store};

/// How long a session lasts.
pub const SESSION_HOURS: i64 = 12;

/// A new secret and the hash to store.
pub fn new_secret() -> Result<(String, String), AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::Invalid(format!("no randomness available: {e}")))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let hash = hash_secret(&secret);
    Ok((secret, hash))
}

/// The stored form of a session id or a token: SHA-256, hex.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A session just started: the secret for the cookie, and who it is.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session_id: String,
    pub csrf_token: String,
    pub expires_at: Timestamp,
    pub user: User,
    pub memberships: Vec<Membership>,
}

/// How long a sign-in waits for a password check to be free.
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The password checks that may run at once: all cores but one (at least one).
fn checking() -> &'static tokio::sync::Semaphore {
    static CHECKING: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    CHECKING.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1))
    })
}

/// An argon2id hash of a password nobody has, verified against when an address is unknown,
/// so that the time an answer takes says nothing of whether the address exists.
fn dummy_hash() -> Result<&'static str, AppError> {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = HASH.get() {
        return Ok(hash);
    }
    let (secret, _) = new_secret()?;
    let hash = crate::people::hash_password(&secret)?;
    Ok(HASH.get_or_init(|| hash))
}

/// What a sign-in came to.
#[derive(Debug)]
pub enum SignInOutcome {
    SignedIn(Box<SignedIn>),
    /// The password is right and the account has a second factor: the code is asked for,
    /// with this short-lived secret to carry to [`finish_sign_in`].
    SecondFactor {
        pending: String,
    },
    /// The credentials (or the code) are not right: the same for an unknown address.
    Refused,
    /// The password is right and the account is disabled.
    Disabled,
}

/// How long a sign-in waits for its second factor.
pub const SECOND_FACTOR_MINUTES: i64 = 5;
/// Codes tried on one waiting sign-in before it must start again.
pub const SECOND_FACTOR_ATTEMPTS: i64 = 5;

/// Checks the credentials and starts a session (with `code`, the second factor, when the
/// account has one; without it, the sign-in waits for it). The password is verified on a
/// blocking thread with no transaction open, so a flood of sign-ins never holds the
/// database's write lock.
pub async fn sign_in(
    store: &Store,
    email: &str,
    password: &str,
    code: Option<&str>,
    now: Timestamp,
) -> Result<SignInOutcome, AppError> {
    let mut tx = store.read().await?;
    let user = tx.user_by_email(email).await?;
    tx.rollback().await?;
    let stored = match &user {
        Some(user) => user.password_hash.clone(),
        None => dummy_hash()?.to_owned(),
    };
    // One password check per core but one at a time: argon2id takes a core for tens of
    // milliseconds, and a flood of sign-ins must leave the rest of the server a core. A
    // sign-in that cannot get its turn soon is told to come back.
    let Ok(Ok(_turn)) = tokio::time::timeout(TURN_WAIT, checking().acquire()).await else {
        return Err(AppError::Busy { retry_after: 1 });
    };
    let password = password.to_owned();
    let matches =
        tokio::task::spawn_blocking(move || crate::people::password_matches(&password, &stored))
            .await
            .map_err(|e| AppError::Invalid(format!("the password could not be checked: {e}")))?;
    let Some(user) = user.filter(|_| matches) else {
        // Recorded, without the password; the address as typed, bounded.
        let attempted: String = email.chars().take(320).collect();
        refused(store, "sign_in_failed", &attempted, now).await?;
        return Ok(SignInOutcome::Refused);
    };
    if user.disabled_at.is_some() {
        refused(store, "sign_in_disabled", &user.email, now).await?;
        return Ok(SignInOutcome::Disabled);
    }
    if !user.totp {
        return Ok(SignInOutcome::SignedIn(Box::new(
            start(store, user, now, "password").await?,
        )));
    }
    let Some(code) = code else {
        let (pending, id_hash) = new_secret()?;
        let expires = now
            .checked_add(SignedDuration::from_mins(SECOND_FACTOR_MINUTES))
            .unwrap_or(now);
        let mut tx = store.begin().await?;
        tx.insert_pending_sign_in(&id_hash, &user.key, &expires.to_string())
            .await?;
        tx.commit().await?;
        return Ok(SignInOutcome::SecondFactor { pending });
    };
    let mut tx = store.begin().await?;
    let right = crate::accounts::second_factor_matches(&mut tx, &user.key, code, now).await?;
    tx.commit().await?;
    if !right {
        refused(store, "second_factor_failed", &user.email, now).await?;
        return Ok(SignInOutcome::Refused);
    }
    Ok(SignInOutcome::SignedIn(Box::new(
        start(store, user, now, "password").await?,
    )))
}

/// Finishes a sign-in waiting for its second factor; none when the code is not right (the
/// waiting sign-in ends after [`SECOND_FACTOR_ATTEMPTS`] wrong codes or
/// [`SECOND_FACTOR_MINUTES`]).
pub async fn finish_sign_in(
    store: &Store,
    pending: &str,
    code: &str,
    now: Timestamp,
) -> Result<Option<SignedIn>, AppError> {
    let id_hash = hash_secret(pending);
    let mut tx = store.begin().await?;
    let Some(waiting) = tx.pending_sign_in(&id_hash).await? else {
        return Ok(None);
    };
    let alive = waiting
        .expires_at
        .parse::<Timestamp>()
        .is_ok_and(|at| at > now)
        && waiting.attempts < SECOND_FACTOR_ATTEMPTS;
    let user = tx.user_by_key(&waiting.user_key).await?;
    let Some(user) = user.filter(|u| alive && u.disabled_at.is_none()) else {
        tx.delete_pending_sign_in(&id_hash).await?;
        tx.commit().await?;
        return Ok(None);
    };
    if !crate::accounts::second_factor_matches(&mut tx, &user.key, code, now).await? {
        tx.count_pending_attempt(&id_hash).await?;
        tx.commit().await?;
        refused(store, "second_factor_failed", &user.email, now).await?;
        return Ok(None);
    }
    tx.delete_pending_sign_in(&id_hash).await?;
    tx.commit().await?;
    Ok(Some(start(store, user, now, "password").await?))
}

/// Whether a sign-in waits for its second factor under this secret.
pub async fn second_factor_pending(
    store: &Store,
    pending: &str,
    now: Timestamp,
) -> Result<bool, AppError> {
    let mut tx = store.read().await?;
    let waiting = tx.pending_sign_in(&hash_secret(pending)).await?;
    tx.rollback().await?;
    Ok(waiting.is_some_and(|w| {
        w.attempts < SECOND_FACTOR_ATTEMPTS
            && w.expires_at.parse::<Timestamp>().is_ok_and(|at| at > now)
    }))
}

/// Records a refused sign-in (never the password).
async fn refused(store: &Store, action: &str, who: &str, now: Timestamp) -> Result<(), AppError> {
    let mut tx = store.begin().await?;
    tx.append_audit(vec![Actor::new("anonymous", now).entry(
        action,
        "session",
        who,
        String::new(),
        None,
        None,
    )])
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Starts a session for `user`, audited with how it signed in (`password`, `oidc`).
pub(crate) async fn start(
    store: &Store,
    user: User,
    now: Timestamp,
    via: &str,
) -> Result<SignedIn, AppError> {
    let (session_id, id_hash) = new_secret()?;
    let (csrf_token, _) = new_secret()?;
    let expires_at = now
        .checked_add(SignedDuration::from_hours(SESSION_HOURS))
        .unwrap_or(Timestamp::MAX);
    let mut tx = store.begin().await?;
    tx.insert_session(
        &id_hash,
        &user.key,
        &csrf_token,
        &now.to_string(),
        &expires_at.to_string(),
    )
    .await?;
    let memberships = tx.memberships(&user.key).await?;
    tx.append_audit(vec![Actor::new(format!("user:{}", user.email), now).entry(
        "sign_in",
        "session",
        &user.email,
        String::new(),
        None,
        (via != "password").then(|| serde_json::json!({"via": via}).to_string()),
    )])
    .await?;
    tx.commit().await?;
    Ok(SignedIn {
        session_id,
        csrf_token,
        expires_at,
        user,
        memberships,
    })
}

/// Ends the session with this id hash (nothing if there is none), audited.
pub async fn sign_out(store: &Store, id_hash: &str, now: Timestamp) -> Result<(), AppError> {
    end_session(store, id_hash, None, now).await
}

/// Ends a session from a signed-in page's form, which must carry the session's CSRF token.
pub async fn sign_out_form(
    store: &Store,
    id_hash: &str,
    csrf: &str,
    now: Timestamp,
) -> Result<(), AppError> {
    end_session(store, id_hash, Some(csrf), now).await
}

async fn end_session(
    store: &Store,
    id_hash: &str,
    csrf: Option<&str>,
    now: Timestamp,
) -> Result<(), AppError> {
    let mut tx = store.begin().await?;
    if let Some(session) = tx.session(id_hash).await? {
        if csrf.is_some_and(|csrf| csrf != session.csrf_token) {
            return Err(AppError::Forbidden(
                "the form's CSRF token is not right".to_owned(),
            ));
        }
        tx.delete_session(id_hash).await?;
        tx.append_audit(vec![
            Actor::new(format!("user:{}", session.user.email), now).entry(
                "sign_out",
                "session",
                &session.user.email,
                String::new(),
                None,
                None,
            ),
        ])
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The session with this id hash and its user's memberships. Straight on the pool: two small
/// reads need no transaction, and this runs on every request not served from the cache.
pub async fn session(
    store: &Store,
    id_hash: &str,
) -> Result<Option<(Session, Vec<Membership>)>, AppError> {
    let Some(session) = store.pool().session(id_hash).await? else {
        return Ok(None);
    };
    let memberships = store.pool().memberships(&session.user.key).await?;
    Ok(Some((session, memberships)))
}

/// The token with this hash, its user and the user's memberships.
pub async fn token(
    store: &Store,
    token_hash: &str,
) -> Result<Option<(TokenRecord, User, Vec<Membership>)>, AppError> {
    let Some((record, user)) = store.pool().token_by_hash(token_hash).await? else {
        return Ok(None);
    };
    let memberships = store.pool().memberships(&user.key).await?;
    Ok(Some((record, user, memberships)))
}

/// Stores a new token of `user_key` (its hash), audited; returns its record.
pub async fn create_token(
    store: &Store,
    user_key: &str,
    token: NewToken,
    actor: &Actor,
) -> Result<TokenRecord, AppError> {
    let mut tx = store.begin().await?;
    let record = tx.insert_token(user_key, &token).await?;
    let after = crate::audit::json(&record)?;
    tx.append_audit(vec![actor.entry(
        "create",
        "api-token",
        &record.key,
        String::new(),
        None,
        Some(after),
    )])
    .await?;
    tx.commit().await?;
    Ok(record)
}

/// Revokes the token `key` of `user_key`, audited; false when the user has no such token.
pub async fn revoke_token(
    store: &Store,
    user_key: &str,
    key: &str,
    actor: &Actor,
) -> Result<bool, AppError> {
    let mut tx = store.begin().await?;
    if !tx
        .revoke_token(user_key, key, &actor.at.to_string())
        .await?
    {
        return Ok(false);
    }
    tx.append_audit(vec![actor.entry(
        "revoke",
        "api-token",
        key,
        String::new(),
        None,
        None,
    )])
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The user's tokens (records only; the secrets are not kept).
pub async fn tokens_of(store: &Store, user_key: &str) -> Result<Vec<TokenRecord>, AppError> {
    let mut tx = store.read().await?;
    let tokens = tx.tokens_of(user_key).await?;
    tx.rollback().await?;
    Ok(tokens)
}

/// How many users there are (none: the instance waits for its first administrator).
pub async fn count_users(store: &Store) -> Result<u64, AppError> {
    let mut tx = store.read().await?;
    let users = tx.count_users().await?;
    tx.rollback().await?;
    Ok(users)
}

/// Whether the database answers (for `/readyz`).
pub async fn ping(store: &Store) -> Result<(), AppError> {
    let tx = store.read().await?;
    tx.rollback().await?;
    Ok(())
}
