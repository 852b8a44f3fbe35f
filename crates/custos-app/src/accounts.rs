//! Running an instance's people: who may manage whom, invitations and password resets by
//! one-time e-mail links, disabling and deleting accounts, memberships and roles, TOTP
//! two-factor with recovery codes, organisations that require it, and OAuth2 clients. Each use
//! case is one transaction with its audit entry.
//!
//! Who manages whom: an instance administrator manages everyone; an organisation's `admin`
//! manages memberships of that organisation, and disables, enables or deletes an account only
//! when every membership of it is in organisations it administers (never an instance
//! administrator). Nobody disables or deletes their own account.

use custos_core::values::Email;
use custos_render::Language;
use custos_render::notice::TemplateKind;
use custos_store::{Membership, OAuthClient, Role, Scope, Tx, User};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::audit::Actor;
use crate::outbox::{self, Event};
use crate::policy::{Caller, administers, manages_people, may_manage_account};
use crate::sessions::{hash_secret, new_secret};
use crate::{AppError, Store};

/// How long an invitation link stays valid.
pub const INVITATION_DAYS: i64 = 7;
/// How long a password-reset link stays valid.
pub const RESET_MINUTES: i64 = 60;
/// Reset links sent to one address per hour at most (more asks are answered alike, unsent).
pub const RESETS_PER_HOUR: u64 = 3;
/// Recovery codes made when a second factor is set up.
pub const RECOVERY_CODES: usize = 10;
/// How long an OAuth2 access token lasts.
pub const ACCESS_TOKEN_SECONDS: i64 = 3600;

pub const INVITATION: &str = "invitation";
pub const PASSWORD_RESET: &str = "password-reset";

/// An account as a manager sees it: the memberships it may see (those of the organisations
/// it administers; all for an instance administrator), whether an invitation is pending.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Account {
    pub key: String,
    pub email: String,
    pub is_admin: bool,
    pub created_at: String,
    pub disabled_at: Option<String>,
    pub totp: bool,
    /// Invited and not yet signed up (no password set).
    pub invited: bool,
    pub memberships: Vec<AccountMembership>,
    /// Whether the caller may disable, enable or delete it.
    pub manageable: bool,
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct AccountMembership {
    pub organisation: String,
    #[schemars(with = "String")]
    pub role: Role,
}

/// An account never signed up for has no password: the hash nobody's password matches.
const NO_PASSWORD: &str = "!";

fn account(caller: &Caller, user: User, memberships: Vec<Membership>) -> Account {
    let manageable = may_manage_account(caller, user.is_admin, &memberships);
    Account {
        invited: user.password_hash == NO_PASSWORD,
        key: user.key,
        email: user.email,
        is_admin: user.is_admin,
        created_at: user.created_at,
        disabled_at: user.disabled_at,
        totp: user.totp,
        memberships: memberships
            .into_iter()
            .filter(|m| administers(caller, &m.organisation))
            .map(|m| AccountMembership {
                organisation: m.organisation,
                role: m.role,
            })
            .collect(),
        manageable,
    }
}

fn forbidden_people() -> AppError {
    AppError::Forbidden(
        "managing people needs the admin role in an organisation, or an instance administrator"
            .to_owned(),
    )
}

/// The accounts `caller` manages: everyone for an instance administrator, else those with a
/// membership in an organisation it administers.
pub async fn list(store: &Store, caller: &Caller) -> Result<Vec<Account>, AppError> {
    if !manages_people(caller) {
        return Err(forbidden_people());
    }
    let mut tx = store.read().await?;
    let users = tx.users_with_memberships().await?;
    tx.rollback().await?;
    Ok(users
        .into_iter()
        .filter(|(_, memberships)| {
            caller.admin
                || memberships
                    .iter()
                    .any(|m| administers(caller, &m.organisation))
        })
        .map(|(user, memberships)| account(caller, user, memberships))
        .collect())
}

/// One account, as `caller` manages it; not found when it is not one of those it manages.
pub async fn get(store: &Store, caller: &Caller, key: &str) -> Result<Account, AppError> {
    if !manages_people(caller) {
        return Err(forbidden_people());
    }
    let mut tx = store.read().await?;
    let user = tx.user_by_key(key).await?;
    let memberships = tx.memberships(key).await?;
    tx.rollback().await?;
    // Those `list` shows: everyone to an instance administrator, else a member of an
    // organisation the caller administers.
    user.filter(|_| {
        caller.admin
            || memberships
                .iter()
                .any(|m| administers(caller, &m.organisation))
    })
    .map(|user| account(caller, user, memberships))
    .ok_or_else(|| AppError::NotFound(format!("user {key:?}")))
}

