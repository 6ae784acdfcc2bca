-- PostgreSQL's copy of the SQLite migration of the same name: the server's and the member's Discord locales, kept
-- with the job for the background work that posts and edits for it. NULL: English.
ALTER TABLE jobs ADD COLUMN locale TEXT;
ALTER TABLE jobs ADD COLUMN member_locale TEXT;
