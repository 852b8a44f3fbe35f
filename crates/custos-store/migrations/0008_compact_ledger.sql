-- The disclosure ledger, compact (it may hold billions of events): the subject key as its 32
-- bytes, times as integer microseconds since the epoch (UTC), no surrogate key (append-only,
-- read by subject). The rows of `disclosures` (0006) are moved here when the store opens.
CREATE TABLE ledger_events (
    subject BYTEA NOT NULL,
    activity TEXT NOT NULL,
    recipient TEXT NOT NULL,
    categories TEXT NOT NULL,
    disclosed_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX ledger_events_subject ON ledger_events (subject, disclosed_at);
