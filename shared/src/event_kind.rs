//! The kinds of audit event: the auth-api records them, the frontend names
//! them for people.

/// What an audit event records. The names are the wire and database form
/// (`GET /admin/audit?type=…`), listed in `docs/DESIGN.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A password sign-in started a session.
    SignIn,
    /// A sign-in was refused; the detail says why (`bad_credentials`, `throttled`).
    SignInFailed,
    /// The user signed out (their refresh token was revoked).
    SignOut,
    /// A session was ended by someone (the detail is the `EndReason`).
    SessionEnded,
    /// A refresh token came back after its successor had been used.
    RefreshReuse,
    /// A rotated-out refresh token whose successor was never used came back
    /// and got that successor again: a lost answer, or a copy of the session
    /// in other hands (the detail says how long after the rotation).
    RefreshRetried,
    PasswordChanged,
    /// A password change was refused: the current password was wrong.
    PasswordChangeFailed,
    UserCreated,
    UserDisabled,
    UserEnabled,
    UserDeleted,
    /// The detail is `old -> new`.
    RolesChanged,
    /// The user entered their password again in a live session.
    Reauthenticated,
    KeysRotated,
    /// A signing key was cut off at once (`auth-api keys retire`; the detail
    /// is its kid, and the new current key's when it was the current one).
    KeyRetired,
    /// A correct password, then a pending sign-in waiting for a second factor.
    SecondFactorRequested,
    /// A wrong second-factor code (the detail says which kind, and whether
    /// the pending sign-in was discarded).
    SecondFactorFailed,
    /// A recovery code was spent (the detail says how many are left).
    RecoveryCodeUsed,
    /// An authenticator app was switched on.
    TotpEnabled,
    TotpDisabled,
    /// A new set of recovery codes replaced the old.
    RecoveryCodesRegenerated,
    /// An administrator removed every second factor of the user.
    SecondFactorsReset,
    /// A passkey was registered (the detail is its name).
    PasskeyAdded,
    PasskeyRemoved,
}

impl EventKind {
    pub const ALL: [EventKind; 25] = [
        EventKind::SignIn,
        EventKind::SignInFailed,
        EventKind::SignOut,
        EventKind::SessionEnded,
        EventKind::RefreshReuse,
        EventKind::RefreshRetried,
        EventKind::PasswordChanged,
        EventKind::PasswordChangeFailed,
        EventKind::UserCreated,
        EventKind::UserDisabled,
        EventKind::UserEnabled,
        EventKind::UserDeleted,
        EventKind::RolesChanged,
        EventKind::Reauthenticated,
        EventKind::KeysRotated,
        EventKind::KeyRetired,
        EventKind::SecondFactorRequested,
        EventKind::SecondFactorFailed,
        EventKind::RecoveryCodeUsed,
        EventKind::TotpEnabled,
        EventKind::TotpDisabled,
        EventKind::RecoveryCodesRegenerated,
        EventKind::SecondFactorsReset,
        EventKind::PasskeyAdded,
        EventKind::PasskeyRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SignIn => "sign_in",
            EventKind::SignInFailed => "sign_in_failed",
            EventKind::SignOut => "sign_out",
            EventKind::SessionEnded => "session_ended",
            EventKind::RefreshReuse => "refresh_reuse",
            EventKind::RefreshRetried => "refresh_retried",
            EventKind::PasswordChanged => "password_changed",
            EventKind::PasswordChangeFailed => "password_change_failed",
            EventKind::UserCreated => "user_created",
            EventKind::UserDisabled => "user_disabled",
            EventKind::UserEnabled => "user_enabled",
            EventKind::UserDeleted => "user_deleted",
            EventKind::RolesChanged => "roles_changed",
            EventKind::Reauthenticated => "reauthenticated",
            EventKind::KeysRotated => "keys_rotated",
            EventKind::KeyRetired => "key_retired",
            EventKind::SecondFactorRequested => "second_factor_requested",
            EventKind::SecondFactorFailed => "second_factor_failed",
            EventKind::RecoveryCodeUsed => "recovery_code_used",
            EventKind::TotpEnabled => "totp_enabled",
            EventKind::TotpDisabled => "totp_disabled",
            EventKind::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            EventKind::SecondFactorsReset => "second_factors_reset",
            EventKind::PasskeyAdded => "passkey_added",
            EventKind::PasskeyRemoved => "passkey_removed",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// What a person reads on the account and audit pages.
    pub fn label(self) -> &'static str {
        match self {
            EventKind::SignIn => "Signed in",
            EventKind::SignInFailed => "Sign-in refused",
            EventKind::SignOut => "Signed out",
            EventKind::SessionEnded => "Session ended",
            EventKind::RefreshReuse => "Stolen session token detected; session ended",
            EventKind::RefreshRetried => {
                "An earlier session token was accepted again (a lost answer, or a copy elsewhere)"
            }
            EventKind::PasswordChanged => "Password changed",
            EventKind::PasswordChangeFailed => "Password change refused: wrong current password",
            EventKind::UserCreated => "Account created",
            EventKind::UserDisabled => "Account disabled",
            EventKind::UserEnabled => "Account enabled",
            EventKind::UserDeleted => "Account deleted",
            EventKind::RolesChanged => "Roles changed",
            EventKind::Reauthenticated => "Password confirmed",
            EventKind::KeysRotated => "Signing keys rotated",
            EventKind::KeyRetired => "Signing key retired",
            EventKind::SecondFactorRequested => "Password accepted; second factor requested",
            EventKind::SecondFactorFailed => "Second factor refused",
            EventKind::RecoveryCodeUsed => "Recovery code used",
            EventKind::TotpEnabled => "Authenticator app added",
            EventKind::TotpDisabled => "Authenticator app removed",
            EventKind::RecoveryCodesRegenerated => "New recovery codes created",
            EventKind::SecondFactorsReset => "Second factors reset by an administrator",
            EventKind::PasskeyAdded => "Passkey added",
            EventKind::PasskeyRemoved => "Passkey removed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("nonsense"), None);
    }
}
