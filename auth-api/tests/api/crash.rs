//! Crash safety of the real binary on SQLite: `SIGKILL` in the middle of
//! concurrent refreshes, then a restart, loses no session and accepts no
//! refresh token twice; a full disk answers `503` and heals by itself.
//!
//! The rotation rule these tests hold the binary to: a rotated-out token
//! whose successor was never presented is a retry (the same successor, at
//! any time); one whose successor *was* used is reuse (refused, session
//! ended). A client killed mid-answer holds the older token, never a token
//! the server thinks it has.

use std::{cell::RefCell, rc::Rc};

use awc::http::StatusCode;
use serde_json::json;

#[path = "../support/tmpfs.rs"]
mod tmpfs;
use tmpfs::Tmpfs;

use crate::{
    cli::auth_api,
    helpers::{CLIENT_ID, CLIENT_SECRET, PASSWORD, Reply, Served, client, read},
};

/// Sessions refreshed at once.
const CLIENTS: usize = 32;
/// Successful refreshes (over all clients) before the `SIGKILL`.
const KILL_AFTER: usize = 3 * CLIENTS;

async fn post(base: &str, path: &str, body: serde_json::Value) -> Result<Reply, String> {
    let res = client()
        .post(format!("{base}{path}"))
        .basic_auth(CLIENT_ID, CLIENT_SECRET)
        .send_json(&body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(read(res).await)
}

async fn sign_in(base: &str, user: &str) -> Reply {
    let body = json!({"grant_type": "password", "username": user, "password": PASSWORD,
                      "remember": true, "ip": "203.0.113.7"});
    post(base, "/auth/token", body).await.expect("the sign-in is answered")
}

async fn refresh(base: &str, token: &str) -> Result<Reply, String> {
    post(base, "/auth/token", json!({"grant_type": "refresh_token", "refresh_token": token})).await
}

fn refresh_token(reply: &Reply) -> String {
    reply.body["refresh_token"].as_str().expect("a refresh token").to_owned()
}

/// The sessions the revocation feed lists as ended.
async fn ended_sessions(base: &str) -> Vec<String> {
    let res = client()
        .get(format!("{base}/auth/revocations"))
        .basic_auth(CLIENT_ID, CLIENT_SECRET)
        .send()
        .await
        .expect("the feed answers");
    let feed = read(res).await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.body);
    feed.body["revoked"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["sid"].as_str().expect("a session id").to_owned())
        .collect()
}

fn add_user(db: &str, name: &str) {
    let (ok, _, err) = auth_api(
        &["user", "add", name, "--password-stdin", "--database-url", db],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "{err}");
}

#[actix_web::test]
async fn sigkill_mid_refreshes_then_restart_loses_no_session_and_accepts_no_token_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/auth.db", dir.path().display());
    add_user(&db, "erin");
    let served = Rc::new(RefCell::new(Served::start(&db, &[])));
    let base = served.borrow().base.clone();

    let mut sessions = Vec::new();
    for _ in 0..CLIENTS {
        let reply = sign_in(&base, "erin").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let sid = reply.body["session_id"].as_str().unwrap().to_owned();
        sessions.push((sid, refresh_token(&reply)));
    }

    // Every client refreshes its session in a loop, keeping the token of the
    // last answer it got; the one whose answer makes KILL_AFTER kills the
    // server at once, with the others' requests in flight.
    let answered = Rc::new(RefCell::new(0usize));
    let clients = sessions.iter().map(|(_, first)| {
        let (served, answered, base) = (served.clone(), answered.clone(), base.clone());
        let mut held = first.clone();
        async move {
            loop {
                match refresh(&base, &held).await {
                    Ok(reply) if reply.status == StatusCode::OK => {
                        held = refresh_token(&reply);
                        *answered.borrow_mut() += 1;
                        if *answered.borrow() == KILL_AFTER {
                            served.borrow_mut().kill();
                        }
                    }
                    Ok(reply) => {
                        panic!("a refresh before the kill: {} {}", reply.status, reply.body)
                    }
                    // The server died: the request may or may not have been applied.
                    Err(_) => return held,
                }
            }
        }
    });
    let held: Vec<String> = futures::future::join_all(clients).await;
    assert!(*answered.borrow() >= KILL_AFTER);
    let log = served.borrow().log();
    drop(served);

    let served = Served::start(&db, &[]);
    let base = served.base.clone();
    assert!(ended_sessions(&base).await.is_empty(), "before the restart:\n{log}");
    let mut current = Vec::new();
    for (i, token) in held.iter().enumerate() {
        // Whatever the client holds works: the current token, or one whose
        // successor it never received (a retry, answered with that successor).
        let first = refresh(&base, token).await.unwrap();
        assert_eq!(first.status, StatusCode::OK, "session {i}: {}", first.body);
        assert_eq!(first.body["session_id"].as_str(), Some(sessions[i].0.as_str()));
        let again = refresh(&base, token).await.unwrap();
        assert_eq!(again.status, StatusCode::OK, "a retry, session {i}: {}", again.body);
        assert_eq!(refresh_token(&again), refresh_token(&first), "the same successor");
        current.push(refresh_token(&first));
    }
    assert!(ended_sessions(&base).await.is_empty(), "no session ended");

    // Two more generations: the first successor is now two behind, and its
    // own successor has been used: presenting it is reuse, never a grant.
    for (i, one_behind) in current.iter().enumerate() {
        let two = refresh(&base, one_behind).await.unwrap();
        assert_eq!(two.status, StatusCode::OK, "session {i}: {}", two.body);
        let three = refresh(&base, &refresh_token(&two)).await.unwrap();
        assert_eq!(three.status, StatusCode::OK, "session {i}: {}", three.body);
        let stale = refresh(&base, one_behind).await.unwrap();
        assert!(!stale.status.is_success(), "session {i}: a token two generations old");
        assert_eq!(stale.error(), "invalid_grant", "session {i}: {}", stale.body);
    }
    // Reuse ends exactly the sessions it was tried on.
    let mut ended = ended_sessions(&base).await;
    ended.sort();
    let mut all: Vec<String> = sessions.into_iter().map(|(sid, _)| sid).collect();
    all.sort();
    assert_eq!(ended, all);
}

