//! The people who use Custos: users (argon2id password hashes, made in custos-app), their
//! roles in organisations, server-side sessions and API tokens. Secrets are stored only as
//! hashes; a session id or a token is shown once, to its owner.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{StoreError, Tx};

/// What a user may do in one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A processor's staff: sees its own links and what they engage below.
    Portal,
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Portal => "portal",
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "portal" => Some(Self::Portal),
            "viewer" => Some(Self::Viewer),
            "editor" => Some(Self::Editor),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// Whether the role may change the register.
    pub fn writes(self) -> bool {
        matches!(self, Self::Editor | Self::Admin)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub key: String,
    pub email: String,
    #[serde(skip)]
    pub password_hash: String,
    /// An instance administrator: sees and may change everything.
    pub is_admin: bool,
    pub created_at: String,
    /// When the account was disabled: it cannot sign in, its sessions and tokens are refused.
    pub disabled_at: Option<String>,
    /// Whether a TOTP second factor is confirmed for the account.
    pub totp: bool,
    /// The person's own time zone for pages (IANA); none, their organisation's.
    pub time_zone: Option<String>,
    /// The person's own language for pages (`en`, `es`); none, their organisation's.
    pub language: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub organisation: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: String,
}

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Read,
    Write,
    /// Manage the owner's tokens (list, revoke); without it a token manages none.
    Tokens,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub token_hash: String,
    pub scopes: Vec<Scope>,
    pub created_at: String,
    pub expires_at: Option<String>,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TokenRecord {
    pub key: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

pub(crate) const USER_COLUMNS: &str = "users.key, users.email, users.password_hash, \
     users.is_admin, users.created_at, users.disabled_at, \
     CASE WHEN users.totp_secret IS NULL THEN 0 ELSE 1 END, users.time_zone, users.language";

/// The number of columns of [`USER_COLUMNS`]: what a joined query reads after them starts here.
const USER_WIDTH: usize = 9;

pub(crate) fn user(row: &AnyRow) -> Result<User, StoreError> {
    let is_admin: i32 = row.try_get(3)?;
    let totp: i32 = row.try_get(6)?;
    Ok(User {
        key: row.try_get(0)?,
        email: row.try_get(1)?,
        password_hash: row.try_get(2)?,
        is_admin: is_admin != 0,
        created_at: row.try_get(4)?,
        disabled_at: row.try_get(5)?,
        totp: totp != 0,
        time_zone: row.try_get(7)?,
        language: row.try_get(8)?,
    })
}

pub(crate) fn scopes_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| match s {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Tokens => "tokens",
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn parse_scopes(text: &str) -> Vec<Scope> {
    text.split(' ')
        .filter_map(|s| match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "tokens" => Some(Scope::Tokens),
            _ => None,
        })
        .collect()
}

impl Tx {
    /// Adds a user; `Duplicate` when the e-mail address is taken.
    pub async fn insert_user(
        &mut self,
        email: &str,
        password_hash: &str,
        is_admin: bool,
        created_at: &str,
    ) -> Result<User, StoreError> {
        if self.user_by_email(email).await?.is_some() {
            return Err(StoreError::Duplicate(format!(
                "a user with the e-mail address {email} exists already"
            )));
        }
        let key = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO users (key, email, password_hash, is_admin, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key.clone())
        .bind(email.to_owned())
        .bind(password_hash.to_owned())
        .bind(i32::from(is_admin))
        .bind(created_at.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(User {
            key,
            email: email.to_owned(),
            password_hash: password_hash.to_owned(),
            is_admin,
            created_at: created_at.to_owned(),
            disabled_at: None,
            totp: false,
            time_zone: None,
            language: None,
        })
    }

    pub async fn user_by_email(&mut self, email: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(email.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?;
        row.as_ref().map(user).transpose()
    }

    pub async fn count_users(&mut self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *self.inner)
            .await?
            .try_get(0)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Gives the user `role` in `organisation` (replacing any role it had there).
    pub async fn set_membership(
        &mut self,
        user_key: &str,
        organisation: &str,
        role: Role,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM memberships WHERE user_key = $1 AND organisation = $2")
            .bind(user_key.to_owned())
            .bind(organisation.to_owned())
            .execute(&mut *self.inner)
            .await?;
        sqlx::query("INSERT INTO memberships (user_key, organisation, role) VALUES ($1, $2, $3)")
            .bind(user_key.to_owned())
            .bind(organisation.to_owned())
            .bind(role.as_str())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    /// The fingerprints of the findings `user_key` last marked as seen, and when.
    pub async fn findings_seen(
        &mut self,
        user_key: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row =
            sqlx::query("SELECT fingerprints, marked_at FROM findings_seen WHERE user_key = $1")
                .bind(user_key.to_owned())
                .fetch_optional(&mut *self.inner)
                .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Records the findings `user_key` has seen, in place of the last record.
    pub async fn mark_findings_seen(
        &mut self,
        user_key: &str,
        fingerprints: &str,
        marked_at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO findings_seen (user_key, fingerprints, marked_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_key) DO UPDATE SET fingerprints = excluded.fingerprints, \
             marked_at = excluded.marked_at",
        )
        .bind(user_key.to_owned())
        .bind(fingerprints.to_owned())
        .bind(marked_at.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn memberships(&mut self, user_key: &str) -> Result<Vec<Membership>, StoreError> {
        memberships_on(&mut *self.inner, user_key).await
    }

    pub async fn insert_session(
        &mut self,
        id_hash: &str,
        user_key: &str,
        csrf_token: &str,
        created_at: &str,
        expires_at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_key, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash.to_owned())
        .bind(user_key.to_owned())
        .bind(csrf_token.to_owned())
        .bind(created_at.to_owned())
        .bind(expires_at.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    /// The session with this id hash, with its user; expiry is the caller's to judge.
    pub async fn session(&mut self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        session_on(&mut *self.inner, id_hash).await
    }

    pub async fn delete_session(&mut self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash.to_owned())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    pub async fn insert_token(
        &mut self,
        user_key: &str,
        token: &NewToken,
    ) -> Result<TokenRecord, StoreError> {
        let key = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO api_tokens (key, user_key, name, token_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key.clone())
        .bind(user_key.to_owned())
        .bind(token.name.clone())
        .bind(token.token_hash.clone())
        .bind(scopes_text(&token.scopes))
        .bind(token.created_at.clone())
        .bind(token.expires_at.clone())
        .execute(&mut *self.inner)
        .await?;
        Ok(TokenRecord {
            key,
            name: token.name.clone(),
            scopes: token.scopes.clone(),
            created_at: token.created_at.clone(),
            expires_at: token.expires_at.clone(),
            revoked_at: None,
        })
    }

    /// The token with this hash and its user; expiry and revocation are the caller's to judge.
    pub async fn token_by_hash(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<(TokenRecord, User)>, StoreError> {
        token_on(&mut *self.inner, token_hash).await
    }

    /// The user's tokens, newest first (never their secrets); the short-lived tokens of its
    /// OAuth2 clients (named `client:<id>`) are theirs, not listed here.
    pub async fn tokens_of(&mut self, user_key: &str) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, name, scopes, created_at, expires_at, revoked_at FROM api_tokens \
             WHERE user_key = $1 AND name NOT LIKE 'client:%' \
             ORDER BY created_at DESC, key DESC",
        )
        .bind(user_key.to_owned())
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter()
            .map(|row| {
                let scopes: String = row.try_get(2)?;
                Ok(TokenRecord {
                    key: row.try_get(0)?,
                    name: row.try_get(1)?,
                    scopes: parse_scopes(&scopes),
                    created_at: row.try_get(3)?,
                    expires_at: row.try_get(4)?,
                    revoked_at: row.try_get(5)?,
                })
            })
            .collect()
    }

    /// Revokes one of the user's tokens; false when the user has no such token.
    pub async fn revoke_token(
        &mut self,
        user_key: &str,
        token_key: &str,
        at: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $3 WHERE user_key = $1 AND key = $2 \
             AND revoked_at IS NULL",
        )
        .bind(user_key.to_owned())
        .bind(token_key.to_owned())
        .bind(at.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

// Queries that run in a transaction (`Tx`) or straight on the pool (`Store`, for the
// per-request look-ups of authentication, which need no transaction).

async fn memberships_on<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    user_key: &str,
) -> Result<Vec<Membership>, StoreError> {
    let rows = sqlx::query(
        "SELECT organisation, role FROM memberships WHERE user_key = $1 ORDER BY organisation",
    )
    .bind(user_key.to_owned())
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            let organisation: String = row.try_get(0)?;
            let role: String = row.try_get(1)?;
            let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt {
                table: "memberships",
                slug: organisation.clone(),
                reason: format!("unknown role {role:?}"),
            })?;
            Ok(Membership { organisation, role })
        })
        .collect()
}

async fn session_on<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    id_hash: &str,
) -> Result<Option<Session>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, sessions.csrf_token, sessions.expires_at FROM sessions \
             JOIN users ON users.key = sessions.user_key \
             WHERE sessions.id_hash = $1 AND users.disabled_at IS NULL"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id_hash.to_owned())
        .fetch_optional(executor)
        .await?;
    row.map(|row| {
        Ok(Session {
            user: user(&row)?,
            csrf_token: row.try_get(USER_WIDTH)?,
            expires_at: row.try_get(USER_WIDTH + 1)?,
        })
    })
    .transpose()
}

async fn token_on<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    token_hash: &str,
) -> Result<Option<(TokenRecord, User)>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, t.key, t.name, t.scopes, t.created_at, t.expires_at, t.revoked_at \
             FROM api_tokens t JOIN users ON users.key = t.user_key \
             WHERE t.token_hash = $1 AND users.disabled_at IS NULL"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash.to_owned())
        .fetch_optional(executor)
        .await?;
    row.map(|row| {
        let scopes: String = row.try_get(USER_WIDTH + 2)?;
        Ok((
            TokenRecord {
                key: row.try_get(USER_WIDTH)?,
                name: row.try_get(USER_WIDTH + 1)?,
                scopes: parse_scopes(&scopes),
                created_at: row.try_get(USER_WIDTH + 3)?,
                expires_at: row.try_get(USER_WIDTH + 4)?,
                revoked_at: row.try_get(USER_WIDTH + 5)?,
            },
            user(&row)?,
        ))
    })
    .transpose()
}

