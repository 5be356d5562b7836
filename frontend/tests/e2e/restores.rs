//! Nothing lost under faults: a database restored from a backup under
//! running frontends, and PostgreSQL restarted under load.

use std::time::{Duration, Instant};

use awc::http::StatusCode;

use crate::harness::{Browser, spawn};

/// How soon a sign-out must be refused by every frontend.
const REFUSED_WITHIN: Duration = Duration::from_secs(2);

/// A copy of `browser`'s session cookie, as a thief would keep it.
fn stolen_copy(browser: &Browser) -> Browser {
    browser.at(&browser.base)
}

#[actix_web::test]
async fn after_a_restore_a_sign_out_is_refused_within_two_seconds() {
    let mut stack = spawn().await;
    for name in ["alice", "bob", "carol"] {
        stack.add_user(name, &[]).await;
    }
    let [alice, bob, carol] = [stack.browser(), stack.browser(), stack.browser()];
    for (browser, name) in [(&alice, "alice"), (&bob, "bob"), (&carol, "carol")] {
        browser.sign_in_ok(name).await;
        assert_eq!(browser.get("/profile").await.status, StatusCode::OK);
    }
    let backup = stack.auth_db().with_extension("backup");
    stack.back_up_auth_db(&backup).await;

    // After the backup: alice signs out. The frontend's cursor moves one
    // past the backup's newest revocation.
    let alice_copy = stolen_copy(&alice);
    assert_eq!(alice.sign_out().await.location(), Some("/?signed_out=1"));
    alice_copy.signed_out_within("/profile", REFUSED_WITHIN).await;

    // The restore: the auth-api's feed starts again from the backup's ids,
    // so bob's sign-out below gets the very id alice's had, the frontend's
    // cursor. Only the new epoch tells the two histories apart.
    stack.restore_auth_api(&backup).await;
    let bob_copy = stolen_copy(&bob);
    assert_eq!(bob.sign_out().await.location(), Some("/?signed_out=1"), "the auth-api was told");
    let started = Instant::now();
    bob_copy.signed_out_within("/profile", REFUSED_WITHIN).await;
    eprintln!("bob's sign-out after the restore was refused after {:?}", started.elapsed());

    // Alice's session lives again in the restored database, but this
    // frontend saw it end: a restore does not bring it back here.
    let page = alice_copy.get("/profile").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "alice's ended session stays refused");
    // Nobody else was signed out by the reload.
    let page = carol.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("carol"));
}

/// `scripts/pg.sh`'s script restarting its server, or `None` when the
/// tests do not run under it: the test is then skipped, saying why, except
/// in CI (`CI=true`), where the PostgreSQL tests must run.
fn postgres_restart() -> Option<std::path::PathBuf> {
    const VAR: &str = "TEST_POSTGRES_RESTART";
    if let Some(script) = std::env::var_os(VAR).filter(|s| !s.is_empty()) {
        return Some(script.into());
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "{VAR} is not set but CI=true: run the tests through scripts/pg.sh"
    );
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{test}: skipped: {VAR} not set (not under scripts/pg.sh)");
    None
}

