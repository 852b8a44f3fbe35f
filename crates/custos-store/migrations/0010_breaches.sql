-- Personal-data breaches (Arts 33-34): where one happened and its facts as last corrected
-- (JSON), the routes up to every controller computed when it was reported.
CREATE TABLE breaches (
    key TEXT PRIMARY KEY,
    party TEXT NOT NULL,
    facts TEXT NOT NULL,
    version INTEGER NOT NULL,
    routes TEXT NOT NULL,
    reported_at TEXT NOT NULL,
    reported_by TEXT NOT NULL
);
CREATE INDEX breaches_party ON breaches (party);

-- Each phase of the facts (Art. 33(4)): the first report and every follow-up. Append-only.
CREATE TABLE breach_phases (
    breach_key TEXT NOT NULL REFERENCES breaches (key),
    version INTEGER NOT NULL,
    organisation TEXT NOT NULL,
    note TEXT NOT NULL,
    facts TEXT NOT NULL,
    at TEXT NOT NULL,
    by_actor TEXT NOT NULL,
    PRIMARY KEY (breach_key, version)
);

-- One step up the chain: the sender tells the party that engaged it. Received when the
-- sender relayed it; acknowledged by the recipient.
CREATE TABLE breach_hops (
    breach_key TEXT NOT NULL REFERENCES breaches (key),
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    hop TEXT NOT NULL,
    received_at TEXT,
    relayed_by TEXT,
    acknowledged_at TEXT,
    PRIMARY KEY (breach_key, sender, recipient)
);
CREATE INDEX breach_hops_recipient ON breach_hops (recipient);
CREATE INDEX breach_hops_sender ON breach_hops (sender);

-- One case per controller concerned: its awareness, 72-hour deadline, assessment, decision,
-- filings with the authority and the communication to the subjects.
CREATE TABLE breach_cases (
    breach_key TEXT NOT NULL REFERENCES breaches (key),
    controller TEXT NOT NULL,
    scope TEXT NOT NULL,
    aware_at TEXT,
    awareness TEXT,
    deadline TEXT,
    assessment TEXT,
    decision TEXT,
    decided_at TEXT,
    filings TEXT NOT NULL,
    communication TEXT,
    PRIMARY KEY (breach_key, controller)
);
CREATE INDEX breach_cases_controller ON breach_cases (controller);

-- Every step of a breach, in order. Append-only.
CREATE TABLE breach_history (
    key TEXT PRIMARY KEY,
    breach_key TEXT NOT NULL REFERENCES breaches (key),
    organisation TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL,
    by_actor TEXT NOT NULL
);
CREATE INDEX breach_history_breach ON breach_history (breach_key, key);
