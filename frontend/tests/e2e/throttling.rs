//! Sign-in throttling that cannot lock anyone out, behind a trusted proxy:
//! the test client plays the proxy (127.0.0.1, in TRUSTED_PROXIES) and says
//! who the client is with `X-Forwarded-For`.

use awc::http::StatusCode;
use shared::Role;

use crate::harness::{Browser, Options, PASSWORD, Stack, spawn, spawn_with};

async fn behind_a_proxy() -> Stack {
    let trusted_proxies = frontend::config::parse_proxies("127.0.0.1/32").unwrap();
    spawn_with(Options { trusted_proxies, ..Options::default() }).await
}

/// A sign-in attempt from client address `ip`.
async fn attempt(browser: &Browser, ip: &str, username: &str, password: &str) -> StatusCode {
    browser.forwarded_for(Some(ip));
    browser.sign_in(username, password).await.status
}

#[actix_web::test]
async fn a_thousand_failures_from_everywhere_do_not_keep_admin_out_of_a_browser_used_before() {
    let stack = behind_a_proxy().await;
    stack.add_user("admin", &[Role::Admin]).await;
    // The administrator's own browser signed in here before (and out again).
    let own = stack.browser();
    assert_eq!(attempt(&own, "198.51.100.10", "admin", PASSWORD).await, StatusCode::SEE_OTHER);
    own.sign_out().await;
    assert!(own.cookie().is_none());

    // 1,000 guesses at admin's password from 1,000 addresses.
    let attacker = stack.browser();
    let mut refused = 0;
    for i in 0..1000 {
        let ip = format!("203.0.{}.{}", 113 + i / 250, i % 250 + 1);
        match attempt(&attacker, &ip, "admin", &format!("guess {i}")).await {
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            StatusCode::BAD_REQUEST => {}
            other => panic!("guess {i}: {other}"),
        }
    }
    assert!(refused >= 990, "the username is throttled for untrusted sources: {refused}");
    // A browser that never signed in as admin meets the throttle too...
    let stranger = stack.browser();
    let status = attempt(&stranger, "198.51.100.99", "admin", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // ...but admin's own browser gets in, at once.
    assert_eq!(attempt(&own, "198.51.100.10", "admin", PASSWORD).await, StatusCode::SEE_OTHER);
    assert_eq!(own.get("/admin").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn failures_from_one_address_do_not_block_anyone_at_another() {
    let stack = behind_a_proxy().await;
    stack.add_user("alice", &[]).await;
    let attacker = stack.browser();
    // 100 failures for made-up usernames from one address (the harness's
    // per-network limit is 100): the next is refused.
    for i in 0..100 {
        let status = attempt(&attacker, "203.0.113.66", &format!("user{i}"), "guess").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "attempt {i}");
    }
    assert_eq!(
        attempt(&attacker, "203.0.113.66", "alice", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Anyone else, elsewhere, signs in.
    let alice = stack.browser();
    assert_eq!(attempt(&alice, "198.51.100.20", "alice", PASSWORD).await, StatusCode::SEE_OTHER);
    // An IPv6 attacker is one client per /64, whatever address it picks.
    for i in 0..100 {
        let status = attempt(
            &attacker,
            &format!("2001:db8:1:2::{:x}", i + 1),
            &format!("v6user{i}"),
            "guess",
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "attempt {i}");
    }
    let status = attempt(&attacker, "2001:db8:1:2:ffff::1", "alice", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn guessing_one_username_from_many_addresses_meets_429_before_the_tenth_attempt() {
    let stack = behind_a_proxy().await;
    stack.add_user("alice", &[]).await;
    let attacker = stack.browser();
    let mut first_refusal = None;
    for i in 0..10 {
        attacker.forwarded_for(Some(&format!("203.0.113.{}", i + 1)));
        let page = attacker.sign_in("alice", &format!("guess {i}")).await;
        if page.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(page.header("retry-after").is_some_and(|s| s.parse::<u64>().unwrap() > 0));
            first_refusal = Some(i);
            break;
        }
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
    }
    let first = first_refusal.expect("refused within ten attempts");
    assert!(first < 9, "429 came at attempt {}", first + 1);
}

#[actix_web::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    // No TRUSTED_PROXIES: the header is anyone's to write, and ignored.
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    assert_eq!(attempt(&browser, "203.0.113.9", "alice", PASSWORD).await, StatusCode::SEE_OTHER);
    let sessions = browser.get("/sessions").await.body;
    assert!(sessions.contains("127.0.0.1") && !sessions.contains("203.0.113.9"), "{sessions}");

    // Behind a trusted proxy the client's address is the one it forwards.
    let stack = behind_a_proxy().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    assert_eq!(
        attempt(&browser, "1.2.3.4, 203.0.113.9", "alice", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let sessions = browser.get("/sessions").await.body;
    assert!(sessions.contains("203.0.113.9"), "{sessions}");
    assert!(!sessions.contains("1.2.3.4"), "what the client wrote itself proves nothing");
}