/// Whom to invite, and with what.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub email: String,
    pub memberships: Vec<(String, Role)>,
    /// Make the account an instance administrator (instance administrators only).
    pub is_admin: bool,
    /// The language and time zone the invitation is written in (the organisation's).
    pub language: Language,
    pub time_zone: Option<String>,
}

/// What an invitation did.
#[derive(Debug, Clone)]
pub struct Invited {
    pub account: Account,
    /// The address had an account already: the memberships were added, no link sent.
    pub existed: bool,
}

fn check_memberships(
    caller: &Caller,
    memberships: &[(String, Role)],
    known: &(dyn Fn(&str) -> bool + Sync),
) -> Result<(), AppError> {
    for (organisation, _) in memberships {
        if !known(organisation) {
            return Err(AppError::Invalid(format!(
                "memberships: no organisation {organisation:?} in the register"
            )));
        }
        if !administers(caller, organisation) {
            return Err(AppError::Forbidden(format!(
                "only an admin of {organisation} (or an instance administrator) gives roles in it"
            )));
        }
    }
    Ok(())
}

/// Invites someone: a new account without a password and a link by e-mail to set one (valid
/// seven days), or, for an address with an account, the memberships added to it.
/// `known` says whether an organisation is in the register.
pub async fn invite(
    store: &Store,
    caller: &Caller,
    actor: &Actor,
    invitation: Invitation,
    known: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Invited, AppError> {
    if !manages_people(caller) {
        return Err(forbidden_people());
    }
    let email: Email = invitation
        .email
        .trim()
        .to_lowercase()
        .parse()
        .map_err(|e| AppError::Invalid(format!("email: {e}")))?;
    if invitation.is_admin && !caller.admin {
        return Err(AppError::Forbidden(
            "only an instance administrator makes another".to_owned(),
        ));
    }
    if invitation.memberships.is_empty() && !invitation.is_admin {
        return Err(AppError::Invalid(
            "memberships: expected at least one organisation and role".to_owned(),
        ));
    }
    check_memberships(caller, &invitation.memberships, known)?;
    let now = actor.at;
    let mut tx = store.begin().await?;
    let existing = tx.user_by_email(email.as_str()).await?;
    let existed = existing.is_some();
    let user = match existing {
        Some(user) => user,
        None => {
            tx.insert_user(
                email.as_str(),
                NO_PASSWORD,
                invitation.is_admin,
                &now.to_string(),
            )
            .await?
        }
    };
    for (organisation, role) in &invitation.memberships {
        tx.set_membership(&user.key, organisation, *role).await?;
    }
    let scope = organisations_text(invitation.memberships.iter().map(|(o, _)| o.as_str()));
    let after = json!({
        "email": user.email,
        "is_admin": user.is_admin,
        "memberships": invitation.memberships.iter()
            .map(|(o, r)| json!({"organisation": o, "role": r})).collect::<Vec<_>>(),
    });
    if existed {
        tx.append_audit(vec![actor.entry(
            "grant",
            "user",
            &user.key,
            scope,
            None,
            Some(after.to_string()),
        )])
        .await?;
    } else {
        send_link(
            &mut tx,
            &user,
            INVITATION,
            SignedDuration::from_hours(INVITATION_DAYS * 24),
            (invitation.language, invitation.time_zone.clone()),
            json!({"invited_by": actor.name, "organisations": invitation.memberships.iter()
                .map(|(o, _)| o.clone()).collect::<Vec<_>>()}),
            now,
        )
        .await?;
        tx.append_audit(vec![actor.entry(
            "invite",
            "user",
            &user.key,
            scope,
            None,
            Some(after.to_string()),
        )])
        .await?;
    }
    let memberships = tx.memberships(&user.key).await?;
    let user = tx.user_by_key(&user.key).await?.unwrap_or(user);
    tx.commit().await?;
    Ok(Invited {
        account: account(caller, user, memberships),
        existed,
    })
}

fn organisations_text<'a>(organisations: impl Iterator<Item = &'a str>) -> String {
    organisations.collect::<Vec<_>>().join(" ")
}

