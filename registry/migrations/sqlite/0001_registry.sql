-- Publishers and their keys; the publish token is kept only as its sha256.
CREATE TABLE publishers (
    name TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- A connector name belongs to the publisher who first published it.
CREATE TABLE connectors (
    name TEXT PRIMARY KEY,
    publisher TEXT NOT NULL REFERENCES publishers (name),
    created_at INTEGER NOT NULL
);

-- One row per published version; immutable but for `yanked`. The package itself is the blob
-- named by `digest`.
CREATE TABLE versions (
    name TEXT NOT NULL REFERENCES connectors (name),
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    contract TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    actions TEXT NOT NULL,
    triggers TEXT NOT NULL,
    yanked INTEGER NOT NULL DEFAULT 0,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX versions_by_digest ON versions (digest);
