-- When the server's audit log was told that this stored pattern cannot run on the regex engine (RE2) and is not
-- applied: it is told once, across restarts.
ALTER TABLE guild_lists ADD COLUMN inactive_reported_at DOUBLE PRECISION;
