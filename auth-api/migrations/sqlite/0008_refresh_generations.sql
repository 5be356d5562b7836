-- Refresh tokens without a row per rotation (issue 18). A token now names its
-- session and generation and carries the session's family secret (see
-- src/tokens/refresh.rs), so the session keeps only the hashes of the current
-- generation and the one before it: one row per session however long it
-- lives, and reuse of any older generation is still recognised.
ALTER TABLE sessions ADD COLUMN refresh_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN refresh_family BLOB;          -- hash of the family secret
ALTER TABLE sessions ADD COLUMN refresh_hash BLOB;            -- the current generation's token
ALTER TABLE sessions ADD COLUMN refresh_previous_hash BLOB;   -- the generation before
ALTER TABLE sessions ADD COLUMN refresh_sealed BLOB;          -- the current family+secret under the previous token's pad
ALTER TABLE sessions ADD COLUMN refresh_rotated_at INTEGER;

-- Sessions signed in before: their unrotated token is generation 0, without a
-- family until its first rotation. Those tokens do not name their session, so
-- `refresh_tokens` stays as their index (read-only; its rows go with their
-- sessions), and nothing else of it is needed.
UPDATE sessions
SET refresh_hash = (SELECT r.hash FROM refresh_tokens r WHERE r.session_id = sessions.id AND r.rotated_at IS NULL)
WHERE ended_at IS NULL;
DELETE FROM refresh_tokens WHERE rotated_at IS NOT NULL;
DROP TRIGGER refresh_tokens_rotated;

-- Pruning deletes in small batches, each found through an index rather than
-- a scan of the whole table.
CREATE INDEX sessions_by_end ON sessions(ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX sessions_by_expiry ON sessions(expires_at);
CREATE INDEX revocations_by_until ON revocations(until);
