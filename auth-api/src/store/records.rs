//! What the store takes and gives back: plain records, the same for both
//! databases, with no connection or row type in them.

use shared::Role;

use super::error::StoreError;

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub created_at: i64,
    pub disabled: bool,
    /// On a temporary password: must change it before anything else.
    pub password_change_required: bool,
}

#[derive(Debug)]
pub struct NewUser {
    pub username: crate::domain::Username,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub now: i64,
    pub password_change_required: bool,
}

/// A user as the administrators' list shows them.
#[derive(Debug, Clone)]
pub struct UserActivity {
    pub user: UserRecord,
    /// Live sessions.
    pub session_count: u64,
    /// The latest `last_seen_at` of those.
    pub last_seen_at: Option<i64>,
    /// An authenticator app is switched on.
    pub second_factor: bool,
}

/// A user's roles and temporary-password mark as a new session saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNow {
    pub roles: Vec<Role>,
    pub password_change_required: bool,
    /// The user's sessions this sign-in ended to stay within its
    /// `live_limit`, in no particular order (already published on the feed).
    pub superseded: Vec<String>,
}

/// What a change to a user did, when it may be refused for the last admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// Done; this many of the user's sessions ended (or were made stale).
    Done(u64),
    NotFound,
    /// Refused: afterwards no active administrator would be left.
    LastAdmin,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub remember: bool,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub ended_at: Option<i64>,
    /// When the user last proved their password in this session (sign-in or
    /// re-authentication): the access token's `auth_time`.
    pub auth_time: i64,
    /// How the user authenticated (RFC 8176 values, `shared::mfa::amr`):
    /// `pwd`, then `otp` once a second factor was proven in this session.
    pub amr: Vec<String>,
}

#[derive(Debug)]
pub struct NewSession {
    pub id: String,
    pub user_id: String,
    pub now: i64,
    pub expires_at: i64,
    pub remember: bool,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub amr: Vec<String>,
    /// How many live sessions the user may have once this one has started
    /// (`MAX_SESSIONS_PER_USER`): the oldest beyond it end, superseded,
    /// and stay on the revocation feed until `revoked_until`.
    pub live_limit: u32,
    pub revoked_until: i64,
    /// Which of the user's sessions are live (and so count) at `now`.
    pub live: Liveness,
}

/// A user's authenticator app.
#[derive(Clone)]
pub struct TotpRecord {
    /// The key, sealed by `mfa::key` (never decrypted here).
    pub secret_sealed: Vec<u8>,
    pub created_at: i64,
    /// `None` until the user confirmed a first code.
    pub confirmed_at: Option<i64>,
    /// The session that set it up; only it may confirm it.
    pub setup_session_id: Option<String>,
    /// The highest time step whose code was accepted.
    pub last_step: i64,
}

impl std::fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRecord")
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// What adding a second factor did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactorAdded {
    /// Recovery codes were stored (the user had no unused ones).
    pub codes_issued: bool,
    /// Sessions of the user's that ended (their first factor).
    pub ended: u64,
}

/// A registered passkey.
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    pub credential_id: Vec<u8>,
    pub user_id: String,
    pub name: String,
    /// webauthn-rs's `Passkey` as JSON (public key, counter).
    pub passkey: String,
    /// The signature counter last accepted (0: the authenticator keeps none).
    pub counter: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A WebAuthn ceremony under way (`webauthn_ceremonies`).
#[derive(Clone)]
pub struct Ceremony {
    /// `register`, `second_factor` or `sign_in`.
    pub purpose: String,
    /// Whose it is; `None` for a sign-in with a passkey alone.
    pub user_id: Option<String>,
    /// The pending sign-in it is the second factor of (its token's hash).
    pub pending_hash: Option<Vec<u8>>,
    pub origin: String,
    /// webauthn-rs's ceremony state as JSON: the challenge among it.
    pub state: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceremony")
            .field("purpose", &self.purpose)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// A sign-in whose password was right, waiting for a second factor.
#[derive(Clone)]
pub struct PendingSignIn {
    pub user_id: String,
    /// The hash the password was verified against: a change meanwhile voids it.
    pub password_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// Wrong codes so far.
    pub failures: u32,
    pub remember: bool,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The throttling device id the password step was judged with.
    pub device: Option<String>,
}

impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

/// A session with its user and what it keeps of its refresh tokens.
#[derive(Debug)]
pub struct RefreshRecord {
    pub session: SessionRecord,
    pub user: UserRecord,
    pub refresh: RefreshState,
}

/// The refresh-token columns of a session (see `tokens::refresh`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshState {
    pub generation: i64,
    pub family: Option<Vec<u8>>,
    pub current: Option<Vec<u8>>,
    pub previous: Option<Vec<u8>>,
    pub sealed: Option<Vec<u8>>,
    pub rotated_at: Option<i64>,
}

/// The refresh token a session starts with: the hashes of the token and of
/// its family.
#[derive(Debug, Clone, Copy)]
pub struct FirstRefresh<'a> {
    pub hash: &'a [u8],
    pub family: &'a [u8],
}

/// One requested rotation: generation `generation` of session `session_id`,
/// whose token hashes to `current`, is replaced by a successor (`hash`,
/// `sealed`), if it is still current, the session live by `live` and its
/// user not disabled.
#[derive(Debug, Clone)]
pub struct Rotate {
    pub session_id: String,
    pub generation: i64,
    pub current: Vec<u8>,
    pub hash: Vec<u8>,
    pub sealed: Vec<u8>,
    /// The family's hash, when this rotation starts one (a token from before
    /// generations); an existing family is never replaced.
    pub family: Option<Vec<u8>>,
    /// `live.now` is the rotation's time.
    pub live: Liveness,
}

/// Bounds that decide whether a session is live; see `policy`.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    pub now: i64,
    /// Sessions without "remember me" last seen at or before this are idle-expired.
    pub idle_cutoff: i64,
    /// The same for sessions with "remember me".
    pub remember_idle_cutoff: i64,
}

#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kid: String,
    /// The Ed25519 seed; `None` once the key is retired and may no longer sign.
    pub seed: Option<Vec<u8>>,
    pub public: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// A fresh key pair from `tokens::keys::generate`.
#[derive(Clone)]
pub struct NewKey {
    pub kid: String,
    pub seed: [u8; 32],
    pub public: [u8; 32],
}

#[derive(Debug, Clone, Copy, Default)]
pub struct FailureCount {
    pub failures: u32,
    pub window_start: i64,
}

/// A security event to record (`audit`). Who it happened to, who did it and
/// from where; never a secret.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub at: i64,
    pub kind: &'static str,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

/// Which events to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Events that happened to this user id.
    pub user_id: Option<String>,
    /// Events that happened to a user of this name (deleted users included).
    pub username: Option<String>,
    pub kind: Option<String>,
    /// Only events with a smaller id: the page cursor.
    pub before: Option<i64>,
    pub limit: i64,
}

/// `amr` values are stored as one space-separated column.
pub(super) fn amr_to_text(amr: &[String]) -> String {
    amr.join(" ")
}

pub(super) fn amr_from_text(text: &str) -> Vec<String> {
    text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Roles are stored as one comma-separated column.
pub(super) fn roles_to_text(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

pub(super) fn roles_from_text(text: &str) -> Result<Vec<Role>, StoreError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Role>().map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

/// What `retire_signing_key` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRetirement {
    /// Cut off; `replaced_by` is the new current key when it was the current one.
    Retired { replaced_by: Option<String> },
    /// No such key.
    Unknown,
    /// Cut off before.
    AlreadyRetired,
}
