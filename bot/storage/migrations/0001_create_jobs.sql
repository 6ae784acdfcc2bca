-- Jobs: everything needed to resume a job after a crash. Times are unix seconds (REAL).
CREATE TABLE jobs (
    id                  TEXT PRIMARY KEY,           -- the bot's own short id, shown to users
    origin              TEXT NOT NULL,              -- 'discord' or 'cli'
    requester_id        INTEGER,
    guild_id            INTEGER,
    channel_id          INTEGER,
    thread_id           INTEGER,
    status_message_id   INTEGER,
    result_message_id   INTEGER,
    prompt              TEXT NOT NULL,
    model               TEXT NOT NULL,
    wire_format         TEXT NOT NULL,              -- kept per job: the catalog may change while it runs
    orientation         TEXT NOT NULL,
    duration            INTEGER NOT NULL,
    hd                  INTEGER NOT NULL DEFAULT 0,
    image_count         INTEGER NOT NULL DEFAULT 0,
    task_id             TEXT,                       -- the gateway's id, exactly as it was given
    status              TEXT NOT NULL,
    remote_status       TEXT,
    progress            INTEGER,
    created_at          REAL NOT NULL,
    submitted_at        REAL,
    updated_at          REAL NOT NULL,
    finished_at         REAL,
    next_poll_at        REAL,                       -- NULL once nothing is left to poll
    last_poll_at        REAL,
    poll_count          INTEGER NOT NULL DEFAULT 0,
    attempts            INTEGER NOT NULL DEFAULT 0, -- consecutive failed polls or downloads
    refresh_start       REAL,                       -- learned window holding a gateway refresh
    refresh_end         REAL,
    slow_notified       INTEGER NOT NULL DEFAULT 0,
    error_kind          TEXT,
    error_message       TEXT,
    result_path         TEXT,
    result_bytes        INTEGER,
    delivery_state      TEXT NOT NULL DEFAULT 'none',
    deliver_at          REAL,                       -- when the next delivery attempt is due
    delivery_attempts   INTEGER NOT NULL DEFAULT 0,
    maybe_delivered     INTEGER NOT NULL DEFAULT 0, -- a previous attempt may have posted before a crash
    delivered_at        REAL
);

CREATE INDEX jobs_next_poll ON jobs (next_poll_at) WHERE next_poll_at IS NOT NULL;
CREATE INDEX jobs_deliver ON jobs (deliver_at) WHERE deliver_at IS NOT NULL;
CREATE INDEX jobs_requester ON jobs (requester_id, created_at);
CREATE INDEX jobs_task ON jobs (task_id);
