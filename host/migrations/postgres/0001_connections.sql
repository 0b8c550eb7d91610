-- Users, API tokens, installed connectors, connections, OAuth apps and pending OAuth flows,
-- and the vault's encrypted values. Times are Unix milliseconds; flags are 0/1 integers, so
-- that SQLite and PostgreSQL read the same way. Scenarios and runs come in later migrations.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE connectors (
    id                     TEXT PRIMARY KEY,
    version                TEXT NOT NULL,
    digest                 TEXT NOT NULL,
    manifest               TEXT NOT NULL,
    source                 TEXT NOT NULL,
    allow_private_network  BIGINT NOT NULL DEFAULT 0,
    installed_at           BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);

CREATE TABLE oauth_apps (
    connector_id  TEXT PRIMARY KEY REFERENCES connectors (id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE connections (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    connector_id        TEXT NOT NULL REFERENCES connectors (id),
    name                TEXT NOT NULL,
    fields              TEXT NOT NULL,
    enabled             BIGINT NOT NULL DEFAULT 1,
    status              TEXT NOT NULL,
    last_error          TEXT,
    account             TEXT,
    token_expires_at    BIGINT,
    credential_version  BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    last_used_at        BIGINT
);
CREATE INDEX connections_user ON connections (user_id);

CREATE TABLE oauth_states (
    state_hash     TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    connector_id   TEXT NOT NULL,
    connection_id  TEXT,
    name           TEXT NOT NULL,
    fields         TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);

CREATE TABLE secrets (
    owner       TEXT NOT NULL,
    field       TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    nonce       BYTEA NOT NULL,
    ciphertext  BYTEA NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (owner, field)
);
CREATE INDEX secrets_key ON secrets (key_id);
