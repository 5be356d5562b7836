//! A frontend `SIGKILL`ed in the middle of 32 sign-ins, or of 32 refreshes,
//! then started again (the auth-api on SQLite, each in its own process):
//! every browser that got its cookie is still signed in, a browser that never
//! got the answer keeps its old cookie and that still works, and no session
//! was ended. The frontend keeps no state of its own (the session is the
//! sealed cookie), so a crash can only cost an answer that never arrived.
//! And the auth-api's disk full: sign-ins get the frontend's "unavailable"
//! answer, never a 500, the signed-in stay so, and it heals by itself.

use std::{cell::RefCell, future::Future, path::Path, rc::Rc, time::SystemTime};

use auth_api::{
    audit::Actor,
    domain::{Password, Username},
    passwords::policy::PasswordPolicy,
    store::Store,
};
use awc::http::{Method, StatusCode, header};
use frontend::session::guard::REFRESH_MARGIN;

use crate::{
    cluster::{Options, Process, start_auth_api, start_frontend_with},
    harness::{Browser, CLIENT_ID, CLIENT_SECRET, PASSWORD},
    instances::until_refresh_due,
};

#[path = "../../../auth-api/tests/support/tmpfs.rs"]
mod tmpfs;

const BROWSERS: usize = 32;
/// Answers received before the `SIGKILL`. Few: answers already in the
/// sockets are read in the same turn as the one that triggers the kill, and
/// on a loaded machine 8 once let all 32 arrive first.
const KILL_AFTER: usize = 3;

/// A page view that may meet a dead server: `None` when no answer came.
async fn try_view(browser: &Browser) -> Option<StatusCode> {
    let res = browser
        .request(Method::GET, "/profile")
        .insert_header((header::ACCEPT, "text/html"))
        .send()
        .await
        .ok()?;
    Some(browser.finish(Ok(res)).await.status)
}

/// A sign-in that may meet a dead server: `None` when no answer came.
async fn try_sign_in(browser: &Browser) -> Option<StatusCode> {
    let form = serde_urlencoded::to_string([
        ("username", "erin"),
        ("password", PASSWORD),
        ("remember", "true"),
        ("next", ""),
    ])
    .unwrap();
    let res = browser
        .request(Method::POST, "/login")
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .insert_header((header::ORIGIN, browser.origin.as_str()))
        .insert_header((header::ACCEPT, "text/html"))
        .send_body(form)
        .await
        .ok()?;
    Some(browser.finish(Ok(res)).await.status)
}

/// An auth-api on a fresh SQLite file with the user `erin`, and a frontend.
struct Deployment {
    _auth: Process,
    auth_base: String,
    auth_metrics: String,
    db_url: String,
    keys: String,
    dir: tempfile::TempDir,
}

impl Deployment {
    /// The database in `db_dir`, or in a folder of its own.
    async fn start(access_ttl: u32, db_dir: Option<&Path>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite://{}/auth.db", db_dir.unwrap_or(dir.path()).display());
        let store = Store::connect(&db_url).await.unwrap();
        store.migrate().await.unwrap();
        let password = Password::parse(PASSWORD.into()).unwrap();
        let password = PasswordPolicy::default().accept(password, "erin").await.unwrap();
        let username = Username::parse("erin").unwrap();
        auth_api::users::add(&store, username, password, &[], Actor::Cli, 0)
            .await
            .unwrap()
            .expect("a new user");
        store.close().await;
        let options = Options { access_ttl, ..Options::default() };
        let (auth, auth_base, _, auth_metrics) =
            start_auth_api("auth-api", &db_url, &options).await;
        let keys = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [5u8; 64]);
        Self { _auth: auth, auth_base, auth_metrics, db_url, keys, dir }
    }

    async fn frontend(&self) -> (Process, String) {
        start_frontend_with("frontend", &self.auth_base, &self.keys, self.dir.path(), &[]).await
    }

    /// How many sessions the auth-api's revocation feed lists as ended.
    async fn ended_sessions(&self) -> usize {
        let mut res = awc::Client::default()
            .get(format!("{}/auth/revocations", self.auth_base))
            .basic_auth(CLIENT_ID, CLIENT_SECRET)
            .send()
            .await
            .expect("the feed answers");
        let feed: shared::RevocationFeed = res.json().await.expect("a feed");
        feed.revoked.len()
    }

    /// One sample of the auth-api's metrics; 0 when absent.
    async fn metric(&self, sample: &str) -> f64 {
        let mut res = awc::Client::default()
            .get(format!("{}/metrics", self.auth_metrics))
            .send()
            .await
            .expect("/metrics answers");
        let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')))
            .map_or(0.0, |v| v.trim().parse().expect("a number"))
    }
}

