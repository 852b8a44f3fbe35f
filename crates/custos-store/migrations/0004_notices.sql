-- Published versions of privacy notices. Immutable: the store has no UPDATE or DELETE for them,
-- so what was told to data subjects stays on record. Numbered from 1 per (controller, name).
-- No foreign key to organisations: a notice outlives the entry of its controller.
CREATE TABLE notice_versions (
    key TEXT PRIMARY KEY,
    controller TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    language TEXT NOT NULL,
    options TEXT NOT NULL,
    content TEXT NOT NULL,
    published_at TEXT NOT NULL,
    published_by TEXT NOT NULL,
    UNIQUE (controller, name, version)
);

-- Templates an organisation wrote to replace the built-in ones (notice.html, notice.md), per
-- language.
CREATE TABLE templates (
    organisation TEXT NOT NULL,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (organisation, name, language)
);
