-- Subject-request triage (issue 19): who on the controller's staff handles a request. Notes
-- are entries of the request's history (kind `note`).
CREATE TABLE subject_request_assignments (
    request_key TEXT PRIMARY KEY REFERENCES subject_requests (key),
    assignee TEXT NOT NULL,
    assigned_at TEXT NOT NULL,
    assigned_by TEXT NOT NULL
);
CREATE INDEX subject_request_assignments_assignee ON subject_request_assignments (assignee);

-- The subject's own status page: reached from the first e-mail by a secret link (its hash
-- kept here), no account needed.
CREATE TABLE subject_request_status_links (
    request_key TEXT PRIMARY KEY REFERENCES subject_requests (key),
    token_hash TEXT NOT NULL
);
