//! Scale-out: two auth-apis and two frontends, each its own process, on one
//! PostgreSQL database, and a browser going back and forth between the
//! frontends. Both listen on 127.0.0.1, and browsers scope cookies by host,
//! not port, so it sends both the same cookie, as it would to two instances
//! behind one load balancer. The frontends share `COOKIE_KEYS` and the client
//! credentials, and nothing else: no memory, no clock, no refresh table.
//! Skipped (with the reason printed) without `TEST_POSTGRES_URL`; required
//! in CI.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use awc::http::StatusCode;
use frontend::session::guard::REFRESH_MARGIN;

use crate::{
    cluster::{Cluster, Options, Routing},
    harness::Browser,
};

const ROTATED: &str = r#"refreshes_total{result="rotated"}"#;
const GRACE: &str = r#"refreshes_total{result="retry"}"#;
const REUSE: &str = "refresh_reuse_detections_total";
/// How soon a session ended through one frontend must be refused by the other.
const END_REACHES_EVERYWHERE: Duration = Duration::from_secs(2);

#[actix_web::test]
async fn a_cookie_set_by_one_frontend_is_honoured_by_the_other() {
    let Some(cluster) = Cluster::start(Options::default()).await else { return };
    cluster.add_user("alice").await;
    let one = Browser::new(&cluster.front[0]);
    let two = one.also_at(&cluster.front[1]);

    let signed_in = one.sign_in("alice", crate::harness::PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    assert_eq!(signed_in.location(), Some("/profile"));
    let cookie = one.cookie().expect("frontend 1 set the session cookie");

    let calls = cluster.token_calls().await;
    for round in 0..3 {
        for (n, browser) in [(2, &two), (1, &one)] {
            let profile = browser.get("/profile").await;
            assert_eq!(profile.status, StatusCode::OK, "round {round}, frontend {n}");
            assert!(profile.body.contains("alice"), "round {round}, frontend {n}");
            // Listed by the auth-api behind this frontend (pinned: A or B).
            let sessions = browser.get("/sessions").await;
            assert_eq!(sessions.status, StatusCode::OK, "round {round}, frontend {n}");
            assert_eq!(sessions.body.matches("data-session-id").count(), 1);
            assert!(sessions.body.contains("This device"), "round {round}, frontend {n}");
        }
    }
    assert_eq!(one.cookie(), Some(cookie), "neither frontend had to re-seal the cookie");
    assert_eq!(
        cluster.token_calls().await - calls,
        0.0,
        "12 page views on two frontends, no refresh: frontend 2 verifies a token \
         minted by auth-api A with the keys it fetched from B"
    );
}

#[actix_web::test]
async fn a_sign_out_on_one_frontend_is_refused_on_the_other_within_two_seconds() {
    let Some(cluster) = Cluster::start(Options::default()).await else { return };
    cluster.add_user("alice").await;
    let one = Browser::new(&cluster.front[0]);
    one.sign_in_ok("alice").await;
    let saved = one.cookie().expect("signed in");
    let copy = Browser::new(&cluster.front[1]);
    copy.set_cookie(&saved);
    assert_eq!(copy.get("/profile").await.status, StatusCode::OK, "frontend 2 takes the cookie");

    let calls = cluster.token_calls().await;
    let out = one.sign_out().await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), Some("/?signed_out=1"), "auth-api A was told");
    assert!(one.cookie().is_none());

    let replay = replay_until_refused(&cluster.front[1], &saved).await;
    let latency = replay.refused_after.unwrap_or_else(|| {
        panic!("frontend 2 still accepts the cookie 2 s after sign-out: {:?}", replay.answers)
    });
    eprintln!("sign-out on frontend 1 refused on frontend 2 after {latency:?}");
    assert!(replay.answers.iter().all(|s| *s == StatusCode::OK), "{:?}", replay.answers);
    assert_eq!(
        cluster.token_calls().await - calls,
        0.0,
        "refused by frontend 2's revocation set (the end at A reached it through B's \
         feed), not by a failed refresh"
    );
}

