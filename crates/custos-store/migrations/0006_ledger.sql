-- Secrets of the instance, made once (the ledger's pepper).
CREATE TABLE instance_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- The disclosure ledger: append-only; a correction is a new event. The subject is a keyed
-- hash (HMAC-SHA256 with the instance's pepper): no identifier is stored in clear.
CREATE TABLE disclosures (
    key TEXT PRIMARY KEY,
    subject_key TEXT NOT NULL,
    activity TEXT NOT NULL,
    recipient TEXT NOT NULL,
    categories TEXT NOT NULL,
    disclosed_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX disclosures_subject ON disclosures (subject_key, disclosed_at);
