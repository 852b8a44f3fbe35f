-- Signing in with OpenID Connect (issue 19): sign-ins on their way through the provider (the
-- state's hash, the PKCE verifier and nonce, where to return; minutes long), the provider's
-- subjects linked to accounts, and the ID token of a session, for logging out at the provider.

CREATE TABLE oidc_pending (
    state_hash TEXT PRIMARY KEY,
    verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    next TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE oidc_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_key TEXT NOT NULL REFERENCES users (key) ON DELETE CASCADE,
    linked_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
);

CREATE TABLE oidc_sessions (
    session_hash TEXT PRIMARY KEY REFERENCES sessions (id_hash) ON DELETE CASCADE,
    id_token TEXT NOT NULL
);
