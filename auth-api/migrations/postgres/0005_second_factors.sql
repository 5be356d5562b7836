-- Second factors. Times are Unix seconds (BIGINT), as in the SQLite schema.

-- How each session's user authenticated (RFC 8176 `amr` values, separated
-- by spaces). Sessions from before second factors used a password alone.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

-- A user's authenticator app. `secret_sealed` is the RFC 6238 key under
-- AES-256-GCM (MFA_ENCRYPTION_KEY), bound to the user id; it is switched
-- on once `confirmed_at` is set, by a code entered in the session that set
-- it up (`setup_session_id`). `last_step` is the highest 30-second step
-- whose code was accepted: a code is good once, across every instance.
CREATE TABLE totp_factors (
    user_id             TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed       BYTEA NOT NULL,
    created_at          BIGINT NOT NULL,
    confirmed_at        BIGINT,
    setup_session_id    TEXT,
    last_step           BIGINT NOT NULL DEFAULT 0
);

-- Single-use recovery codes, as HMAC-SHA-256 under a key derived from
-- MFA_ENCRYPTION_KEY (the codes never exist here in the clear).
CREATE TABLE recovery_codes (
    code_hash           BYTEA PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at          BIGINT NOT NULL,
    used_at             BIGINT
);
CREATE INDEX recovery_codes_by_user ON recovery_codes(user_id);

-- A sign-in whose password was right, waiting for its second factor.
-- `token_hash` is SHA-256 of the `mfa_token` the frontend holds; the
-- password hash it was verified against is kept so that a password change
-- meanwhile voids it (as for a session).
CREATE TABLE pending_sign_ins (
    token_hash          BYTEA PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    password_hash       TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    failures            BIGINT NOT NULL DEFAULT 0,
    remember            BOOLEAN NOT NULL,
    user_agent          TEXT,
    ip                  TEXT,
    device              TEXT
);
CREATE INDEX pending_sign_ins_by_expiry ON pending_sign_ins(expires_at);
CREATE INDEX pending_sign_ins_by_user ON pending_sign_ins(user_id);
