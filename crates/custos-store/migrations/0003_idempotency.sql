-- Idempotency keys of creates: a retried request with the same key and the same body gets the
-- first answer again instead of a second entry or a conflict. Per user.
CREATE TABLE idempotency_keys (
    user_key TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_key, key)
);
