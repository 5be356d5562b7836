//! Refresh tokens: opaque to everyone but this service, stored only as
//! SHA-256 hashes, and never more than two per session however often it
//! rotates.
//!
//! A token is `base64url(version ‖ session ‖ generation ‖ family ‖ secret)`:
//! - `session` (the session's UUID) and `generation` (big-endian, counting
//!   rotations from 0) say where to look: the session's row keeps the hashes
//!   of the current generation and of the one before it, nothing older;
//! - `family` (16 random bytes, the same in every generation of a session,
//!   stored as a hash) proves that whoever presents a token once held one of
//!   this session. An older generation with the right family is a copy that
//!   somebody kept: reuse (see `judge`). Without it, a token is a guess at a
//!   session id, which access tokens carry (`sid`) and upstream apps see, so
//!   naming a session is never enough to end it;
//! - `secret` (16 random bytes, new in every generation) is what rotation
//!   renews.
//!
//! Rotation keeps the current generation's `family ‖ secret` sealed under a
//! one-time pad derived from the previous token (`SHA-256(domain ‖ old)`):
//! whoever presents the previous token can be handed the *same* successor
//! again (an answer lost on its way, two tabs racing), yet a copy of the
//! database alone reveals no usable token: it holds hashes and pads it
//! cannot compute.
//!
//! Tokens issued before this format (43 characters, 256 random bits, no
//! session inside) are still accepted once, by hash, as generation 0 of the
//! sessions they belong to (migration 0008): see `sessions::refresh`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::random_bytes;

/// A refresh token in the clear. Exists only in memory on its way to the client.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

pub type TokenHash = [u8; 32];

const VERSION: u8 = 2;
const FAMILY: usize = 16;
const SECRET: usize = 16;
const LEN: usize = 1 + 16 + 8 + FAMILY + SECRET;
/// 57 bytes, a multiple of 3: base64 without padding, exactly this long.
const ENCODED_LEN: usize = LEN / 3 * 4;
const _: () = assert!(LEN.is_multiple_of(3));
const SEAL_DOMAIN: &[u8] = b"cloakroom/refresh-successor/v2";

impl RefreshToken {
    /// The first token of a new session: the token, its hash and the hash of
    /// its family, the two to store.
    pub fn first(session: Uuid) -> (Self, TokenHash, TokenHash) {
        let family = random_bytes::<FAMILY>();
        let token = Self::encode(session, 0, &family, &random_bytes::<SECRET>());
        let hash = hash(&token.0);
        (token, hash, family_hash(&family))
    }

