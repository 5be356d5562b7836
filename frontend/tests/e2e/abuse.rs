//! What hostile or broken clients send the frontend, over raw sockets: any
//! sign-in form, any server-function call, truncated requests, oversized
//! heads, a request one byte every two seconds, thousands of idle
//! connections. Every answer is a 4xx (or the page's own success), never a
//! 5xx; no worker panics; real requests are answered throughout.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use awc::http::StatusCode;
use frontend::startup::CLIENT_REQUEST_TIMEOUT;
use proptest::prelude::*;
use shared::Role;

use crate::harness::{PASSWORD, Stack, spawn};

#[path = "../../../auth-api/tests/support/raw_http.rs"]
mod raw_http;
use raw_http::{Answer, addr_of, request, send};

/// Runs blocking socket work off the test's runtime (both servers' own
/// tasks live there).
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    actix_web::rt::task::spawn_blocking(work).await.expect("the blocking part panicked")
}

/// A real request still gets its real answer, promptly.
fn still_answers(addr: SocketAddr) {
    let started = Instant::now();
    let answer = send(addr, &request("GET", "/healthz", &[], b""), false).unwrap();
    assert_eq!(answer.status, Some(200), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

fn body_of(answer: &Answer) -> String {
    let text = String::from_utf8_lossy(&answer.raw);
    text.split_once("\r\n\r\n").map_or(String::new(), |(_, body)| body.chars().take(300).collect())
}

/// Where a `303` sends the browser: always a path on this site.
fn assert_local(answer: &Answer) -> Result<(), TestCaseError> {
    if let Some(location) = answer.header("location") {
        prop_assert!(
            location.starts_with('/') && !location.starts_with("//") && !location.contains('\\'),
            "sent to {location}"
        );
    }
    Ok(())
}

/// One to three byte edits of one of `genuine`.
fn mutated(genuine: Vec<String>) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => prop::sample::select(b"=&%+/;:?#.\\ aA0\r\n".to_vec()),
        1 => any::<u8>(),
    ];
    let edit = (any::<usize>(), byte, 0u8..3);
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

/// A form of fields named from `names` (repeated or not) with any values:
/// empty, long, percent-encoded bytes that are not UTF-8, and the like.
fn form_of(names: Vec<&'static str>) -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        "[ -~]{0,24}",
        "(%[0-9A-Fa-f]{2}){1,8}",
        Just(String::new()),
        (1usize..15_000).prop_map(|n| "x".repeat(n)),
        prop::sample::select(vec![
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/sessions",
            "on",
            "true",
            "false",
            "1",
            "%",
            "%zz",
            "%C3%28",
        ])
        .prop_map(str::to_owned),
    ];
    let name = prop_oneof![prop::sample::select(names).prop_map(str::to_owned), "[a-z%]{0,6}"];
    prop::collection::vec((name, value), 0..7).prop_map(|fields| {
        let pairs: Vec<String> = fields.into_iter().map(|(n, v)| format!("{n}={v}")).collect();
        pairs.join("&").into_bytes()
    })
}

fn post(path: &str, headers: &[(&str, &str)], body: &[u8], content_type: &str) -> Vec<u8> {
    let mut all = headers.to_vec();
    if !content_type.is_empty() {
        all.push(("Content-Type", content_type));
    }
    request("POST", path, &all, body)
}

fn content_type() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => Just("application/x-www-form-urlencoded"),
        1 => prop::sample::select(vec![
            "application/x-www-form-urlencoded; charset=utf-8", "multipart/form-data",
            "application/json", "text/plain", "",
        ]),
    ]
}

#[actix_web::test]
async fn no_sign_in_form_gets_a_server_error_or_leaves_the_site() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let addr = addr_of(&stack.front_base);
    let origin = stack.front_base.clone();
    let panics_before = raw_http::server_panics();
    blocking(move || {
        let genuine = vec![
            format!("username=alice&password={}&remember=on&next=%2Fsessions", enc(PASSWORD)),
            format!("username=alice&password={}&next=&reauth=1", enc(PASSWORD)),
            "username=alice&password=wrong&next=%2F%2Fevil.example".to_owned(),
        ];
        let body = prop_oneof![
            2 => mutated(genuine),
            2 => form_of(vec!["username", "password", "remember", "next", "reauth"]),
            1 => prop::collection::vec(any::<u8>(), 0..400),
        ];
        proptest!(ProptestConfig::with_cases(128), |(body in body, ct in content_type())| {
            let headers = [("Origin", origin.as_str()), ("Accept", "text/html")];
            let answer = send(addr, &post("/login", &headers, &body, ct), false).unwrap();
            let status = answer.status.unwrap_or(0);
            prop_assert!(
                (200..500).contains(&status),
                "{status} for {:?}: {}", String::from_utf8_lossy(&body), body_of(&answer)
            );
            assert_local(&answer)?;
        });
        still_answers(addr);
    })
    .await;
    assert_eq!(raw_http::server_panics(), panics_before, "a server worker panicked");
}

