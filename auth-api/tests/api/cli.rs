//! The `auth-api` binary itself: its CLI, and what it logs while serving.

use std::{
    io::{BufRead, BufReader, Write},
    process::Stdio,
    sync::mpsc,
    time::Duration,
};

use awc::http::StatusCode;

use crate::helpers::{CLIENT_ID, CLIENT_SECRET, PASSWORD, binary, client, read, spawn_app};

pub(crate) fn auth_api(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = binary()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[actix_web::test]
async fn user_add_refuses_passwords_the_policy_refuses() {
    let app = spawn_app().await;
    let db = app.db_url.as_str();
    let (ok, _, err) =
        auth_api(&["user", "add", "carol", "--password-stdin", "--database-url", db], "short\n");
    assert!(!ok);
    assert!(err.contains("at least 12"), "{err}");
    let (ok, _, err) = auth_api(
        &["user", "add", "carol", "--password-stdin", "--database-url", db],
        "carol12345678\n",
    );
    assert!(!ok);
    assert!(err.contains("username"), "{err}");
    let long = format!("{}\n", "x".repeat(1025));
    let (ok, _, err) =
        auth_api(&["user", "add", "carol", "--password-stdin", "--database-url", db], &long);
    assert!(!ok);
    assert!(err.contains("at most 1024"), "{err}");
    let (ok, _, err) = auth_api(&["user", "add", "carol", "--database-url", db], "longenough\n");
    assert!(!ok, "a password must come from stdin");
    assert!(err.contains("--password-stdin"), "{err}");
    assert_eq!(app.login("carol", "longenough").await.status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn users_added_by_the_cli_can_sign_in_and_set_password_ends_their_sessions() {
    let app = spawn_app().await;
    let db = app.db_url.as_str();
    // The trailing newline is not part of the password.
    let (ok, out, err) = auth_api(
        &["user", "add", "Dana", "--role", "admin", "--password-stdin", "--database-url", db],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "{err}");
    assert!(out.contains("dana"), "{out}");
    let (ok, _, err) = auth_api(
        &["user", "add", "dana", "--password-stdin", "--database-url", db],
        &format!("{PASSWORD}\n"),
    );
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let tokens = app.login_ok("dana").await;
    assert!(tokens.user.is_admin());

    let (ok, out, _) = auth_api(&["user", "list", "--database-url", db], "");
    assert!(ok && out.contains("dana\tadmin,user") || out.contains("dana\tuser,admin"), "{out}");

    let (ok, out, err) = auth_api(
        &["user", "set-password", "dana", "--password-stdin", "--database-url", db],
        "vellum tortoise quarry gazebo\n",
    );
    assert!(ok, "{err}");
    assert!(out.contains("1 session(s) ended"), "{out}");
    assert_eq!(app.refresh(&tokens.refresh_token).await.error(), "invalid_grant");
    assert_eq!(app.login("dana", PASSWORD).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.login("dana", "vellum tortoise quarry gazebo").await.status, StatusCode::OK);

    let (ok, out, _) = auth_api(&["sessions", "revoke-user", "dana", "--database-url", db], "");
    assert!(ok);
    assert!(out.contains("1 session(s) of dana ended"), "{out}");

    // Each of those changes is in the audit log, newest first, by `cli`.
    let (ok, out, err) = auth_api(&["audit", "--user", "dana", "--database-url", db], "");
    assert!(ok, "{err}");
    let kinds: Vec<(&str, &str)> = out
        .lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            (cells[2], cells[4])
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("session_ended", "cli"),
            ("sign_in", "dana"),
            ("sign_in_failed", ""),
            ("password_changed", "cli"),
            ("sign_in", "dana"),
            ("user_created", "cli"),
        ],
        "{out}"
    );
    let (ok, out, _) = auth_api(&["audit", "--limit", "1", "--database-url", db], "");
    assert!(ok && out.lines().count() == 2, "a header and one event: {out}");
}

#[test]
fn help_documents_every_variable() {
    let (ok, out, _) = auth_api(&["--help"], "");
    assert!(ok);
    for var in crate::helpers::VARIABLES {
        assert!(out.contains(var), "--help does not mention {var}:\n{out}");
    }
    for sub in ["serve", "migrate", "user", "sessions", "keys", "mfa"] {
        assert!(out.contains(sub), "--help does not list {sub}");
    }
}

#[test]
fn serve_refuses_to_start_without_client_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/auth.db", dir.path().display());
    let (ok, _, err) = auth_api(&["serve", "--addr", "127.0.0.1:0", "--database-url", &db], "");
    assert!(!ok);
    assert!(err.contains("AUTH_CLIENT_ID"), "{err}");
}

