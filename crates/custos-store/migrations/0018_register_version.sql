-- The register's version and what each write changed (issue 21). Every write of the register
-- increments `register` in its own transaction and lists the entries it changed, with their
-- bodies after it, so that a server keeps its copy in memory by applying the changes after
-- its own version, and several servers on one database agree. A change of kind '*' stands for
-- a write too large to list: read the whole register. `access` is incremented by every
-- sign-out, revocation and change of membership: servers drop the sign-ins they cached.
CREATE TABLE versions (
    name TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO versions (name, version) VALUES ('register', 0);
INSERT INTO versions (name, version) VALUES ('access', 0);

CREATE TABLE register_changes (
    version BIGINT NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    slug TEXT NOT NULL,
    -- The entry after the change; none when it was removed.
    body TEXT,
    PRIMARY KEY (version, position)
);
