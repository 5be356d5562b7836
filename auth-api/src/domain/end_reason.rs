/// Why a session ended; recorded with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The user signed out (RFC 7009 revoke of their refresh token).
    Logout,
    /// The user ended it from their sessions list.
    UserRevoked,
    /// An administrator (HTTP or CLI) ended it.
    Admin,
    /// A refresh token came back after its successor had been used.
    RefreshReuse,
    /// The user signed in once more than `MAX_SESSIONS_PER_USER` allows;
    /// this was their oldest session.
    Superseded,
    PasswordChange,
    /// An administrator disabled the user.
    Disabled,
    /// An administrator deleted the user.
    Deleted,
    /// An administrator removed the user's second factors.
    SecondFactorsReset,
    /// The user set up their first second factor in another session.
    SecondFactorAdded,
    /// The user removed a second factor in another session.
    SecondFactorRemoved,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::UserRevoked => "user_revoked",
            EndReason::Admin => "admin",
            EndReason::RefreshReuse => "refresh_reuse",
            EndReason::Superseded => "superseded",
            EndReason::PasswordChange => "password_change",
            EndReason::Disabled => "user_disabled",
            EndReason::Deleted => "user_deleted",
            EndReason::SecondFactorsReset => "second_factors_reset",
            EndReason::SecondFactorAdded => "second_factor_added",
            EndReason::SecondFactorRemoved => "second_factor_removed",
        }
    }
}
