-- The languages a job speaks after the interaction that started it is gone: the server's preferred locale for its
-- public posts (status edits, the result, a failure notice) and the member's for what only they see. NULL: English.
ALTER TABLE jobs ADD COLUMN locale TEXT;
ALTER TABLE jobs ADD COLUMN member_locale TEXT;
