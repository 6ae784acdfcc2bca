-- "attempts" meant two things: consecutive failed polls of one kind (that kind kept in error_kind while the job
-- ran) and failed fetches of a finished result (error_kind 'bad_result' while the job ran). Each count gets its
-- own column, the polls' error kind too, and error_kind keeps one meaning: why a finished job failed.
ALTER TABLE jobs ADD COLUMN poll_errors BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN poll_error_kind TEXT;
ALTER TABLE jobs ADD COLUMN download_attempts BIGINT NOT NULL DEFAULT 0;

UPDATE jobs SET download_attempts = attempts WHERE error_kind = 'bad_result';

UPDATE jobs SET poll_errors = attempts, poll_error_kind = error_kind
WHERE status NOT IN ('succeeded', 'failed') AND error_kind IS NOT NULL AND error_kind != 'bad_result';

-- A finished job's count of failed polls, from before the kind was kept apart (the kind is its failure now).
UPDATE jobs SET poll_errors = attempts
WHERE status IN ('succeeded', 'failed') AND (error_kind IS NULL OR error_kind != 'bad_result');

UPDATE jobs SET error_kind = NULL WHERE status NOT IN ('succeeded', 'failed');

ALTER TABLE jobs DROP COLUMN attempts;
