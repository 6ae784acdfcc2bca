-- Per-server configuration set by admins. NULL limits mean "the default from the environment"; 0 means no limit.
CREATE TABLE guild_config (
    guild_id              INTEGER PRIMARY KEY,
    user_daily_credits    REAL,
    guild_daily_credits   REAL,
    guild_monthly_credits REAL,
    max_jobs_per_user     INTEGER,
    max_jobs_per_guild    INTEGER,
    cooldown_seconds      REAL,
    paused                INTEGER NOT NULL DEFAULT 0,
    pause_reason          TEXT,
    log_channel_id        INTEGER
);

-- A role's daily cap for its members (0: unlimited); a member with several gets the most generous.
CREATE TABLE role_caps (
    guild_id      INTEGER NOT NULL,
    role_id       INTEGER NOT NULL,
    daily_credits REAL NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);

-- Per-server lists, one kind each: allowed_channel and allowed_role (when a server lists any, only those may
-- generate), blocked_user, blocked_word, blocked_regex and disabled_model.
CREATE TABLE guild_lists (
    guild_id   INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    note       TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (guild_id, kind, value)
);

-- Credits held for a job from acceptance until it succeeds (committed) or fails (refunded).
CREATE TABLE reservations (
    job_id     TEXT PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    credits    REAL NOT NULL,              -- the job's whole cost
    bonus      REAL NOT NULL,              -- the part paid from bonus credits
    state      TEXT NOT NULL,              -- held | committed | refunded
    created_at REAL NOT NULL,
    settled_at REAL
);
CREATE INDEX reservations_user ON reservations (guild_id, user_id, created_at);
CREATE INDEX reservations_guild ON reservations (guild_id, created_at);
CREATE INDEX reservations_held ON reservations (guild_id, state) WHERE state = 'held';

-- Granted credits, spent after the daily allowance; they do not expire.
CREATE TABLE bonus_credits (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    credits  REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- An admin's reset: the member's usage before this time no longer counts against today's allowance.
CREATE TABLE user_resets (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    reset_at REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- Content-policy refusals and blocked-word hits; enough of them within a window bring a cooldown.
CREATE TABLE strikes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    job_id     TEXT,
    reason     TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX strikes_user ON strikes (guild_id, user_id, created_at);

-- Every reservation, commit, refund, grant and reset, so any balance can be explained. No prompts here.
CREATE TABLE ledger (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    job_id     TEXT,
    kind       TEXT NOT NULL,              -- reserve | commit | refund | grant | reset
    credits    REAL NOT NULL,
    bonus      REAL NOT NULL DEFAULT 0,
    actor_id   INTEGER,                    -- who granted or reset, for admin actions
    created_at REAL NOT NULL
);
CREATE INDEX ledger_guild ON ledger (guild_id, created_at);
CREATE INDEX ledger_user ON ledger (guild_id, user_id, created_at);
