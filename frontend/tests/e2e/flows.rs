//! Signing in and out, as a browser without JavaScript does it.

use awc::http::StatusCode;

use crate::harness::{PASSWORD, spawn};

#[actix_web::test]
async fn sign_in_then_profile_then_sign_out() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();

    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Sign in"));

    let login = browser.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    for field in
        [r#"name="username""#, r#"name="password""#, r#"name="remember""#, r#"name="next""#]
    {
        assert!(login.body.contains(field), "login form lacks {field}");
    }
    assert!(login.body.contains(r#"method="post""#));

    let signed_in = browser.sign_in("alice", PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.location(), Some("/profile"));
    assert!(signed_in.session_cookie().is_some());

    let profile = browser.get("/profile").await;
    assert_eq!(profile.status, StatusCode::OK);
    assert!(profile.body.contains("alice"));
    assert!(profile.body.contains(">user<"), "roles are shown");
    assert_eq!(profile.header("cache-control"), Some("no-store"));

    let home = browser.get("/").await;
    assert!(home.body.contains("Welcome back, "));
    assert!(home.body.contains("Sign out"));

    let out = browser.sign_out().await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), Some("/?signed_out=1"));
    let cleared = out.session_cookie().expect("sign-out clears the cookie");
    assert_eq!(cleared.max_age(), Some(cookie::time::Duration::ZERO));
    assert!(browser.cookie().is_none());
    assert!(browser.get("/?signed_out=1").await.body.contains("You have signed out."));
    let after = browser.get("/profile").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn wrong_password_and_unknown_user_get_the_same_page_and_no_cookie() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    let wrong = browser.sign_in("alice", "not the password").await;
    let unknown = browser.sign_in("mallory", "not the password").await;
    for (page, name) in [(&wrong, "alice"), (&unknown, "mallory")] {
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        assert!(page.body.contains("Invalid username or password."));
        assert!(
            page.body.contains(&format!(r#"value="{name}""#)),
            "the username is kept in the field"
        );
        assert!(page.session_cookie().is_none());
    }
    assert!(browser.cookie().is_none());
    // The two pages differ only by the username echoed back (and the
    // per-response script nonce, wherever it appears: with the hydration
    // bundle built, Leptos also writes it into `crossorigin` attributes).
    let normalise = |body: &str, name: &str| {
        let nonce = body.split("nonce=\"").nth(1).and_then(|rest| rest.split('"').next());
        let body = match nonce {
            Some(nonce) if !nonce.is_empty() => body.replace(nonce, "NONCE"),
            _ => body.to_owned(),
        };
        body.replace(name, "X")
    };
    assert_eq!(normalise(&wrong.body, "alice"), normalise(&unknown.body, "mallory"));
}

#[actix_web::test]
async fn too_many_attempts_say_how_long_to_wait() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    for _ in 0..5 {
        browser.sign_in("alice", "wrong").await;
    }
    let page = browser.sign_in("alice", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.body.contains("Too many attempts — try again in "), "{}", page.body);
    assert!(page.header("retry-after").is_some());
    assert!(browser.cookie().is_none());
}

#[actix_web::test]
async fn protected_pages_send_the_signed_out_to_login_and_back() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    for path in ["/profile", "/sessions", "/admin"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), Some(format!("/login?next=%2F{}", &path[1..]).as_str()));
        assert!(!page.body.contains("Sessions</h1>"));
    }
    let page = browser
        .post("/login", &[("username", "alice"), ("password", PASSWORD), ("next", "/sessions")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), Some("/sessions"));
    assert_eq!(browser.get("/sessions").await.status, StatusCode::OK);
    // Already signed in, the login page sends you on.
    let login = browser.get("/login?next=/sessions").await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert_eq!(login.location(), Some("/sessions"));
}

#[actix_web::test]
async fn next_is_only_followed_to_local_paths() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    for evil in [
        "//evil.example/x",
        "/\\evil.example",
        "https://evil.example/",
        "http:evil.example",
        "evil.example",
    ] {
        let browser = stack.browser();
        let page = browser
            .post("/login", &[("username", "alice"), ("password", PASSWORD), ("next", evil)])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{evil}");
        assert_eq!(page.location(), Some("/profile"), "next={evil:?} must not be followed");
    }
}

#[actix_web::test]
async fn signing_in_twice_gives_a_new_session_each_time() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    browser.sign_in_ok("alice").await;
    let first = stack.front.codec.open(&browser.cookie().unwrap());
    browser.sign_in_ok("alice").await;
    let second = stack.front.codec.open(&browser.cookie().unwrap());
    let sid = |o| match o {
        frontend::session::cookie::Opened::Valid { cookie, .. } => cookie.session_id,
        other => panic!("cookie does not open: {other:?}"),
    };
    assert_ne!(sid(first), sid(second));
}

#[actix_web::test]
async fn unknown_pages_get_a_404_page() {
    let stack = spawn().await;
    let page = stack.browser().get("/no/such/page").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    assert!(page.body.contains("Page not found"), "{}", page.body);
}

#[actix_web::test]
async fn malformed_and_oversized_posts_get_a_4xx_page() {
    let stack = spawn().await;
    let browser = stack.browser();
    let origin = browser.base.clone();
    let missing = browser.post("/login", &[("username", "alice")]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.body.contains("incomplete"));
    let garbage = browser
        .post_raw(
            "/login",
            "application/x-www-form-urlencoded",
            "%%%&&&=".into(),
            &[("origin", &origin)],
        )
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    let json =
        browser.post_raw("/login", "application/json", "{}".into(), &[("origin", &origin)]).await;
    assert!(json.status.is_client_error(), "{}", json.status);
    let huge = "x".repeat(20 * 1024);
    let big = browser.post("/login", &[("username", "alice"), ("password", &huge)]).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(big.body.contains("too large"));
    // Within the form's limit but longer than any password may be: the
    // answer to a wrong password, not "unavailable".
    let long = "x".repeat(1025);
    let refused = browser.post("/login", &[("username", "alice"), ("password", &long)]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("Invalid username or password."), "{}", refused.body);
}

#[actix_web::test]
async fn posts_of_undeclared_length_are_refused_before_they_are_read() {
    let stack = spawn().await;
    let browser = stack.browser();
    // A chunked body: its size is known only once read, so it is refused
    // (411) for the sign-in form and a server function alike.
    for path in ["/login", "/api/logout"] {
        let body = futures::stream::once(async {
            Ok::<_, std::io::Error>(actix_web::web::Bytes::from_static(b"username=a&password=b"))
        });
        let res = awc::Client::default()
            .post(format!("{}{path}", browser.base))
            .insert_header(("origin", browser.base.as_str()))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .send_stream(body)
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::LENGTH_REQUIRED, "{path}");
    }
}
