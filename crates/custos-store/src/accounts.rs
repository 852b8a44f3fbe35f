//! Accounts beyond signing in with a password: listing and disabling them, one-time links
//! (invitations, password resets), TOTP keys and recovery codes, sign-ins waiting for their
//! second factor, organisations that require one, and OAuth2 clients. Secrets are stored as
//! hashes made by the caller, except the TOTP key (the server computes codes from it).

use serde::Serialize;
use sqlx::Row;

use crate::people::{USER_COLUMNS, parse_scopes, scopes_text, user};
use crate::{Membership, Role, Scope, StoreError, Tx, User};

/// A one-time link's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLink {
    pub user_key: String,
    pub purpose: String,
    pub created_at: String,
    pub expires_at: String,
    pub used_at: Option<String>,
}

/// A user's TOTP key, the key offered while enrolling, and the last time step accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TotpState {
    pub secret: Option<String>,
    pub pending: Option<String>,
    pub last_step: Option<i64>,
}

/// A sign-in whose password was right, waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    pub user_key: String,
    pub expires_at: String,
    pub attempts: i64,
}

/// An OAuth2 client (never its secret, only the secret's hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct OAuthClient {
    pub client_id: String,
    #[serde(skip)]
    pub user_key: String,
    pub name: String,
    #[serde(skip)]
    pub secret_hash: String,
    pub scopes: Vec<Scope>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

const CLIENT_COLUMNS: &str =
    "client_id, user_key, name, secret_hash, scopes, created_at, revoked_at";

fn oauth_client(row: &sqlx::any::AnyRow) -> Result<OAuthClient, StoreError> {
    let scopes: String = row.try_get(4)?;
    Ok(OAuthClient {
        client_id: row.try_get(0)?,
        user_key: row.try_get(1)?,
        name: row.try_get(2)?,
        secret_hash: row.try_get(3)?,
        scopes: parse_scopes(&scopes),
        created_at: row.try_get(5)?,
        revoked_at: row.try_get(6)?,
    })
}

