//! Upstream routes: Cloakroom in front of another app, forwarding with the
//! user's access token and nothing of the browser's that could pass for it.

use std::time::Duration;

use auth_api::clock::Clock as _;
use awc::http::{Method, StatusCode};
use frontend::routes::{Access, Kind};
use futures::{SinkExt, StreamExt};
use shared::Role;

use crate::{
    harness::{Browser, Options, Stack, spawn_with},
    upstream::{AUDIENCE, TestApp, dead_url, route_to},
};

/// What the test app expects of its tokens.
fn app_audience(stack: &Stack) -> shared::verify::Expected<'_> {
    shared::verify::Expected { issuer: &stack.front_settings.issuer, audience: AUDIENCE }
}

/// A stack whose frontend fronts `app` at `/app` (signed in, page), `/pub`
/// (public page), `/ops` (admins, page) and `/app-api` (signed in, API).
async fn stack_for(app: &TestApp) -> Stack {
    let upstreams = vec![
        app.route("/app", Access::SignedIn, Kind::Page),
        app.route("/pub", Access::Public, Kind::Page),
        app.route("/ops", Access::Role(Role::Admin), Kind::Page),
        app.route("/app-api", Access::SignedIn, Kind::Api),
    ];
    spawn_with(Options { upstreams, ..Options::default() }).await
}

