-- One row per note. `user_id` is the access token's `sub`: this service
-- keeps no users of its own, and every query is scoped by it.
CREATE TABLE notes (
    -- Insertion order (SQLite's rowid): "newest first" even within one second.
    seq        INTEGER PRIMARY KEY,
    -- The public id: a random UUID, so ids reveal neither counts nor order.
    id         TEXT    NOT NULL UNIQUE,
    user_id    TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    -- Unix seconds.
    created_at INTEGER NOT NULL
);

CREATE INDEX notes_by_user ON notes (user_id, seq);
