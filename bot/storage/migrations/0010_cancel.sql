-- A member can cancel a job (status 'cancelled'): who did, and when, is shown on its status message and in history.
ALTER TABLE jobs ADD COLUMN cancelled_by INTEGER;
ALTER TABLE jobs ADD COLUMN cancelled_at REAL;
