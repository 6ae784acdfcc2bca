-- Small key/value facts about the installation, such as the hash of the last synced command set.
CREATE TABLE meta (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);

-- The job a re-roll, remix or retry started from, and when its result was deleted on Discord.
ALTER TABLE jobs ADD COLUMN parent_job_id TEXT;
ALTER TABLE jobs ADD COLUMN result_deleted_at DOUBLE PRECISION;
