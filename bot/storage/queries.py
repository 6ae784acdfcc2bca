"""Every SQL statement the store runs, as named constants with ? placeholders.

Most are shared by SQLite and PostgreSQL; the few that differ map each Dialect to its own variant, side by side.
"""

from collections.abc import Iterable
from typing import Final

from bot.storage.database import Dialect
from bot.storage.job_rows import COLUMNS

# Every column of a job, in the Job dataclass's field order.
JOB_COLUMNS: Final = ", ".join(COLUMNS)

INSERT_JOB: Final = "INSERT INTO jobs (" + JOB_COLUMNS + ") VALUES (" + ", ".join("?" for _ in COLUMNS) + ")"

# A compare-and-set on the give-up time the sender read: once the poller has claimed the job to give it up (the
# claim moves next_poll_at), the submit loses; once the submit has moved it, the poller's claim no longer matches.
# A cancel uses it too: it takes an unsent job from its sender only while the give-up time is still the one the job
# was stored with (once the sender moved it, the submit is going out).
MOVE_UNSENT_DEADLINE: Final = (
    "UPDATE jobs SET next_poll_at = ? WHERE id = ? AND status = 'submitting' AND next_poll_at = ?"
)

SELECT_JOB: Final = "SELECT " + JOB_COLUMNS + " FROM jobs WHERE id = ?"

SELECT_JOB_BY_TASK: Final = "SELECT " + JOB_COLUMNS + " FROM jobs WHERE task_id = ? ORDER BY created_at DESC LIMIT 1"


def update_job(columns: Iterable[str], *, held: bool = False) -> str:
    """Write the named columns of one job (then its id, the status the change was made from and, when ``held``, the
    lease holder writing it).

    Only while the job is still in that status: a give-up and a submit cannot both win, and an outcome is
    recorded (and its credits settled) once. Held, only while the writer still holds the job's lease: a poller or
    deliverer whose lease ran out and passed to another process writes nothing over the new holder's work.
    """
    sql = "UPDATE jobs SET " + ", ".join(f"{column} = ?" for column in columns) + " WHERE id = ? AND status = ?"
    return sql + " AND lease_holder = ?" if held else sql


# Jobs whose poll is due, earliest first. The claimer's own jobs in hand (a JSON list) are skipped: their lease
# may have run out while they work. The claim itself (a lease) is written in the same transaction; PostgreSQL locks
# the selected rows until then and skips those other processes are claiming.
_DUE: Final = (
    "SELECT " + JOB_COLUMNS + " FROM jobs WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? AND origin = ? "
    "AND id NOT IN (SELECT value FROM {each}) ORDER BY next_poll_at LIMIT ?"
)
_EACH_SQLITE: Final = "json_each(?)"
_EACH_POSTGRESQL: Final = "json_array_elements_text(CAST(? AS json))"
_SKIP_LOCKED: Final = " FOR UPDATE SKIP LOCKED"

SELECT_DUE: Final = {
    Dialect.SQLITE: _DUE.format(each=_EACH_SQLITE),
    Dialect.POSTGRESQL: _DUE.format(each=_EACH_POSTGRESQL) + _SKIP_LOCKED,
}

NEXT_POLL_AT: Final = "SELECT MIN(next_poll_at) FROM jobs WHERE next_poll_at IS NOT NULL AND origin = ?"

# Polls that follow the refresh schedule: not an error's backoff (poll_errors), not a slow job's long interval.
PLANNED_POLLS: Final = (
    "SELECT " + JOB_COLUMNS + " FROM jobs WHERE origin = ? AND next_poll_at > ? AND status IN ('queued', 'running') "
    "AND poll_errors = 0 AND slow_notified = 0"
)

REPLAN_POLL: Final = "UPDATE jobs SET next_poll_at = ? WHERE id = ? AND next_poll_at = ?"

