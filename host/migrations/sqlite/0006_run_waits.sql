-- Items waiting in a `delay` node: where each goes on (the walk's remaining frames and the
-- values they read) and when. A run whose only work left is waiting goes back in the queue
-- with `not_before` at the first of them, and holds no worker meanwhile.
CREATE TABLE run_waits (
    run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    item_seq   BIGINT NOT NULL,
    due_at     BIGINT NOT NULL,
    state      TEXT NOT NULL,
    PRIMARY KEY (run_id, item_seq)
);