/// Writes a one-time link for `user` and the e-mail that carries it (the secret is in the
/// e-mail only).
async fn send_link(
    tx: &mut Tx,
    user: &User,
    purpose: &str,
    valid_for: SignedDuration,
    (language, time_zone): (Language, Option<String>),
    extra: serde_json::Value,
    now: Timestamp,
) -> Result<(), AppError> {
    let (token, token_hash) = new_secret()?;
    let expires = now.checked_add(valid_for).unwrap_or(now);
    tx.close_account_links(&user.key, Some(purpose), &now.to_string())
        .await?;
    tx.insert_account_link(
        &token_hash,
        &user.key,
        purpose,
        &now.to_string(),
        &expires.to_string(),
    )
    .await?;
    let (template, path) = if purpose == INVITATION {
        (
            TemplateKind::MailInvitation,
            format!("/invitations/{token}"),
        )
    } else {
        (
            TemplateKind::MailPasswordReset,
            format!("/password-reset/{token}"),
        )
    };
    let mut data = json!({"email": user.email, "path": path, "expires": expires.to_string()});
    if let (Some(target), Some(fields)) = (data.as_object_mut(), extra.as_object()) {
        target.extend(fields.clone());
    }
    // An e-mail only: no organisation's webhooks hear of an account's links.
    let event = Event {
        kind: if purpose == INVITATION {
            "account.invited"
        } else {
            "account.password_reset"
        },
        subject: user.key.clone(),
        scope: Vec::new(),
        mail: vec![outbox::Mailbox {
            address: user.email.clone(),
            language,
            time_zone,
        }],
        mail_template: Some(template),
        data,
    };
    outbox::write(tx, vec![event], &[], now).await?;
    Ok(())
}

/// Asks for a password-reset link. The answer is the same whether or not the address has an
/// account (and whether or not a link went out): only the mailbox learns. Disabled accounts
/// and addresses sent [`RESETS_PER_HOUR`] links in the last hour get none.
pub async fn request_password_reset(
    store: &Store,
    email: &str,
    language: Language,
    now: Timestamp,
) -> Result<(), AppError> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || email.len() > 320 {
        return Err(AppError::Invalid(
            "email: expected an e-mail address".to_owned(),
        ));
    }
    let mut tx = store.begin().await?;
    let Some(user) = tx.user_by_email(&email).await? else {
        tx.rollback().await?;
        return Ok(());
    };
    let hour_ago = now
        .checked_sub(SignedDuration::from_hours(1))
        .unwrap_or(now);
    if user.disabled_at.is_some()
        || tx
            .account_links_since(&user.key, PASSWORD_RESET, &hour_ago.to_string())
            .await?
            >= RESETS_PER_HOUR
    {
        tx.rollback().await?;
        return Ok(());
    }
    send_link(
        &mut tx,
        &user,
        PASSWORD_RESET,
        SignedDuration::from_mins(RESET_MINUTES),
        // The person's own language and zone where they chose them.
        (
            user.language
                .as_deref()
                .and_then(|l| l.parse().ok())
                .unwrap_or(language),
            user.time_zone.clone(),
        ),
        json!({}),
        now,
    )
    .await?;
    tx.append_audit(vec![Actor::new("anonymous", now).entry(
        "request_password_reset",
        "user",
        &user.key,
        String::new(),
        None,
        None,
    )])
    .await?;
    tx.commit().await?;
    Ok(())
}

const LINK_GONE: &str =
    "this link is not valid: it was used, has expired or was replaced by a newer one";

/// The account a one-time link of `purpose` is for, while it may be used.
pub async fn link_account(
    store: &Store,
    purpose: &str,
    token: &str,
    now: Timestamp,
) -> Result<User, AppError> {
    let mut tx = store.read().await?;
    let link = tx.account_link(&hash_secret(token)).await?;
    let user = match link {
        Some(link)
            if link.purpose == purpose
                && link.used_at.is_none()
                && link
                    .expires_at
                    .parse::<Timestamp>()
                    .is_ok_and(|at| at > now) =>
        {
            tx.user_by_key(&link.user_key).await?
        }
        _ => None,
    };
    tx.rollback().await?;
    user.filter(|u| u.disabled_at.is_none())
        .ok_or_else(|| AppError::NotFound(LINK_GONE.to_owned()))
}

