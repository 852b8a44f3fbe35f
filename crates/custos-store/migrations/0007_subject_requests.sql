-- Data-subject requests. The address is kept in clear only while the request is open; on
-- closing it is erased everywhere (the outbox included) and only its keyed hash remains.
CREATE TABLE subject_requests (
    key TEXT PRIMARY KEY,
    controller TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    channel TEXT NOT NULL,
    email TEXT,
    subject_key TEXT NOT NULL,
    details TEXT NOT NULL,
    language TEXT NOT NULL,
    transmit_to TEXT,
    received_at TEXT NOT NULL,
    deadline TEXT NOT NULL,
    extended_until TEXT,
    extension_reasons TEXT,
    verified_at TEXT,
    verification TEXT,
    token_hash TEXT,
    token_expires_at TEXT,
    token_attempts INTEGER NOT NULL,
    closed_at TEXT,
    outcome TEXT,
    created_by TEXT NOT NULL
);
CREATE INDEX subject_requests_controller ON subject_requests (controller, key);
CREATE INDEX subject_requests_subject ON subject_requests (subject_key, received_at);

-- Every step of a request, in order (no personal data: the steps, not the answers).
CREATE TABLE subject_request_history (
    key TEXT PRIMARY KEY,
    request_key TEXT NOT NULL REFERENCES subject_requests (key),
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL,
    by_actor TEXT NOT NULL
);
CREATE INDEX subject_request_history_request ON subject_request_history (request_key, key);

-- Art. 19: one notification per recipient, relayed down the chain.
CREATE TABLE rights_notifications (
    key TEXT PRIMARY KEY,
    request_key TEXT NOT NULL REFERENCES subject_requests (key),
    recipient TEXT NOT NULL,
    relayed_by TEXT,
    state TEXT NOT NULL,
    sent_at TEXT,
    note TEXT,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE INDEX rights_notifications_request ON rights_notifications (request_key);
CREATE INDEX rights_notifications_recipient ON rights_notifications (recipient, state);

-- A controller's connected systems that return a subject's data for portability.
CREATE TABLE data_sources (
    key TEXT PRIMARY KEY,
    organisation TEXT NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (organisation, name)
);
