-- The dashboard (issue 18): the findings a user last marked as seen, as a sorted list of
-- fingerprints (16 hex digits each, separated by spaces), to tell which are new since.
CREATE TABLE findings_seen (
    user_key TEXT PRIMARY KEY REFERENCES users (key) ON DELETE CASCADE,
    fingerprints TEXT NOT NULL,
    marked_at TEXT NOT NULL
);
