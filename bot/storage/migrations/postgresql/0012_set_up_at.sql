-- PostgreSQL's copy of the SQLite migration of the same name: when the process that created a job had posted its
-- status message and opened its thread (DOUBLE PRECISION, as every time here).
ALTER TABLE jobs ADD COLUMN set_up_at DOUBLE PRECISION;
