//! Login throttling that slows guessing without locking anyone out, after
//! OWASP's "device cookie" design. Failures are counted in fixed windows, in
//! the database (so several instances share one budget), under three kinds
//! of key:
//!
//! - `device:ID`: a browser that signed in as this user before carries a
//!   device cookie for them (sealed by the frontend, which passes its id only
//!   when the cookie is valid for the username typed). Its attempts are
//!   judged on its own failures only: no guessing from elsewhere, however
//!   much, can lock out the user on a device they used before. A device that
//!   reaches its own limit is treated as untrusted until its window ends.
//! - `user:NAME`: every attempt without a trusted device counts against the
//!   username, so guessing one account from many addresses is slowed (429
//!   after `LOGIN_MAX_FAILURES_PER_USER` in a window).
//! - `net:ADDR`: and against the client's network (an IPv4 address, an IPv6
//!   /64, which one subscriber usually holds whole), so one source guessing
//!   many usernames is slowed too; other sources are unaffected.
//!
//! At a limit, attempts are refused with 429 *before* argon2 runs: a
//! guessing attack costs the attacker a round trip and us almost nothing.

use std::net::IpAddr;

use crate::{config::ThrottleSettings, error::ApiError, store::Store};

pub struct LoginThrottle<'a> {
    pub store: &'a Store,
    pub settings: ThrottleSettings,
}

/// The counters one login attempt may touch.
pub struct Keys {
    user: String,
    network: Option<String>,
    device: Option<String>,
    /// A signed-in user re-entering their password (`for_session`).
    reentry: bool,
}

/// How an attempt was judged: on its trusted device alone, or as untrusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    TrustedDevice,
    Untrusted,
}

