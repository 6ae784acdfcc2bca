"""SQL for per-server configuration, quotas, strikes and the ledger, as named constants with ? placeholders."""

from typing import Final

from bot.storage.database import Dialect

GET_CONFIG: Final = """
SELECT user_daily_credits, guild_daily_credits, guild_monthly_credits, max_jobs_per_user, max_jobs_per_guild,
       cooldown_seconds, paused, pause_reason, log_channel_id, queue_max, private_allowed
FROM guild_config WHERE guild_id = ?
"""

ENSURE_CONFIG: Final = "INSERT INTO guild_config (guild_id) VALUES (?) ON CONFLICT (guild_id) DO NOTHING"

# Taken first in a reservation's transaction, so two of one server's (another process's too) never both read the
# balances and then both spend them. SQLite's BEGIN IMMEDIATE already admits one writer at a time; PostgreSQL locks
# the server's config row (made if missing) until the transaction ends: its members' balances are held with it.
LOCK_BALANCES: Final = {
    Dialect.SQLITE: (),
    Dialect.POSTGRESQL: (ENSURE_CONFIG, "SELECT guild_id FROM guild_config WHERE guild_id = ? FOR UPDATE"),
}

SET_LIMITS: Final = """
UPDATE guild_config SET user_daily_credits = ?, guild_daily_credits = ?, guild_monthly_credits = ?,
                        max_jobs_per_user = ?, max_jobs_per_guild = ?, cooldown_seconds = ?, queue_max = ?
WHERE guild_id = ?
"""

SET_PAUSED: Final = "UPDATE guild_config SET paused = ?, pause_reason = ? WHERE guild_id = ?"

SET_LOG_CHANNEL: Final = "UPDATE guild_config SET log_channel_id = ? WHERE guild_id = ?"

SET_PRIVATE_ALLOWED: Final = "UPDATE guild_config SET private_allowed = ? WHERE guild_id = ?"

ALL_LOG_CHANNELS: Final = "SELECT guild_id, log_channel_id FROM guild_config WHERE log_channel_id IS NOT NULL"

SET_ROLE_CAP: Final = """
INSERT INTO role_caps (guild_id, role_id, daily_credits) VALUES (?, ?, ?)
ON CONFLICT (guild_id, role_id) DO UPDATE SET daily_credits = excluded.daily_credits
"""

DELETE_ROLE_CAP: Final = "DELETE FROM role_caps WHERE guild_id = ? AND role_id = ?"

ROLE_CAPS: Final = "SELECT role_id, daily_credits FROM role_caps WHERE guild_id = ? ORDER BY role_id"

ADD_TO_LIST: Final = """
INSERT INTO guild_lists (guild_id, kind, value, note, created_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (guild_id, kind, value) DO UPDATE SET note = excluded.note
"""

REMOVE_FROM_LIST: Final = "DELETE FROM guild_lists WHERE guild_id = ? AND kind = ? AND value = ?"

LIST: Final = "SELECT value, note FROM guild_lists WHERE guild_id = ? AND kind = ? ORDER BY created_at, value"

IN_LIST: Final = "SELECT note FROM guild_lists WHERE guild_id = ? AND kind = ? AND value = ?"

# Stored patterns whose server was not yet told they cannot be used (all servers, or the one given).
UNREPORTED_PATTERNS: Final = """
SELECT guild_id, value FROM guild_lists
WHERE kind = 'blocked_regex' AND inactive_reported_at IS NULL AND (CAST(:guild AS BIGINT) IS NULL OR guild_id = :guild)
ORDER BY guild_id, created_at, value
"""

# Claimed by the process that tells the server (the row changes for one process only); given back if it could not.
MARK_PATTERN_REPORTED: Final = """
UPDATE guild_lists SET inactive_reported_at = ?
WHERE guild_id = ? AND kind = 'blocked_regex' AND value = ? AND inactive_reported_at IS NULL
"""

UNMARK_PATTERN_REPORTED: Final = """
UPDATE guild_lists SET inactive_reported_at = NULL
WHERE guild_id = ? AND kind = 'blocked_regex' AND value = ? AND inactive_reported_at = ?
"""

