-- Running an instance's people (issue 19): accounts disabled and enabled again, invitations
-- and password resets by one-time links, TOTP two-factor with recovery codes, sign-ins that
-- wait for their second factor, organisations that require it, and OAuth2 clients.
-- Every secret is stored as a hash, except the TOTP key, which the server needs to compute
-- codes (RFC 6238).

ALTER TABLE users ADD COLUMN disabled_at TEXT;
-- The confirmed TOTP key (base32), the key offered while enrolling, and the last time step a
-- code was accepted for (a code is taken once: RFC 6238, section 5.2).
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_pending TEXT;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

CREATE TABLE recovery_codes (
    user_key TEXT NOT NULL REFERENCES users (key) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TEXT,
    PRIMARY KEY (user_key, code_hash)
);

-- One-time links: `invitation` (set a first password) and `password-reset`.
CREATE TABLE account_links (
    token_hash TEXT PRIMARY KEY,
    user_key TEXT NOT NULL REFERENCES users (key) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX account_links_by_user ON account_links (user_key, purpose);

-- A password accepted, the second factor not yet: a short-lived secret in its own cookie.
CREATE TABLE pending_sign_ins (
    id_hash TEXT PRIMARY KEY,
    user_key TEXT NOT NULL REFERENCES users (key) ON DELETE CASCADE,
    expires_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE organisation_security (
    organisation TEXT PRIMARY KEY,
    require_totp INTEGER NOT NULL DEFAULT 0,
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL
);

-- OAuth2 clients (client credentials grant, RFC 6749 section 4.4): a machine acting as the
-- user that registered it, with the scopes given. The access tokens it obtains are API tokens
-- that expire within the hour.
CREATE TABLE oauth_clients (
    client_id TEXT PRIMARY KEY,
    user_key TEXT NOT NULL REFERENCES users (key) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX oauth_clients_by_user ON oauth_clients (user_key);
