//! The guard's decision in process, no servers: a cookie seen before is
//! decided from memory (`session::known`), and everything that can change
//! without the cookie changing still reaches that decision.

use std::{sync::Arc, sync::atomic::Ordering};

use cookie::Key;
use frontend::{
    config::CookieKeys,
    session::{
        AuthState, CookieUpdate, cookie::CookieCodec, guard::decide, revocations::RevokedSessions,
    },
};
use shared::Revocation;

#[path = "../support/guard_fixture.rs"]
mod fixture;

use fixture::{Fixture, NOW, fixture, key_set, ready};

async fn decide_now(f: &Fixture) -> (AuthState, CookieUpdate) {
    decide(&f.state, &f.client, std::iter::once(f.cookie_header.as_str())).await
}

fn signed_in(state: &AuthState) -> Arc<frontend::session::SignedIn> {
    match state {
        AuthState::SignedIn(s) => s.clone(),
        other => panic!("expected signed in, got {other:?}"),
    }
}

#[actix_web::test]
async fn a_cookie_seen_before_is_decided_from_memory() {
    let f = fixture();
    let (first, update) = decide_now(&f).await;
    assert!(matches!(update, CookieUpdate::Keep));
    // `ready`: from memory, the decision never waits on anything.
    let (second, _) = ready(decide_now(&f));
    // The long way builds a new decision each time; memory hands back the one it kept.
    assert!(Arc::ptr_eq(&signed_in(&first), &signed_in(&second)));
    assert_eq!(signed_in(&second).user.username, "alice");
}

#[actix_web::test]
async fn a_remembered_cookie_of_an_ended_session_is_signed_out_and_cleared() {
    let f = fixture();
    signed_in(&decide_now(&f).await.0);
    f.state.revoked.add(&[Revocation::ended(f.cookie.session_id.clone(), NOW + 600)], NOW);
    let (state, update) = decide_now(&f).await;
    assert!(matches!(state, AuthState::SignedOut), "{state:?}");
    assert!(matches!(update, CookieUpdate::Clear));
}

#[actix_web::test]
async fn a_new_key_set_stops_remembered_cookies_from_vouching() {
    let f = fixture();
    signed_in(&decide_now(&f).await.0);
    // The auth-api dropped the key that signed this cookie's token. Nothing
    // answers at the auth-api's address, so the token can be neither
    // re-verified nor swapped: the session cannot be confirmed.
    assert!(f.state.jwks.install(&key_set("another-key", 9).0));
    let (state, _) = decide_now(&f).await;
    assert!(matches!(state, AuthState::Unavailable), "{state:?}");
}

#[actix_web::test]
async fn a_token_due_for_a_swap_is_not_served_from_memory() {
    let f = fixture();
    let first = signed_in(&decide_now(&f).await.0);
    // Still valid, but inside the refresh margin: the guard must try to swap
    // it (and, the auth-api being unreachable, keep serving the valid token).
    let due = f.cookie.access_expires_at - frontend::session::guard::REFRESH_MARGIN;
    f.clock.store(due, Ordering::Relaxed);
    let (state, update) = decide_now(&f).await;
    let served = signed_in(&state);
    assert!(!Arc::ptr_eq(&first, &served), "decided from memory inside the refresh margin");
    assert!(matches!(update, CookieUpdate::Keep));
}

#[actix_web::test]
async fn a_remembered_cookie_is_not_trusted_while_the_revocation_feed_is_silent() {
    let mut f = fixture();
    let first = signed_in(&decide_now(&f).await.0);
    // A feed that has not answered: a session ended elsewhere could be
    // missing from the set, so the guard must ask the auth-api (unreachable
    // here: it falls back to the still-valid token, decided afresh).
    f.state.revoked = Arc::new(RevokedSessions::default());
    let (state, _) = decide_now(&f).await;
    assert!(!Arc::ptr_eq(&first, &signed_in(&state)), "decided from memory with the feed silent");
}

#[actix_web::test]
async fn a_cookie_sealed_with_an_older_key_is_resealed_every_time_not_remembered() {
    let mut f = fixture();
    let keys = CookieKeys::from_keys(vec![Key::generate(), f.cookie_key.clone()]);
    f.state.codec = CookieCodec::new(keys, false);
    for _ in 0..2 {
        let (state, update) = decide_now(&f).await;
        signed_in(&state);
        assert!(matches!(update, CookieUpdate::Set(_)), "the old-key cookie must be re-sealed");
    }
}

#[actix_web::test]
async fn a_token_made_stale_is_not_served_when_the_auth_api_cannot_be_reached() {
    let f = fixture();
    signed_in(&decide_now(&f).await.0);
    // The user's roles changed after this token was issued (the feed says
    // so); the auth-api, which would issue a token with the new roles, is
    // unreachable. The old token still verifies, but must not be served: a
    // demoted administrator would keep the role through the outage.
    let stale = Revocation {
        sid: f.cookie.session_id.clone(),
        until: NOW + 600,
        stale_before: Some(NOW + 1),
    };
    f.state.revoked.add(&[stale], NOW);
    let (state, update) = decide_now(&f).await;
    assert!(matches!(state, AuthState::Unavailable), "{state:?}");
    assert!(matches!(update, CookieUpdate::Keep), "the session itself lives on");
}