/// `stack_for(app)` with alice signed in: the stack, her browser, her id.
async fn with_alice(app: &TestApp) -> (Stack, Browser, String) {
    let stack = stack_for(app).await;
    let alice_id = stack.add_user("alice", &[Role::User]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;
    (stack, alice, alice_id)
}

fn session_id(stack: &Stack, cookie: &str) -> String {
    match stack.front.codec.open(cookie) {
        frontend::session::cookie::Opened::Valid { cookie, .. } => cookie.session_id,
        other => panic!("{other:?}"),
    }
}

/// Waits for the proxy to close `socket` with 1008 (policy violation), as
/// it must within 2 s of `after`.
async fn closed_for_policy_within_two_seconds<S>(socket: &mut S, after: &str)
where
    S: futures::Stream<Item = Result<awc::ws::Frame, awc::error::WsProtocolError>> + Unpin,
{
    closed_within_two_seconds(socket, awc::ws::CloseCode::Policy, after).await;
}

async fn closed_within_two_seconds<S>(socket: &mut S, code: awc::ws::CloseCode, after: &str)
where
    S: futures::Stream<Item = Result<awc::ws::Frame, awc::error::WsProtocolError>> + Unpin,
{
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match socket.next().await {
                Some(Ok(awc::ws::Frame::Close(reason))) => return reason,
                Some(Ok(_)) => continue,
                other => panic!("socket ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not closed within 2 s of {after}"));
    assert_eq!(closed.map(|r| r.code), Some(code));
}

#[actix_web::test]
async fn a_signed_in_request_reaches_the_app_with_a_verified_token_and_nothing_spoofed() {
    let app = TestApp::start().await;
    let stack = stack_for(&app).await;
    let alice_id = stack.add_user("alice", &[Role::User]).await;
    let browser = stack.browser();

    let page = browser.get("/app/reports?year=2026").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), Some("/login?next=%2Fapp%2Freports%3Fyear%3D2026"));
    assert!(app.seen().is_empty(), "a signed-out request never reaches a signed-in route");

    browser.sign_in_ok("alice").await;
    let sid = session_id(&stack, &browser.cookie().unwrap());
    let cookie = format!("{}; app_pref=compact", browser.cookie_header().unwrap());
    let req = browser
        .request(Method::GET, "/app/reports?year=2026")
        .insert_header(("cookie", cookie))
        .insert_header(("authorization", "Bearer forged"))
        .insert_header(("x-cloakroom-user", "someone-else"))
        .insert_header(("x-cloakroom-roles", "admin"))
        .insert_header(("x-forwarded-for", "6.6.6.6"))
        .insert_header(("forwarded", "for=6.6.6.6"))
        .insert_header(("x_cloakroom_user", "someone-else"))
        .insert_header(("x-real-ip", "6.6.6.6"))
        .insert_header(("x-http-method-override", "DELETE"));
    let page = browser.finish(req.send().await).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("app page /app/reports?year=2026"));
    assert_eq!(page.header("cache-control"), Some("private, no-store"));
    assert_eq!(page.header("content-security-policy"), None, "the app's own policy, not ours");

    let seen = app.last();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("GET", "/app/reports?year=2026"));
    let token = seen.header("authorization").unwrap().strip_prefix("Bearer ").unwrap();
    let now = stack.clock.now();
    let claims = stack.front.jwks.verify(token, app_audience(&stack), now).expect("verifies");
    assert_eq!((claims.sub.as_str(), claims.aud.as_str()), (alice_id.as_str(), AUDIENCE));
    assert!(claims.exp - now >= frontend::session::guard::REFRESH_MARGIN);
    // The app's token is no good at the auth-api: its audience is the app's.
    let userinfo = awc::Client::default()
        .get(format!("{}/auth/userinfo", stack.auth_base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(seen.all("authorization").len(), 1);
    assert_eq!(seen.all("x-cloakroom-user"), [alice_id.as_str()]);
    assert_eq!(seen.all("x-cloakroom-username"), ["alice"]);
    assert_eq!(seen.all("x-cloakroom-roles"), ["user"]);
    assert_eq!(seen.all("x-cloakroom-session"), [sid.as_str()]);
    let cookies = seen.all("cookie").join("; ");
    assert!(cookies.contains("app_pref=compact"), "{cookies}");
    assert!(!cookies.contains("cloakroom"), "our cookie never reaches the app: {cookies}");
    assert_eq!(seen.all("x-forwarded-for"), ["127.0.0.1"], "the peer, not the browser's claim");
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(
        seen.header("x-forwarded-host"),
        Some(stack.front_base.trim_start_matches("http://"))
    );
    assert_eq!(seen.header("forwarded"), None);
    assert_eq!(seen.all("x-real-ip"), ["127.0.0.1"]);
    for gone in ["x_cloakroom_user", "x-http-method-override"] {
        assert_eq!(seen.header(gone), None, "{gone}");
    }

    // A public route forwards the signed-out too, with no identity at all,
    // whatever the browser claims.
    let stranger = stack.browser();
    let req = stranger
        .request(Method::GET, "/pub/about")
        .insert_header(("x-cloakroom-user", alice_id.as_str()))
        .insert_header(("authorization", "Bearer forged"));
    assert_eq!(stranger.finish(req.send().await).await.status, StatusCode::OK);
    let seen = app.last();
    assert_eq!(seen.target, "/pub/about");
    assert_eq!((seen.header("authorization"), seen.header("x-cloakroom-user")), (None, None));
}

#[actix_web::test]
async fn role_rules_and_api_routes_answer_for_the_app() {
    let app = TestApp::start().await;
    let stack = stack_for(&app).await;
    stack.add_user("alice", &[Role::User]).await;
    stack.add_user("root", &[Role::User, Role::Admin]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;
    let admin = stack.browser();
    admin.sign_in_ok("root").await;

    assert_eq!(alice.get("/ops/console").await.status, StatusCode::FORBIDDEN);
    assert_eq!(admin.get("/ops/console").await.status, StatusCode::OK);
    assert_eq!(app.last().target, "/ops/console");
    let before = app.seen().len();

    // An API: JSON, never a redirect, and `X-CSRF: 1` on every request.
    let stranger = stack.browser();
    let csrf = ("x-csrf", "1");
    let page = stranger
        .finish(stranger.request(Method::GET, "/app-api/notes").insert_header(csrf).send().await)
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(page.location(), None);
    let body: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert!(body["error_description"].is_string());

    let page = alice.finish(alice.request(Method::GET, "/app-api/notes").send().await).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&page.body).unwrap()["error"],
        "csrf_header_required"
    );
    let wrong = alice.request(Method::GET, "/app-api/notes").insert_header(("x-csrf", "yes"));
    assert_eq!(alice.finish(wrong.send().await).await.status, StatusCode::FORBIDDEN);
    // A preflight is refused too: nothing here grants cross-origin access.
    let preflight = alice.request(Method::OPTIONS, "/app-api/notes");
    assert_eq!(alice.finish(preflight.send().await).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.seen().len(), before, "refused requests never reach the app");

    let page = alice
        .finish(alice.request(Method::GET, "/app-api/notes").insert_header(csrf).send().await)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let posted = alice
        .request(Method::POST, "/app-api/notes")
        .insert_header(csrf)
        .insert_header(("origin", alice.origin.as_str()))
        .send_body("{}");
    assert_eq!(alice.finish(posted.await).await.status, StatusCode::OK);
    let cross = alice
        .request(Method::POST, "/app-api/notes")
        .insert_header(csrf)
        .insert_header(("origin", "https://evil.example"))
        .send_body("{}");
    assert_eq!(alice.finish(cross.await).await.status, StatusCode::FORBIDDEN);
    // A page route keeps the origin check on unsafe methods.
    let cross = alice
        .request(Method::POST, "/app/form")
        .insert_header(("origin", "https://evil.example"))
        .send_body("x=1");
    assert_eq!(alice.finish(cross.await).await.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn an_expired_token_is_refreshed_once_before_forwarding() {
    let app = TestApp::start().await;
    let (stack, browser, _) = with_alice(&app).await;
    assert_eq!(browser.get("/app/one").await.status, StatusCode::OK);
    let first = app.last().header("authorization").unwrap().to_owned();

    stack.clock.advance(301);
    let calls = stack.token_calls().await;
    assert_eq!(browser.get("/app/two").await.status, StatusCode::OK);
    assert_eq!(stack.token_calls().await - calls, 2.0, "one refresh, one exchange");
    let second = app.last().header("authorization").unwrap().to_owned();
    assert_ne!(first, second);
    // Further requests reuse the exchanged token: no call at all.
    assert_eq!(browser.get("/app/three").await.status, StatusCode::OK);
    assert_eq!(app.last().header("authorization"), Some(second.as_str()));
    assert_eq!(stack.token_calls().await - calls, 2.0);
    // The new session token's exchange replaced the old one's: one entry
    // per session and audience, however often the token rotates.
    assert_eq!(stack.front.upstream_tokens.len(), 1);
    let now = stack.clock.now();
    let claims = stack.front.jwks.verify(&second[7..], app_audience(&stack), now).unwrap();
    assert!(claims.exp - now > frontend::session::guard::REFRESH_MARGIN);
}

#[actix_web::test]
async fn a_session_revoked_elsewhere_is_refused_on_proxied_routes_within_two_seconds() {
    let app = TestApp::start().await;
    let (stack, laptop, _) = with_alice(&app).await;
    let phone = stack.browser();
    phone.sign_in_ok("alice").await;
    assert_eq!(phone.get("/app/inbox").await.status, StatusCode::OK);

    let phone_sid = session_id(&stack, &phone.cookie().unwrap());
    let revoked = laptop.post("/api/revoke_session", &[("id", &phone_sid)]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    phone.signed_out_within("/app/inbox", Duration::from_secs(2)).await;
}

#[actix_web::test]
async fn a_websocket_is_relayed_and_closed_when_its_session_ends() {
    let app = TestApp::start().await;
    let (stack, laptop, _) = with_alice(&app).await;
    let phone = stack.browser();
    phone.sign_in_ok("alice").await;

    // Signed out, or from another site: no socket.
    let refused = stack.browser().websocket("/app/ws").connect().await;
    assert!(refused.is_err(), "a signed-out handshake is sent to sign in");
    let mut foreign = phone.websocket("/app/ws");
    foreign = foreign.origin("https://evil.example");
    assert!(foreign.connect().await.is_err(), "cross-site WebSocket hijacking");

    let (res, mut socket) = phone.websocket("/app/ws").connect().await.expect("handshake");
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    let seen = app.last();
    assert!(seen.header("authorization").is_some_and(|a| a.starts_with("Bearer ")));
    socket.send(awc::ws::Message::Text("hello".into())).await.unwrap();
    match socket.next().await {
        Some(Ok(awc::ws::Frame::Text(t))) => assert_eq!(&t[..], b"echo: hello"),
        other => panic!("no echo: {other:?}"),
    }

    let phone_sid = session_id(&stack, &phone.cookie().unwrap());
    let revoked = laptop.post("/api/revoke_session", &[("id", &phone_sid)]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    closed_for_policy_within_two_seconds(&mut socket, "the revocation").await;
}

/// A stopping frontend closes its relayed sockets at once, "going away"
/// (1001: reconnect elsewhere), rather than hold its stop for the whole
/// grace and then cut them.
#[actix_web::test]
async fn a_websocket_is_told_the_server_is_going_away_when_it_stops() {
    let app = TestApp::start().await;
    let (stack, laptop, _) = with_alice(&app).await;
    let (_, mut socket) = laptop.websocket("/app/ws").connect().await.expect("handshake");
    socket.send(awc::ws::Message::Text("hello".into())).await.unwrap();
    assert!(matches!(socket.next().await, Some(Ok(awc::ws::Frame::Text(_)))), "relayed");
    stack.front.begin_stop();
    closed_within_two_seconds(&mut socket, awc::ws::CloseCode::Away, "the stop").await;
}

#[actix_web::test]
async fn an_app_that_is_down_or_slow_gets_502_or_504_never_a_hang() {
    let app = TestApp::start().await;
    let dead = dead_url();
    let upstreams = vec![
        app.route("/app", Access::SignedIn, Kind::Page),
        app.route("/app-api", Access::SignedIn, Kind::Api),
        route_to(&dead, "/gone", Access::SignedIn, Kind::Page),
        route_to(&dead, "/gone-api", Access::SignedIn, Kind::Api),
    ];
    let stack = spawn_with(Options { upstreams, ..Options::default() }).await;
    stack.add_user("alice", &[Role::User]).await;
    let browser = stack.browser();
    browser.sign_in_ok("alice").await;

    let page = browser.get("/gone/x").await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert!(page.body.contains("You are still signed in"), "our error page: {}", page.body);
    let api = browser.request(Method::GET, "/gone-api/x").insert_header(("x-csrf", "1"));
    let page = browser.finish(api.send().await).await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&page.body).unwrap()["error"],
        "bad_gateway"
    );

    let started = std::time::Instant::now();
    let page = browser.get("/app/slow").await;
    assert_eq!(page.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the route's 1 s timeout, not the app's 5 s"
    );
    let api = browser.request(Method::GET, "/app-api/slow").insert_header(("x-csrf", "1"));
    let page = browser.finish(api.send().await).await;
    assert_eq!(page.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&page.body).unwrap()["error"],
        "gateway_timeout"
    );
}

#[actix_web::test]
async fn an_app_cannot_set_cloakrooms_cookie() {
    let app = TestApp::start().await;
    let (_stack, browser, _) = with_alice(&app).await;
    let before = browser.cookie();

    let page = browser.get("/app/set-cookies").await;
    assert_eq!(page.status, StatusCode::OK);
    let set: Vec<String> = page.set_cookies().iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(set, ["app_theme"]);
    assert_eq!(browser.cookie(), before);
    assert_eq!(browser.get("/profile").await.status, StatusCode::OK, "still signed in");
}

#[actix_web::test]
async fn uploads_over_the_routes_limit_are_refused_and_smaller_ones_stream_through() {
    let app = TestApp::start().await;
    let (_stack, browser, _) = with_alice(&app).await;
    let origin = ("origin", browser.origin.clone());

    // Larger than the frontend's own 16 KiB form limit, within the route's 1 MiB.
    let body = vec![b'a'; 512 * 1024];
    let req = browser.request(Method::POST, "/app/count").insert_header(origin.clone());
    let page = browser.finish(req.send_body(body).await).await;
    assert_eq!((page.status, page.body.as_str()), (StatusCode::OK, "524288"));

    // Declared too large: refused before a byte is read.
    let req = browser.request(Method::POST, "/app/count").insert_header(origin.clone());
    let page = browser.finish(req.send_body(vec![b'a'; 1024 * 1024 + 1]).await).await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Undeclared (chunked) and too large: cut off as it streams.
    let chunks = futures::stream::iter(
        (0..20)
            .map(|_| Ok::<_, std::io::Error>(actix_web::web::Bytes::from(vec![b'a'; 64 * 1024]))),
    );
    let req = browser.request(Method::POST, "/app/count").insert_header(origin);
    match req.send_stream(chunks).await {
        Ok(res) => assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE),
        // The frontend may close the connection while the client still sends.
        Err(e) => assert!(
            matches!(
                e,
                awc::error::SendRequestError::Send(_) | awc::error::SendRequestError::Body(_)
            ),
            "{e}"
        ),
    }
}