impl Tx {
    /// Every user with its memberships, by e-mail address.
    pub async fn users_with_memberships(
        &mut self,
    ) -> Result<Vec<(User, Vec<Membership>)>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY users.email");
        let users = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *self.inner)
            .await?;
        let rows = sqlx::query(
            "SELECT user_key, organisation, role FROM memberships ORDER BY user_key, organisation",
        )
        .fetch_all(&mut *self.inner)
        .await?;
        let mut memberships: std::collections::HashMap<String, Vec<Membership>> =
            std::collections::HashMap::new();
        for row in &rows {
            let user_key: String = row.try_get(0)?;
            let organisation: String = row.try_get(1)?;
            let role: String = row.try_get(2)?;
            let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt {
                table: "memberships",
                slug: organisation.clone(),
                reason: format!("unknown role {role:?}"),
            })?;
            memberships
                .entry(user_key)
                .or_default()
                .push(Membership { organisation, role });
        }
        users
            .iter()
            .map(|row| {
                let user = user(row)?;
                let of_user = memberships.remove(&user.key).unwrap_or_default();
                Ok((user, of_user))
            })
            .collect()
    }

    pub async fn user_by_key(&mut self, key: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE users.key = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?;
        row.as_ref().map(user).transpose()
    }

    /// Disables (`Some(at)`) or enables (`None`) an account; false when there is none.
    pub async fn set_user_disabled(
        &mut self,
        key: &str,
        disabled_at: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET disabled_at = $2 WHERE key = $1")
            .bind(key.to_owned())
            .bind(disabled_at.map(str::to_owned))
            .execute(&mut *self.inner)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes an account with its memberships, sessions, tokens, links and clients.
    pub async fn delete_user(&mut self, key: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM users WHERE key = $1")
            .bind(key.to_owned())
            .execute(&mut *self.inner)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn remove_membership(
        &mut self,
        user_key: &str,
        organisation: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM memberships WHERE user_key = $1 AND organisation = $2")
            .bind(user_key.to_owned())
            .bind(organisation.to_owned())
            .execute(&mut *self.inner)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends every session of the user (and any sign-in waiting for its second factor).
    pub async fn delete_sessions_of(&mut self, user_key: &str) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM pending_sign_ins WHERE user_key = $1")
            .bind(user_key.to_owned())
            .execute(&mut *self.inner)
            .await?;
        let done = sqlx::query("DELETE FROM sessions WHERE user_key = $1")
            .bind(user_key.to_owned())
            .execute(&mut *self.inner)
            .await?;
        Ok(done.rows_affected())
    }

    /// Sets (or, with None, clears) the person's own time zone and language.
    pub async fn set_user_preferences(
        &mut self,
        user_key: &str,
        time_zone: Option<&str>,
        language: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET time_zone = $2, language = $3 WHERE key = $1")
            .bind(user_key.to_owned())
            .bind(time_zone.map(str::to_owned))
            .bind(language.map(str::to_owned))
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    /// Ends every session of the user but `keep` (the one changing the password).
    pub async fn delete_other_sessions(
        &mut self,
        user_key: &str,
        keep: &str,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_key = $1 AND id_hash <> $2")
            .bind(user_key.to_owned())
            .bind(keep.to_owned())
            .execute(&mut *self.inner)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn set_password_hash(
        &mut self,
        user_key: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $2 WHERE key = $1")
            .bind(user_key.to_owned())
            .bind(password_hash.to_owned())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    pub async fn insert_account_link(
        &mut self,
        token_hash: &str,
        user_key: &str,
        purpose: &str,
        created_at: &str,
        expires_at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO account_links (token_hash, user_key, purpose, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash.to_owned())
        .bind(user_key.to_owned())
        .bind(purpose.to_owned())
        .bind(created_at.to_owned())
        .bind(expires_at.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn account_link(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<AccountLink>, StoreError> {
        let row = sqlx::query(
            "SELECT user_key, purpose, created_at, expires_at, used_at FROM account_links \
             WHERE token_hash = $1",
        )
        .bind(token_hash.to_owned())
        .fetch_optional(&mut *self.inner)
        .await?;
        row.map(|row| {
            Ok(AccountLink {
                user_key: row.try_get(0)?,
                purpose: row.try_get(1)?,
                created_at: row.try_get(2)?,
                expires_at: row.try_get(3)?,
                used_at: row.try_get(4)?,
            })
        })
        .transpose()
    }

    /// Marks every unused link of the user as used (`purpose`: one kind, or all when None).
    pub async fn close_account_links(
        &mut self,
        user_key: &str,
        purpose: Option<&str>,
        at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE account_links SET used_at = $3 WHERE user_key = $1 AND used_at IS NULL \
             AND ($2 IS NULL OR purpose = $2)",
        )
        .bind(user_key.to_owned())
        .bind(purpose.map(str::to_owned))
        .bind(at.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    /// How many links of `purpose` the user was sent since `since`.
    pub async fn account_links_since(
        &mut self,
        user_key: &str,
        purpose: &str,
        since: &str,
    ) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) FROM account_links WHERE user_key = $1 AND purpose = $2 \
             AND created_at >= $3",
        )
        .bind(user_key.to_owned())
        .bind(purpose.to_owned())
        .bind(since.to_owned())
        .fetch_one(&mut *self.inner)
        .await?
        .try_get(0)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Whether the user has an unused, unexpired link of `purpose` (an invitation pending).
    pub async fn open_account_link(
        &mut self,
        user_key: &str,
        purpose: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) FROM account_links WHERE user_key = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3",
        )
        .bind(user_key.to_owned())
        .bind(purpose.to_owned())
        .bind(now.to_owned())
        .fetch_one(&mut *self.inner)
        .await?
        .try_get(0)?;
        Ok(count > 0)
    }

    pub async fn totp_state(&mut self, user_key: &str) -> Result<TotpState, StoreError> {
        let row = sqlx::query(
            "SELECT totp_secret, totp_pending, totp_last_step FROM users WHERE key = $1",
        )
        .bind(user_key.to_owned())
        .fetch_optional(&mut *self.inner)
        .await?;
        row.map_or(Ok(TotpState::default()), |row| {
            Ok(TotpState {
                secret: row.try_get(0)?,
                pending: row.try_get(1)?,
                last_step: row.try_get(2)?,
            })
        })
    }

    /// Offers a key for enrolment (or withdraws the offer with None).
    pub async fn set_totp_pending(
        &mut self,
        user_key: &str,
        secret: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET totp_pending = $2 WHERE key = $1")
            .bind(user_key.to_owned())
            .bind(secret.map(str::to_owned))
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    /// Makes the offered key the account's, with the step of the code that confirmed it.
    pub async fn confirm_totp(
        &mut self,
        user_key: &str,
        secret: &str,
        step: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE users SET totp_secret = $2, totp_pending = NULL, totp_last_step = $3 \
             WHERE key = $1",
        )
        .bind(user_key.to_owned())
        .bind(secret.to_owned())
        .bind(step)
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    /// Takes a code's time step; false when that step (or a later one) was taken already, so
    /// that a code seen over a shoulder cannot be used a second time.
    pub async fn take_totp_step(&mut self, user_key: &str, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $2 WHERE key = $1 \
             AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(user_key.to_owned())
        .bind(step)
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes the second factor and its recovery codes.
    pub async fn clear_totp(&mut self, user_key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL \
             WHERE key = $1",
        )
        .bind(user_key.to_owned())
        .execute(&mut *self.inner)
        .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_key = $1")
            .bind(user_key.to_owned())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    pub async fn replace_recovery_codes(
        &mut self,
        user_key: &str,
        code_hashes: &[String],
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM recovery_codes WHERE user_key = $1")
            .bind(user_key.to_owned())
            .execute(&mut *self.inner)
            .await?;
        for hash in code_hashes {
            sqlx::query("INSERT INTO recovery_codes (user_key, code_hash) VALUES ($1, $2)")
                .bind(user_key.to_owned())
                .bind(hash.clone())
                .execute(&mut *self.inner)
                .await?;
        }
        Ok(())
    }

    /// Uses one recovery code; false when it is not the user's or was used.
    pub async fn use_recovery_code(
        &mut self,
        user_key: &str,
        code_hash: &str,
        at: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE user_key = $1 AND code_hash = $2 \
             AND used_at IS NULL",
        )
        .bind(user_key.to_owned())
        .bind(code_hash.to_owned())
        .bind(at.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn recovery_codes_left(&mut self, user_key: &str) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_key = $1 AND used_at IS NULL",
        )
        .bind(user_key.to_owned())
        .fetch_one(&mut *self.inner)
        .await?
        .try_get(0)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub async fn insert_pending_sign_in(
        &mut self,
        id_hash: &str,
        user_key: &str,
        expires_at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pending_sign_ins (id_hash, user_key, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(id_hash.to_owned())
        .bind(user_key.to_owned())
        .bind(expires_at.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn pending_sign_in(
        &mut self,
        id_hash: &str,
    ) -> Result<Option<PendingSignIn>, StoreError> {
        let row = sqlx::query(
            "SELECT user_key, expires_at, attempts FROM pending_sign_ins WHERE id_hash = $1",
        )
        .bind(id_hash.to_owned())
        .fetch_optional(&mut *self.inner)
        .await?;
        row.map(|row| {
            let attempts: i64 = row.try_get::<i32, _>(2).map(i64::from)?;
            Ok(PendingSignIn {
                user_key: row.try_get(0)?,
                expires_at: row.try_get(1)?,
                attempts,
            })
        })
        .transpose()
    }

    pub async fn count_pending_attempt(&mut self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE pending_sign_ins SET attempts = attempts + 1 WHERE id_hash = $1")
            .bind(id_hash.to_owned())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    pub async fn delete_pending_sign_in(&mut self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pending_sign_ins WHERE id_hash = $1")
            .bind(id_hash.to_owned())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    /// The organisations that require a second factor of their members.
    pub async fn organisations_requiring_totp(&mut self) -> Result<Vec<String>, StoreError> {
        requiring_totp_on(&mut *self.inner).await
    }

    pub async fn set_totp_required(
        &mut self,
        organisation: &str,
        required: bool,
        at: &str,
        by: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO organisation_security (organisation, require_totp, changed_at, changed_by) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (organisation) DO UPDATE SET \
             require_totp = excluded.require_totp, changed_at = excluded.changed_at, \
             changed_by = excluded.changed_by",
        )
        .bind(organisation.to_owned())
        .bind(i32::from(required))
        .bind(at.to_owned())
        .bind(by.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn insert_oauth_client(&mut self, client: &OAuthClient) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_clients (client_id, user_key, name, secret_hash, scopes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(client.client_id.clone())
        .bind(client.user_key.clone())
        .bind(client.name.clone())
        .bind(client.secret_hash.clone())
        .bind(scopes_text(&client.scopes))
        .bind(client.created_at.clone())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn oauth_client(
        &mut self,
        client_id: &str,
    ) -> Result<Option<OAuthClient>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(client_id.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?;
        row.as_ref().map(oauth_client).transpose()
    }

    /// The user's clients, newest first.
    pub async fn oauth_clients_of(
        &mut self,
        user_key: &str,
    ) -> Result<Vec<OAuthClient>, StoreError> {
        let sql = format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE user_key = $1 \
             ORDER BY created_at DESC, client_id DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_key.to_owned())
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter().map(oauth_client).collect()
    }

    /// Revokes one of the user's clients and every access token it obtained.
    pub async fn revoke_oauth_client(
        &mut self,
        user_key: &str,
        client_id: &str,
        at: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE oauth_clients SET revoked_at = $3 WHERE user_key = $1 AND client_id = $2 \
             AND revoked_at IS NULL",
        )
        .bind(user_key.to_owned())
        .bind(client_id.to_owned())
        .bind(at.to_owned())
        .execute(&mut *self.inner)
        .await?;
        if done.rows_affected() > 0 {
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $3 WHERE user_key = $1 AND name = $2 \
                 AND revoked_at IS NULL",
            )
            .bind(user_key.to_owned())
            .bind(format!("client:{client_id}"))
            .bind(at.to_owned())
            .execute(&mut *self.inner)
            .await?;
        }
        Ok(done.rows_affected() > 0)
    }
}

async fn requiring_totp_on<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query(
        "SELECT organisation FROM organisation_security WHERE require_totp = 1 \
         ORDER BY organisation",
    )
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| row.try_get(0).map_err(StoreError::from))
        .collect()
}

impl crate::Store {
    /// The organisations that require a second factor, read without a transaction (on each
    /// authentication not served from the cache).
    pub async fn organisations_requiring_totp(&self) -> Result<Vec<String>, StoreError> {
        requiring_totp_on(&self.pool).await
    }
}

/// A sign-in on its way through the OpenID Provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcPending {
    pub verifier: String,
    pub nonce: String,
    pub next: String,
    pub expires_at: String,
}

impl Tx {
    pub async fn insert_oidc_pending(
        &mut self,
        state_hash: &str,
        pending: &OidcPending,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oidc_pending (state_hash, verifier, nonce, next, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(state_hash.to_owned())
        .bind(pending.verifier.clone())
        .bind(pending.nonce.clone())
        .bind(pending.next.clone())
        .bind(pending.expires_at.clone())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    /// Takes (reads and deletes) the sign-in of this state: each is finished once.
    pub async fn take_oidc_pending(
        &mut self,
        state_hash: &str,
    ) -> Result<Option<OidcPending>, StoreError> {
        let row = sqlx::query(
            "SELECT verifier, nonce, next, expires_at FROM oidc_pending WHERE state_hash = $1",
        )
        .bind(state_hash.to_owned())
        .fetch_optional(&mut *self.inner)
        .await?;
        sqlx::query("DELETE FROM oidc_pending WHERE state_hash = $1")
            .bind(state_hash.to_owned())
            .execute(&mut *self.inner)
            .await?;
        row.map(|row| {
            Ok(OidcPending {
                verifier: row.try_get(0)?,
                nonce: row.try_get(1)?,
                next: row.try_get(2)?,
                expires_at: row.try_get(3)?,
            })
        })
        .transpose()
    }

    /// Forgets sign-ins that were never finished.
    pub async fn delete_expired_oidc_pending(&mut self, now: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM oidc_pending WHERE expires_at <= $1")
            .bind(now.to_owned())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    /// The account linked to the provider's subject.
    pub async fn oidc_identity(
        &mut self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<String>, StoreError> {
        let row =
            sqlx::query("SELECT user_key FROM oidc_identities WHERE issuer = $1 AND subject = $2")
                .bind(issuer.to_owned())
                .bind(subject.to_owned())
                .fetch_optional(&mut *self.inner)
                .await?;
        row.map(|row| row.try_get(0).map_err(StoreError::from))
            .transpose()
    }

    pub async fn link_oidc_identity(
        &mut self,
        issuer: &str,
        subject: &str,
        user_key: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oidc_identities (issuer, subject, user_key, linked_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(issuer.to_owned())
        .bind(subject.to_owned())
        .bind(user_key.to_owned())
        .bind(at.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn insert_oidc_session(
        &mut self,
        session_hash: &str,
        id_token: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO oidc_sessions (session_hash, id_token) VALUES ($1, $2)")
            .bind(session_hash.to_owned())
            .bind(id_token.to_owned())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    /// The ID token a session was started with, if it was started through the provider.
    pub async fn oidc_session(&mut self, session_hash: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT id_token FROM oidc_sessions WHERE session_hash = $1")
            .bind(session_hash.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?;
        row.map(|row| row.try_get(0).map_err(StoreError::from))
            .transpose()
    }
}
