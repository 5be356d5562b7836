-- Administering users. Times are Unix seconds (BIGINT), as in the SQLite schema.

-- A disabled user's sign-ins are refused like a wrong password; their
-- sessions were ended when they were disabled.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
-- Set for a temporary password an administrator created: every protected
-- page sends the user to change it first.
ALTER TABLE users ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT FALSE;

-- A feed entry with `stale_before` does not end its session: it makes the
-- session's access tokens issued at or before that time stale (the user's
-- roles changed), so frontends drop them and refresh.
ALTER TABLE revocations ADD COLUMN stale_before BIGINT;
