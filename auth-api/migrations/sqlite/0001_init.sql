-- Cloakroom auth-api schema (SQLite). Times are Unix seconds.

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE,
    password_hash       TEXT NOT NULL,
    roles               TEXT NOT NULL,              -- comma-separated role names
    created_at          INTEGER NOT NULL
);

CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at          INTEGER NOT NULL,
    last_seen_at        INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,           -- absolute timeout
    remember            INTEGER NOT NULL,
    user_agent          TEXT,
    ip                  TEXT,
    ended_at            INTEGER,
    end_reason          TEXT
);
CREATE INDEX sessions_live_by_user ON sessions(user_id) WHERE ended_at IS NULL;

-- Only SHA-256 hashes of refresh tokens are stored. When a token is rotated,
-- its successor is kept XOR-sealed under a pad derived from the *old* token,
-- so the grace window can hand out the same successor again while the
-- database alone reveals no usable token.
CREATE TABLE refresh_tokens (
    hash                BLOB PRIMARY KEY,
    session_id          TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at           INTEGER NOT NULL,
    rotated_at          INTEGER,
    successor_hash      BLOB,
    successor_sealed    BLOB
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);

-- The revocation feed; `id` is the cursor.
CREATE TABLE revocations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id          TEXT NOT NULL,
    until               INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    kid                 TEXT PRIMARY KEY,
    private_key         BLOB,                       -- Ed25519 seed; NULL once retired
    public_key          BLOB NOT NULL,
    created_at          INTEGER NOT NULL,
    retired_at          INTEGER
);

CREATE TABLE login_failures (
    key                 TEXT PRIMARY KEY,           -- 'user:NAME' or 'ip:ADDR'
    failures            INTEGER NOT NULL,
    window_start        INTEGER NOT NULL
);
