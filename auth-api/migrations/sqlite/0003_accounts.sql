-- Accounts: when each session's user last proved their password, and the
-- audit log. Times are Unix seconds.

-- Sessions started before this migration read as authenticated at sign-in
-- (`COALESCE(auth_time, created_at)` in the store).
ALTER TABLE sessions ADD COLUMN auth_time INTEGER;

-- Security events, newest last; `id` orders them and is the page cursor.
-- `user_id` is not a foreign key: a deleted user's history stays readable,
-- under the name it had (`username`). Never holds a secret.
CREATE TABLE audit_events (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    at                  INTEGER NOT NULL,
    kind                TEXT NOT NULL,
    user_id             TEXT,
    username            TEXT,
    actor_id            TEXT,
    actor_name          TEXT,
    session_id          TEXT,
    ip                  TEXT,
    user_agent          TEXT,
    detail              TEXT
);
CREATE INDEX audit_events_by_user ON audit_events(user_id, id);
CREATE INDEX audit_events_by_kind ON audit_events(kind, id);
CREATE INDEX audit_events_by_time ON audit_events(at);