/// Every server function, and the form fields they take.
const SERVER_FUNCTIONS: &[&str] = &[
    "my_notes",
    "add_note",
    "current_user",
    "login_notice",
    "form_notice",
    "pending_sign_in",
    "mfa_status",
    "security_notice",
    "passkey_registration_options",
    "register_passkey",
    "passkey_sign_in_options",
    "passkey_sign_in",
    "password_strength",
    "my_events",
    "admin_audit",
    "new_user_notice",
    "admin_set_disabled",
    "admin_set_admin",
    "admin_reset_second_factors",
    "admin_delete_user",
    "my_sessions",
    "admin_users",
    "revoke_session",
    "admin_sign_out_user",
    // Last: these end sessions (the signed-in cases go on signed out).
    "revoke_other_sessions",
    "logout",
];
const FIELDS: &[&str] = &[
    "text",
    "user_id",
    "disabled",
    "admin",
    "id",
    "password",
    "ceremony",
    "credential",
    "name",
    "username",
    "remember",
    "next",
    "cursor",
    "before",
    "limit",
    "kind",
];

#[actix_web::test]
async fn no_server_function_call_gets_a_server_error() {
    let stack = spawn().await;
    let admin = stack.add_user("alice", &[Role::Admin]).await;
    let cookie = signed_in_cookie(&stack, "alice").await;
    let addr = addr_of(&stack.front_base);
    let origin = stack.front_base.clone();
    let panics_before = raw_http::server_panics();
    blocking(move || {
        let genuine = vec![
            "text=hello".to_owned(),
            format!("user_id={admin}&disabled=true"),
            format!("user_id={admin}&admin=false"),
            "id=3f1c2a4e-0000-4000-8000-123456789abc".to_owned(),
            format!("password={}", enc(PASSWORD)),
            "ceremony=c&credential=%7B%7D".to_owned(),
        ];
        let body = prop_oneof![
            2 => mutated(genuine),
            2 => form_of(FIELDS.to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..300),
        ];
        // Signed in, signed out, or a cookie that is not ours.
        let session = prop::sample::select(vec![
            Some(cookie.clone()),
            None,
            Some("cloakroom=bm90IGEgY29va2ll".to_owned()),
        ]);
        // Without JavaScript (a form: text/html), or the hydrated app.
        let accept = prop::sample::select(vec!["text/html", "application/json", "*/*", ""]);
        let function = prop::sample::select(&SERVER_FUNCTIONS[..SERVER_FUNCTIONS.len() - 2]);
        let config = ProptestConfig::with_cases(256);
        proptest!(config, |(
            function in function, body in body, ct in content_type(), session in session,
            accept in accept,
        )| {
            let path = format!("/api/{function}");
            let mut headers = vec![("Origin", origin.as_str())];
            if let Some(c) = &session {
                headers.push(("Cookie", c.as_str()));
            }
            if !accept.is_empty() {
                headers.push(("Accept", accept));
            }
            let answer = send(addr, &post(&path, &headers, &body, ct), false).unwrap();
            let status = answer.status.unwrap_or(0);
            prop_assert!(
                (200..500).contains(&status),
                "{status} from {path} for {:?}: {}", String::from_utf8_lossy(&body), body_of(&answer)
            );
            assert_local(&answer)?;
        });
        // The ones that end sessions, last.
        for function in &SERVER_FUNCTIONS[SERVER_FUNCTIONS.len() - 2..] {
            let headers = [("Origin", origin.as_str()), ("Cookie", cookie.as_str())];
            let path = format!("/api/{function}");
            let answer = send(addr, &post(&path, &headers, b"junk=%zz", ""), false).unwrap();
            let status = answer.status.unwrap_or(0);
            assert!((200..500).contains(&status), "{status} from {path}: {}", body_of(&answer));
        }
        still_answers(addr);
    })
    .await;
    assert_eq!(raw_http::server_panics(), panics_before, "a server worker panicked");
}

