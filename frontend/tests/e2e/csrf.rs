//! State changes must come from our own origin.

use awc::http::StatusCode;

use crate::harness::{PASSWORD, spawn};

#[actix_web::test]
async fn cross_origin_posts_are_refused_with_403_and_no_cookie() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    let form = [("username", "alice"), ("password", PASSWORD), ("next", "")];
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("referer", "https://evil.example/login")],
        vec![],
    ] {
        let page = browser.post_with("/login", &form, &headers).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(page.session_cookie().is_none());
        assert!(page.body.contains("Request refused"));
    }
    assert!(browser.cookie().is_none());
    // The same form from our own pages works, by Origin or by Fetch metadata.
    let ok = browser.post_with("/login", &form, &[("sec-fetch-site", "same-origin")]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);

    // A signed-in browser cannot be made to sign out from elsewhere either.
    let out = browser.post_with("/api/logout", &[], &[("origin", "https://evil.example")]).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.get("/profile").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    let mut pages =
        vec![browser.get("/").await, browser.get("/login").await, browser.get("/nope").await];
    pages.push(browser.get("/profile").await);
    browser.sign_in_ok("alice").await;
    pages.push(browser.get("/profile").await);
    pages.push(browser.get("/assets/cloakroom.css").await);
    for page in &pages {
        let csp = page.header("content-security-policy").expect("CSP");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert_eq!(page.header("referrer-policy"), Some("same-origin"));
    }
    assert_eq!(pages[4].header("cache-control"), Some("no-store"));
}