/// Sets the password through a one-time link: the link and every other of the account is
/// used up, and (for a reset) every session of the account ends.
pub async fn complete_link(
    store: &Store,
    purpose: &str,
    token: &str,
    password: &str,
    now: Timestamp,
) -> Result<User, AppError> {
    crate::people::check_password(password)?;
    let user = link_account(store, purpose, token, now).await?;
    let hash = {
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || crate::people::hash_password(&password))
            .await
            .map_err(|e| AppError::Invalid(format!("the password could not be hashed: {e}")))??
    };
    let mut tx = store.begin().await?;
    // Read again in the transaction: two tabs posting the same link set one password.
    let still_open = tx
        .account_link(&hash_secret(token))
        .await?
        .is_some_and(|l| l.used_at.is_none());
    if !still_open {
        return Err(AppError::NotFound(LINK_GONE.to_owned()));
    }
    tx.close_account_links(&user.key, None, &now.to_string())
        .await?;
    tx.set_password_hash(&user.key, &hash).await?;
    let ended = tx.delete_sessions_of(&user.key).await?;
    let action = if purpose == INVITATION {
        "accept_invitation"
    } else {
        "reset_password"
    };
    let after = json!({"sessions_ended": ended}).to_string();
    own_entry(&mut tx, &user, action, Some(after), now).await?;
    tx.commit().await?;
    Ok(user)
}

/// Changes one's own password, the current one given; every other session ends.
pub async fn change_password(
    store: &Store,
    user: &User,
    current: &str,
    new: &str,
    keep_session: Option<&str>,
    now: Timestamp,
) -> Result<(), AppError> {
    crate::people::check_password(new)?;
    let (current, new, stored) = (
        current.to_owned(),
        new.to_owned(),
        user.password_hash.clone(),
    );
    let hash = tokio::task::spawn_blocking(move || {
        if crate::people::password_matches(&current, &stored) {
            crate::people::hash_password(&new).map(Some)
        } else {
            Ok(None)
        }
    })
    .await
    .map_err(|e| AppError::Invalid(format!("the password could not be checked: {e}")))??
    .ok_or_else(|| AppError::Invalid("current_password: not right".to_owned()))?;
    let mut tx = store.begin().await?;
    tx.set_password_hash(&user.key, &hash).await?;
    tx.close_account_links(&user.key, Some(PASSWORD_RESET), &now.to_string())
        .await?;
    match keep_session {
        Some(id_hash) => tx.delete_other_sessions(&user.key, id_hash).await?,
        None => tx.delete_sessions_of(&user.key).await?,
    };
    own_entry(&mut tx, user, "change_password", None, now).await?;
    tx.commit().await?;
    Ok(())
}

/// One's own settings for pages: a time zone (IANA name) and a language; None for either
/// goes back to one's organisation's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub time_zone: Option<String>,
    pub language: Option<custos_render::Language>,
}

/// Sets one's own preferences, both at once (a field left empty: the organisation's).
pub async fn set_preferences(
    store: &Store,
    user: &User,
    time_zone: Option<&str>,
    language: Option<&str>,
    now: Timestamp,
) -> Result<Preferences, AppError> {
    let time_zone = match time_zone.map(str::trim).filter(|z| !z.is_empty()) {
        None => None,
        Some(name) => Some(
            name.parse::<custos_core::values::TimeZoneName>()
                .map_err(|e| AppError::Invalid(format!("time_zone: {e}")))?
                .as_str()
                .to_owned(),
        ),
    };
    let language = match language.map(str::trim).filter(|l| !l.is_empty()) {
        None => None,
        Some(tag) => Some(
            tag.parse::<custos_render::Language>()
                .map_err(|e| AppError::Invalid(format!("language: {e}")))?,
        ),
    };
    let mut tx = store.begin().await?;
    tx.set_user_preferences(
        &user.key,
        time_zone.as_deref(),
        language.map(custos_render::Language::as_str),
    )
    .await?;
    tx.append_audit(vec![Actor::new(format!("user:{}", user.email), now).entry(
        "set_preferences",
        "user",
        &user.key,
        String::new(),
        Some(json!({"time_zone": user.time_zone, "language": user.language}).to_string()),
        Some(
            json!({"time_zone": time_zone, "language": language.map(custos_render::Language::as_str)})
                .to_string(),
        ),
    )])
    .await?;
    tx.commit().await?;
    Ok(Preferences {
        time_zone,
        language,
    })
}

