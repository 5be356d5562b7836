-- Cloakroom auth-api schema (PostgreSQL). Times are Unix seconds (BIGINT),
-- the same columns as the SQLite schema so both backends share one Rust model.

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE,
    password_hash       TEXT NOT NULL,
    roles               TEXT NOT NULL,              -- comma-separated role names
    created_at          BIGINT NOT NULL
);

CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at          BIGINT NOT NULL,
    last_seen_at        BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,            -- absolute timeout
    remember            BOOLEAN NOT NULL,
    user_agent          TEXT,
    ip                  TEXT,
    ended_at            BIGINT,
    end_reason          TEXT
);
CREATE INDEX sessions_live_by_user ON sessions(user_id) WHERE ended_at IS NULL;

-- Only SHA-256 hashes of refresh tokens are stored. When a token is rotated,
-- its successor is kept XOR-sealed under a pad derived from the *old* token,
-- so the grace window can hand out the same successor again while the
-- database alone reveals no usable token.
CREATE TABLE refresh_tokens (
    hash                BYTEA PRIMARY KEY,
    session_id          TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at           BIGINT NOT NULL,
    rotated_at          BIGINT,
    successor_hash      BYTEA,
    successor_sealed    BYTEA
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);

-- The revocation feed; `id` is the cursor. Writers serialise on an advisory
-- lock before inserting (see store/postgres.rs), so ids become visible in
-- the order they were assigned and a reader's cursor never skips a row.
CREATE TABLE revocations (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id          TEXT NOT NULL,
    until               BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid                 TEXT PRIMARY KEY,
    private_key         BYTEA,                      -- Ed25519 seed; NULL once retired
    public_key          BYTEA NOT NULL,
    created_at          BIGINT NOT NULL,
    retired_at          BIGINT
);
-- At most one current key, whatever several instances do at once: a second
-- first-start insert conflicts here and does nothing.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((retired_at IS NULL))
    WHERE retired_at IS NULL;

CREATE TABLE login_failures (
    key                 TEXT PRIMARY KEY,           -- 'user:NAME' or 'ip:ADDR'
    failures            BIGINT NOT NULL,
    window_start        BIGINT NOT NULL
);
