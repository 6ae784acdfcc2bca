-- A member's own defaults on one server, used where /video create leaves an option out (NULL: no default).
CREATE TABLE member_settings (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    model       TEXT,
    orientation TEXT,
    duration    INTEGER,
    hd          INTEGER,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