impl crate::Store {
    /// The session with this id hash, read without a transaction.
    pub async fn session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        session_on(&self.pool, id_hash).await
    }

    /// The token with this hash and its user, read without a transaction.
    pub async fn token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<(TokenRecord, User)>, StoreError> {
        token_on(&self.pool, token_hash).await
    }

    /// The user's roles, read without a transaction.
    pub async fn memberships(&self, user_key: &str) -> Result<Vec<Membership>, StoreError> {
        memberships_on(&self.pool, user_key).await
    }
}

/// The first answer to a request made with an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentAnswer {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

impl Tx {
    pub async fn idempotent_answer(
        &mut self,
        user_key: &str,
        key: &str,
    ) -> Result<Option<IdempotentAnswer>, StoreError> {
        let row = sqlx::query(
            "SELECT request_hash, status, body FROM idempotency_keys WHERE user_key = $1 AND key = $2",
        )
        .bind(user_key.to_owned())
        .bind(key.to_owned())
        .fetch_optional(&mut *self.inner)
        .await?;
        row.map(|row| {
            let status: i32 = row.try_get(1)?;
            Ok(IdempotentAnswer {
                request_hash: row.try_get(0)?,
                status: u16::try_from(status).unwrap_or(500),
                body: row.try_get(2)?,
            })
        })
        .transpose()
    }

    pub async fn record_idempotent_answer(
        &mut self,
        user_key: &str,
        key: &str,
        answer: &IdempotentAnswer,
        created_at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO idempotency_keys (user_key, key, request_hash, status, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user_key.to_owned())
        .bind(key.to_owned())
        .bind(answer.request_hash.clone())
        .bind(i32::from(answer.status))
        .bind(answer.body.clone())
        .bind(created_at.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }
}
