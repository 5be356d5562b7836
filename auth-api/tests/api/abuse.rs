//! What hostile or broken clients send, over raw sockets: any `/auth/token`
//! body at all, truncated requests, oversized heads, a request one byte
//! every two seconds, thousands of idle connections. The server answers
//! each with a 4xx or closes the connection, never a 5xx, never panics, and
//! keeps answering real requests throughout.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use auth_api::startup::CLIENT_REQUEST_TIMEOUT;
use base64::{Engine, engine::general_purpose::STANDARD};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{CLIENT_ID, CLIENT_SECRET, PASSWORD, TestApp, spawn_app};

#[path = "../support/raw_http.rs"]
mod raw_http;
use raw_http::{Answer, addr_of, request, send};

fn basic() -> String {
    format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")))
}

/// A real request still gets its real answer, promptly.
fn still_answers(addr: SocketAddr) {
    let started = Instant::now();
    let answer = send(addr, &request("GET", "/healthz", &[], b""), false).unwrap();
    assert_eq!(answer.status, Some(200), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

/// Runs blocking socket work off the test's runtime (the server's own
/// tasks live there).
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    actix_web::rt::task::spawn_blocking(work).await.expect("the blocking part panicked")
}

/// Genuine bodies of every grant, to be mutated.
fn genuine_grants(refresh_token: &str, access_token: &str) -> Vec<String> {
    [
        json!({"grant_type": "password", "username": "alice", "password": PASSWORD,
               "remember": true, "user_agent": "Firefox", "ip": "203.0.113.7", "device": "d"}),
        json!({"grant_type": "refresh_token", "refresh_token": refresh_token}),
        json!({"grant_type": "urn:cloakroom:params:oauth:grant-type:mfa-otp",
               "mfa_token": "m", "otp": "123456"}),
        json!({"grant_type": "urn:cloakroom:params:oauth:grant-type:mfa-recovery-code",
               "mfa_token": "m", "recovery_code": "abcd-efgh"}),
        json!({"grant_type": "urn:cloakroom:params:oauth:grant-type:mfa-passkey",
               "mfa_token": "m", "ceremony": "c",
               "credential": "{\"id\":\"x\",\"rawId\":\"x\",\"type\":\"public-key\",\"response\":{}}"}),
        json!({"grant_type": "urn:cloakroom:params:oauth:grant-type:passkey",
               "ceremony": "c", "credential": "{}", "remember": false}),
        json!({"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
               "subject_token": access_token,
               "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
               "audience": "notes-api"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect()
}

/// A JSON value of any shape, for a field of a grant.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        // Long strings: near and past what a field or the body may hold.
        (1usize..20_000).prop_map(|n| Value::from("a".repeat(n))),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A grant-shaped object: a known (or unknown) grant type and fields of
/// the grants' names with values of any type.
fn grant_shaped() -> impl Strategy<Value = Vec<u8>> {
    let grant_type = prop_oneof![
        prop::sample::select(vec![
            "password",
            "refresh_token",
            "urn:cloakroom:params:oauth:grant-type:mfa-otp",
            "urn:cloakroom:params:oauth:grant-type:mfa-recovery-code",
            "urn:cloakroom:params:oauth:grant-type:mfa-passkey",
            "urn:cloakroom:params:oauth:grant-type:passkey",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "client_credentials",
            "PASSWORD",
            "",
        ])
        .prop_map(Value::from),
        any_value(),
    ];
    let field = prop::sample::select(vec![
        "username",
        "password",
        "remember",
        "user_agent",
        "ip",
        "device",
        "refresh_token",
        "mfa_token",
        "otp",
        "recovery_code",
        "ceremony",
        "credential",
        "subject_token",
        "subject_token_type",
        "audience",
        "grant_type",
        "extra",
    ]);
    (grant_type, prop::collection::vec((field, any_value()), 0..8)).prop_map(|(g, fields)| {
        let mut object = serde_json::Map::new();
        object.insert("grant_type".into(), g);
        for (name, value) in fields {
            object.insert(name.into(), value);
        }
        Value::Object(object).to_string().into_bytes()
    })
}

/// One to three byte edits of a genuine body.
fn mutated(genuine: Vec<String>) -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<usize>(), any::<u8>(), 0u8..3);
    (prop::sample::select(genuine), prop::collection::vec(edit, 1..4)).prop_map(|(body, edits)| {
        let mut bytes = body.into_bytes();
        for (at, byte, kind) in edits {
            let len = bytes.len();
            match kind {
                0 if len > 0 => bytes[at % len] = byte,
                1 => bytes.insert(at % (len + 1), byte),
                _ if len > 0 => {
                    bytes.remove(at % len);
                }
                _ => {}
            }
        }
        bytes
    })
}

#[actix_web::test]
async fn no_token_request_body_gets_a_server_error() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    let grants = genuine_grants(&tokens.refresh_token, &tokens.access_token);
    let addr = addr_of(&app.base);
    let panics_before = raw_http::server_panics();
    blocking(move || {
        let content_type = prop::sample::select(vec![
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "",
        ]);
        let body = prop_oneof![
            2 => mutated(grants),
            2 => grant_shaped(),
            1 => prop::collection::vec(any::<u8>(), 0..600),
        ];
        proptest!(ProptestConfig::with_cases(192), |(body in body, content_type in content_type)| {
            let auth = basic();
            let mut headers = vec![("Authorization", auth.as_str())];
            if !content_type.is_empty() {
                headers.push(("Content-Type", content_type));
            }
            let answer = send(addr, &request("POST", "/auth/token", &headers, &body), false)
                .unwrap();
            let status = answer.status.unwrap_or(0);
            prop_assert!(
                (200..500).contains(&status),
                "{status} for {:?}: {}", String::from_utf8_lossy(&body), body_of(&answer)
            );
        });
        still_answers(addr);
    })
    .await;
    assert_eq!(raw_http::server_panics(), panics_before, "a server worker panicked");
}

fn body_of(answer: &Answer) -> String {
    let text = String::from_utf8_lossy(&answer.raw);
    text.split_once("\r\n\r\n").map_or(String::new(), |(_, body)| body.chars().take(300).collect())
}

#[actix_web::test]
async fn truncated_and_oversized_requests_get_a_4xx_or_a_closed_connection() {
    let app = spawn_app().await;
    let addr = addr_of(&app.base);
    let panics_before = raw_http::server_panics();
    blocking(move || {
        let auth = basic();
        let full = request(
            "POST",
            "/auth/token",
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            br#"{"grant_type":"refresh_token","refresh_token":"nope"}"#,
        );
        // Every cut of a real request (request line, headers, body), then
        // the client hangs up.
        for cut in 0..full.len() {
            let answer = send(addr, &full[..cut], true).unwrap();
            assert!(answer.closed, "cut at {cut}: still open after the client hung up");
            if let Some(status) = answer.status {
                assert!((400..500).contains(&status), "cut at {cut}: {status}");
            }
        }
        // A 100 KiB header: within actix-http's 128 KiB for a request head,
        // so answered as usual. A 100 KiB path is past what a URI may be
        // (64 KiB, the `http` crate's limit): 400.
        let big = "a".repeat(100 * 1024);
        for (within, expected) in [
            (request("GET", "/healthz", &[("X-Big", &big)], b""), 200),
            (request("GET", &format!("/{big}"), &[], b""), 400),
            (
                request(
                    "POST",
                    "/auth/token",
                    &[("Authorization", &format!("Basic {big}"))],
                    b"{}",
                ),
                401,
            ),
        ] {
            let answer = send(addr, &within, false).unwrap();
            assert_eq!(answer.status, Some(expected), "{}", body_of(&answer));
        }
        // Past it (a 200 KiB header), or more than its 96 headers: 431.
        let huge = "a".repeat(200 * 1024);
        let many: Vec<(String, String)> =
            (0..200).map(|i| (format!("X-Filler-{i}"), "b".repeat(100))).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        for oversized in [
            request("GET", "/healthz", &[("X-Big", &huge)], b""),
            request("GET", "/healthz", &many, b""),
        ] {
            let answer = send(addr, &oversized, false).unwrap();
            assert_eq!(answer.status, Some(431), "{answer:?}");
            still_answers(addr);
        }
        // Garbage where a request line should be, and a lying length.
        for junk in [
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
            b"GET / HTTP/9.9\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"POST /auth/token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"\r\n\r\n\r\n",
        ] {
            let answer = send(addr, junk, true).unwrap();
            if let Some(status) = answer.status {
                assert!((400..500).contains(&status), "{status} for {junk:?}");
            }
        }
        still_answers(addr);
    })
    .await;
    assert_eq!(raw_http::server_panics(), panics_before, "a server worker panicked");
}

#[actix_web::test]
async fn a_slow_loris_is_cut_off_within_the_request_timeout() {
    let app = spawn_app().await;
    let addr = addr_of(&app.base);
    blocking(move || {
        let slow = request("GET", "/healthz", &[("X-Padding", "slowly")], b"");
        let (took, answer) = raw_http::slow_loris(addr, &slow, Duration::from_secs(2));
        let took = took.expect("the server never closed the connection");
        // Detected at the next byte, at most two seconds after the close.
        let limit = CLIENT_REQUEST_TIMEOUT + Duration::from_secs(3);
        assert!(took <= limit, "closed after {took:?}, limit {limit:?}");
        assert!(answer.status.is_none_or(|s| s == 408), "{answer:?}");
        still_answers(addr);
    })
    .await;
}

/// actix-http times only a connection's first request head: on a kept-alive
/// connection, the next request may trickle in for as long as the client
/// likes. Run with `--ignored` to see it; docs/DESIGN.md ("Connections")
/// says what stands in for it (a reverse proxy's header timeout).
#[actix_web::test]
#[ignore = "actix-http has no head timeout after a connection's first request"]
async fn a_slow_loris_after_a_first_request_is_cut_off_too() {
    let app = spawn_app().await;
    let addr = addr_of(&app.base);
    blocking(move || {
        // A kept-alive connection: one real request, then the next one
        // byte at a time.
        let (took, answer) = raw_http::slow_loris_after_one(addr, Duration::from_secs(2));
        let took = took.expect("the server never closed the connection");
        let limit = CLIENT_REQUEST_TIMEOUT + Duration::from_secs(3);
        assert!(took <= limit, "closed after {took:?}, limit {limit:?}: {answer:?}");
        still_answers(addr);
    })
    .await;
}

#[actix_web::test]
async fn thousands_of_idle_connections_neither_block_nor_outlive_the_timeout() {
    let app: TestApp = spawn_app().await;
    let addr = addr_of(&app.base);
    blocking(move || {
        let started = Instant::now();
        let wanted = raw_http::idle_count(IDLE_CONNECTIONS);
        let mut idle = raw_http::idle_connections(addr, wanted);
        assert_eq!(idle.len(), wanted, "could not open them all");
        // Real requests are answered while they sit there.
        still_answers(addr);
        // And the server lets go of every one of them.
        // Within the timeout of their arrival, with room for a loaded
        // machine (they are usually all gone at the timeout itself).
        let deadline = started + CLIENT_REQUEST_TIMEOUT + Duration::from_secs(8);
        let open = raw_http::still_open_at(&mut idle, deadline);
        assert_eq!(open, 0, "{open} of {wanted} idle connections still open");
        still_answers(addr);
    })
    .await;
}

/// Fewer where the descriptor limit is low (`raw_http::idle_count`).
const IDLE_CONNECTIONS: usize = 2_000;
