//! Second factors through the frontend, as a browser without JavaScript
//! uses them: enrolling an authenticator app from `/account/security`
//! (reading the key off the page and computing codes like the user's app
//! would, with an independent RFC 6238 implementation), signing in in two
//! steps at `/login/verify`, recovery codes, the limits on wrong codes,
//! the pending sign-in bound to its browser, the policy that holds an
//! administrator until they have a second factor, and an admin's reset.

use std::time::Duration;

use auth_api::clock::Clock as _;
use awc::http::StatusCode;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use shared::Role;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::harness::{Browser, COOKIE, Options, PASSWORD, Stack, spawn, spawn_with};

const PENDING: &str = "cloakroom-mfa";

/// The user's authenticator app, holding the key read off the page.
struct App {
    totp: TOTP,
}

impl App {
    fn from_page(body: &str) -> Self {
        let text = element_text(body, "totp-secret").expect("the key is on the page");
        assert_eq!(text.len(), 32, "base32 of 160 bits, no padding: {text}");
        let secret = Secret::Encoded(text).to_bytes().expect("base32");
        Self { totp: TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret) }
    }

    /// The code the app shows now (by the stack's clock), `steps` away.
    fn code(&self, stack: &Stack, steps: i64) -> String {
        self.totp.generate((stack.clock.now() + steps * 30) as u64)
    }

    /// A code that is wrong now and in both neighbouring steps.
    fn wrong(&self, stack: &Stack) -> String {
        let right: Vec<String> = (-1..=1).map(|s| self.code(stack, s)).collect();
        (0..1_000_000).map(|n| format!("{n:06}")).find(|c| !right.contains(c)).unwrap()
    }
}

