-- Scenarios (versioned on every edit), their trigger's state (poll cursor, next firing),
-- durable runs with their items, steps and events, and the data store's records.
-- Times are Unix milliseconds; flags are 0/1; JSON is stored as text.

CREATE TABLE scenarios (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    version             BIGINT NOT NULL,
    definition          TEXT NOT NULL,
    enabled             BIGINT NOT NULL DEFAULT 0,
    -- Why the scenario waits (a connection needs re-authorization); NULL when it does not.
    paused_reason       TEXT,
    paused_connection   TEXT,
    -- sha256 of the webhook URL's token (the token itself is sealed in `secrets`).
    webhook_token_hash  TEXT UNIQUE,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE scenario_versions (
    scenario_id  TEXT NOT NULL REFERENCES scenarios (id) ON DELETE CASCADE,
    version      BIGINT NOT NULL,
    definition   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (scenario_id, version)
);

-- One row per scenario with a poll or schedule trigger. `trigger_key` names the trigger the
-- cursor belongs to: an edit that keeps it keeps the cursor, one that changes it starts afresh.
CREATE TABLE trigger_state (
    scenario_id    TEXT PRIMARY KEY REFERENCES scenarios (id) ON DELETE CASCADE,
    trigger_key    TEXT NOT NULL,
    cursor         TEXT,
    next_fire_at   BIGINT,
    last_fired_at  BIGINT,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE runs (
    id                TEXT PRIMARY KEY,
    scenario_id       TEXT NOT NULL REFERENCES scenarios (id) ON DELETE CASCADE,
    scenario_version  BIGINT NOT NULL,
    user_id           TEXT NOT NULL,
    trigger_kind      TEXT NOT NULL,
    input             TEXT,
    status            TEXT NOT NULL,
    claimed_by        TEXT,
    lease_until       BIGINT,
    attempts          BIGINT NOT NULL DEFAULT 0,
    cancel_requested  BIGINT NOT NULL DEFAULT 0,
    items_done        BIGINT NOT NULL DEFAULT 0,
    items_failed      BIGINT NOT NULL DEFAULT 0,
    items_skipped     BIGINT NOT NULL DEFAULT 0,
    items_retried     BIGINT NOT NULL DEFAULT 0,
    pages             BIGINT NOT NULL DEFAULT 0,
    error             TEXT,
    not_before        BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX runs_queue ON runs (status, not_before);
CREATE INDEX runs_scenario ON runs (scenario_id, created_at);
CREATE INDEX runs_user ON runs (user_id, created_at);

-- Every item a run finished, with the run attempt that finished it and a hash of its data: a
-- resumed run skips what is here unchanged.
CREATE TABLE run_items (
    run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    item_id      TEXT NOT NULL,
    data_hash    TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempt      BIGINT NOT NULL,
    error        TEXT,
    finished_at  BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX run_items_item ON run_items (run_id, item_id);

CREATE TABLE run_steps (
    run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    item_seq     BIGINT NOT NULL,
    step         BIGINT NOT NULL,
    node_id      TEXT NOT NULL,
    status       TEXT NOT NULL,
    input        TEXT,
    output       TEXT,
    error_code   TEXT,
    error        TEXT,
    attempts     BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    duration_us  BIGINT NOT NULL,
    requests     TEXT,
    logs         TEXT,
    PRIMARY KEY (run_id, item_seq, step)
);

CREATE TABLE run_events (
    run_id   TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq      BIGINT NOT NULL,
    at       BIGINT NOT NULL,
    level    TEXT NOT NULL,
    message  TEXT NOT NULL,
    details  TEXT,
    PRIMARY KEY (run_id, seq)
);

-- The data store: a user's named collections of JSON records keyed by id.
CREATE TABLE records (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    collection  TEXT NOT NULL,
    id          TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, collection, id)
);
