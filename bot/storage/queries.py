"""Every SQL statement the store runs, as named constants with ? placeholders."""

from typing import Final

JOB_COLUMNS: Final = (
    "id, origin, requester_id, guild_id, channel_id, thread_id, status_message_id, result_message_id, "
    "prompt, model, wire_format, orientation, duration, hd, image_count, task_id, status, remote_status, progress, "
    "created_at, submitted_at, updated_at, finished_at, next_poll_at, last_poll_at, poll_count, attempts, "
    "refresh_start, refresh_end, slow_notified, error_kind, error_message, result_path, result_bytes, "
    "delivery_state, deliver_at, delivery_attempts, maybe_delivered, delivered_at, parent_job_id, result_deleted_at, "
    "forgotten_at, result_channel_id, has_last_frame, delivery_started_at"
)

INSERT_JOB: Final = """
INSERT INTO jobs (id, origin, requester_id, guild_id, channel_id, prompt, model, wire_format, orientation, duration,
                  hd, image_count, status, created_at, updated_at, next_poll_at, parent_job_id, has_last_frame)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# A compare-and-set on the give-up time the sender read: once the poller has claimed the job to give it up (the
# claim moves next_poll_at), the submit loses; once the submit has moved it, the poller's claim no longer matches.
EXTEND_SUBMIT: Final = "UPDATE jobs SET next_poll_at = ? WHERE id = ? AND status = 'submitting' AND next_poll_at = ?"

SELECT_JOB: Final = "SELECT " + JOB_COLUMNS + " FROM jobs WHERE id = ?"

SELECT_JOB_BY_TASK: Final = "SELECT " + JOB_COLUMNS + " FROM jobs WHERE task_id = ? ORDER BY created_at DESC LIMIT 1"

SAVE_JOB: Final = """
UPDATE jobs SET task_id = ?, status = ?, remote_status = ?, progress = ?, submitted_at = ?, updated_at = ?,
                finished_at = ?, next_poll_at = ?, last_poll_at = ?, poll_count = ?, attempts = ?,
                refresh_start = ?, refresh_end = ?, slow_notified = ?, error_kind = ?, error_message = ?,
                result_path = ?, result_bytes = ?, delivery_state = ?, deliver_at = ?
WHERE id = ?
"""

# The same, only while the job is still in the state the writer read: a give-up and a submit cannot both win.
SAVE_JOB_IF_STATUS: Final = SAVE_JOB.rstrip() + " AND status = ?\n"

# Claiming pushes next_poll_at ahead by a lease, so a second poller (or process) does not take the same job.
# The claimer's own jobs in hand (a JSON list) are skipped: their lease may have run out while they work.
CLAIM_DUE: Final = (
    "UPDATE jobs SET next_poll_at = ? WHERE id IN "
    "(SELECT id FROM jobs WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? AND origin = ? "
    "AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY next_poll_at LIMIT ?) "
    "RETURNING " + JOB_COLUMNS
)

NEXT_POLL_AT: Final = "SELECT MIN(next_poll_at) FROM jobs WHERE next_poll_at IS NOT NULL AND origin = ?"

# Polls that follow the refresh schedule: not an error's backoff (attempts), not a slow job's long interval.
PLANNED_POLLS: Final = (
    "SELECT " + JOB_COLUMNS + " FROM jobs WHERE origin = ? AND next_poll_at > ? AND status IN ('queued', 'running') "
    "AND attempts = 0 AND slow_notified = 0"
)

REPLAN_POLL: Final = "UPDATE jobs SET next_poll_at = ? WHERE id = ? AND next_poll_at = ?"

# maybe_delivered is computed from the old values: 'delivering' means an attempt was cut off, and once an
# attempt may have posted, every later one must look before posting too (from delivery_started_at on).
CLAIM_DELIVERIES: Final = (
    "UPDATE jobs SET maybe_delivered = (maybe_delivered OR delivery_state = 'delivering'), "
    "delivery_state = 'delivering', "
    "deliver_at = ?, delivery_started_at = COALESCE(delivery_started_at, ?), "
    "delivery_attempts = delivery_attempts + 1 WHERE id IN "
    "(SELECT id FROM jobs WHERE deliver_at IS NOT NULL AND deliver_at <= ? AND origin = ? "
    "AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY deliver_at LIMIT ?) "
    "RETURNING " + JOB_COLUMNS
)

NEXT_DELIVERY_AT: Final = "SELECT MIN(deliver_at) FROM jobs WHERE deliver_at IS NOT NULL AND origin = ?"

MARK_DELIVERED: Final = """
UPDATE jobs SET delivery_state = 'delivered', deliver_at = NULL, delivered_at = ?, updated_at = ?,
                result_message_id = COALESCE(?, result_message_id)
WHERE id = ?
"""

# A failed attempt may still have posted (the answer was lost), so the next one looks before posting.
RETRY_DELIVERY: Final = """
UPDATE jobs SET delivery_state = 'pending', maybe_delivered = 1, deliver_at = ?, updated_at = ? WHERE id = ?
"""

GIVE_UP_DELIVERY: Final = """
UPDATE jobs SET delivery_state = 'failed', deliver_at = NULL, updated_at = ?, error_message = COALESCE(error_message, ?)
WHERE id = ?
"""

SET_DISCORD_REFS: Final = """
UPDATE jobs SET thread_id = COALESCE(?, thread_id), status_message_id = COALESCE(?, status_message_id), updated_at = ?
WHERE id = ?
"""

LIST_BY_REQUESTER: Final = (
    "SELECT " + JOB_COLUMNS + " FROM jobs WHERE guild_id = ? AND requester_id = ? AND forgotten_at IS NULL "
    "ORDER BY created_at DESC, rowid DESC LIMIT ?"
)

LIST_UNFINISHED_BY_REQUESTER: Final = (
    "SELECT " + JOB_COLUMNS + " FROM jobs WHERE guild_id = ? AND requester_id = ? "
    "AND status NOT IN ('succeeded', 'failed') "
    "ORDER BY created_at"
)

COUNT_BY_STATUS_AND_MODEL: Final = "SELECT status, model, COUNT(*) FROM jobs GROUP BY status, model"

SET_RESULT_CHANNEL: Final = "UPDATE jobs SET result_channel_id = ? WHERE id = ?"

MARK_RESULT_DELETED: Final = "UPDATE jobs SET result_deleted_at = ?, updated_at = ? WHERE id = ?"

IS_RESULT_DELETED: Final = "SELECT 1 FROM jobs WHERE id = ? AND result_deleted_at IS NOT NULL"

GET_META: Final = "SELECT value FROM meta WHERE key = ?"

SET_META: Final = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"

# Jobs whose files must stay: still running, or finished but not yet handed over.
IDS_IN_PROGRESS: Final = """
SELECT id FROM jobs WHERE status NOT IN ('succeeded', 'failed') OR delivery_state IN ('pending', 'delivering')
"""
