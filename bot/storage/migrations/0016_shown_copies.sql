-- The copies /video show posted of a job's result (one row per copy), so that Delete on the original or on any copy,
-- /video-purge and /video forget delete every one of them too.
CREATE TABLE shown_copies (
    message_id INTEGER PRIMARY KEY,
    job_id     TEXT NOT NULL,
    channel_id INTEGER NOT NULL
);
CREATE INDEX shown_copies_job ON shown_copies (job_id);