/// Audits what a person did to their own account (`after`: what it says of the change).
async fn own_entry(
    tx: &mut Tx,
    user: &User,
    action: &str,
    after: Option<String>,
    now: Timestamp,
) -> Result<(), AppError> {
    tx.append_audit(vec![Actor::new(format!("user:{}", user.email), now).entry(
        action,
        "user",
        &user.key,
        String::new(),
        None,
        after,
    )])
    .await?;
    Ok(())
}

/// Reads the target and checks that `caller` may manage its account (not its own).
async fn managed_target(
    tx: &mut Tx,
    caller: &Caller,
    caller_key: &str,
    key: &str,
) -> Result<(User, Vec<Membership>), AppError> {
    if !manages_people(caller) {
        return Err(forbidden_people());
    }
    let not_found = || AppError::NotFound(format!("user {key:?}"));
    let user = tx.user_by_key(key).await?.ok_or_else(not_found)?;
    let memberships = tx.memberships(key).await?;
    if !caller.admin
        && !memberships
            .iter()
            .any(|m| administers(caller, &m.organisation))
    {
        return Err(not_found());
    }
    if !may_manage_account(caller, user.is_admin, &memberships) {
        return Err(AppError::Forbidden(format!(
            "{} belongs to organisations you do not administer: ask an instance administrator",
            user.email
        )));
    }
    if user.key == caller_key {
        return Err(AppError::Forbidden(
            "you cannot disable or delete your own account".to_owned(),
        ));
    }
    Ok((user, memberships))
}

/// Disables (`true`) or enables again an account. Disabling ends its sessions at once and
/// makes its tokens and clients refused until it is enabled; its links are used up.
pub async fn set_disabled(
    store: &Store,
    caller: &Caller,
    caller_key: &str,
    actor: &Actor,
    key: &str,
    disabled: bool,
) -> Result<Account, AppError> {
    let mut tx = store.begin().await?;
    let (user, memberships) = managed_target(&mut tx, caller, caller_key, key).await?;
    let at = actor.at.to_string();
    tx.set_user_disabled(key, disabled.then_some(at.as_str()))
        .await?;
    if disabled {
        tx.delete_sessions_of(key).await?;
        tx.close_account_links(key, None, &at).await?;
    }
    tx.append_audit(vec![actor.entry(
        if disabled { "disable" } else { "enable" },
        "user",
        key,
        organisations_text(memberships.iter().map(|m| m.organisation.as_str())),
        None,
        Some(json!({"email": user.email}).to_string()),
    )])
    .await?;
    let user = tx.user_by_key(key).await?.unwrap_or(user);
    tx.commit().await?;
    Ok(account(caller, user, memberships))
}

