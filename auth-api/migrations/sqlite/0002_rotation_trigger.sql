-- Rotating a refresh token is one UPDATE of the old token's row: the
-- group-commit task (src/store/sqlite/group_commit.rs) applies a whole batch
-- of rotations as one `UPDATE ... FROM (VALUES ...)`. This trigger adds each
-- successor and records the use of its session inside that same statement,
-- so a batch is atomic without a multi-statement transaction (each statement
-- is a hand-off to sqlx's connection thread, the cost being saved).
CREATE TRIGGER refresh_tokens_rotated
AFTER UPDATE OF rotated_at ON refresh_tokens
WHEN OLD.rotated_at IS NULL AND NEW.rotated_at IS NOT NULL AND NEW.successor_hash IS NOT NULL
BEGIN
    INSERT INTO refresh_tokens (hash, session_id, issued_at)
    VALUES (NEW.successor_hash, NEW.session_id, NEW.rotated_at);
    UPDATE sessions SET last_seen_at = MAX(last_seen_at, NEW.rotated_at) WHERE id = NEW.session_id;
END;