/// `AUTH_CLIENT_SECRETS` and the deprecated `AUTH_CLIENT_SECRET`: one or the
/// other, every entry long enough, distinct and present; the refusal names
/// the variable and never echoes a secret. The old variable still works,
/// with a warning (seen here because `MFA_ENCRYPTION_KEY`, checked after it,
/// is missing, so the server stops right after).
#[test]
fn client_secrets_are_checked_and_the_old_variable_is_deprecated() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/auth.db", dir.path().display());
    let serve = |vars: &[(&str, &str)], mfa_key: bool| {
        let mut cmd = binary();
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--database-url", &db])
            .env("AUTH_CLIENT_ID", CLIENT_ID)
            .envs(vars.iter().copied());
        if mfa_key {
            cmd.env("MFA_ENCRYPTION_KEY", "B3R8oBlS0cL0Y0Ut2m1Tq8Cq6pT3K5wJtGq8a0bWcVI=");
        }
        let out = cmd.output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, _, err) = serve(
        &[("AUTH_CLIENT_SECRETS", CLIENT_SECRET), ("AUTH_CLIENT_SECRET", "old-secret-0123456789")],
        true,
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("AUTH_CLIENT_SECRETS or the deprecated AUTH_CLIENT_SECRET, not both"));
    assert!(!err.contains(CLIENT_SECRET) && !err.contains("old-secret"), "{err}");
    let refused = [
        (format!("{CLIENT_SECRET},too-short"), "entry 2 must be at least 16 characters"),
        (format!("{CLIENT_SECRET},,x"), "entry 2 is empty"),
        (format!("{CLIENT_SECRET},{CLIENT_SECRET}"), "entry 2 repeats entry 1"),
    ];
    for (list, why) in refused {
        let (code, _, err) = serve(&[("AUTH_CLIENT_SECRETS", &list)], true);
        assert_eq!(code, Some(2), "{list}");
        assert!(err.contains(why), "{why}: {err}");
        assert!(!err.contains(CLIENT_SECRET), "{err}");
    }
    let (code, out, err) = serve(&[("AUTH_CLIENT_SECRET", CLIENT_SECRET)], false);
    assert_eq!(code, Some(2));
    assert!(err.contains("MFA_ENCRYPTION_KEY is required"), "{err}");
    assert!(out.contains("AUTH_CLIENT_SECRET is deprecated"), "{out}");
    assert!(!out.contains(CLIENT_SECRET), "{out}");
}