/// Deletes an account with its memberships, sessions, tokens and clients. The audit log
/// keeps what it did, under its address.
pub async fn delete(
    store: &Store,
    caller: &Caller,
    caller_key: &str,
    actor: &Actor,
    key: &str,
) -> Result<(), AppError> {
    let mut tx = store.begin().await?;
    let (user, memberships) = managed_target(&mut tx, caller, caller_key, key).await?;
    tx.delete_user(key).await?;
    tx.append_audit(vec![
        actor.entry(
            "delete",
            "user",
            key,
            organisations_text(memberships.iter().map(|m| m.organisation.as_str())),
            Some(
                json!({"email": user.email, "is_admin": user.is_admin,
                   "memberships": memberships.iter()
                       .map(|m| json!({"organisation": m.organisation, "role": m.role}))
                       .collect::<Vec<_>>()})
                .to_string(),
            ),
            None,
        ),
    ])
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets (`Some(role)`) or removes (`None`) the account's membership of each organisation
/// named; every one must be administered by `caller`. Memberships elsewhere stay.
pub async fn set_memberships(
    store: &Store,
    caller: &Caller,
    actor: &Actor,
    key: &str,
    changes: Vec<(String, Option<Role>)>,
    known: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Account, AppError> {
    if !manages_people(caller) {
        return Err(forbidden_people());
    }
    let granted: Vec<(String, Role)> = changes
        .iter()
        .filter_map(|(o, r)| r.map(|r| (o.clone(), r)))
        .collect();
    check_memberships(caller, &granted, known)?;
    for (organisation, _) in &changes {
        if !administers(caller, organisation) {
            return Err(AppError::Forbidden(format!(
                "only an admin of {organisation} (or an instance administrator) removes roles in it"
            )));
        }
    }
    let mut tx = store.begin().await?;
    let user = tx
        .user_by_key(key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("user {key:?}")))?;
    let before = tx.memberships(key).await?;
    if !caller.admin && !before.iter().any(|m| administers(caller, &m.organisation)) {
        return Err(AppError::NotFound(format!("user {key:?}")));
    }
    for (organisation, role) in &changes {
        match role {
            Some(role) => tx.set_membership(key, organisation, *role).await?,
            None => {
                tx.remove_membership(key, organisation).await?;
            }
        }
    }
    let after = tx.memberships(key).await?;
    let text = |ms: &[Membership]| {
        json!(
            ms.iter()
                .filter(|m| changes.iter().any(|(o, _)| *o == m.organisation))
                .map(|m| json!({"organisation": m.organisation, "role": m.role}))
                .collect::<Vec<_>>()
        )
        .to_string()
    };
    tx.append_audit(vec![actor.entry(
        "set_memberships",
        "user",
        key,
        organisations_text(changes.iter().map(|(o, _)| o.as_str())),
        Some(text(&before)),
        Some(text(&after)),
    )])
    .await?;
    tx.commit().await?;
    Ok(account(caller, user, after))
}

/// Makes an organisation require (or no longer require) a second factor of its members.
pub async fn set_totp_required(
    store: &Store,
    caller: &Caller,
    actor: &Actor,
    organisation: &str,
    required: bool,
) -> Result<(), AppError> {
    if !administers(caller, organisation) {
        return Err(AppError::Forbidden(format!(
            "only an admin of {organisation} (or an instance administrator) sets what it requires"
        )));
    }
    let mut tx = store.begin().await?;
    tx.set_totp_required(organisation, required, &actor.at.to_string(), &actor.name)
        .await?;
    tx.append_audit(vec![actor.entry(
        "set_security",
        "organisation",
        organisation,
        organisation.to_owned(),
        None,
        Some(json!({"require_totp": required}).to_string()),
    )])
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The organisations that require a second factor.
pub async fn organisations_requiring_totp(store: &Store) -> Result<Vec<String>, AppError> {
    Ok(store.pool().organisations_requiring_totp().await?)
}

/// What a user sees while setting up a second factor.
#[derive(Debug, Clone)]
pub struct TotpOffer {
    pub key: String,
    pub uri: String,
}

/// Offers a new TOTP key to `user` (replacing any earlier offer); confirmed by a code.
pub async fn totp_offer(store: &Store, user: &User, issuer: &str) -> Result<TotpOffer, AppError> {
    if user.totp {
        return Err(AppError::Conflict(
            "two-factor sign-in is on already: turn it off first to change the key".to_owned(),
        ));
    }
    let key = crate::totp::new_key()?;
    let mut tx = store.begin().await?;
    tx.set_totp_pending(&user.key, Some(&key)).await?;
    tx.commit().await?;
    Ok(TotpOffer {
        uri: crate::totp::uri(issuer, &user.email, &key),
        key,
    })
}

/// The key offered and not yet confirmed, if any.
pub async fn totp_pending(
    store: &Store,
    user: &User,
    issuer: &str,
) -> Result<Option<TotpOffer>, AppError> {
    let mut tx = store.read().await?;
    let state = tx.totp_state(&user.key).await?;
    tx.rollback().await?;
    Ok(state.pending.map(|key| TotpOffer {
        uri: crate::totp::uri(issuer, &user.email, &key),
        key,
    }))
}

fn new_recovery_codes() -> Result<(Vec<String>, Vec<String>), AppError> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut bytes = [0u8; 10];
        getrandom::fill(&mut bytes)
            .map_err(|e| AppError::Invalid(format!("no randomness available: {e}")))?;
        let text = data_encoding::BASE32_NOPAD.encode(&bytes).to_lowercase();
        codes.push(format!("{}-{}", &text[..8], &text[8..]));
    }
    let hashes = codes.iter().map(|c| hash_secret(c)).collect();
    Ok((codes, hashes))
}