#[actix_web::test]
async fn concurrent_refreshes_through_both_frontends_sign_nobody_out() {
    const TTL: u32 = 12;
    let options = Options { access_ttl: TTL, ..Options::default() };
    let Some(cluster) = Cluster::start(options).await else { return };
    cluster.add_user("alice").await;
    let browser = Browser::new(&cluster.front[0]);
    browser.sign_in_ok("alice").await;
    let old = browser.cookie().expect("signed in");
    until_refresh_due(SystemTime::now(), TTL).await;

    // Twenty page views at once, alternating frontends, all with the cookie
    // whose access token is due: frontend 1 swaps at auth-api A, frontend 2
    // at B, each once for all its requests.
    let calls = cluster.token_calls().await;
    let tabs: Vec<Browser> = (0..20)
        .map(|i| {
            let tab = Browser::new(&cluster.front[i % 2]);
            tab.set_cookie(&old);
            tab
        })
        .collect();
    let started = Instant::now();
    let pages = futures::future::join_all(tabs.iter().map(|tab| tab.get("/profile"))).await;
    let refreshed_by = SystemTime::now();
    eprintln!("20 concurrent views across both frontends took {:?}", started.elapsed());
    for (i, page) in pages.iter().enumerate() {
        let n = i % 2 + 1;
        assert_eq!(page.status, StatusCode::OK, "view {i} on frontend {n}: {}", page.body);
        assert!(page.body.contains("alice"), "view {i} on frontend {n}");
        let set = page.session_cookie().unwrap_or_else(|| panic!("view {i}: no new cookie"));
        assert_ne!(set.max_age(), Some(cookie::time::Duration::ZERO), "view {i} signed out");
        assert_ne!(set.value(), old, "view {i}");
    }
    let calls = cluster.token_calls().await - calls;
    eprintln!("calls to /auth/token for them: {calls}");
    assert!((1.0..=2.0).contains(&calls), "{calls} swaps: at most one per frontend process");
    assert_eq!(cluster.metric_sum(ROTATED).await, 1.0, "one rotation in all");
    assert_eq!(
        cluster.metric_sum(GRACE).await,
        calls - 1.0,
        "the other swap: a retry with the previous token"
    );
    assert_eq!(cluster.metric_sum(REUSE).await, 0.0, "nobody was taken for a thief");

    // The session lives on: frontend 2 takes a cookie frontend 1 re-sealed...
    let from_one = pages[0].session_cookie().expect("checked above").value().to_owned();
    let next = Browser::new(&cluster.front[1]);
    next.set_cookie(&from_one);
    let sessions = next.get("/sessions").await;
    assert_eq!(sessions.status, StatusCode::OK);
    assert_eq!(sessions.body.matches("data-session-id").count(), 1);
    // ...and once that token is due in turn, swaps the one successor both
    // frontends were given for the next.
    until_refresh_due(refreshed_by, TTL).await;
    let page = next.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let set = page.session_cookie().expect("a rotated cookie");
    assert_ne!(set.max_age(), Some(cookie::time::Duration::ZERO));
    assert_eq!(cluster.metric_sum(ROTATED).await, 2.0);
    assert_eq!(cluster.metric_sum(REUSE).await, 0.0);
    assert_eq!(cluster.revocations_in_force(0).await, 0, "no session has ended");
}