/// Runs the real binary at debug log level through a sign-in, a refresh and a
/// sign-out, then searches everything it printed for the secrets involved.
#[actix_web::test]
async fn the_served_binary_logs_request_ids_but_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/auth.db", dir.path().display());
    let (ok, _, err) = auth_api(
        &["user", "add", "erin", "--password-stdin", "--database-url", &db],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "{err}");
    let mut child = binary()
        .args(["serve", "--addr", "127.0.0.1:0", "--database-url", &db])
        .env("AUTH_CLIENT_ID", CLIENT_ID)
        .env("AUTH_CLIENT_SECRETS", CLIENT_SECRET)
        .env("MFA_ENCRYPTION_KEY", "B3R8oBlS0cL0Y0Ut2m1Tq8Cq6pT3K5wJtGq8a0bWcVI=")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let mut log = Vec::new();
    let port = loop {
        let line =
            rx.recv_timeout(Duration::from_secs(60)).expect("the server announces its address");
        let port = line
            .split("listening on http://127.0.0.1:")
            .nth(1)
            .map(|p| p.trim().parse::<u16>().unwrap());
        log.push(line);
        if let Some(port) = port {
            break port;
        }
    };
    let base = format!("http://127.0.0.1:{port}");
    let login = read(
        client()
            .post(format!("{base}/auth/token"))
            .basic_auth(CLIENT_ID, CLIENT_SECRET)
            .send_json(
                &serde_json::json!({"grant_type":"password","username":"erin","password":PASSWORD}),
            )
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK);
    let refresh_token = login.body["refresh_token"].as_str().unwrap().to_owned();
    let access_token = login.body["access_token"].as_str().unwrap().to_owned();
    let refreshed = read(
        client()
            .post(format!("{base}/auth/token"))
            .basic_auth(CLIENT_ID, CLIENT_SECRET)
            .send_json(
                &serde_json::json!({"grant_type":"refresh_token","refresh_token":refresh_token}),
            )
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK);
    let successor = refreshed.body["refresh_token"].as_str().unwrap().to_owned();
    let revoked = client()
        .post(format!("{base}/auth/revoke"))
        .basic_auth(CLIENT_ID, CLIENT_SECRET)
        .send_json(&serde_json::json!({"token": successor}))
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);

    child.kill().unwrap();
    child.wait().unwrap();
    drop(tx);
    log.extend(rx.iter());
    let log = log.join("\n");
    assert!(log.contains("request_id"), "requests are logged with an id:\n{log}");
    assert!(log.contains("session started"), "{log}");
    for secret in [PASSWORD, CLIENT_SECRET, &refresh_token, &successor, &access_token] {
        assert!(!log.contains(secret), "a secret appeared in the log:\n{log}");
    }
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{CLIENT_ID}:{CLIENT_SECRET}"),
    );
    assert!(!log.contains(&basic));
}

#[actix_web::test]
async fn the_cli_disables_enables_changes_roles_and_deletes_but_keeps_an_admin() {
    let app = spawn_app().await;
    let db = app.db_url.as_str();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--database-url", db]);
        auth_api(&all, "")
    };
    app.add_user("root", &[shared::Role::Admin]).await;
    app.add_user("erin", &[]).await;
    let erin = app.login_ok("erin").await;

    let (ok, out, err) = run(&["user", "disable", "erin"]);
    assert!(ok, "{err}");
    assert!(out.contains("erin disabled; 1 session(s) ended"), "{out}");
    assert_eq!(app.refresh(&erin.refresh_token).await.error(), "invalid_grant");
    assert_eq!(app.login("erin", PASSWORD).await.status, StatusCode::BAD_REQUEST);
    let (ok, out, _) = run(&["user", "enable", "erin"]);
    assert!(ok && out.contains("erin enabled"), "{out}");
    assert_eq!(app.login("erin", PASSWORD).await.status, StatusCode::OK);

    let (ok, out, err) = run(&["user", "roles", "erin", "admin"]);
    assert!(ok, "{err}");
    assert!(out.contains("roles of erin are now user,admin"), "{out}");
    // root may go now that erin is an admin; erin, the last, may not.
    let (ok, _, err) = run(&["user", "roles", "root"]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["user", "delete", "erin"]);
    assert!(!ok);
    assert!(err.contains("last active administrator"), "{err}");
    let (ok, _, err) = run(&["user", "disable", "erin"]);
    assert!(!ok && err.contains("last active administrator"), "{err}");
    let (ok, out, err) = run(&["user", "delete", "root"]);
    assert!(ok, "{err}");
    assert!(out.contains("root deleted"), "{out}");
    let (ok, _, err) = run(&["user", "delete", "nobody"]);
    assert!(!ok && err.contains("no user nobody"), "{err}");

    let (_, out, _) = run(&["audit", "--limit", "6"]);
    let kinds: Vec<&str> = out.lines().skip(1).map(|l| l.split('\t').nth(2).unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "user_deleted",
            "roles_changed",
            "roles_changed",
            "sign_in",
            "user_enabled",
            "sign_in_failed"
        ]
    );
}
