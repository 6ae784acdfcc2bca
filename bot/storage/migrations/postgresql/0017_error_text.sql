-- PostgreSQL's copy of the SQLite migration of the same name: a failed job's reason as a message id with its values
-- (JSON), shown in the reader's language; error_message keeps the English. NULL: not failed, or failed before it.
ALTER TABLE jobs ADD COLUMN error_text TEXT;
