//! Session cookies this process has opened and found signed in, remembered
//! by the SHA-256 of their sealed value until their access token is due for
//! a swap.
//!
//! A browser sends the same sealed cookie with every page view until its
//! access token is swapped. Opening it (base64, AES-256-GCM, JSON) and
//! finding its token among the verified ones was most of the guard's fast
//! path, and inside the server, its caches shared with page rendering, it
//! cost twice what it costs in isolation (5.5 µs per view measured in
//! place, 2.6 µs under criterion). A hit here is one hash and one lookup:
//! 0.96 µs under criterion, 2.3 µs in place.
//!
//! Why it is as safe as opening the cookie again: the same sealed bytes
//! always open to the same record, and equal digests mean equal bytes, so
//! only a cookie that opened before (sealed with our key) can hit. Digests,
//! not the values, are compared, so lookups leak nothing about other
//! browsers' cookies. Everything that can change without the cookie
//! changing is checked again on every hit by the caller: the clock, the
//! revocation feed, and the auth-api's key set (an entry remembered under
//! an older key set never hits, as with verified tokens). Cookies opened by
//! an older cookie key are not remembered: they must be re-sealed.
//!
//! Entries hold the user and the access token, never the refresh token, and
//! go once they are no longer fresh: at the next sweep (at most a minute
//! later), when their cookie comes back due for a swap, or when their
//! session is found revoked.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicI64, Ordering},
    },
};

use sha2::{Digest, Sha256};
use shared::{AccessClaims, verify::check_time};

use super::{SignedIn, freshness::REFRESH_MARGIN};

/// Bound on remembered cookies (each ~1 KiB with its access token). Only
/// cookies sealed with our key get in; a user minting many (by signing in
/// over and over) can at worst fill it, which clears it: every cookie is
/// then opened the long way again, slower but no less safe.
const MAX_KNOWN: usize = 20_000;

/// Entries no longer fresh are dropped this often (clock seconds).
const SWEEP_EVERY: i64 = 60;

pub type CookieDigest = [u8; 32];

pub fn digest(sealed: &str) -> CookieDigest {
    Sha256::digest(sealed.as_bytes()).into()
}

/// What a cookie opened to, and the key-set generation it was verified under.
pub struct Known {
    pub signed_in: Arc<SignedIn>,
    pub claims: Arc<AccessClaims>,
    /// The cookie's own record of when its access token expires.
    pub access_expires_at: i64,
    pub generation: u64,
}

impl Known {
    /// Whether this entry still decides the request alone: its token is
    /// within its time window and not yet due for a swap.
    pub fn is_fresh(&self, now: i64) -> bool {
        self.access_expires_at > now
            && check_time(&self.claims, now).is_ok()
            && self.claims.exp - now > REFRESH_MARGIN
    }
}

#[derive(Default)]
pub struct KnownCookies {
    entries: RwLock<HashMap<CookieDigest, Arc<Known>>>,
    /// Clock second of the next sweep.
    next_sweep: AtomicI64,
}

