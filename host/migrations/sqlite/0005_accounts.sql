-- Accounts for the browser and the public API: passwords (argon2id, as PHC strings), cookie
-- sessions (only the SHA-256 of the cookie is kept), scopes on API tokens, the answers kept for
-- `Idempotency-Key` (their bodies are sealed in `secrets`, as they may hold a new token), and
-- the consents users gave before connecting an account.

ALTER TABLE users ADD COLUMN password_hash TEXT;

-- Tokens made before scopes existed could do everything their user could.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read write admin';

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    user_agent    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE idempotency_keys (
    -- The credential the request came with (`tok_…` or `ses_…`): keys are per caller.
    owner         TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    id            TEXT NOT NULL UNIQUE,
    request_hash  TEXT NOT NULL,
    -- NULL while the first request with this key is running.
    status        BIGINT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (owner, idem_key)
);
-- Every idempotent call forgets the stale keys first.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE consents (
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    connector_id  TEXT NOT NULL,
    -- What the user was shown: the hosts the connector may reach and its auth kind.
    scope         TEXT NOT NULL,
    granted_at    BIGINT NOT NULL,
    PRIMARY KEY (user_id, connector_id)
);
