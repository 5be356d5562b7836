//! Reading the auth-api's revocation feed: which answers are believed, and
//! where the next poll resumes. No I/O here (`revocations::follow` does the
//! polling), so every answer, including bytes no auth-api would send, is
//! judged by these functions alone and tested with arbitrary input.
//!
//! An answer is *accepted* when it parses and every field is well formed;
//! only then may it add to the revocation set or move the position. A
//! malformed one changes nothing. Within one epoch the cursor only grows:
//! an answer of another epoch, or with a cursor behind ours, comes from
//! another history of the database (a restarted auth-api, a restored
//! backup), so the position is dropped and the next poll, without `after`,
//! reloads every revocation in force. What such an answer names is still
//! added: a refusal more is always safe, and a restore must not bring back
//! a session this frontend saw end.

use shared::{Revocation, RevocationFeed};

/// How long one poll is held open by the auth-api, in seconds.
pub const POLL_WAIT: u64 = 25;

/// Bounds on an answer's strings: far above what the auth-api sends
/// (32 hex digits, 16 hex digits, 43-character kids, uuids), far below
/// anything that could hurt.
const MAX_TOKEN: usize = 64;
const MAX_ID: usize = 128;

/// A well-formed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub epoch: String,
    pub cursor: u64,
    pub keys: String,
    pub revoked: Vec<Revocation>,
    pub retired_keys: Vec<String>,
    /// The auth-api has more after `cursor` (a page limit).
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed revocation feed answer: {0}")]
pub struct Malformed(&'static str);

/// Parses and checks an answer's body.
pub fn parse(body: &[u8]) -> Result<Answer, Malformed> {
    let feed: RevocationFeed = serde_json::from_slice(body).map_err(|_| Malformed("not JSON"))?;
    let cursor =
        (1..=19).contains(&feed.cursor.len()) && feed.cursor.bytes().all(|b| b.is_ascii_digit());
    let cursor = cursor
        .then(|| feed.cursor.parse::<u64>().ok())
        .flatten()
        .filter(|c| i64::try_from(*c).is_ok())
        .ok_or(Malformed("cursor"))?;
    if !is_token(&feed.epoch) {
        return Err(Malformed("epoch"));
    }
    if !is_token(&feed.keys) {
        return Err(Malformed("keys"));
    }
    if !feed.revoked.iter().all(|r| is_id(&r.sid, |b| b.is_ascii_graphic())) {
        return Err(Malformed("session id"));
    }
    let kid_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if !feed.retired_keys.iter().all(|kid| is_id(kid, kid_byte)) {
        return Err(Malformed("key id"));
    }
    Ok(Answer {
        epoch: feed.epoch,
        cursor,
        keys: feed.keys,
        revoked: feed.revoked,
        retired_keys: feed.retired_keys,
        more: feed.more,
    })
}

/// Letters and digits only: it goes back into the next poll's URL as is.
fn is_token(s: &str) -> bool {
    (1..=MAX_TOKEN).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_id(s: &str, allowed: impl Fn(u8) -> bool) -> bool {
    (1..=MAX_ID).contains(&s.len()) && s.bytes().all(allowed)
}

/// Where the follower stands in the feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// `None`: the next poll reloads everything in force.
    cursor: Option<u64>,
    epoch: Option<String>,
    keys: Option<String>,
    /// The last answer stopped at a page limit.
    more: bool,
}

/// What an accepted answer did to the position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A full reload, or news after our cursor: the set is current.
    Followed,
    /// Part of the way: more follows at once; not current until it has.
    Paging,
    /// Another history: the position was dropped; reload at once.
    StartOver,
}

impl Position {
    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    /// The query of the next poll and how long the auth-api may hold it:
    /// a reload or the next page answers at once (they are what makes the
    /// set current), a follow-up waits for news.
    pub fn next_poll(&self) -> (String, u64) {
        let Some(cursor) = self.cursor else { return ("wait=0".to_owned(), 0) };
        let mut query = format!("after={cursor}");
        // Validated tokens (letters and digits): nothing to escape.
        for (name, value) in [("epoch", &self.epoch), ("keys", &self.keys)] {
            if let Some(value) = value {
                query.push_str(&format!("&{name}={value}"));
            }
        }
        let wait = if self.more { 0 } else { POLL_WAIT };
        query.push_str(&format!("&wait={wait}"));
        (query, wait)
    }

