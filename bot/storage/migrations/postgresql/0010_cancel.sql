-- PostgreSQL's copy of the SQLite migration of the same name: the member who cancelled a job (a Discord id, BIGINT)
-- and when (DOUBLE PRECISION, as every time here).
ALTER TABLE jobs ADD COLUMN cancelled_by BIGINT;
ALTER TABLE jobs ADD COLUMN cancelled_at DOUBLE PRECISION;