/// The text of the element with `id`, without markup inside it.
fn element_text(body: &str, id: &str) -> Option<String> {
    let start = body.find(&format!("id=\"{id}\""))?;
    let open_end = start + body[start..].find('>')? + 1;
    let close = open_end + body[open_end..].find("</")?;
    Some(strip_tags(&body[open_end..close]).trim().to_owned())
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The recovery codes of `<ul id="recovery-codes">`, one per `<li>`.
fn recovery_codes(body: &str) -> Vec<String> {
    let start = body.find("id=\"recovery-codes\"").expect("the recovery codes are on the page");
    let list = &body[start..start + body[start..].find("</ul>").unwrap()];
    list.split("<li")
        .skip(1)
        .map(|item| strip_tags(&format!("<li{item}")).trim().to_owned())
        .collect()
}

/// The access token's `amr`, from the session cookie this browser holds.
fn amr(stack: &Stack, browser: &Browser) -> Vec<String> {
    let cookie = browser.cookie().expect("a session cookie");
    let frontend::session::cookie::Opened::Valid { cookie, .. } = stack.front.codec.open(&cookie)
    else {
        panic!("the session cookie opens")
    };
    let payload = URL_SAFE_NO_PAD.decode(cookie.access_token.split('.').nth(1).unwrap()).unwrap();
    serde_json::from_slice::<shared::AccessClaims>(&payload).unwrap().amr
}

/// Signs `name` in with a password alone and switches an app on; the page
/// that answered the confirmation, and the app.
async fn enrol(stack: &Stack, name: &str) -> (Browser, App, Vec<String>) {
    let browser = stack.browser();
    browser.sign_in_ok(name).await;
    let setup = browser.post("/account/security", &[("action", "setup")]).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let app = App::from_page(&setup.body);
    let code = app.code(stack, 0);
    let done = browser.post("/account/security", &[("action", "confirm"), ("code", &code)]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let codes = recovery_codes(&done.body);
    (browser, app, codes)
}

/// A password sign-in that must continue at `/login/verify`.
async fn password_step(stack: &Stack, name: &str) -> Browser {
    let browser = stack.browser();
    let page = browser.sign_in(name, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), Some("/login/verify"));
    assert!(page.session_cookie().is_none() && browser.cookie().is_none(), "no session yet");
    let pending = page.set_cookies().into_iter().find(|c| c.name() == PENDING).expect("pending");
    assert_eq!(pending.http_only(), Some(true));
    browser
}

async fn verify(browser: &Browser, code: &str) -> crate::harness::Page {
    browser.post("/login/verify", &[("code", code)]).await
}

#[actix_web::test]
async fn enrolling_an_app_then_signing_in_takes_a_code_that_works_once() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    browser.sign_in_ok("alice").await;
    let page = browser.get("/account/security").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Set up an authenticator app"), "{}", page.body);

    let setup = browser.post("/account/security", &[("action", "setup")]).await;
    assert_eq!(setup.status, StatusCode::OK);
    assert!(setup.body.contains("<svg role=\"img\""), "an inline QR code");
    assert_eq!(setup.header("cache-control"), Some("no-store"));
    let app = App::from_page(&setup.body);
    let key = element_text(&setup.body, "totp-secret").unwrap();

    // A wrong code: the same key again, and the reason.
    let wrong = browser
        .post("/account/security", &[("action", "confirm"), ("code", &app.wrong(&stack))])
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("That code did not work"));
    assert_eq!(element_text(&wrong.body, "totp-secret"), Some(key.clone()));

    let code = app.code(&stack, 0);
    let done = browser.post("/account/security", &[("action", "confirm"), ("code", &code)]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let codes = recovery_codes(&done.body);
    assert_eq!(codes.len(), 10, "{codes:?}");
    let page = browser.get("/account/security").await;
    assert!(page.body.contains("10 of 10 recovery codes left"), "{}", page.body);
    assert!(!page.body.contains(&key), "the key is never shown again");
    assert!(!page.body.contains(&codes[0]), "nor the codes");

    // Another browser: the password is not enough any more.
    let laptop = password_step(&stack, "alice").await;
    let page = laptop.get("/login/verify").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Signing in as") && page.body.contains("alice"));
    let refused = verify(&laptop, &app.wrong(&stack)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.session_cookie().is_none() && laptop.cookie().is_none());
    assert_eq!(laptop.get("/profile").await.status, StatusCode::SEE_OTHER, "still signed out");
    // The code that switched the app on is used up; the next one works.
    assert_eq!(verify(&laptop, &code).await.status, StatusCode::BAD_REQUEST);
    stack.clock.advance(30);
    let code = app.code(&stack, 0);
    let signed_in = verify(&laptop, &code).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    assert_eq!(signed_in.location(), Some("/profile"));
    assert!(!signed_in.set_cookies().iter().all(|c| c.name() != PENDING), "pending cleared");
    assert_eq!(laptop.get("/profile").await.status, StatusCode::OK);
    assert_eq!(amr(&stack, &laptop), ["pwd", "otp"]);

    // The same code on a third browser is refused.
    let phone = password_step(&stack, "alice").await;
    assert_eq!(verify(&phone, &code).await.status, StatusCode::BAD_REQUEST);
    assert!(phone.cookie().is_none());
}

#[actix_web::test]
async fn a_recovery_code_signs_in_once_and_only_once() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let (enrolled, _app, codes) = enrol(&stack, "alice").await;
    let first = password_step(&stack, "alice").await;
    let page = first.post("/login/verify", &[("recovery_code", &codes[0])]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(first.get("/profile").await.status, StatusCode::OK);

    let second = password_step(&stack, "alice").await;
    let page = second.post("/login/verify", &[("recovery_code", &codes[0])]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(second.cookie().is_none());
    let page = enrolled.get("/account/security").await;
    assert!(page.body.contains("9 of 10 recovery codes left"), "{}", page.body);
    let account = enrolled.get("/account").await;
    assert!(account.body.contains("Recovery code used"), "{}", account.body);
}

#[actix_web::test]
async fn five_wrong_codes_send_the_browser_back_to_the_password() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let (_, app, _) = enrol(&stack, "alice").await;
    stack.clock.advance(60);
    let browser = password_step(&stack, "alice").await;
    let wrong = app.wrong(&stack);
    for _ in 0..4 {
        assert_eq!(verify(&browser, &wrong).await.status, StatusCode::BAD_REQUEST);
    }
    let fifth = verify(&browser, &wrong).await;
    assert_eq!(fifth.status, StatusCode::SEE_OTHER);
    assert_eq!(fifth.location(), Some("/login?expired=1"));
    let page = browser.get("/login?expired=1").await;
    assert!(page.body.contains("expired or had too many wrong codes"));
    // The pending sign-in is gone: even the right code is too late.
    assert_eq!(browser.get("/login/verify").await.location(), Some("/login"));
    assert_eq!(verify(&browser, &app.code(&stack, 0)).await.location(), Some("/login?expired=1"));
    assert!(browser.cookie().is_none());
}

