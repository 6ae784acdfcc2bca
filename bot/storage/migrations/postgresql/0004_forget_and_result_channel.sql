-- When a member erased their history (/video forget): the row stays for takedowns, without its prompt.
ALTER TABLE jobs ADD COLUMN forgotten_at DOUBLE PRECISION;
-- Where the result was actually posted (the thread, the job's channel, or a DM after a fallback).
ALTER TABLE jobs ADD COLUMN result_channel_id BIGINT;