/// Runs `act` for every browser at once and `SIGKILL`s the frontend as the
/// `KILL_AFTER`th answer arrives, the others' requests in flight. Each
/// browser's answer, `None` where the server died first.
async fn kill_midway<'a, F, Fut>(
    frontend: Process,
    browsers: &'a [Browser],
    act: F,
) -> Vec<Option<StatusCode>>
where
    F: Fn(&'a Browser) -> Fut,
    Fut: Future<Output = Option<StatusCode>> + 'a,
{
    let frontend = Rc::new(RefCell::new(frontend));
    let answered = Rc::new(RefCell::new(0usize));
    let outcomes = futures::future::join_all(browsers.iter().map(|browser| {
        let (frontend, answered) = (frontend.clone(), answered.clone());
        let pending = act(browser);
        async move {
            let status = pending.await;
            if status.is_some() {
                *answered.borrow_mut() += 1;
                if *answered.borrow() == KILL_AFTER {
                    frontend.borrow_mut().kill();
                }
            }
            status
        }
    }))
    .await;
    assert!(outcomes.iter().flatten().count() >= KILL_AFTER, "{outcomes:?}");
    outcomes
}

#[actix_web::test]
async fn sigkill_mid_sign_in_loses_no_session() {
    let deployment = Deployment::start(300, None).await;
    let (frontend, base) = deployment.frontend().await;
    let browsers: Vec<Browser> = (0..BROWSERS).map(|_| Browser::new(&base)).collect();
    let outcomes = kill_midway(frontend, &browsers, try_sign_in).await;
    assert!(outcomes.iter().any(Option::is_none), "the kill came after every answer");
    for (browser, outcome) in browsers.iter().zip(&outcomes) {
        assert!(
            matches!(outcome, None | Some(StatusCode::SEE_OTHER)),
            "a sign-in before the kill: {outcome:?}"
        );
        assert_eq!(browser.cookie().is_some(), outcome.is_some(), "a cookie only with an answer");
    }

    let (_frontend, base) = deployment.frontend().await;
    for (i, browser) in browsers.iter().enumerate() {
        let browser = browser.at(&base);
        if browser.cookie().is_none() {
            assert_eq!(try_sign_in(&browser).await, Some(StatusCode::SEE_OTHER), "browser {i}");
        }
        assert_eq!(browser.get("/profile").await.status, StatusCode::OK, "browser {i}");
    }
    assert_eq!(deployment.ended_sessions().await, 0, "no session ended");
}

#[actix_web::test]
async fn sigkill_mid_refresh_signs_nobody_out() {
    // Access tokens due for a swap two seconds after the sign-ins.
    const TTL: u32 = REFRESH_MARGIN as u32 + 2;
    let deployment = Deployment::start(TTL, None).await;
    // Every view swaps its session's tokens at the auth-api first; the kill
    // lands between swaps made and cookies delivered. Unless the frontend
    // wrote every answer before it (the kernel delivers them after the
    // process is gone): such a round proves nothing, so again, with a new
    // frontend and new sessions, up to three times.
    let mut rounds = 0;
    let (browsers, cookies, outcomes) = loop {
        rounds += 1;
        let (frontend, base) = deployment.frontend().await;
        let browsers: Vec<Browser> = (0..BROWSERS).map(|_| Browser::new(&base)).collect();
        for browser in &browsers {
            assert_eq!(try_sign_in(browser).await, Some(StatusCode::SEE_OTHER));
        }
        let cookies: Vec<String> = browsers.iter().map(|b| b.cookie().unwrap()).collect();
        until_refresh_due(SystemTime::now(), TTL).await;
        let outcomes = kill_midway(frontend, &browsers, try_view).await;
        if outcomes.iter().any(Option::is_none) || rounds == 3 {
            break (browsers, cookies, outcomes);
        }
    };
    let mut kept_old = 0;
    for (i, (browser, outcome)) in browsers.iter().zip(&outcomes).enumerate() {
        match outcome {
            Some(status) => {
                assert_eq!(*status, StatusCode::OK, "browser {i} before the kill");
                assert_ne!(browser.cookie().as_ref(), Some(&cookies[i]), "browser {i}: swapped");
            }
            None => {
                assert_eq!(browser.cookie().as_ref(), Some(&cookies[i]), "browser {i}");
                kept_old += 1;
            }
        }
    }
    assert!(kept_old > 0, "in {rounds} rounds the kill came after every answer");

    let (_frontend, base) = deployment.frontend().await;
    for (i, browser) in browsers.iter().enumerate() {
        // The old cookie's refresh token may have a successor the browser
        // never got: presenting it is a retry, not a theft.
        let page = browser.at(&base).get("/profile").await;
        assert_eq!(page.status, StatusCode::OK, "browser {i} is still signed in");
    }
    assert_eq!(deployment.ended_sessions().await, 0, "no session ended");
    assert_eq!(deployment.metric("refresh_reuse_detections_total").await, 0.0);
}

#[actix_web::test]
async fn a_full_disk_at_the_auth_api_is_unavailable_not_an_error_and_heals() {
    let fs = match tmpfs::Tmpfs::mount("8m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("skipped: no tmpfs to fill ({why}); needs root");
            return;
        }
    };
    let deployment = Deployment::start(300, Some(fs.path())).await;
    let (_frontend, base) = deployment.frontend().await;
    let signed_in = Browser::new(&base);
    assert_eq!(try_sign_in(&signed_in).await, Some(StatusCode::SEE_OTHER));

    let filler = fs.path().join("filler");
    tmpfs::truncate_wal(&deployment.db_url).await;
    fs.fill(&filler);
    // Should a write still find room, a sign-in may pass; then they are refused.
    let mut refused = None;
    for _ in 0..5 {
        let browser = Browser::new(&base);
        let page = browser.sign_in("erin", PASSWORD).await;
        if page.status != StatusCode::SEE_OTHER {
            refused = Some(page);
            break;
        }
    }
    let page = refused.expect("sign-ins on a full disk are refused");
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "{}", page.body);
    assert!(page.body.contains("Sign-in is temporarily unavailable"), "{}", page.body);
    assert_eq!(signed_in.get("/profile").await.status, StatusCode::OK, "still signed in");

    std::fs::remove_file(&filler).unwrap();
    let browser = Browser::new(&base);
    assert_eq!(try_sign_in(&browser).await, Some(StatusCode::SEE_OTHER), "healed, no restart");
    assert_eq!(browser.get("/profile").await.status, StatusCode::OK);
    assert_eq!(signed_in.get("/profile").await.status, StatusCode::OK);
    assert_eq!(deployment.ended_sessions().await, 0);
}