#[actix_web::test]
async fn with_one_auth_api_killed_mid_run_the_other_carries_on() {
    // Swaps are due 4 s after each sign-in or swap: several fall after the kill.
    const TTL: u32 = 14;
    let options = Options { access_ttl: TTL, routing: Routing::Balanced };
    let Some(mut cluster) = Cluster::start(options).await else { return };
    for name in ["alice", "bob", "carol", "dave"] {
        cluster.add_user(name).await;
    }
    let alice = pair(&cluster);
    alice[0].sign_in_ok("alice").await;
    let bob = pair(&cluster);
    bob[1].sign_in_ok("bob").await;
    let balancer = cluster.balancer.as_ref().expect("balanced");
    let spread = (balancer.forwarded(0), balancer.forwarded(1));
    assert!(spread.0 > 0 && spread.1 > 0, "the balancer uses both auth-apis: {spread:?}");
    assert_eq!(cluster.listening_connections().await, 2);

    // Both users browse, alternating frontends, for 1.5 s; then auth-api A
    // is killed, and they go on for 6 s.
    let kill_at = Instant::now() + Duration::from_millis(1500);
    let end = kill_at + Duration::from_secs(6);
    let killer = async {
        tokio::time::sleep_until(kill_at.into()).await;
        cluster.kill_auth_api(0);
        Instant::now()
    };
    let (alice_views, bob_views, killed_at) =
        futures::join!(browse(&alice, end), browse(&bob, end), killer);
    for (user, views) in [("alice", &alice_views), ("bob", &bob_views)] {
        let after: Vec<&View> = views.iter().filter(|v| v.started > killed_at).collect();
        eprintln!(
            "{user}: {} page views, {} after the kill; sessions swapped after it: {}",
            views.len(),
            after.len(),
            after.iter().filter(|v| v.resealed).count()
        );
        for v in views {
            let when = if v.started > killed_at { "after" } else { "before" };
            assert_eq!(v.status, StatusCode::OK, "{user} on frontend {}, {when} the kill", v.front);
            assert!(!v.cleared, "{user} was signed out on frontend {}, {when} the kill", v.front);
        }
        for front in 1..=2 {
            assert!(after.iter().any(|v| v.front == front), "{user} saw frontend {front} after");
        }
        assert!(after.iter().any(|v| v.resealed), "{user}'s session was swapped after the kill");
    }
    assert_eq!(cluster.metric(1, REUSE).await, 0.0);

    // A is gone, with its database connections.
    let a = cluster.auth[0].trim_start_matches("http://").to_owned();
    assert!(std::net::TcpStream::connect(&a).is_err(), "auth-api A still answers");
    let deadline = Instant::now() + Duration::from_secs(5);
    while cluster.listening_connections().await != 1 {
        assert!(Instant::now() < deadline, "A's database connections outlived it");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Sign-in works through either frontend, and an end made through either
    // reaches the other: both frontends now follow B's feed.
    for (user, on, elsewhere) in [("carol", 0, 1), ("dave", 1, 0)] {
        let browser = Browser::new(&cluster.front[on]);
        browser.sign_in_ok(user).await;
        let signed_in = Instant::now();
        let saved = browser.cookie().expect("signed in");
        let calls = cluster.token_calls().await;
        let out = browser.sign_out().await;
        assert_eq!(out.location(), Some("/?signed_out=1"), "{user}: auth-api B was told");
        let replay = replay_until_refused(&cluster.front[elsewhere], &saved).await;
        let latency = replay.refused_after.unwrap_or_else(|| {
            panic!("{user}'s ended session still accepted: {:?}", replay.answers)
        });
        eprintln!(
            "{user}: signed out on frontend {}, refused on frontend {} after {latency:?}",
            on + 1,
            elsewhere + 1
        );
        assert!(replay.answers.iter().all(|s| *s == StatusCode::OK), "{:?}", replay.answers);
        // Refused by the feed, with no call at all, even when the end
        // arrives while a replay is being decided (the guard looks at the
        // set again before it would refresh: stop 25's stray call was that).
        let calls = cluster.token_calls().await - calls;
        assert_eq!(
            calls,
            0.0,
            "{user}: token calls after the sign-out ({:?} after the sign-in); frontend logs:\n{}\n---\n{}",
            signed_in.elapsed(),
            cluster.frontend_output(0),
            cluster.frontend_output(1)
        );
    }
    for (user, browser) in [("alice", &alice[0]), ("bob", &bob[1])] {
        assert_eq!(browser.get("/profile").await.status, StatusCode::OK, "{user} signed in");
    }
}

/// One browser at both frontends (one cookie jar).
fn pair(cluster: &Cluster) -> [Browser; 2] {
    let one = Browser::new(&cluster.front[0]);
    let two = one.also_at(&cluster.front[1]);
    [one, two]
}

/// One page view of [`browse`].
struct View {
    /// 1 or 2.
    front: usize,
    started: Instant,
    status: StatusCode,
    /// The cookie was re-sealed: the session was swapped for this view.
    resealed: bool,
    /// The cookie was cleared: signed out.
    cleared: bool,
}

/// `/profile`, alternating frontends, every 20 ms until `end`.
async fn browse(pair: &[Browser; 2], end: Instant) -> Vec<View> {
    let mut views = Vec::new();
    while Instant::now() < end {
        let i = views.len() % 2;
        let started = Instant::now();
        let page = pair[i].get("/profile").await;
        let set = page.session_cookie();
        let cleared =
            set.as_ref().is_some_and(|c| c.max_age() == Some(cookie::time::Duration::ZERO));
        views.push(View {
            front: i + 1,
            started,
            status: page.status,
            resealed: set.is_some() && !cleared,
            cleared,
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    views
}

/// [`replay_until_refused`]'s findings.
struct Replay {
    /// Each answer before the refusal.
    answers: Vec<StatusCode>,
    /// How long after the start the cookie was refused (`303` to the sign-in
    /// page, cookie cleared), if within `END_REACHES_EVERYWHERE`.
    refused_after: Option<Duration>,
}

/// Presents `cookie` to `/profile` at `base` every 50 ms until refused, for
/// at most `END_REACHES_EVERYWHERE`.
async fn replay_until_refused(base: &str, cookie: &str) -> Replay {
    let started = Instant::now();
    let mut answers = Vec::new();
    while started.elapsed() < END_REACHES_EVERYWHERE {
        let replay = Browser::new(base);
        replay.set_cookie(cookie);
        let page = replay.get("/profile").await;
        let cleared = page
            .session_cookie()
            .is_some_and(|c| c.max_age() == Some(cookie::time::Duration::ZERO));
        let to_login = page.location().is_some_and(|l| l.starts_with("/login"));
        if page.status == StatusCode::SEE_OTHER && to_login && cleared {
            let refused_after = Some(started.elapsed()).filter(|d| *d < END_REACHES_EVERYWHERE);
            return Replay { answers, refused_after };
        }
        answers.push(page.status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Replay { answers, refused_after: None }
}

/// Sleeps until the frontends swap an access token issued at `issued_by` or
/// earlier: `REFRESH_MARGIN` seconds before it expires, in whole seconds.
pub(crate) async fn until_refresh_due(issued_by: SystemTime, ttl: u32) {
    let issued = issued_by.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    let due_secs = issued + u64::from(ttl) - REFRESH_MARGIN as u64;
    let due = UNIX_EPOCH + Duration::from_secs(due_secs) + Duration::from_millis(50);
    if let Ok(wait) = due.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
}
