-- A failed job's reason as a message to translate: its message id and the values in it (a block's reason given, a
-- model's name, the video service's own words), as JSON {"id": ..., "fields": {...}}, so that it is shown in the
-- reader's language. error_message keeps the English, for the audit log and the logs. NULL: a job that has not
-- failed, or one that failed before this column (its English is shown, translated when it is a message id as it is).
ALTER TABLE jobs ADD COLUMN error_text TEXT;