# Finished jobs whose delivery is due, earliest first; skipping and claiming as for polls.
_DELIVERIES_DUE: Final = (
    "SELECT " + JOB_COLUMNS + " FROM jobs WHERE deliver_at IS NOT NULL AND deliver_at <= ? AND origin = ? "
    "AND id NOT IN (SELECT value FROM {each}) ORDER BY deliver_at LIMIT ?"
)

SELECT_DELIVERIES_DUE: Final = {
    Dialect.SQLITE: _DELIVERIES_DUE.format(each=_EACH_SQLITE),
    Dialect.POSTGRESQL: _DELIVERIES_DUE.format(each=_EACH_POSTGRESQL) + _SKIP_LOCKED,
}

# A holder renews its lease while it works: a poll's (its next poll time) while the job is still in the status it
# was claimed in, a delivery's while it is still being delivered. No row changed: the lease is no longer its own.
RENEW_POLL_LEASE: Final = (
    "UPDATE jobs SET next_poll_at = ? WHERE id = ? AND lease_holder = ? AND status = ? AND next_poll_at IS NOT NULL"
)

RENEW_DELIVERY_LEASE: Final = (
    "UPDATE jobs SET deliver_at = ? WHERE id = ? AND lease_holder = ? AND delivery_state = 'delivering'"
)

NEXT_DELIVERY_AT: Final = "SELECT MIN(deliver_at) FROM jobs WHERE deliver_at IS NOT NULL AND origin = ?"

SET_DISCORD_REFS: Final = """
UPDATE jobs SET thread_id = COALESCE(?, thread_id), status_message_id = COALESCE(?, status_message_id), updated_at = ?
WHERE id = ?
"""

LIST_BY_REQUESTER: Final = (
    "SELECT " + JOB_COLUMNS + " FROM jobs WHERE guild_id = ? AND requester_id = ? AND forgotten_at IS NULL "
    "ORDER BY created_at DESC, rowid DESC LIMIT ?"  # PostgreSQL's jobs table has a rowid column for this
)

LIST_UNFINISHED_BY_REQUESTER: Final = (
    "SELECT " + JOB_COLUMNS + " FROM jobs WHERE guild_id = ? AND requester_id = ? "
    "AND status NOT IN ('succeeded', 'failed', 'cancelled') "
    "ORDER BY created_at"
)

COUNT_BY_STATUS_AND_MODEL: Final = "SELECT status, model, COUNT(*) FROM jobs GROUP BY status, model"

SET_DM_CHANNEL: Final = "UPDATE jobs SET dm_channel_id = ?, updated_at = ? WHERE id = ?"

SAVE_PRIVATE_REPLY: Final = """
INSERT INTO private_replies (job_id, application_id, token, expires_at) VALUES (?, ?, ?, ?)
ON CONFLICT (job_id) DO UPDATE SET application_id = excluded.application_id, token = excluded.token,
    expires_at = excluded.expires_at
"""

# Only a token Discord still takes; an expired one is as good as none.
PRIVATE_REPLY: Final = (
    "SELECT application_id, token, expires_at FROM private_replies WHERE job_id = ? AND expires_at > ?"
)

DROP_PRIVATE_REPLY: Final = "DELETE FROM private_replies WHERE job_id = ?"

ADD_SHOWN_COPY: Final = "INSERT INTO shown_copies (message_id, job_id, channel_id) VALUES (?, ?, ?)"

SHOWN_COPIES: Final = "SELECT channel_id, message_id FROM shown_copies WHERE job_id = ? ORDER BY message_id"

DROP_SHOWN_COPY: Final = "DELETE FROM shown_copies WHERE message_id = ?"

MARK_SET_UP: Final = "UPDATE jobs SET set_up_at = ? WHERE id = ? AND set_up_at IS NULL"

SET_RESULT_CHANNEL: Final = "UPDATE jobs SET result_channel_id = ? WHERE id = ?"

MARK_RESULT_DELETED: Final = "UPDATE jobs SET result_deleted_at = ?, updated_at = ? WHERE id = ?"

