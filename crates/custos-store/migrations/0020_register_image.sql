-- The register's image: the whole register at one version in a compact binary form, so that
-- a server starts without parsing every row (custos-store/src/image). Derived data: dropping
-- both tables loses nothing but the next start's speed.
CREATE TABLE register_images (
    -- The layout the image was written in; a program reads only images of its own.
    format TEXT NOT NULL,
    version BIGINT NOT NULL,
    -- Written last, once every chunk is in: an image without this row is not read.
    chunks BIGINT NOT NULL,
    PRIMARY KEY (format, version)
);

CREATE TABLE register_image_chunks (
    format TEXT NOT NULL,
    version BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    -- BYTEA on PostgreSQL; SQLite keeps the bytes as they are under any declared type.
    data BYTEA NOT NULL,
    PRIMARY KEY (format, version, seq)
);
