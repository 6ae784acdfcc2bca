-- When the first delivery attempt was claimed: no earlier post of the job can be older, so a retried delivery
-- looks for one from there on instead of only among a channel's latest messages.
ALTER TABLE jobs ADD COLUMN delivery_started_at DOUBLE PRECISION;
