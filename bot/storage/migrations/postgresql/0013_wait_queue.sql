-- PostgreSQL's copy of the SQLite migration of the same name: the wait queue's times (DOUBLE PRECISION, as every
-- time here), a waiting job's place as its status message last showed it, and a server's own cap on waiting jobs.
ALTER TABLE jobs ADD COLUMN wait_started_at DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN wait_ended_at DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN queue_position BIGINT;
ALTER TABLE jobs ADD COLUMN queue_size BIGINT;
ALTER TABLE jobs ADD COLUMN queue_minutes BIGINT;
ALTER TABLE jobs ADD COLUMN queue_paused BIGINT NOT NULL DEFAULT 0;
ALTER TABLE guild_config ADD COLUMN queue_max BIGINT;
CREATE INDEX jobs_waiting ON jobs (guild_id, created_at) WHERE status = 'waiting';