/// Confirms the offered key with a code from the app: two-factor sign-in is on from now, and
/// the recovery codes (shown this once) are returned.
pub async fn totp_confirm(
    store: &Store,
    user: &User,
    code: &str,
    now: Timestamp,
) -> Result<Vec<String>, AppError> {
    let mut tx = store.begin().await?;
    let state = tx.totp_state(&user.key).await?;
    let Some(key) = state.pending else {
        return Err(AppError::Conflict(
            "no key is being set up: start again".to_owned(),
        ));
    };
    let Some(step) = crate::totp::verify(&key, code, now.as_second()) else {
        return Err(AppError::Invalid(
            "code: not the code the app shows for this key (check the phone's clock)".to_owned(),
        ));
    };
    tx.confirm_totp(&user.key, &key, step).await?;
    let (codes, hashes) = new_recovery_codes()?;
    tx.replace_recovery_codes(&user.key, &hashes).await?;
    own_entry(&mut tx, user, "enable_totp", None, now).await?;
    tx.commit().await?;
    Ok(codes)
}

/// Whether `code` is the user's current TOTP code (each step taken once) or one of its unused
/// recovery codes (used up). Writes in `tx`; the caller commits.
pub async fn second_factor_matches(
    tx: &mut Tx,
    user_key: &str,
    code: &str,
    now: Timestamp,
) -> Result<bool, AppError> {
    let state = tx.totp_state(user_key).await?;
    let Some(key) = state.secret else {
        return Ok(false);
    };
    if let Some(step) = crate::totp::verify(&key, code, now.as_second()) {
        return Ok(tx.take_totp_step(user_key, step).await?);
    }
    let recovery = code.trim().to_lowercase();
    if recovery.len() == 17 {
        return Ok(tx
            .use_recovery_code(user_key, &hash_secret(&recovery), &now.to_string())
            .await?);
    }
    Ok(false)
}

/// Refuses (at the `code` field) a code that is neither current nor an unused recovery code.
async fn require_second_factor(
    tx: &mut Tx,
    user: &User,
    code: &str,
    now: Timestamp,
) -> Result<(), AppError> {
    if second_factor_matches(tx, &user.key, code, now).await? {
        Ok(())
    } else {
        Err(AppError::Invalid(
            "code: not a current code or an unused recovery code".to_owned(),
        ))
    }
}

/// Turns two-factor sign-in off, with a current code (or a recovery code).
pub async fn totp_disable(
    store: &Store,
    user: &User,
    code: &str,
    now: Timestamp,
) -> Result<(), AppError> {
    let mut tx = store.begin().await?;
    require_second_factor(&mut tx, user, code, now).await?;
    tx.clear_totp(&user.key).await?;
    own_entry(&mut tx, user, "disable_totp", None, now).await?;
    tx.commit().await?;
    Ok(())
}

/// New recovery codes in place of the old, with a current code.
pub async fn renew_recovery_codes(
    store: &Store,
    user: &User,
    code: &str,
    now: Timestamp,
) -> Result<Vec<String>, AppError> {
    let mut tx = store.begin().await?;
    require_second_factor(&mut tx, user, code, now).await?;
    let (codes, hashes) = new_recovery_codes()?;
    tx.replace_recovery_codes(&user.key, &hashes).await?;
    own_entry(&mut tx, user, "renew_recovery_codes", None, now).await?;
    tx.commit().await?;
    Ok(codes)
}

/// Recovery codes not used yet.
pub async fn recovery_codes_left(store: &Store, user: &User) -> Result<u64, AppError> {
    let mut tx = store.read().await?;
    let left = tx.recovery_codes_left(&user.key).await?;
    tx.rollback().await?;
    Ok(left)
}

/// Registers an OAuth2 client acting as `user` with `scopes`; returns it and its secret
/// (shown once).
pub async fn create_client(
    store: &Store,
    user: &User,
    name: &str,
    scopes: Vec<Scope>,
    actor: &Actor,
) -> Result<(OAuthClient, String), AppError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(AppError::Invalid(
            "name: expected 1 to 100 characters".to_owned(),
        ));
    }
    if scopes.contains(&Scope::Tokens) {
        return Err(AppError::Invalid(
            "scopes: a client gets read and write at most (tokens are managed by people)"
                .to_owned(),
        ));
    }
    let scopes = if scopes.is_empty() {
        vec![Scope::Read]
    } else {
        scopes
    };
    let (secret, secret_hash) = new_secret()?;
    let client = OAuthClient {
        client_id: format!("custos-client-{}", uuid::Uuid::now_v7().simple()),
        user_key: user.key.clone(),
        name: name.to_owned(),
        secret_hash,
        scopes,
        created_at: actor.at.to_string(),
        revoked_at: None,
    };
    let mut tx = store.begin().await?;
    tx.insert_oauth_client(&client).await?;
    tx.append_audit(vec![actor.entry(
        "create",
        "oauth-client",
        &client.client_id,
        String::new(),
        None,
        Some(crate::audit::json(&client)?),
    )])
    .await?;
    tx.commit().await?;
    Ok((client, secret))
}

