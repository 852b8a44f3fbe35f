//! Users: created with an argon2id password hash, never the password; every creation audited.

use crate::Store;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use custos_core::values::{Email, Slug};
use custos_store::{Role, User};
use serde_json::json;

use crate::AppError;
use crate::audit::Actor;

/// Shortest password accepted (NIST SP 800-63B asks at least 8; we ask more).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted: argon2 hashes anything, but a bound keeps requests cheap.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A new user and what it may do.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub password: String,
    pub is_admin: bool,
    pub memberships: Vec<(String, Role)>,
}

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes) and a random salt.
pub fn hash_password(password: &str) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::Invalid(format!("the password could not be hashed: {e}")))
}

/// Whether `password` matches the stored hash.
pub fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

pub(crate) fn check_password(password: &str) -> Result<(), AppError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::Invalid(format!(
            "password: expected at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::Invalid(format!(
            "password: expected at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Creates a user, in one transaction with its memberships and its audit entry.
pub async fn create_user(store: &Store, new: NewUser, actor: &Actor) -> Result<User, AppError> {
    create(store, new, actor, false).await
}

/// Creates the instance's first administrator, only while no user exists: the check and the
/// creation are one transaction, so two setups racing cannot both succeed (the second is a
/// conflict).
pub async fn create_first_admin(
    store: &Store,
    email: String,
    password: String,
    actor: &Actor,
) -> Result<User, AppError> {
    let new = NewUser {
        email,
        password,
        is_admin: true,
        memberships: Vec::new(),
    };
    create(store, new, actor, true).await
}

async fn create(
    store: &Store,
    new: NewUser,
    actor: &Actor,
    only_if_first: bool,
) -> Result<User, AppError> {
    let email: Email = new
        .email
        .trim()
        .to_lowercase()
        .parse()
        .map_err(|e| AppError::Invalid(format!("email: {e}")))?;
    check_password(&new.password)?;
    for (organisation, _) in &new.memberships {
        organisation
            .parse::<Slug>()
            .map_err(|e| AppError::Invalid(format!("organisation: {e}")))?;
    }
    let password_hash = hash_password(&new.password)?;
    let mut tx = store.begin().await?;
    if only_if_first && tx.count_users().await? > 0 {
        return Err(AppError::Conflict(
            "the instance has users already: no setup is pending".to_owned(),
        ));
    }
    let user = tx
        .insert_user(
            email.as_str(),
            &password_hash,
            new.is_admin,
            &actor.at.to_string(),
        )
        .await?;
    for (organisation, role) in &new.memberships {
        tx.set_membership(&user.key, organisation, *role).await?;
    }
    let after = json!({
        "email": user.email,
        "is_admin": user.is_admin,
        "memberships": new
            .memberships
            .iter()
            .map(|(organisation, role)| json!({"organisation": organisation, "role": role}))
            .collect::<Vec<_>>(),
    });
    let scope = new
        .memberships
        .iter()
        .map(|(organisation, _)| organisation.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    tx.append_audit(vec![actor.entry(
        "create",
        "user",
        &user.key,
        scope,
        None,
        Some(after.to_string()),
    )])
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// The policy's view of the user with this e-mail address: administrator or not, and its
/// memberships.
pub async fn caller_of(store: &Store, email: &str) -> Result<crate::policy::Caller, AppError> {
    let mut tx = store.read().await?;
    let email = email.trim().to_lowercase();
    let user = tx
        .user_by_email(&email)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("user {email}")))?;
    let memberships = tx.memberships(&user.key).await?;
    tx.rollback().await?;
    Ok(crate::policy::Caller {
        admin: user.is_admin,
        memberships,
    })
}

/// The user with this e-mail address, if any.
pub async fn user_by_email(store: &Store, email: &str) -> Result<Option<User>, AppError> {
    let mut tx = store.read().await?;
    let user = tx.user_by_email(&email.trim().to_lowercase()).await?;
    tx.rollback().await?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// Two setups racing: exactly one first administrator, the other a conflict.
    #[tokio::test]
    async fn only_one_first_administrator_is_ever_created() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("c.db").display()))
            .await
            .unwrap();
        let actor = Actor::new("setup", "2026-11-25T10:00:00Z".parse().unwrap());
        let attempt = |n: u32| {
            let (store, actor) = (store.clone(), actor.clone());
            tokio::spawn(async move {
                create_first_admin(
                    &store,
                    format!("admin{n}@custos.test"),
                    "a long enough password".to_owned(),
                    &actor,
                )
                .await
            })
        };
        let (first, second) = (attempt(1), attempt(2));
        let results = [first.await.unwrap(), second.await.unwrap()];
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(AppError::Conflict(_)))),
            "{results:?}"
        );
        let mut tx = store.read().await.unwrap();
        assert_eq!(tx.count_users().await.unwrap(), 1);
    }
}
