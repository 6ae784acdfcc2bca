-- PostgreSQL's copy of the SQLite migration of the same name: a member's own defaults on one server, used where
-- /video create leaves an option out (NULL: no default).
CREATE TABLE member_settings (
    guild_id    BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    model       TEXT,
    orientation TEXT,
    duration    BIGINT,
    hd          BIGINT,
    updated_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
