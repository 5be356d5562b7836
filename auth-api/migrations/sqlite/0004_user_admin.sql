-- Administering users. Times are Unix seconds.

-- A disabled user's sign-ins are refused like a wrong password; their
-- sessions were ended when they were disabled.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
-- Set for a temporary password an administrator created: every protected
-- page sends the user to change it first.
ALTER TABLE users ADD COLUMN password_change_required INTEGER NOT NULL DEFAULT 0;

-- A feed entry with `stale_before` does not end its session: it makes the
-- session's access tokens issued at or before that time stale (the user's
-- roles changed), so frontends drop them and refresh.
ALTER TABLE revocations ADD COLUMN stale_before INTEGER;