#[actix_web::test]
async fn upstreams_that_shadow_cloakroom_or_do_not_parse_stop_start_up() {
    let app = TestApp::start().await;
    let shadowing = vec![app.route("/admin", Access::Public, Kind::Page)];
    let stack = crate::harness::spawn().await;
    let mut settings = stack.front_settings.clone();
    settings.upstreams = shadowing;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let clock = frontend::state::system_clock();
    let err = frontend::startup::Application::build_on(listener, settings, clock)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("\"/admin\""), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("upstreams.toml");
    std::fs::write(
        &file,
        "[[upstream]]\npath = \"/app\"\nurl = \"http://127.0.0.1:9\"\naccess = \"admins\"\n",
    )
    .unwrap();
    let leptos = concat!(env!("CARGO_MANIFEST_DIR"), "/../Leptos.toml");
    let cli = <frontend::config::Cli as clap::Parser>::try_parse_from([
        "frontend",
        "--leptos-config",
        leptos,
        "--client-id",
        "c",
        "--client-secret",
        "e2e-client-secret-0123456789abcdef",
        "--cookie-keys",
        &base64_key(),
        "--cookie-secure",
        "false",
        "--upstreams",
        file.to_str().unwrap(),
    ])
    .unwrap();
    let err = frontend::config::Settings::from_cli(cli).unwrap_err().to_string();
    assert!(err.contains("upstreams.toml:4:") && err.contains("\"admins\""), "{err}");
}

