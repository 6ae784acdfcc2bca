-- PostgreSQL's copy of the SQLite migration of the same name: the private lane (a job shown to its member alone, by
-- DM or private follow-ups), a server's allow/deny of it, a member's default, and the interaction token a private
-- reply needs (deleted once the job is delivered, and by /video forget).
ALTER TABLE jobs ADD COLUMN private BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN dm_channel_id BIGINT;
ALTER TABLE guild_config ADD COLUMN private_allowed BIGINT NOT NULL DEFAULT 1;
ALTER TABLE member_settings ADD COLUMN private BIGINT;
CREATE TABLE private_replies (
    job_id         TEXT PRIMARY KEY,
    application_id BIGINT NOT NULL,
    token          TEXT NOT NULL,
    expires_at     DOUBLE PRECISION NOT NULL
);