# Allowance spending excludes the bonus part and anything before an admin's reset; pools count everything.
USAGE: Final = """
SELECT
  (SELECT COALESCE(SUM(credits - bonus), 0) FROM reservations
    WHERE guild_id = :guild AND user_id = :user AND state != 'refunded' AND created_at >= :user_since),
  (SELECT COALESCE(SUM(credits), 0) FROM reservations
    WHERE guild_id = :guild AND state != 'refunded' AND created_at >= :day_start),
  (SELECT COALESCE(SUM(credits), 0) FROM reservations
    WHERE guild_id = :guild AND state != 'refunded' AND created_at >= :month_start),
  (SELECT COUNT(*) FROM reservations JOIN jobs ON jobs.id = reservations.job_id
    WHERE reservations.guild_id = :guild AND user_id = :user AND state = 'held' AND jobs.status != 'waiting'),
  (SELECT COUNT(*) FROM reservations JOIN jobs ON jobs.id = reservations.job_id
    WHERE reservations.guild_id = :guild AND state = 'held' AND jobs.status != 'waiting'),
  (SELECT MAX(created_at) FROM reservations WHERE guild_id = :guild AND user_id = :user),
  (SELECT COALESCE(credits, 0) FROM bonus_credits WHERE guild_id = :guild AND user_id = :user),
  (SELECT COUNT(*) FROM strikes WHERE guild_id = :guild AND user_id = :user AND created_at >= :strike_since),
  (SELECT MAX(created_at) FROM strikes WHERE guild_id = :guild AND user_id = :user AND created_at >= :strike_since),
  (SELECT COUNT(*) FROM jobs WHERE guild_id = :guild AND requester_id = :user AND status = 'waiting'),
  (SELECT COUNT(*) FROM jobs WHERE guild_id = :guild AND status = 'waiting')
"""

USER_RESET_AT: Final = "SELECT reset_at FROM user_resets WHERE guild_id = ? AND user_id = ?"

SET_USER_RESET: Final = """
INSERT INTO user_resets (guild_id, user_id, reset_at) VALUES (?, ?, ?)
ON CONFLICT (guild_id, user_id) DO UPDATE SET reset_at = excluded.reset_at
"""

CLEAR_STRIKES: Final = "DELETE FROM strikes WHERE guild_id = ? AND user_id = ?"

HOLD: Final = """
INSERT INTO reservations (job_id, guild_id, user_id, credits, bonus, state, created_at)
VALUES (?, ?, ?, ?, ?, 'held', ?)
"""

SPEND_BONUS: Final = "UPDATE bonus_credits SET credits = credits - ? WHERE guild_id = ? AND user_id = ?"

ADD_BONUS: Final = """
INSERT INTO bonus_credits (guild_id, user_id, credits) VALUES (?, ?, ?)
ON CONFLICT (guild_id, user_id) DO UPDATE SET credits = bonus_credits.credits + excluded.credits
"""

# Settling only touches a held reservation, so settling twice (a retry after a crash) changes nothing.
SETTLE: Final = """
UPDATE reservations SET state = ?, settled_at = ? WHERE job_id = ? AND state = 'held'
RETURNING guild_id, user_id, credits, bonus
"""

# A video made but never delivered is not charged: its committed credits go back.
REFUND_COMMITTED: Final = """
UPDATE reservations SET state = 'refunded', settled_at = ? WHERE job_id = ? AND state = 'committed'
RETURNING guild_id, user_id, credits, bonus
"""

LEDGER_ROW: Final = """
INSERT INTO ledger (guild_id, user_id, job_id, kind, credits, bonus, actor_id, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""

ADD_STRIKE: Final = "INSERT INTO strikes (guild_id, user_id, job_id, reason, created_at) VALUES (?, ?, ?, ?, ?)"

LEDGER_FOR_USER: Final = """
SELECT job_id, kind, credits, bonus, actor_id, created_at FROM ledger
WHERE guild_id = ? AND user_id = ? AND created_at >= ? ORDER BY id
"""

TOP_SPENDERS: Final = """
SELECT user_id, SUM(credits) AS spent, COUNT(*) AS jobs FROM reservations
WHERE guild_id = ? AND state = 'committed' AND created_at >= ?
GROUP BY user_id ORDER BY spent DESC, user_id LIMIT ?
"""

PERIOD_TOTALS: Final = """
SELECT
  COALESCE(SUM(CASE WHEN state = 'committed' THEN credits END), 0),
  COALESCE(SUM(CASE WHEN state = 'held' THEN credits END), 0),
  COUNT(CASE WHEN state = 'committed' THEN 1 END),
  COUNT(CASE WHEN state = 'refunded' THEN 1 END)