#[actix_web::test]
async fn a_server_function_given_arguments_it_cannot_decode_answers_400() {
    // Found by the property above: server_fn answered these with 500.
    let stack = spawn().await;
    stack.add_user("alice", &[Role::Admin]).await;
    let browser = stack.browser();
    browser.sign_in_ok("alice").await;
    // As the hydrated app calls them (a plain form post, `Accept:
    // text/html`, is sent back to its page with the error instead).
    let origin = [("origin", stack.front_base.as_str()), ("accept", "application/json")];
    let form = "application/x-www-form-urlencoded";
    for (path, body) in [
        ("/api/admin_set_disabled", "user_id=x"),
        ("/api/admin_set_disabled", "user_id=x&disabled=maybe"),
        ("/api/admin_set_admin", "admin=yes"),
        ("/api/revoke_session", ""),
    ] {
        let page = browser.post_raw(path, form, body.into(), &origin).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path} {body:?}: {}", page.body);
    }
    // Arguments that decode still reach the function.
    let page = browser.post_raw("/api/my_sessions", form, String::new(), &origin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

/// The `Cookie` header of a browser that signed in as `username`.
async fn signed_in_cookie(stack: &Stack, username: &str) -> String {
    let browser = stack.browser();
    browser.sign_in_ok(username).await;
    browser.cookie_header().expect("signed in")
}

fn enc(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).unwrap().trim_start_matches('=').to_owned()
}

#[actix_web::test]
async fn truncated_and_oversized_requests_get_a_4xx_or_a_closed_connection() {
    let stack = spawn().await;
    let addr = addr_of(&stack.front_base);
    let origin = stack.front_base.clone();
    let panics_before = raw_http::server_panics();
    blocking(move || {
        let full = post(
            "/login",
            &[("Origin", &origin), ("Accept", "text/html")],
            b"username=alice&password=wrong&next=",
            "application/x-www-form-urlencoded",
        );
        // Every cut of a real request, then the client hangs up.
        for cut in 0..full.len() {
            let answer = send(addr, &full[..cut], true).unwrap();
            assert!(answer.closed, "cut at {cut}: still open after the client hung up");
            if let Some(status) = answer.status {
                assert!((400..500).contains(&status), "cut at {cut}: {status}");
            }
        }
        // Heads within actix-http's 128 KiB are answered as usual: a
        // 100 KiB header, a 100 KiB cookie. Past it, or past 96 headers: 431.
        let big = "a".repeat(100 * 1024);
        let cookie = format!("cloakroom={big}");
        for head in [[("X-Big", big.as_str())], [("Cookie", cookie.as_str())]] {
            let answer = send(addr, &request("GET", "/healthz", &head, b""), false).unwrap();
            assert_eq!(answer.status, Some(200), "{}", body_of(&answer));
        }
        let answer = send(addr, &request("GET", &format!("/{big}"), &[], b""), false).unwrap();
        assert_eq!(answer.status, Some(400), "{}", body_of(&answer));
        let huge = "a".repeat(200 * 1024);
        let many: Vec<(String, String)> =
            (0..200).map(|i| (format!("X-Filler-{i}"), "b".repeat(100))).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        for oversized in
            [request("GET", "/healthz", &[("X-Big", &huge)], b""), request("GET", "/", &many, b"")]
        {
            let answer = send(addr, &oversized, false).unwrap();
            assert_eq!(answer.status, Some(431), "{answer:?}");
            still_answers(addr);
        }
        for junk in [
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
            b"GET / HTTP/9.9\r\n\r\n",
            b"GET /login HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST /login HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"POST /login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"GET /%ff%fe/../..%2f HTTP/1.1\r\n\r\n",
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
    let stack = spawn().await;
    let addr = addr_of(&stack.front_base);
    blocking(move || {
        let slow = request("GET", "/login", &[("X-Padding", "slowly")], b"");
        let (took, answer) = raw_http::slow_loris(addr, &slow, Duration::from_secs(2));
        let took = took.expect("the server never closed the connection");
        let limit = CLIENT_REQUEST_TIMEOUT + Duration::from_secs(3);
        assert!(took <= limit, "closed after {took:?}, limit {limit:?}");
        assert!(answer.status.is_none_or(|s| s == 408), "{answer:?}");
        still_answers(addr);
    })
    .await;
}

#[actix_web::test]
async fn thousands_of_idle_connections_neither_block_nor_outlive_the_timeout() {
    let stack = spawn().await;
    let addr = addr_of(&stack.front_base);
    blocking(move || {
        let started = Instant::now();
        let wanted = raw_http::idle_count(IDLE_CONNECTIONS);
        let mut idle = raw_http::idle_connections(addr, wanted);
        assert_eq!(idle.len(), wanted, "could not open them all");
        still_answers(addr);
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