#[actix_web::test]
async fn a_pending_sign_in_is_useless_in_another_browser() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let (_, app, _) = enrol(&stack, "alice").await;
    stack.clock.advance(30);
    let alices_browser = password_step(&stack, "alice").await;
    let other = stack.browser();
    assert_eq!(other.get("/login/verify").await.location(), Some("/login"));
    let page = verify(&other, &app.code(&stack, 0)).await;
    assert_eq!(page.location(), Some("/login?expired=1"));
    assert!(other.cookie().is_none(), "nothing to finish a sign-in with");
    // Cancelling forgets it in the browser that had it.
    let page = alices_browser.post("/login/verify", &[("cancel", "1")]).await;
    assert_eq!(page.location(), Some("/login"));
    assert_eq!(alices_browser.get("/login/verify").await.location(), Some("/login"));
    // A made-up pending cookie opens nothing either.
    let forged = other
        .post_with(
            "/login/verify",
            &[("code", "123456")],
            &[("origin", &stack.front_base), ("cookie", "cloakroom-mfa=AAAA")],
        )
        .await;
    assert_eq!(forged.location(), Some("/login?expired=1"));
}

#[actix_web::test]
async fn an_administrator_without_a_second_factor_can_only_set_one_up() {
    let stack =
        spawn_with(Options { mfa_required_roles: vec![Role::Admin], ..Options::default() }).await;
    stack.add_user("root", &[Role::Admin]).await;
    let browser = stack.browser();
    browser.sign_in_ok("root").await;
    for path in ["/profile", "/admin", "/account", "/sessions"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), Some("/account/security?required=1"), "{path}");
    }
    let api = browser.post("/api/admin_users", &[]).await;
    assert_eq!(api.status, StatusCode::FORBIDDEN, "server functions refuse too");
    let page = browser.get("/account/security?required=1").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Your role requires a second factor"));

    let setup = browser.post("/account/security", &[("action", "setup")]).await;
    let app = App::from_page(&setup.body);
    let code = app.code(&stack, 0);
    let done = browser.post("/account/security", &[("action", "confirm"), ("code", &code)]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(recovery_codes(&done.body).len(), 10);
    // Proven in this session: the hold is lifted at once.
    assert_eq!(browser.get("/admin").await.status, StatusCode::OK);
    assert_eq!(amr(&stack, &browser), ["pwd", "otp"]);
}

#[actix_web::test]
async fn an_administrator_resets_a_users_second_factors() {
    let stack = spawn().await;
    stack.add_user("root", &[Role::Admin]).await;
    let alice = stack.add_user("alice", &[]).await;
    let (alices_browser, _, _) = enrol(&stack, "alice").await;
    let admin = stack.browser();
    admin.sign_in_ok("root").await;
    let page = admin.get("/admin").await;
    assert!(page.body.contains("Two-step on") && page.body.contains("Reset two-step"));

    let reset = admin.post("/api/admin_reset_second_factors", &[("user_id", &alice)]).await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER, "{}", reset.body);
    assert_eq!(reset.location(), Some("/admin"));
    alices_browser.signed_out_within("/profile", Duration::from_secs(2)).await;
    let page = stack.browser().sign_in("alice", PASSWORD).await;
    assert_eq!(page.location(), Some("/profile"), "a password alone again");
    assert!(page.set_cookies().iter().any(|c| c.name() == COOKIE));
}
