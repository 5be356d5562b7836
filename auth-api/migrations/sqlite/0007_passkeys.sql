-- Passkeys (WebAuthn). Times are Unix seconds.

-- One registered credential. `passkey` is webauthn-rs's record of it (the
-- public key, algorithm and signature counter) as JSON: nothing secret.
-- `counter` is the signature counter last accepted, kept beside it so that
-- a use is recorded only if it moved forward (one conditional UPDATE).
CREATE TABLE passkeys (
    credential_id       BLOB PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    passkey             TEXT NOT NULL,
    counter             INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    last_used_at        INTEGER
);
CREATE INDEX passkeys_by_user ON passkeys(user_id, created_at);

-- A WebAuthn ceremony under way: its challenge and what the answer must
-- match, kept here (not in the browser) and used once. `id_hash` is the
-- SHA-256 of the id the frontend holds; `user_id` is whose it is (none for
-- a sign-in with a passkey alone); `pending_hash` the pending sign-in it is
-- the second factor of, if it is one; `origin` is the frontend's, at the start.
CREATE TABLE webauthn_ceremonies (
    id_hash             BLOB PRIMARY KEY,
    purpose             TEXT NOT NULL,
    user_id             TEXT REFERENCES users(id) ON DELETE CASCADE,
    pending_hash        BLOB,
    origin              TEXT NOT NULL,
    state               TEXT NOT NULL,
    expires_at          INTEGER NOT NULL
);
CREATE INDEX webauthn_ceremonies_by_expiry ON webauthn_ceremonies(expires_at);
