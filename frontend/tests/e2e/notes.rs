//! The `/notes` page: the example app (`examples/notes`) behind the proxy,
//! read during rendering as the user, written with or without JavaScript.

use awc::http::{Method, StatusCode};
use frontend::routes::{Access, Kind};
use shared::Role;

use crate::{
    harness::{Options, spawn_with, spawn_with_notes},
    upstream::{dead_url, route_to},
};

#[actix_web::test]
async fn notes_are_read_while_rendering_and_added_with_or_without_javascript() {
    let (stack, _dir) = spawn_with_notes(Options::default()).await;
    stack.add_user("alice", &[Role::User]).await;
    stack.add_user("bob", &[Role::User]).await;
    let alice = stack.browser();
    assert_eq!(alice.get("/notes").await.location(), Some("/login?next=%2Fnotes"));
    alice.sign_in_ok("alice").await;

    let page = alice.get("/notes").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No notes yet."), "{}", page.body);

    // Without JavaScript: the form posts to the server function, which
    // calls the notes API as alice, and the browser is sent back.
    let added = alice.post("/api/add_note", &[("text", "Buy oat milk")]).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    assert_eq!(added.location(), Some("/notes"));
    let page = alice.get("/notes").await;
    assert!(page.body.contains("<ul id=\"notes\""), "{}", page.body);
    assert!(page.body.contains("Buy oat milk"));

    // With JavaScript: straight to the API through the proxy.
    let json = alice
        .request(Method::POST, "/notes-api/notes")
        .insert_header(("origin", alice.origin.as_str()))
        .insert_header(("x-csrf", "1"))
        .insert_header(("content-type", "application/json"))
        .send_body(r#"{"text":"Call the plumber"}"#);
    let created = alice.finish(json.await).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let page = alice.get("/notes").await;
    let (newer, older) = (page.body.find("Call the plumber"), page.body.find("Buy oat milk"));
    assert!(newer.is_some() && newer < older, "newest first: {}", page.body);

    // Another user sees only their own.
    let bob = stack.browser();
    bob.sign_in_ok("bob").await;
    let page = bob.get("/notes").await;
    assert!(page.body.contains("No notes yet.") && !page.body.contains("plumber"));
}

#[actix_web::test]
async fn the_notes_page_says_so_when_the_app_is_not_set_up_or_down() {
    let stack = crate::harness::spawn().await;
    stack.add_user("alice", &[Role::User]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;
    let page = alice.get("/notes").await;
    assert!(page.body.contains("That app is not set up on this site."), "{}", page.body);

    let dead = dead_url();
    let upstreams = vec![route_to(&dead, "/notes-api", Access::SignedIn, Kind::Api)];
    let stack = spawn_with(Options { upstreams, ..Options::default() }).await;
    stack.add_user("alice", &[Role::User]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;
    let page = alice.get("/notes").await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert!(page.body.contains("The app is unavailable right now."), "{}", page.body);
    assert_eq!(alice.get("/profile").await.status, StatusCode::OK, "still signed in");
}
