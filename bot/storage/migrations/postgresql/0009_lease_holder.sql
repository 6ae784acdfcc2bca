-- Who holds a job's lease (a process's "host:pid:random" name), written with the lease by the claim that takes it.
ALTER TABLE jobs ADD COLUMN lease_holder TEXT;