#[actix_web::test]
async fn a_full_disk_answers_503_keeps_what_was_committed_and_heals_without_a_restart() {
    // Room for the database, its WAL and a few sign-ins; then filled.
    let fs = match Tmpfs::mount("8m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("skipped: no tmpfs to fill ({why}); needs root");
            return;
        }
    };
    let db = format!("sqlite://{}/auth.db", fs.path().display());
    add_user(&db, "erin");
    let served = Served::start(&db, &[]);
    let base = served.base.clone();
    let mut before = Vec::new();
    for _ in 0..4 {
        let reply = sign_in(&base, "erin").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let rotated = refresh(&base, &refresh_token(&reply)).await.unwrap();
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
        before.push(rotated);
    }

    let filler = fs.path().join("filler");
    tmpfs::truncate_wal(&db).await;
    fs.fill(&filler);
    // Should a write still find room (the checkpointer may free some), a
    // sign-in that got through was committed and must survive like the rest.
    let mut refused = None;
    for _ in 0..5 {
        let reply = sign_in(&base, "erin").await;
        match reply.status {
            StatusCode::OK => before.push(reply),
            _ => {
                refused = Some(reply);
                break;
            }
        }
    }
    let refused = refused.unwrap_or_else(|| panic!("sign-ins on a full disk:\n{}", served.log()));
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "{}", refused.body);
    assert_eq!(refused.error(), "temporarily_unavailable", "{}", refused.body);
    assert!(refused.body["error_description"].is_string(), "{}", refused.body);
    assert!(refused.headers.contains_key("retry-after"));
    // Reads still work: the bearer endpoints check the session in the database.
    let access = before[0].body["access_token"].as_str().unwrap();
    let res = client().get(format!("{base}/auth/sessions")).bearer_auth(access).send().await;
    let sessions = read(res.unwrap()).await;
    assert_eq!(sessions.status, StatusCode::OK, "{}", sessions.body);
    // A refresh writes: refused for now, never taken for an ended session.
    let token = refresh_token(&before[0]);
    let on_full = refresh(&base, &token).await.unwrap();
    assert!(
        matches!(on_full.status, StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE),
        "{} {}",
        on_full.status,
        on_full.body
    );

    std::fs::remove_file(&filler).unwrap();
    // Space is back: no restart, the next sign-in goes through.
    let reply = sign_in(&base, "erin").await;
    assert_eq!(reply.status, StatusCode::OK, "after the space returned: {}", reply.body);
    for (i, session) in before.iter().enumerate() {
        let token = match (i, on_full.status) {
            (0, StatusCode::OK) => refresh_token(&on_full),
            _ => refresh_token(session),
        };
        let again = refresh(&base, &token).await.unwrap();
        assert_eq!(again.status, StatusCode::OK, "session {i}: {}", again.body);
    }
    assert!(ended_sessions(&base).await.is_empty());
    drop(served);
}
