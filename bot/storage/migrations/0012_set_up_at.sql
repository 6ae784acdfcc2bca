-- When the process that created a job had posted its status message and opened its thread: a delivery by another
-- process waits for it (it was kept in the creating process's memory, which the others cannot see).
ALTER TABLE jobs ADD COLUMN set_up_at REAL;