impl KnownCookies {
    /// The entry for `digest`, if it was remembered under `generation`.
    pub fn get(&self, digest: &CookieDigest, generation: u64) -> Option<Arc<Known>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(digest).filter(|k| k.generation == generation).cloned()
    }

    /// Remembers `known`; its generation is taken as the current one.
    pub fn remember(&self, digest: CookieDigest, known: Known, now: i64) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let sweep = now >= self.next_sweep.load(Ordering::Relaxed);
        if sweep || entries.len() >= MAX_KNOWN {
            self.next_sweep.store(now + SWEEP_EVERY, Ordering::Relaxed);
            entries.retain(|_, k| k.generation == known.generation && k.is_fresh(now));
            if entries.len() >= MAX_KNOWN {
                entries.clear();
            }
        }
        entries.insert(digest, Arc::new(known));
    }

    pub fn forget(&self, digest: &CookieDigest) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(digest);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.read().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use shared::Role;

    use super::*;
    use crate::app::types::CurrentUser;

    const NOW: i64 = 1_800_000_000;

    fn known(exp: i64, generation: u64) -> Known {
        let claims = AccessClaims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "u1".into(),
            sid: "s1".into(),
            username: "alice".into(),
            roles: vec![Role::User],
            iat: NOW - 600,
            nbf: NOW - 600,
            exp,
            jti: "j".into(),
            auth_time: NOW - 600,
            password_change_required: false,
            amr: vec!["pwd".into()],
            mfa_setup_required: false,
        };
        let signed_in = SignedIn {
            user: CurrentUser {
                user_id: "u1".into(),
                username: "alice".into(),
                roles: vec![Role::User],
                session_id: "s1".into(),
                password_change_required: false,
                mfa_setup_required: false,
            },
            access_token: "a.b.c".into(),
            access_expires_at: claims.exp,
            access_issued_at: claims.iat,
        };
        Known {
            signed_in: Arc::new(signed_in),
            claims: Arc::new(claims),
            access_expires_at: exp,
            generation,
        }
    }

    #[test]
    fn a_remembered_cookie_is_found_by_its_digest_under_its_generation_only() {
        let cache = KnownCookies::default();
        let d = digest("sealed-value");
        cache.remember(d, known(NOW + 300, 7), NOW);
        let hit = cache.get(&d, 7).expect("remembered");
        assert_eq!(hit.signed_in.user.username, "alice");
        assert!(cache.get(&d, 8).is_none(), "a newer key set must not trust it");
        assert!(cache.get(&digest("sealed-valuf"), 7).is_none());
        cache.forget(&d);
        assert!(cache.get(&d, 7).is_none());
    }

    #[test]
    fn an_entry_is_fresh_until_its_token_is_due_for_a_swap() {
        let k = known(NOW + 300, 0);
        assert!(k.is_fresh(NOW));
        assert!(k.is_fresh(NOW + 300 - REFRESH_MARGIN - 1));
        assert!(!k.is_fresh(NOW + 300 - REFRESH_MARGIN));
        assert!(!k.is_fresh(NOW + 301));
        let not_yet = Known { access_expires_at: NOW + 300, ..known(NOW + 300, 0) };
        let mut claims = (*not_yet.claims).clone();
        claims.nbf = NOW + 120;
        let not_yet = Known { claims: Arc::new(claims), ..not_yet };
        assert!(!not_yet.is_fresh(NOW), "a token not valid yet decides nothing");
    }

    #[test]
    fn entries_that_are_no_longer_fresh_go_within_a_sweep() {
        let cache = KnownCookies::default();
        cache.remember(digest("short"), known(NOW + 20, 0), NOW);
        cache.remember(digest("old-keys"), known(NOW + 300, 0), NOW);
        cache.remember(digest("long"), known(NOW + 300, 1), NOW + SWEEP_EVERY - 1);
        assert_eq!(cache.len(), 3, "no sweep before SWEEP_EVERY has passed");
        cache.remember(digest("new"), known(NOW + 300, 1), NOW + SWEEP_EVERY);
        assert!(cache.get(&digest("short"), 0).is_none(), "expired: swept");
        assert!(cache.get(&digest("old-keys"), 0).is_none(), "older key set: swept");
        assert!(cache.get(&digest("long"), 1).is_some());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_full_cache_drops_stale_entries_first() {
        let cache = KnownCookies::default();
        let start = NOW - 100;
        for i in 0..MAX_KNOWN - 1 {
            // Fresh when remembered, due for a swap five seconds later.
            let due = start + 5 + REFRESH_MARGIN;
            cache.remember(digest(&format!("stale-{i}")), known(due, 0), start);
        }
        cache.remember(digest("fresh"), known(NOW + 300, 0), start);
        assert_eq!(cache.len(), MAX_KNOWN);
        // Before the next sweep is due: the bound alone makes room.
        cache.remember(digest("newest"), known(NOW + 300, 0), start + 5);
        assert_eq!(cache.len(), 2, "the stale entries went, the fresh ones stayed");
        assert!(cache.get(&digest("fresh"), 0).is_some());
    }
}