    fn encode(session: Uuid, generation: u64, family: &[u8; FAMILY], secret: &[u8]) -> Self {
        let mut raw = Vec::with_capacity(LEN);
        raw.push(VERSION);
        raw.extend_from_slice(session.as_bytes());
        raw.extend_from_slice(&generation.to_be_bytes());
        raw.extend_from_slice(family);
        raw.extend_from_slice(secret);
        Self(URL_SAFE_NO_PAD.encode(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// What a presented token says about itself. Nothing here is trusted until
/// `judge` has compared it with the session's row.
pub struct Presented {
    pub session: Uuid,
    pub generation: u64,
    family: [u8; FAMILY],
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("session", &self.session)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Presented {
    /// `None` for anything that is not a token of this format: an older
    /// token (looked up by hash instead) or garbage (which finds nothing).
    pub fn parse(presented: &str) -> Option<Self> {
        if presented.len() != ENCODED_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(presented).ok()?;
        let (&version, rest) = raw.split_first()?;
        if version != VERSION || rest.len() != LEN - 1 {
            return None;
        }
        let (session, rest) = rest.split_at(16);
        let (generation, rest) = rest.split_at(8);
        let (family, _secret) = rest.split_at(FAMILY);
        Some(Self {
            session: Uuid::from_slice(session).ok()?,
            generation: u64::from_be_bytes(generation.try_into().ok()?),
            family: family.try_into().ok()?,
        })
    }
}

/// The storage key of a presented token. Any string hashes; an unknown one
/// simply finds no row.
pub fn hash(presented: &str) -> TokenHash {
    Sha256::digest(presented.as_bytes()).into()
}

fn family_hash(family: &[u8; FAMILY]) -> TokenHash {
    let mut h = Sha256::new();
    h.update(b"cloakroom/refresh-family/v2");
    h.update(family);
    h.finalize().into()
}

fn pad(old: &str) -> [u8; FAMILY + SECRET] {
    let mut h = Sha256::new();
    h.update(SEAL_DOMAIN);
    h.update(old.as_bytes());
    h.finalize().into()
}

/// The next generation after `old`, a token of `session` at `generation`.
pub struct Successor {
    pub token: RefreshToken,
    pub hash: TokenHash,
    /// Its `family ‖ secret` under the pad of `old`, for `open_successor`.
    pub sealed: [u8; FAMILY + SECRET],
    /// The family's hash when this successor starts one (the first rotation
    /// of a token from before this format), else `None`.
    pub new_family: Option<TokenHash>,
}

/// Mints the successor of `old` (generation `generation - 1` of `session`),
/// keeping its family: the presented one, or a new one for an older token
/// that had none.
pub fn successor(
    old: &str,
    presented: Option<&Presented>,
    session: Uuid,
    generation: u64,
) -> Successor {
    let (family, new_family) = match presented {
        Some(p) => (p.family, None),
        None => {
            let family = random_bytes::<FAMILY>();
            (family, Some(family_hash(&family)))
        }
    };
    let secret = random_bytes::<SECRET>();
    let token = RefreshToken::encode(session, generation, &family, &secret);
    let pad = pad(old);
    let plain: Vec<u8> = family.iter().chain(&secret).copied().collect();
    let sealed = std::array::from_fn(|i| plain[i] ^ pad[i]);
    Successor { hash: hash(&token.0), token, sealed, new_family }
}

/// Recovers the successor that `successor(old, ..)` sealed, checking it
/// against the stored hash (constant time) so a corrupt row yields nothing.
pub fn open_successor(
    old: &str,
    session: Uuid,
    generation: u64,
    sealed: &[u8],
    expected_hash: &[u8],
) -> Option<RefreshToken> {
    let sealed: &[u8; FAMILY + SECRET] = sealed.try_into().ok()?;
    let pad = pad(old);
    let plain: [u8; FAMILY + SECRET] = std::array::from_fn(|i| sealed[i] ^ pad[i]);
    let (family, secret) = plain.split_at(FAMILY);
    let token = RefreshToken::encode(session, generation, family.try_into().ok()?, secret);
    bool::from(hash(&token.0).ct_eq(expected_hash)).then_some(token)
}

/// What a session keeps of its refresh tokens.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    pub generation: u64,
    pub family: Option<&'a [u8]>,
    pub current: Option<&'a [u8]>,
    pub previous: Option<&'a [u8]>,
}

/// How a presented token relates to its session's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The current token: rotate it.
    Current,
    /// The one before: its successor (the current token) has never been
    /// presented, or it would have been rotated in turn. The answer to it was
    /// lost, or a racer got there first: hand out that same successor.
    Previous,
    /// A token of this session older than that, or one that was never
    /// issued but carries the family: whoever presents it kept a copy while
    /// the session moved on twice. End the session.
    Reused,
    /// Not a token of this session at all (a guess, or a generation ahead of
    /// a restored database): refuse it, change nothing.
    Unknown,
}

/// The rule of `Verdict`, in constant time for each comparison of secrets.
pub fn judge(presented: &str, parsed: Option<&Presented>, stored: Stored<'_>) -> Verdict {
    let hash = hash(presented);
    let is = |stored: Option<&[u8]>| stored.is_some_and(|s| bool::from(hash.ct_eq(s)));
    if is(stored.current) {
        return Verdict::Current;
    }
    if is(stored.previous) {
        return Verdict::Previous;
    }
    match (parsed, stored.family) {
        (Some(p), Some(family))
            if bool::from(family_hash(&p.family).ct_eq(family))
                && p.generation <= stored.generation =>
        {
            Verdict::Reused
        }
        _ => Verdict::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> (Uuid, TokenHash, Vec<(RefreshToken, Successor)>) {
        let session = Uuid::new_v4();
        let (first, _, family) = RefreshToken::first(session);
        let mut links = Vec::new();
        let mut old = first;
        for g in 1..=n as u64 {
            let parsed = Presented::parse(old.expose()).unwrap();
            let next = successor(old.expose(), Some(&parsed), session, g);
            let token = next.token.clone();
            links.push((old, next));
            old = token;
        }
        (session, family, links)
    }

    #[test]
    fn tokens_are_76_chars_of_base64url_and_name_their_session() {
        let session = Uuid::new_v4();
        let (a, ha, fa) = RefreshToken::first(session);
        let (b, _, fb) = RefreshToken::first(session);
        assert_eq!(a.expose().len(), 76);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
        assert_ne!(fa, fb, "each session has its own family");
        assert_eq!(hash(a.expose()), ha);
        let parsed = Presented::parse(a.expose()).unwrap();
        assert_eq!((parsed.session, parsed.generation), (session, 0));
        assert!(!format!("{parsed:?}").contains("family:"));
    }

    #[test]
    fn anything_else_does_not_parse() {
        let (a, _, _) = RefreshToken::first(Uuid::new_v4());
        let legacy = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        for bad in [legacy.as_str(), "", "x", &a.expose()[1..], &format!("{}=", a.expose())] {
            assert!(Presented::parse(bad).is_none(), "{bad}");
        }
        let mut other_version = URL_SAFE_NO_PAD.decode(a.expose()).unwrap();
        other_version[0] = 1;
        assert!(Presented::parse(&URL_SAFE_NO_PAD.encode(other_version)).is_none());
    }

    #[test]
    fn the_previous_token_opens_its_successor_and_nothing_else_does() {
        let (session, _, links) = chain(2);
        let (old, next) = &links[0];
        let opened = open_successor(old.expose(), session, 1, &next.sealed, &next.hash);
        assert_eq!(opened.as_ref(), Some(&next.token));
        let (stranger, _, _) = RefreshToken::first(session);
        assert_eq!(open_successor(stranger.expose(), session, 1, &next.sealed, &next.hash), None);
        assert_eq!(open_successor(old.expose(), session, 2, &next.sealed, &next.hash), None);
        assert!(!next.token.expose().contains(&URL_SAFE_NO_PAD.encode(next.sealed)));
    }

    #[test]
    fn the_judge_tells_current_previous_reused_and_unknown_apart() {
        let (session, family, links) = chain(3);
        // The session now holds generation 3 (current) and 2 (previous).
        let current = &links[2].1;
        let previous = &links[1].1;
        let stored = Stored {
            generation: 3,
            family: Some(&family),
            current: Some(&current.hash),
            previous: Some(&previous.hash),
        };
        let verdict =
            |t: &RefreshToken| judge(t.expose(), Presented::parse(t.expose()).as_ref(), stored);
        assert_eq!(verdict(&current.token), Verdict::Current);
        assert_eq!(verdict(&previous.token), Verdict::Previous);
        assert_eq!(verdict(&links[0].0), Verdict::Reused, "generation 0");
        assert_eq!(verdict(&links[0].1.token), Verdict::Reused, "generation 1");
        // The family without the secret: made up by a holder of an old token.
        let forged = RefreshToken::encode(
            session,
            3,
            &Presented::parse(links[0].0.expose()).unwrap().family,
            &[0; SECRET],
        );
        assert_eq!(verdict(&forged), Verdict::Reused);
        // A session id alone, or a generation the database has not reached.
        let (stranger, _, _) = RefreshToken::first(session);
        assert_eq!(verdict(&stranger), Verdict::Unknown);
        let ahead = successor(
            current.token.expose(),
            Presented::parse(current.token.expose()).as_ref(),
            session,
            4,
        );
        assert_eq!(verdict(&ahead.token), Verdict::Unknown);
        assert_eq!(judge("not a token", None, stored), Verdict::Unknown);
    }

    #[test]
    fn an_old_format_token_is_judged_by_hash_and_its_successor_starts_a_family() {
        let session = Uuid::new_v4();
        let legacy = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        let stored =
            Stored { generation: 0, family: None, current: Some(&hash(&legacy)), previous: None };
        assert_eq!(judge(&legacy, None, stored), Verdict::Current);
        let next = successor(&legacy, None, session, 1);
        let family = next.new_family.expect("a new family");
        assert_eq!(Presented::parse(next.token.expose()).unwrap().generation, 1);
        let opened = open_successor(&legacy, session, 1, &next.sealed, &next.hash);
        assert_eq!(opened, Some(next.token.clone()));
        let stored = Stored {
            generation: 1,
            family: Some(&family),
            current: Some(&next.hash),
            previous: Some(&hash(&legacy)),
        };
        assert_eq!(judge(&legacy, None, stored), Verdict::Previous);
        let parsed = Presented::parse(next.token.expose());
        assert_eq!(judge(next.token.expose(), parsed.as_ref(), stored), Verdict::Current);
    }

    #[test]
    fn debug_is_redacted() {
        let (t, _, _) = RefreshToken::first(Uuid::new_v4());
        assert!(!format!("{t:?}").contains(t.expose()));
    }
}