#[actix_web::test]
async fn a_postgresql_restart_under_load_loses_no_sign_out_and_signs_nobody_out() {
    use std::cell::{Cell, RefCell};

    use crate::cluster::{Cluster, Options};

    let Some(restart) = postgres_restart() else { return };
    let Some(cluster) = Cluster::start(Options::default()).await else { return };
    let names: Vec<String> = (0..8).map(|i| format!("user{i}")).collect();
    for name in names.iter().chain([&"churn".to_owned()]) {
        cluster.add_user(name).await;
    }
    // Each signs in on one frontend; a stolen copy of each cookie is kept.
    let mut browsers = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let browser = Browser::new(&cluster.front[i % 2]);
        browser.sign_in_ok(name).await;
        browsers.push(browser);
    }
    let copies: Vec<[Browser; 2]> =
        browsers.iter().map(|b| [b.at(&cluster.front[0]), b.at(&cluster.front[1])]).collect();
    // users 0–4 sign out (before, during and after the restart); 5–7 stay.
    let keepers = 5..8;

    let started = cluster.postgres_started().await;
    let epoch = cluster.feed_epoch(0).await;
    let done = Cell::new(false);
    let wrongly_out = RefCell::new(Vec::new());
    // Writes as well as reads: sign-ins, each a new session, throughout.
    let churn = async {
        let (mut ok, mut failed) = (0, 0);
        while !done.get() {
            let browser = Browser::new(&cluster.front[(ok + failed) % 2]);
            match browser.sign_in("churn", crate::harness::PASSWORD).await.status {
                StatusCode::SEE_OTHER => ok += 1,
                _ => failed += 1,
            }
        }
        (ok, failed)
    };
    let load = async {
        let (mut views, mut unavailable) = (0, 0);
        while !done.get() {
            for i in keepers.clone() {
                for copy in &copies[i] {
                    let page = copy.get("/profile").await;
                    views += 1;
                    unavailable += usize::from(page.status == StatusCode::SERVICE_UNAVAILABLE);
                    // 503 while the database is away is allowed; a sign-in
                    // page or a cleared cookie is not.
                    if page.status == StatusCode::SEE_OTHER || copy.cookie().is_none() {
                        wrongly_out.borrow_mut().push((
                            i,
                            page.status,
                            page.location().map(str::to_owned),
                        ));
                    }
                }
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        (views, unavailable)
    };
    // A sign-out, and the cookie it ended (copied before, as a thief would).
    let sign_out = |i: usize| {
        let browser = &browsers[i];
        async move {
            let cookie = browser.cookie().expect("signed in");
            let page = browser.sign_out().await;
            // `signed_out=1`: the auth-api committed the end; `local`: it
            // could not be told (the database was away), nothing committed.
            (i, page.location() == Some("/?signed_out=1"), cookie)
        }
    };
    let faults = async {
        let mut outcomes = vec![sign_out(0).await, sign_out(1).await];
        let restarting = std::thread::spawn(move || {
            std::process::Command::new(restart).output().expect("the restart script runs")
        });
        // Sign-outs while the server goes down and comes back.
        for i in [2, 3] {
            outcomes.push(sign_out(i).await);
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        while !restarting.is_finished() {
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        let out = restarting.join().expect("the restart thread");
        assert!(out.status.success(), "pg_ctl restart: {}", String::from_utf8_lossy(&out.stderr));
        // After it (the auth-apis' pools and listeners reconnect by
        // themselves): user4 signs out, signing in again until it is told.
        let after = Instant::now();
        loop {
            let outcome = sign_out(4).await;
            let told = outcome.1;
            outcomes.push(outcome);
            if told {
                break;
            }
            assert!(after.elapsed() < Duration::from_secs(15), "the auth-api never came back");
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
            while browsers[4].sign_in("user4", crate::harness::PASSWORD).await.status
                != StatusCode::SEE_OTHER
            {
                assert!(after.elapsed() < Duration::from_secs(15), "no sign-in after the restart");
                actix_web::rt::time::sleep(Duration::from_millis(200)).await;
            }
        }
        done.set(true);
        outcomes
    };
    let (outcomes, (views, unavailable), (sign_ins, refused)) = futures::join!(faults, load, churn);
    assert_ne!(cluster.postgres_started().await, started, "PostgreSQL restarted");
    // A restarted server may be a promoted standby that lost the newest
    // commits and hands their feed ids out again: readers must start over.
    let epochs = [cluster.feed_epoch(0).await, cluster.feed_epoch(1).await];
    assert_ne!(epochs[0], epoch, "the feed's epoch follows the server's restarts");
    assert_eq!(epochs[0], epochs[1], "both auth-apis tell readers the same epoch");
    let summary: Vec<(usize, bool)> = outcomes.iter().map(|(i, told, _)| (*i, *told)).collect();
    eprintln!(
        "{views} page views under load ({unavailable} answered 503), {sign_ins} sign-ins \
         ({refused} refused); sign-outs (user, committed): {summary:?}"
    );
    assert!(
        wrongly_out.borrow().is_empty(),
        "signed out by the restart: {:?}",
        wrongly_out.borrow()
    );

    // Every committed sign-out is refused by both frontends afterwards.
    for (i, committed, cookie) in &outcomes {
        if *committed {
            for front in &cluster.front {
                let copy = Browser::new(front);
                copy.set_cookie(cookie);
                copy.signed_out_within("/profile", REFUSED_WITHIN).await;
            }
        } else {
            eprintln!("user{i}'s sign-out during the restart was not committed (signed_out=local)");
        }
    }
    for i in keepers {
        for copy in &copies[i] {
            let page = copy.get("/profile").await;
            assert_eq!(page.status, StatusCode::OK, "user{i} is still signed in: {}", page.body);
        }
    }
}
