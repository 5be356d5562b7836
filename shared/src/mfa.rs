//! Second factors: what `/auth/mfa…` accepts and answers, the challenge a
//! password grant answers with when the user has a second factor, and the
//! authentication-method references (RFC 8176) that access tokens carry.

use serde::{Deserialize, Serialize};

/// RFC 8176 `amr` values Cloakroom issues.
pub mod amr {
    /// A password.
    pub const PASSWORD: &str = "pwd";
    /// A one-time code: an authenticator app's (RFC 6238) or a recovery code.
    pub const ONE_TIME: &str = "otp";
    /// Proof of possession of a hardware-protected key (a passkey).
    pub const HARDWARE_KEY: &str = "hwk";

    /// Whether `methods` include something besides the password: a session
    /// that proved a second factor, or signed in with a passkey alone.
    pub fn has_second_factor<S: AsRef<str>>(methods: &[S]) -> bool {
        methods.iter().any(|m| matches!(m.as_ref(), ONE_TIME | HARDWARE_KEY))
    }
}

/// The second factors a user can present at `/login/verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// An authenticator app's current code.
    Otp,
    /// One of the user's single-use recovery codes.
    RecoveryCode,
    /// One of the user's passkeys (WebAuthn).
    Passkey,
}

/// The extra members of a `403 mfa_required` answer to a password grant:
/// the password was right, and the sign-in waits for a second factor.
/// `mfa_token` names the pending sign-in (server-side, `expires_in` seconds);
/// it is a secret, as good as the password for those five minutes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaChallenge {
    pub mfa_token: String,
    pub expires_in: u64,
    pub factors: Vec<Factor>,
}

impl std::fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaChallenge")
            .field("expires_in", &self.expires_in)
            .field("factors", &self.factors)
            .finish_non_exhaustive()
    }
}

/// `GET /auth/mfa`: the caller's second factors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaStatus {
    /// When the authenticator app was switched on; `None` when it is off.
    pub totp_enabled_at: Option<i64>,
    /// Unused recovery codes left.
    pub recovery_codes_left: u32,
    /// The user's roles require a second factor (`MFA_REQUIRED_ROLES`).
    pub required: bool,
    /// The user's passkeys, oldest first.
    #[serde(default)]
    pub passkeys: Vec<PasskeyView>,
}

/// One registered passkey. `id` is its credential id (base64url).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// `POST /auth/passkeys/options` and `POST /auth/passkey/options`: start a
/// WebAuthn ceremony for the browser at `origin` (the frontend's
/// `PUBLIC_ORIGIN`: the relying party is its host). With `mfa_token`, the
/// second factor of that pending sign-in; without, a sign-in with a passkey
/// alone (discoverable credentials).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyOptionsRequest {
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// The browser's address as the frontend saw it: anyone may begin a
    /// passkey sign-in, so each network's ceremonies are limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

impl std::fmt::Debug for PasskeyOptionsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyOptionsRequest")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// A WebAuthn ceremony begun: `options` is the JSON the browser's
/// `PublicKeyCredential.parse…OptionsFromJSON` takes (`{"publicKey":…}`),
/// `ceremony` names the server-side state the answer is checked against
/// (once, within five minutes).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyChallenge {
    pub ceremony: String,
    pub options: String,
}

impl std::fmt::Debug for PasskeyChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyChallenge").finish_non_exhaustive()
    }
}

/// `POST /auth/passkeys`: the browser's answer to a registration ceremony
/// (`credential` is the JSON of `PublicKeyCredential.toJSON()`), and the
/// name the user gave the passkey.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPasskey {
    pub ceremony: String,
    pub name: String,
    pub credential: String,
}

impl std::fmt::Debug for NewPasskey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPasskey").field("name", &self.name).finish_non_exhaustive()
    }
}

/// The answer to `POST /auth/passkeys`: the passkey, and the recovery codes
/// if it is the user's first second factor (else empty).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredPasskey {
    pub passkey: PasskeyView,
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for RegisteredPasskey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredPasskey").field("passkey", &self.passkey).finish_non_exhaustive()
    }
}

/// `POST /auth/mfa/totp`: a new authenticator-app key, not yet switched on.
/// The key is returned here until it is confirmed, and never again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpSetup {
    /// The key, base32 without padding, for typing into an app.
    pub secret: String,
    /// `otpauth://totp/…`, for the QR code.
    pub otpauth_uri: String,
}

impl std::fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpSetup").finish_non_exhaustive()
    }
}

/// `POST /auth/mfa/totp/confirm` and `DELETE /auth/mfa/totp`: a current code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpCode {
    pub code: String,
}

impl std::fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpCode").finish_non_exhaustive()
    }
}

/// Recovery codes, shown once: the answer to confirming the first second
/// factor and to `POST /auth/mfa/recovery-codes` (regeneration). Empty when
/// confirming a factor for a user who already has codes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryCodes").field("count", &self.codes.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_time_codes_and_keys_are_second_factors() {
        assert!(!amr::has_second_factor(&["pwd"]));
        assert!(!amr::has_second_factor::<&str>(&[]));
        assert!(amr::has_second_factor(&["pwd", "otp"]));
        assert!(amr::has_second_factor(&["hwk"]));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let setup =
            TotpSetup { secret: "JBSWY3DPEHPK3PXP".into(), otpauth_uri: "otpauth://x".into() };
        assert!(!format!("{setup:?}").contains("JBSW"));
        let codes = RecoveryCodes { codes: vec!["abcde-fghij".into()] };
        assert!(!format!("{codes:?}").contains("abcde"));
        let challenge =
            MfaChallenge { mfa_token: "secret-token".into(), expires_in: 300, factors: vec![] };
        assert!(!format!("{challenge:?}").contains("secret-token"));
    }
}
