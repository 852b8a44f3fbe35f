-- Who may assert what (issue 14). A contract is bilateral: a change by one party is a
-- proposed amendment until the other party accepts it. `body` is the contract as proposed
-- (NULL: the proposal ends it); `base_tag` the version it amends (NULL: a new contract).
CREATE TABLE contract_amendments (
    key TEXT PRIMARY KEY,
    contract TEXT NOT NULL,
    proposer TEXT NOT NULL,
    awaiting TEXT NOT NULL,
    base_tag TEXT,
    body TEXT,
    reasons TEXT,
    status TEXT NOT NULL,
    proposed_at TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    decided_at TEXT,
    decided_by TEXT,
    decision_reasons TEXT
);
CREATE INDEX contract_amendments_contract ON contract_amendments (contract, key);
CREATE INDEX contract_amendments_awaiting ON contract_amendments (awaiting, status);

-- A decision on a change request stands on the dossier version it was given on; a new
-- version reopens it.
ALTER TABLE change_request_parties ADD COLUMN decided_version INTEGER;

-- Superseded versions of contracts, each with the moment it was replaced: a link is judged
-- against the text in force on its day, and a contract's history reads "version N, from .. to".
CREATE TABLE contract_versions (
    contract TEXT NOT NULL,
    replaced_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX contract_versions_contract ON contract_versions (contract, replaced_at);
