-- The disclosure ledger, compact (it may hold billions of events). An event is a subject, a
-- kind and a time, all integers:
-- - the subject key's first 128 bits as two signed integers (`subject_hi` indexed,
--   `subject_lo` checked on read; 128 bits of HMAC-SHA256 leave collisions out of reach);
-- - the kind of disclosure (activity, recipient, categories), of which there are few, in
--   `ledger_kinds`, its id the first 64 bits of SHA-256 over the three (no coordination
--   between writers; a collision is detected and refused);
-- - times as microseconds since the epoch (UTC).
-- No surrogate key: append-only, read by subject. The rows of `disclosures` (0006) move here
-- when the store opens.
CREATE TABLE ledger_kinds (
    id BIGINT PRIMARY KEY,
    activity TEXT NOT NULL,
    recipient TEXT NOT NULL,
    categories TEXT NOT NULL
);

CREATE TABLE ledger_events (
    subject_hi BIGINT NOT NULL,
    subject_lo BIGINT NOT NULL,
    kind BIGINT NOT NULL,
    disclosed_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX ledger_events_subject ON ledger_events (subject_hi);
