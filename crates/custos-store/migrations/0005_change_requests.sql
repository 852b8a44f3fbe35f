-- Sub-processor change requests: what the processor asked, its dossier (JSON, versioned), where
-- it stands. Keyed by UUIDv7 (time-ordered).
CREATE TABLE change_requests (
    key TEXT PRIMARY KEY,
    requester TEXT NOT NULL,
    candidate TEXT NOT NULL,
    spec TEXT NOT NULL,
    dossier_version INTEGER NOT NULL,
    status TEXT NOT NULL,
    filed_at TEXT NOT NULL,
    filed_by TEXT NOT NULL,
    executed_at TEXT
);
CREATE INDEX change_requests_requester ON change_requests (requester);

-- One row per controller a request must reach: its terms, where it stands, its deadline.
CREATE TABLE change_request_parties (
    request_key TEXT NOT NULL REFERENCES change_requests (key),
    controller TEXT NOT NULL,
    addressee TEXT NOT NULL,
    state TEXT NOT NULL,
    deadline TEXT,
    paused_seconds INTEGER,
    decided_at TEXT,
    PRIMARY KEY (request_key, controller)
);
CREATE INDEX change_request_parties_controller ON change_request_parties (controller, state);

-- Every decision, remark and dossier version, in order: the request's history. Append-only.
CREATE TABLE change_request_history (
    key TEXT PRIMARY KEY,
    request_key TEXT NOT NULL REFERENCES change_requests (key),
    organisation TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    dossier_version INTEGER NOT NULL,
    at TEXT NOT NULL,
    by_actor TEXT NOT NULL
);
CREATE INDEX change_request_history_request ON change_request_history (request_key, key);

-- Files of dossiers and evidence, stored once by content hash, base64 (one column type for
-- both backends).
CREATE TABLE attachments (
    sha256 TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    content TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);

-- Timers: a row fires once, when due (deemed approval at a window's end, reminders before it).
CREATE TABLE timers (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    party TEXT NOT NULL,
    due_at TEXT NOT NULL,
    fired_at TEXT
);
CREATE INDEX timers_due ON timers (fired_at, due_at);

-- The transactional outbox: events written in the transaction of the change they report.
CREATE TABLE outbox_events (
    key TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Webhook endpoints of organisations (Standard Webhooks: the secret signs every delivery).
CREATE TABLE webhook_subscriptions (
    key TEXT PRIMARY KEY,
    organisation TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    event_types TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    disabled_reason TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX webhook_subscriptions_organisation ON webhook_subscriptions (organisation);

-- One delivery per event and target (a webhook endpoint or an e-mail address), with its
-- attempts: claimed with a lease, sent, then recorded; never held in a transaction while sent.
CREATE TABLE deliveries (
    key TEXT PRIMARY KEY,
    event_key TEXT NOT NULL REFERENCES outbox_events (key),
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    subject TEXT NOT NULL,
    language TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    lease_until TEXT,
    last_status INTEGER,
    last_error TEXT,
    delivered_at TEXT,
    UNIQUE (event_key, channel, target)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_order ON deliveries (channel, target, subject, state, event_key);

-- Every attempt of a delivery: the delivery log. `attempt` counts within a round of retries
-- (an endpoint enabled again starts a new round).
CREATE TABLE delivery_attempts (
    key TEXT PRIMARY KEY,
    delivery_key TEXT NOT NULL REFERENCES deliveries (key),
    attempt INTEGER NOT NULL,
    at TEXT NOT NULL,
    status INTEGER,
    error TEXT
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_key, at);
