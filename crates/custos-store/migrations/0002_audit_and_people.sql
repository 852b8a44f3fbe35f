-- The audit log (hash-chained, append-only), its head kept apart so that deleting the last
-- entries is detected too, and the people who use Custos: users, their memberships of
-- organisations, server-side sessions and API tokens (secrets stored only as hashes).
-- Runs on both SQLite and PostgreSQL.

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    before_body TEXT,
    after_body TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE INDEX audit_log_by_object ON audit_log (object_kind, object_id);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE users (
    key TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE memberships (
    user_key TEXT NOT NULL REFERENCES users (key) ON DELETE CASCADE,
    organisation TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (user_key, organisation)
);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_key TEXT NOT NULL REFERENCES users (key) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE INDEX sessions_by_user ON sessions (user_key);

CREATE TABLE api_tokens (
    key TEXT PRIMARY KEY,
    user_key TEXT NOT NULL REFERENCES users (key) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);

CREATE INDEX api_tokens_by_user ON api_tokens (user_key);
