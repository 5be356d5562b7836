//! Login throttling. Failures are counted per username and per client IP in
//! fixed windows, in the database (so several instances share one budget).
//! At the limit, attempts are refused with 429 *before* argon2 runs: a
//! guessing attack costs the attacker a round trip and us almost nothing.

use crate::{config::ThrottleSettings, error::ApiError, store::Store};

pub struct LoginThrottle<'a> {
    pub store: &'a Store,
    pub settings: ThrottleSettings,
}

/// The two counters one login attempt touches.
pub struct Keys {
    user: String,
    ip: Option<String>,
}

impl Keys {
    /// `username` is the raw input, normalised the way `Username::parse` does
    /// so that `Alice` and `alice` share a budget, and bounded in length.
    pub fn new(username: &str, ip: Option<&str>) -> Self {
        let name: String = username.trim().to_ascii_lowercase().chars().take(128).collect();
        Self { user: format!("user:{name}"), ip: ip.map(|ip| format!("ip:{ip}")) }
    }
}

impl LoginThrottle<'_> {
    /// `Err(RateLimited)` with the seconds until the window ends if either
    /// counter is at its limit.
    pub async fn check(&self, keys: &Keys, now: i64) -> Result<(), ApiError> {
        let mut retry_after = 0;
        let limits = [
            (Some(&keys.user), self.settings.max_failures_per_user),
            (keys.ip.as_ref(), self.settings.max_failures_per_ip),
        ];
        for (key, limit) in limits {
            let Some(key) = key else { continue };
            let count = self.store.failure_count(key).await?;
            let window_end = count.window_start + self.settings.window;
            if count.failures >= limit && window_end > now {
                retry_after = retry_after.max(window_end - now);
            }
        }
        if retry_after > 0 {
            Err(ApiError::RateLimited { retry_after: retry_after as u64 })
        } else {
            Ok(())
        }
    }

    pub async fn failed(&self, keys: &Keys, now: i64) -> Result<(), ApiError> {
        let mut all = vec![keys.user.as_str()];
        all.extend(keys.ip.as_deref());
        self.store.record_failure(&all, now, self.settings.window).await?;
        Ok(())
    }

    /// A successful login clears that username's counter only: the IP's stays,
    /// or one valid account would reset an attacker's budget for all others.
    pub async fn succeeded(&self, keys: &Keys) -> Result<(), ApiError> {
        self.store.clear_failures(&keys.user).await?;
        Ok(())
    }
}