fn base64_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([7u8; 64])
}

#[actix_web::test]
async fn fifty_requests_on_an_expired_token_cost_one_refresh_and_carry_one_token() {
    let app = TestApp::start().await;
    let (stack, browser, _) = with_alice(&app).await;
    stack.clock.advance(301);
    let calls = stack.token_calls().await;

    let paths: Vec<String> = (0..50).map(|i| format!("/app/storm/{i}")).collect();
    let pages = futures::future::join_all(paths.iter().map(|p| browser.get(p))).await;
    assert!(pages.iter().all(|p| p.status == StatusCode::OK));
    assert_eq!(
        stack.token_calls().await - calls,
        2.0,
        "single-flight: one refresh and one exchange for all fifty"
    );
    let tokens: std::collections::HashSet<String> = app
        .seen()
        .iter()
        .filter(|s| s.target.starts_with("/app/storm/"))
        .map(|s| s.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(tokens.len(), 1, "all fifty carry the same fresh token");
}

#[actix_web::test]
async fn a_path_is_judged_and_forwarded_in_one_spelling() {
    let app = TestApp::start().await;
    let (_stack, alice, _) = with_alice(&app).await;

    // `/ops` is for admins however it is spelled.
    assert_eq!(alice.get("/op%73/console").await.status, StatusCode::FORBIDDEN);
    // The app is sent the spelling the rule was chosen by.
    assert_eq!(alice.get("/app/%72eports?x=%41").await.status, StatusCode::OK);
    assert_eq!(app.last().target, "/app/reports?x=%41");
    // Dots, doubled slashes, escaped separators and path parameters are
    // refused before any rule: the app would read them otherwise.
    let before = app.seen().len();
    for trick in [
        "/pub/../ops/console",
        "/pub/%2e%2e/ops/console",
        "/app//x",
        "/app%2fx",
        "/ops;x/console",
        "/assets/../admin",
    ] {
        let page = alice.get(trick).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{trick}");
    }
    assert_eq!(app.seen().len(), before, "no trick reached the app");
    // TRACE would echo the token back to the browser.
    let trace =
        alice.request(Method::TRACE, "/app/x").insert_header(("origin", alice.origin.as_str()));
    assert_eq!(alice.finish(trace.send().await).await.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[actix_web::test]
async fn a_slow_upload_is_not_the_app_being_slow() {
    let app = TestApp::start().await;
    let (_stack, alice, _) = with_alice(&app).await;
    // Five chunks 300 ms apart: longer than the route's 1 s timeout, which
    // counts from the end of the body.
    let chunks = futures::stream::unfold(0, |i| async move {
        (i < 5).then_some(())?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        Some((Ok::<_, std::io::Error>(actix_web::web::Bytes::from_static(b"0123456789")), i + 1))
    });
    let req =
        alice.request(Method::POST, "/app/count").insert_header(("origin", alice.origin.as_str()));
    let page =
        alice.finish(req.send_body(actix_web::body::SizedStream::new(50, chunks)).await).await;
    assert_eq!((page.status, page.body.as_str()), (StatusCode::OK, "50"));
}

#[actix_web::test]
async fn a_websocket_is_closed_when_its_users_roles_change() {
    let app = TestApp::start().await;
    let stack = stack_for(&app).await;
    let alice_id = stack.add_user("alice", &[Role::User]).await;
    stack.add_user("root", &[Role::User, Role::Admin]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;
    let root = stack.browser();
    root.sign_in_ok("root").await;

    let (_, mut socket) = alice.websocket("/app/ws").connect().await.expect("handshake");
    let made_admin = root
        .post("/api/admin_set_admin", &[("user_id", alice_id.as_str()), ("admin", "true")])
        .await;
    assert_eq!(made_admin.status, StatusCode::SEE_OTHER, "{}", made_admin.body);
    closed_for_policy_within_two_seconds(&mut socket, "the role change").await;
}

#[actix_web::test]
async fn a_session_the_auth_api_ended_before_the_feed_said_so_is_signed_out_not_looped() {
    let app = TestApp::start().await;
    let (stack, alice, _) = with_alice(&app).await;
    let sid = session_id(&stack, &alice.cookie().unwrap());
    // Ended in the database without waking the feed: the frontend still
    // takes the cookie for a live session; the exchange is refused.
    let now = stack.clock.now();
    let ended = stack
        .auth_state
        .store
        .end_session(&sid, auth_api::domain::EndReason::Admin, now, now + 600)
        .await
        .unwrap();
    assert!(ended);

    let page = alice.get("/app/inbox").await;
    assert_eq!(page.location(), Some("/login?next=%2Fapp%2Finbox"));
    assert_eq!(alice.cookie(), None, "the cookie goes, or /login would send it back");
    let login = alice.get("/login?next=%2Fapp%2Finbox").await;
    assert_eq!(login.status, StatusCode::OK, "the sign-in page, not a redirect loop");
    assert!(app.seen().iter().all(|s| s.target != "/app/inbox"), "nothing reached the app");
}
