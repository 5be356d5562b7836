-- Which MFA_ENCRYPTION_KEY made each recovery code's HMAC, so the key can
-- rotate: its key id (16 hex digits derived from the key, never the key).
-- NULL: made before key ids were recorded, by the one key configured then;
-- an auth-api started with a single key records that key's id for them.
-- Authenticator-app keys need no column: their sealed value names its key.
ALTER TABLE recovery_codes ADD COLUMN key_id TEXT;
-- `auth-api mfa status` counts the unused codes per key.
CREATE INDEX recovery_codes_unused_by_key ON recovery_codes(key_id) WHERE used_at IS NULL;