    /// Moves to where `answer` leaves the feed. The caller adds what the
    /// answer names whatever the step (see the module's doc).
    pub fn apply(&mut self, answer: &Answer) -> Step {
        let another_history = self.cursor.is_some_and(|mine| {
            answer.cursor < mine || self.epoch.as_deref() != Some(answer.epoch.as_str())
        });
        if another_history {
            *self = Position::default();
            return Step::StartOver;
        }
        self.cursor = Some(answer.cursor);
        self.epoch = Some(answer.epoch.clone());
        self.keys = Some(answer.keys.clone());
        self.more = answer.more;
        if answer.more { Step::Paging } else { Step::Followed }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn answer(epoch: &str, cursor: &str, sids: &[&str]) -> Vec<u8> {
        let revoked: Vec<Value> = sids.iter().map(|s| json!({"sid": s, "until": 100})).collect();
        json!({"epoch": epoch, "cursor": cursor, "keys": "k0", "revoked": revoked, "retired_keys": []})
            .to_string()
            .into_bytes()
    }

    fn accepted(position: &mut Position, body: &[u8]) -> Step {
        position.apply(&parse(body).expect("well formed"))
    }

    #[test]
    fn the_cursor_follows_news_within_one_epoch() {
        let mut position = Position::default();
        assert_eq!(position.next_poll(), ("wait=0".into(), 0), "first a full reload");
        assert_eq!(accepted(&mut position, &answer("e1", "7", &["a"])), Step::Followed);
        assert_eq!(position.next_poll().0, "after=7&epoch=e1&keys=k0&wait=25");
        assert_eq!(accepted(&mut position, &answer("e1", "7", &[])), Step::Followed);
        assert_eq!(accepted(&mut position, &answer("e1", "9", &["b"])), Step::Followed);
        assert_eq!(position.cursor(), Some(9));
    }

    #[test]
    fn a_page_with_more_to_come_is_followed_at_once_and_is_not_yet_current() {
        let mut position = Position::default();
        let mut first = parse(&answer("e1", "1000", &["a"])).expect("well formed");
        first.more = true;
        assert_eq!(position.apply(&first), Step::Paging, "part of the reload");
        assert_eq!(position.next_poll(), ("after=1000&epoch=e1&keys=k0&wait=0".into(), 0));
        assert_eq!(accepted(&mut position, &answer("e1", "1200", &["b"])), Step::Followed);
        assert_eq!(position.next_poll().1, POLL_WAIT, "caught up: wait for news");
        let body =
            br#"{"epoch":"e1","cursor":"7","keys":"k","revoked":[],"retired_keys":[],"more":true}"#;
        assert!(parse(body).expect("well formed").more);
    }

    #[test]
    fn a_new_epoch_or_a_cursor_behind_ours_starts_over_with_a_full_reload() {
        for (epoch, cursor) in [("e2", "9"), ("e2", "12"), ("e1", "8"), ("e1", "0")] {
            let mut position = Position::default();
            accepted(&mut position, &answer("e1", "9", &[]));
            let step = accepted(&mut position, &answer(epoch, cursor, &["x"]));
            assert_eq!(step, Step::StartOver, "{epoch} {cursor}");
            assert_eq!(position.next_poll(), ("wait=0".into(), 0), "{epoch} {cursor}");
            // The reload's answer is taken whatever it says.
            assert_eq!(accepted(&mut position, &answer(epoch, cursor, &[])), Step::Followed);
        }
    }

    #[test]
    fn malformed_answers_are_refused() {
        let good = answer("e1", "7", &["a"]);
        assert!(parse(&good).is_ok());
        let bad = [
            answer("e1", "-1", &[]),
            answer("e1", "07x", &[]),
            answer("e1", "", &[]),
            answer("e1", "99999999999999999999", &[]),
            answer("e1", "9223372036854775808", &[]),
            answer("", "7", &[]),
            answer("e&1", "7", &[]),
            answer("e1", "7", &[""]),
            answer("e1", "7", &["a b"]),
            br#"{"epoch":"e1","cursor":7,"keys":"k","revoked":[],"retired_keys":[]}"#.to_vec(),
            br#"{"epoch":"e1","cursor":"7","keys":"k","revoked":[],"retired_keys":["a/b"]}"#
                .to_vec(),
            br#"{"epoch":"e1","cursor":"7","keys":"k","revoked":[]}"#.to_vec(),
            b"[]".to_vec(),
        ];
        for body in bad {
            assert!(parse(&body).is_err(), "{}", String::from_utf8_lossy(&body));
        }
    }

    /// A valid answer, as the auth-api could send it.
    fn valid() -> impl Strategy<Value = Value> {
        let token = "[a-z0-9]{1,8}";
        let sid = "[!-~]{1,20}";
        let kid = "[A-Za-z0-9_-]{1,43}";
        let revocation = (sid, any::<i64>(), proptest::option::of(any::<i64>())).prop_map(
            |(sid, until, stale)| match stale {
                Some(t) => json!({"sid": sid, "until": until, "stale_before": t}),
                None => json!({"sid": sid, "until": until}),
            },
        );
        (
            prop_oneof![Just("e1".to_owned()), token.prop_map(String::from)],
            0..=i64::MAX as u64,
            token,
            proptest::collection::vec(revocation, 0..4),
            proptest::collection::vec(kid, 0..3),
        )
            .prop_map(|(epoch, cursor, keys, revoked, kids)| {
                json!({"epoch": epoch, "cursor": cursor.to_string(), "keys": keys,
                       "revoked": revoked, "retired_keys": kids})
            })
    }

    /// A valid answer with one field replaced by any JSON, or removed.
    fn mutated() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,80}".prop_map(Value::from),
        ];
        let any_json = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(".{0,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        let field = prop_oneof![
            Just("epoch"),
            Just("cursor"),
            Just("keys"),
            Just("revoked"),
            Just("retired_keys"),
            Just("other")
        ];
        (valid(), field, proptest::option::of(any_json)).prop_map(|(mut v, field, new)| {
            match new {
                Some(new) => v[field] = new,
                None => {
                    v.as_object_mut().expect("an object").remove(field);
                }
            }
            v
        })
    }

    /// Feeds `bodies` to a follower at `start` and checks, after each, the
    /// reader's promises: no panic; a refused answer changes nothing; an
    /// accepted one never moves the cursor backwards (it may only drop it,
    /// to reload).
    fn follow(start: &[u8], bodies: &[Vec<u8>]) -> Result<(), TestCaseError> {
        let mut position = Position::default();
        position.apply(&parse(start).expect("a valid start"));
        for body in bodies {
            let before = position.clone();
            match parse(body) {
                Err(_) => prop_assert_eq!(&position, &before),
                Ok(answer) => {
                    prop_assert!(is_token(&answer.epoch) && is_token(&answer.keys));
                    let step = position.apply(&answer);
                    match (step, before.cursor, position.cursor) {
                        (Step::StartOver, Some(_), None) => {}
                        (Step::Followed, Some(old), Some(new)) => prop_assert!(new >= old),
                        (Step::Followed, None, Some(new)) => prop_assert_eq!(new, answer.cursor),
                        other => prop_assert!(false, "unexpected {:?}", other),
                    }
                }
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_nor_move_the_cursor_back(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..8)
        ) {
            follow(&answer("e1", "50", &[]), &bodies)?;
        }

        #[test]
        fn arbitrary_json_never_panics_nor_moves_the_cursor_back(
            bodies in proptest::collection::vec(mutated(), 1..8)
        ) {
            let bodies: Vec<Vec<u8>> = bodies.iter().map(|v| v.to_string().into_bytes()).collect();
            follow(&answer("e1", "50", &[]), &bodies)?;
        }

        #[test]
        fn valid_answers_are_accepted_and_the_cursor_never_goes_back(
            bodies in proptest::collection::vec(valid(), 1..8)
        ) {
            let bodies: Vec<Vec<u8>> = bodies.iter().map(|v| v.to_string().into_bytes()).collect();
            for body in &bodies {
                prop_assert!(parse(body).is_ok(), "{}", String::from_utf8_lossy(body));
            }
            follow(&answer("e1", "50", &[]), &bodies)?;
        }

        #[test]
        fn a_truncated_valid_answer_is_refused(v in valid(), cut in 1usize..40) {
            let body = v.to_string().into_bytes();
            let cut = body.len().saturating_sub(cut);
            prop_assert!(parse(&body[..cut]).is_err());
        }
    }
}