FROM reservations WHERE guild_id = ? AND created_at >= ?
"""

FAILURES_BY_KIND: Final = """
SELECT error_kind, COUNT(*) FROM jobs
WHERE guild_id = ? AND status = 'failed' AND created_at >= ? GROUP BY error_kind ORDER BY COUNT(*) DESC
"""

STRIKES_SINCE: Final = "SELECT COUNT(*) FROM strikes WHERE guild_id = ? AND created_at >= ?"

# Each spent reservation of the period with its job's model, for the usage chart (days are counted by the caller:
# where a day starts is a setting, not SQL).
SPENDING_BY_MODEL: Final = """
SELECT reservations.created_at, COALESCE(jobs.model, 'unknown'), reservations.credits FROM reservations
LEFT JOIN jobs ON jobs.id = reservations.job_id
WHERE reservations.guild_id = ? AND reservations.state = 'committed' AND reservations.created_at >= ?
ORDER BY reservations.created_at
"""

# The rows stay (a moderator can still take the videos down); only the prompts go, and history hides them.
FORGET_USER: Final = """
UPDATE jobs SET prompt = '', forgotten_at = COALESCE(forgotten_at, ?) WHERE guild_id = ? AND requester_id = ?
"""

MEMBER_SETTINGS: Final = """
SELECT model, orientation, duration, hd, private FROM member_settings WHERE guild_id = ? AND user_id = ?
"""

SET_MEMBER_SETTINGS: Final = """
INSERT INTO member_settings (guild_id, user_id, model, orientation, duration, hd, private, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (guild_id, user_id) DO UPDATE SET model = excluded.model, orientation = excluded.orientation,
    duration = excluded.duration, hd = excluded.hd, private = excluded.private, updated_at = excluded.updated_at
"""

FORGET_MEMBER_SETTINGS: Final = "DELETE FROM member_settings WHERE guild_id = ? AND user_id = ?"

# The interaction tokens kept for a member's private jobs (credentials: they go with the member's data).
FORGET_PRIVATE_REPLIES: Final = """
DELETE FROM private_replies WHERE job_id IN (SELECT id FROM jobs WHERE guild_id = ? AND requester_id = ?)
"""

# The copies /video show posted of a member's jobs on a server, as (channel, message); forgotten with them.
SHOWN_COPIES_OF_USER: Final = """
SELECT shown_copies.channel_id, shown_copies.message_id FROM shown_copies
JOIN jobs ON jobs.id = shown_copies.job_id WHERE jobs.guild_id = ? AND jobs.requester_id = ?
"""

FORGET_SHOWN_COPIES: Final = """
DELETE FROM shown_copies WHERE job_id IN (SELECT id FROM jobs WHERE guild_id = ? AND requester_id = ?)
"""

# Every message the bot posted in a member's DMs for their jobs on a server, as (DM channel, message): private jobs'
# status messages, and results posted by DM (a private job's, or a public one's after its thread and channel failed).
DM_POSTS_OF_USER: Final = """
SELECT dm_channel_id, status_message_id FROM jobs
WHERE guild_id = :guild AND requester_id = :user AND dm_channel_id IS NOT NULL AND status_message_id IS NOT NULL
UNION ALL
SELECT result_channel_id, result_message_id FROM jobs
WHERE guild_id = :guild AND requester_id = :user AND result_channel_id IS NOT NULL AND result_message_id IS NOT NULL
  AND result_channel_id != COALESCE(thread_id, 0) AND result_channel_id != COALESCE(channel_id, 0)
"""

# A member's jobs on a server whose files may go: finished and handed over (or given up).
DONE_JOBS_OF_USER: Final = """
SELECT id FROM jobs WHERE guild_id = ? AND requester_id = ? AND status IN ('succeeded', 'failed', 'cancelled')
  AND delivery_state NOT IN ('pending', 'delivering')
"""
RESULTS_OF_USER: Final = """
SELECT id, COALESCE(result_channel_id, thread_id, channel_id), result_message_id FROM jobs
WHERE guild_id = ? AND requester_id = ? AND result_message_id IS NOT NULL AND result_deleted_at IS NULL
"""
