-- PostgreSQL's copy of the SQLite migration of the same name: the copies /video show posted of a job's result, to
-- delete with it.
CREATE TABLE shown_copies (
    message_id BIGINT PRIMARY KEY,
    job_id     TEXT NOT NULL,
    channel_id BIGINT NOT NULL
);
CREATE INDEX shown_copies_job ON shown_copies (job_id);