pub async fn clients_of(store: &Store, user: &User) -> Result<Vec<OAuthClient>, AppError> {
    let mut tx = store.read().await?;
    let clients = tx.oauth_clients_of(&user.key).await?;
    tx.rollback().await?;
    Ok(clients)
}

/// Revokes one of `user`'s clients and the access tokens it holds; false when it has none
/// such.
pub async fn revoke_client(
    store: &Store,
    user: &User,
    client_id: &str,
    actor: &Actor,
) -> Result<bool, AppError> {
    let mut tx = store.begin().await?;
    if !tx
        .revoke_oauth_client(&user.key, client_id, &actor.at.to_string())
        .await?
    {
        return Ok(false);
    }
    tx.append_audit(vec![actor.entry(
        "revoke",
        "oauth-client",
        client_id,
        String::new(),
        None,
        None,
    )])
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Why a token request is refused (RFC 6749, section 5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantError {
    /// Unknown client, wrong secret, revoked client or disabled account.
    InvalidClient,
    /// A scope the client was not given.
    InvalidScope(String),
}

/// An access token issued to a client.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: String,
    pub expires_in: i64,
    pub scopes: Vec<Scope>,
}

/// The client credentials grant: a short-lived API token for a client whose secret is right,
/// with the scopes asked for (those it was given when none are asked).
pub async fn client_credentials(
    store: &Store,
    client_id: &str,
    secret: &str,
    asked: Option<Vec<Scope>>,
    token_prefix: &str,
    now: Timestamp,
) -> Result<Result<AccessToken, GrantError>, AppError> {
    let mut tx = store.begin().await?;
    let client = tx.oauth_client(client_id).await?;
    let Some(client) = client.filter(|c| {
        c.revoked_at.is_none() && constant_time_eq(&c.secret_hash, &hash_secret(secret))
    }) else {
        tx.rollback().await?;
        return Ok(Err(GrantError::InvalidClient));
    };
    let Some(user) = tx
        .user_by_key(&client.user_key)
        .await?
        .filter(|u| u.disabled_at.is_none())
    else {
        tx.rollback().await?;
        return Ok(Err(GrantError::InvalidClient));
    };
    let scopes = match asked {
        None => client.scopes.clone(),
        Some(asked) => {
            if let Some(extra) = asked.iter().find(|s| !client.scopes.contains(s)) {
                tx.rollback().await?;
                return Ok(Err(GrantError::InvalidScope(format!(
                    "the client was not given the scope {}",
                    crate::audit::json(extra)?.trim_matches('"')
                ))));
            }
            asked
        }
    };
    let (secret, _) = new_secret()?;
    let token = format!("{token_prefix}{secret}");
    let expires = now
        .checked_add(SignedDuration::from_secs(ACCESS_TOKEN_SECONDS))
        .unwrap_or(now);
    let record = tx
        .insert_token(
            &user.key,
            &custos_store::NewToken {
                name: format!("client:{}", client.client_id),
                token_hash: hash_secret(&token),
                scopes: scopes.clone(),
                created_at: now.to_string(),
                expires_at: Some(expires.to_string()),
            },
        )
        .await?;
    tx.append_audit(vec![
        Actor::new(
            format!("client:{} of user:{}", client.name, user.email),
            now,
        )
        .entry(
            "issue",
            "api-token",
            &record.key,
            String::new(),
            None,
            Some(
                json!({"client_id": client.client_id, "expires_at": record.expires_at}).to_string(),
            ),
        ),
    ])
    .await?;
    tx.commit().await?;
    Ok(Ok(AccessToken {
        token,
        expires_in: ACCESS_TOKEN_SECONDS,
        scopes,
    }))
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
