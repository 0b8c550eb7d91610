-- Claiming a run reads, for each user with queued runs, that user's earliest due one, and
-- the run whose lease ran out first: indexes in those orders make each read a seek, so a
-- claim costs O(users × log n) instead of sorting the whole queue.
CREATE INDEX runs_user_queue ON runs (status, user_id, not_before);
CREATE INDEX runs_leases ON runs (status, lease_until);

-- Claims of a run so far (attempts go back when a run yields or parks; this never does): a
-- run on its first claim has nothing done and nothing waiting, and skips reading them.
ALTER TABLE runs ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