impl Keys {
    /// `username` is the raw input, normalised the way `Username::parse` does
    /// so that `Alice` and `alice` share a budget, and bounded in length.
    /// `device` is the id the frontend vouches for (ignored unless it looks
    /// like one).
    pub fn new(username: &str, ip: Option<IpAddr>, device: Option<&str>) -> Self {
        let name: String = username.trim().to_ascii_lowercase().chars().take(128).collect();
        let device = device.filter(|d| {
            (16..=64).contains(&d.len())
                && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        Self {
            user: format!("user:{name}"),
            network: ip.map(|ip| format!("net:{}", network_of(ip))),
            device: device.map(|d| format!("device:{d}")),
            reentry: false,
        }
    }
}

impl Keys {
    /// A signed-in user entering their password again (to change it, or to
    /// confirm a sensitive action): judged on this session's own failures,
    /// like a trusted device, so strangers guessing at the username cannot
    /// stop them; a session past its limit counts against the username.
    pub fn for_session(username: &str, session_id: &str) -> Self {
        let mut keys = Keys::new(username, None, None);
        keys.device = Some(format!("session:{session_id}"));
        keys.reentry = true;
        keys
    }
}

/// The network an address stands for: IPv4 addresses one by one, IPv6 by
/// /64 (a single household or server usually holds a whole /64, so per
/// address would give one attacker 2^64 budgets).
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

/// How many passkey sign-ins one network may begin per window. Each keeps a
/// challenge in the database for five minutes, and anyone may ask: without
/// a bound, one source could fill the table. Generous beside the sign-in
/// failure limits: beginning is not guessing.
pub const CEREMONIES_PER_NETWORK: u32 = 300;

impl LoginThrottle<'_> {
    /// Counts a passkey sign-in begun from `ip`; `RateLimited` past
    /// [`CEREMONIES_PER_NETWORK`] in a window.
    pub async fn begin_ceremony(&self, ip: Option<IpAddr>, now: i64) -> Result<(), ApiError> {
        let key = match ip {
            Some(ip) => format!("ceremony:{}", network_of(ip)),
            None => "ceremony:unknown".to_owned(),
        };
        let counts = self.store.record_failure(&[&key], now, self.settings.window).await?;
        match counts.first() {
            Some(count) if count.failures > CEREMONIES_PER_NETWORK => {
                let retry_after = (count.window_start + self.settings.window - now).max(1);
                Err(ApiError::RateLimited { retry_after: retry_after as u64 })
            }
            _ => Ok(()),
        }
    }

    /// How this attempt is judged, or `Err(RateLimited)` with the seconds
    /// until the window that refuses it ends.
    pub async fn check(&self, keys: &Keys, now: i64) -> Result<Judged, ApiError> {
        if let Some(device) = &keys.device
            && self.retry_after(device, self.settings.max_failures_per_device, now).await? == 0
        {
            return Ok(Judged::TrustedDevice);
        }
        let mut retry_after =
            self.retry_after(&keys.user, self.settings.max_failures_per_user, now).await?;
        if let Some(network) = &keys.network {
            let limit = self.settings.max_failures_per_ip;
            retry_after = retry_after.max(self.retry_after(network, limit, now).await?);
        }
        if retry_after > 0 {
            Err(ApiError::RateLimited { retry_after: retry_after as u64 })
        } else {
            Ok(Judged::Untrusted)
        }
    }

    /// Seconds until `key`'s window ends if it is at `limit`, else 0.
    async fn retry_after(&self, key: &str, limit: u32, now: i64) -> Result<i64, ApiError> {
        let count = self.store.failure_count(key).await?;
        let window_end = count.window_start + self.settings.window;
        Ok(if count.failures >= limit && window_end > now { window_end - now } else { 0 })
    }

    /// Counts a failure where the attempt was judged: on its trusted device
    /// alone, or on the username and the network.
    pub async fn failed(&self, keys: &Keys, judged: Judged, now: i64) -> Result<(), ApiError> {
        let (all, _) = self.counters(keys, judged);
        self.store.record_failure(&all, now, self.settings.window).await?;
        Ok(())
    }

    /// Counts this attempt as a failure *before* it is judged, and refuses it
    /// (`RateLimited`) if that takes a counter past its limit; a success then
    /// clears the counters (`succeeded`). For checks that take microseconds
    /// (second-factor codes): with `check` then `failed`, parallel guesses
    /// would all pass the check before any of them was counted; here each
    /// one's own increment decides, atomically.
    pub async fn spend(&self, keys: &Keys, judged: Judged, now: i64) -> Result<(), ApiError> {
        let (all, limits) = self.counters(keys, judged);
        let counts = self.store.record_failure(&all, now, self.settings.window).await?;
        let over = counts
            .iter()
            .zip(limits)
            .filter(|(count, limit)| count.failures > *limit)
            .map(|(count, _)| (count.window_start + self.settings.window - now).max(1))
            .max();
        match over {
            Some(retry_after) => Err(ApiError::RateLimited { retry_after: retry_after as u64 }),
            None => Ok(()),
        }
    }

    /// An attempt counted by `spend` was right: the counters `succeeded`
    /// clears are cleared, and the network's count of it is taken back (the
    /// network's is never cleared, but a right code is no failure of it:
    /// else every two-step sign-in behind one NAT would spend its budget).
    pub async fn spent_and_succeeded(&self, keys: &Keys, judged: Judged) -> Result<(), ApiError> {
        self.succeeded(keys).await?;
        if judged == Judged::Untrusted
            && let Some(network) = &keys.network
        {
            self.store.refund_failure(network).await?;
        }
        Ok(())
    }

    /// The keys a failure counts against, and each one's limit.
    fn counters<'k>(&self, keys: &'k Keys, judged: Judged) -> (Vec<&'k str>, Vec<u32>) {
        match (judged, &keys.device) {
            (Judged::TrustedDevice, Some(device)) => {
                (vec![device.as_str()], vec![self.settings.max_failures_per_device])
            }
            _ => {
                let mut all = vec![keys.user.as_str()];
                let mut limits = vec![self.settings.max_failures_per_user];
                if let Some(network) = keys.network.as_deref() {
                    all.push(network);
                    limits.push(self.settings.max_failures_per_ip);
                }
                (all, limits)
            }
        }
    }

    /// A successful login clears that username's and that device's counters
    /// only: the network's stays, or one valid account would reset an
    /// attacker's budget for all others. A re-entry in a session clears
    /// the session's alone: an administrator confirming every ten minutes
    /// must not keep resetting strangers' count against the username.
    pub async fn succeeded(&self, keys: &Keys) -> Result<(), ApiError> {
        if !keys.reentry {
            self.store.clear_failures(&keys.user).await?;
        }
        if let Some(device) = &keys.device {
            self.store.clear_failures(device).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_ipv4_addresses_and_ipv6_slash_64s() {
        assert_eq!(network_of("203.0.113.7".parse().unwrap()), "203.0.113.7");
        assert_eq!(network_of("2001:db8:1:2:aaaa::1".parse().unwrap()), "2001:db8:1:2::/64");
        assert_eq!(
            network_of("2001:db8:1:2:ffff::9".parse().unwrap()),
            network_of("2001:db8:1:2::1".parse().unwrap()),
            "one /64 is one budget"
        );
        assert_eq!(network_of("::ffff:198.51.100.1".parse().unwrap()), "198.51.100.1");
    }

    #[test]
    fn only_device_ids_that_look_like_ours_are_used() {
        let keys = Keys::new(" Alice ", None, Some("c2VjcmV0LWRldmljZS1pZA"));
        assert_eq!(keys.user, "user:alice");
        assert_eq!(keys.device.as_deref(), Some("device:c2VjcmV0LWRldmljZS1pZA"));
        assert!(Keys::new("a", None, Some("short")).device.is_none());
        assert!(Keys::new("a", None, Some("has spaces and more than sixteen")).device.is_none());
    }
}
