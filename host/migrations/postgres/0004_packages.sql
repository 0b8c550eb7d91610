-- The install lifecycle: every package this host accepted, the publishers the admin trusts,
-- and per connector the active version, the one to roll back to and one awaiting approval.

ALTER TABLE connectors ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE connectors ADD COLUMN previous_digest TEXT;
ALTER TABLE connectors ADD COLUMN pending_digest TEXT;
ALTER TABLE connectors ADD COLUMN pending_reason TEXT;

CREATE TABLE connector_packages (
    digest        TEXT PRIMARY KEY,
    connector_id  TEXT NOT NULL,
    version       TEXT NOT NULL,
    manifest      TEXT NOT NULL,
    describe      TEXT NOT NULL,
    -- NULL for the built-in connectors: the binary holds them.
    component     BYTEA,
    source        TEXT NOT NULL,
    publisher     TEXT NOT NULL,
    -- The key that signed it (empty for the built-in connectors, trusted by digest).
    publisher_key TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX connector_packages_by_connector ON connector_packages (connector_id);

CREATE TABLE trusted_publishers (
    name        TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL,
    added_at    BIGINT NOT NULL
);
