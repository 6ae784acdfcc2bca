-- The wait queue: a job over its server's or member's in-progress limit waits (status 'waiting', credits held)
-- until a slot frees. When it joined and left the queue, and its place as its status message last showed it.
ALTER TABLE jobs ADD COLUMN wait_started_at REAL;
ALTER TABLE jobs ADD COLUMN wait_ended_at REAL;
ALTER TABLE jobs ADD COLUMN queue_position INTEGER;
ALTER TABLE jobs ADD COLUMN queue_size INTEGER;
ALTER TABLE jobs ADD COLUMN queue_minutes INTEGER;
ALTER TABLE jobs ADD COLUMN queue_paused INTEGER NOT NULL DEFAULT 0;
-- A server's own cap on waiting jobs (NULL: QUEUE_MAX_PER_GUILD).
ALTER TABLE guild_config ADD COLUMN queue_max INTEGER;
CREATE INDEX jobs_waiting ON jobs (guild_id, created_at) WHERE status = 'waiting';