IS_RESULT_DELETED: Final = "SELECT 1 FROM jobs WHERE id = ? AND result_deleted_at IS NOT NULL"

TAKEN_DOWN_SINCE: Final = "SELECT id FROM jobs WHERE result_deleted_at >= ?"

GET_META: Final = "SELECT value FROM meta WHERE key = ?"

SET_META: Final = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"

# A flag changes in one statement that counts a row only when the value differs, so of several processes setting
# it at once exactly one is told it changed (under PostgreSQL the later waits on the row and then sees the value).
CHANGE_FLAG: Final = """
INSERT INTO meta (key, value) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE meta.value <> excluded.value
"""

CLEAR_FLAG: Final = "UPDATE meta SET value = '' WHERE key = ? AND value <> ''"

# A flag set only while unset: the first of several values set at once is kept, and only its setter counts a row.
CLAIM_FLAG: Final = """
INSERT INTO meta (key, value) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE meta.value = ''
"""

# Jobs whose files must stay: still running, or finished but not yet handed over.
_IN_PROGRESS: Final = (
    "(status NOT IN ('succeeded', 'failed', 'cancelled') OR delivery_state IN ('pending', 'delivering'))"
)

IDS_IN_PROGRESS: Final = "SELECT id FROM jobs WHERE " + _IN_PROGRESS

IN_PROGRESS_OF_ORIGIN: Final = (
    "SELECT " + JOB_COLUMNS + " FROM jobs WHERE origin = ? AND " + _IN_PROGRESS + " ORDER BY created_at"
)

# The wait queue. Servers with waiting jobs; a server's waiting jobs, oldest first (to be claimed, PostgreSQL locks
# them and skips one a cancel is writing; the claim holds the server's balance lock, as a reservation does, so two
# processes never start more than its limits allow); its members' jobs in progress (held, not waiting).
WAITING_GUILDS: Final = "SELECT DISTINCT guild_id FROM jobs WHERE status = 'waiting' AND guild_id IS NOT NULL"

WAITING: Final = (
    "SELECT " + JOB_COLUMNS + " FROM jobs WHERE guild_id = ? AND status = 'waiting' ORDER BY created_at, id"
)

CLAIM_WAITING: Final = {Dialect.SQLITE: WAITING, Dialect.POSTGRESQL: WAITING + _SKIP_LOCKED}

IN_PROGRESS_BY_MEMBER: Final = """
SELECT reservations.user_id, COUNT(*) FROM reservations JOIN jobs ON jobs.id = reservations.job_id
WHERE reservations.guild_id = ? AND reservations.state = 'held' AND jobs.status != 'waiting'
GROUP BY reservations.user_id
"""

# When each member's latest job started: left the queue, or was stored to be sent at once (round-robin turns).
LAST_STARTED: Final = """
SELECT requester_id, MAX(COALESCE(wait_ended_at, created_at)) FROM jobs
WHERE guild_id = ? AND status != 'waiting' AND requester_id IS NOT NULL
GROUP BY requester_id
"""

# A waiting job's place as its status message shows it, written only when it changed (the writer then edits the
# message: of several processes that see the same move, one does).
SET_QUEUE_PLACE: Final = """
UPDATE jobs SET queue_position = ?, queue_size = ?, queue_minutes = ?, queue_paused = ?
WHERE id = ? AND status = 'waiting' AND NOT (COALESCE(queue_position, -1) = ? AND COALESCE(queue_size, -1) = ?
    AND COALESCE(queue_minutes, -1) = ? AND queue_paused = ?)
"""

# How long a model's latest videos took, from the submit to the finished result.
RECENT_DURATIONS: Final = """
SELECT finished_at - submitted_at FROM jobs
WHERE model = ? AND status = 'succeeded' AND submitted_at IS NOT NULL AND finished_at IS NOT NULL
ORDER BY finished_at DESC LIMIT ?
"""
