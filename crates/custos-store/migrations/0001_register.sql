-- The register: organisations, processing activities, contracts and engagements.
-- Each row keeps a UUIDv7 key beside the manifest slug, the columns that queries and
-- constraints need, and the whole entry as JSON text in `body` (the one serde definition of
-- custos-core), so that export gives back exactly what was applied.
-- Keys and bodies are TEXT, and this file runs on both SQLite and PostgreSQL: the queries are
-- shared through sqlx's Any driver.

CREATE TABLE organisations (
    key TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    country TEXT NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE activities (
    key TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    controller TEXT NOT NULL REFERENCES organisations (slug),
    body TEXT NOT NULL
);

CREATE TABLE contracts (
    key TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    party_a TEXT NOT NULL REFERENCES organisations (slug),
    party_b TEXT NOT NULL REFERENCES organisations (slug),
    body TEXT NOT NULL
);

CREATE TABLE engagements (
    key TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    activity TEXT NOT NULL REFERENCES activities (slug),
    engaged_by TEXT NOT NULL REFERENCES organisations (slug),
    processor TEXT NOT NULL REFERENCES organisations (slug),
    contract TEXT REFERENCES contracts (slug),
    since TEXT NOT NULL,
    until TEXT,
    body TEXT NOT NULL
);

CREATE INDEX engagements_by_activity ON engagements (activity);
CREATE INDEX engagements_by_processor ON engagements (processor);
CREATE INDEX engagements_by_engaged_by ON engagements (engaged_by);
CREATE INDEX engagements_by_contract ON engagements (contract);
CREATE INDEX activities_by_controller ON activities (controller);
CREATE INDEX contracts_by_party_a ON contracts (party_a);
CREATE INDEX contracts_by_party_b ON contracts (party_b);
