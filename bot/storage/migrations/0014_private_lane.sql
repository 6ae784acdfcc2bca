-- The private lane: a job whose status message and result go to the member alone (by DM, or else as private
-- follow-ups of their command), never in a public channel or thread.
ALTER TABLE jobs ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
-- The requester's DM channel holding a private job's status message (NULL: their DMs were closed to the bot).
ALTER TABLE jobs ADD COLUMN dm_channel_id INTEGER;
-- Whether a server lets its members make private videos (/video-admin server private allow|deny).
ALTER TABLE guild_config ADD COLUMN private_allowed INTEGER NOT NULL DEFAULT 1;
-- A member's default for /video create's private option (NULL: no default).
ALTER TABLE member_settings ADD COLUMN private INTEGER;
-- The interaction a private job came from, so that any process (a worker too) can answer it privately while
-- Discord keeps its token (15 minutes). The token is a credential: it is deleted once the job is delivered, and by
-- /video forget.
CREATE TABLE private_replies (
    job_id         TEXT PRIMARY KEY,
    application_id INTEGER NOT NULL,
    token          TEXT NOT NULL,
    expires_at     REAL NOT NULL
);
