//! The Python and Node snippets of `docs/upstreams.md`, run exactly as they
//! appear there (every fenced `python` and `js` block), against a real
//! auth-api: each must print the `sub` of a genuine token and refuse a
//! tampered one and one for another audience.
//!
//! They need `python3` with PyJWT and `cryptography`, and `node` with `jose`
//! under `NODE_PATH` (docs/upstreams.md, "Running the snippets' test").
//! Where those are missing the tests say so and pass, except under
//! `CI=true`, where they fail: CI installs them (`.ci/run`).

mod support;

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use support::{AUDIENCE, AuthApi, ISSUER, auth_api, with_sub};

const GUIDE: &str = include_str!("../../../docs/upstreams.md");

/// The contents of every block fenced as ```` ```LANG ````.
fn fenced_blocks(markdown: &str, lang: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        let fence = line.trim();
        match &mut current {
            None if fence.strip_prefix("```") == Some(lang) => current = Some(String::new()),
            Some(_) if fence == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```{lang} block in docs/upstreams.md");
    blocks
}

/// Skips with the reason, or fails with it under `CI=true`.
fn unavailable(reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true, so the snippets must run, but {reason}");
    }
    eprintln!("skipping: {reason}");
}

/// A Python interpreter that imports PyJWT 2+ and `cryptography`: `$PYTHON`,
/// `python3`, or Debian's `/usr/bin/python3` (where `apt-get install
/// python3-jwt` puts them, and which a pyenv shim may hide).
fn python() -> Option<OsString> {
    let probe = "import jwt, cryptography, sys; sys.exit(int(jwt.__version__.split('.')[0]) < 2)";
    let candidates =
        std::env::var_os("PYTHON").into_iter().chain(["python3".into(), "/usr/bin/python3".into()]);
    candidates.into_iter().find(|python| {
        Command::new(python).args(["-c", probe]).output().is_ok_and(|out| out.status.success())
    })
}

/// The `node_modules` folder on `NODE_PATH` that holds `jose`, when `node` runs.
fn jose_modules() -> Option<PathBuf> {
    Command::new("node").arg("--version").output().ok().filter(|out| out.status.success())?;
    let node_path = std::env::var_os("NODE_PATH")?;
    std::env::split_paths(&node_path).find(|dir| dir.join("jose").join("package.json").is_file())
}

/// Tokens the snippets are run with, and what they must answer.
struct Case {
    what: &'static str,
    token: String,
    audience: &'static str,
    /// The `sub` it must print; `None`: it must refuse (exit non-zero, print nothing).
    accepted_as: Option<String>,
}

async fn cases(auth: &AuthApi) -> Vec<Case> {
    let alice = auth.add_user("alice").await;
    let bob = auth.add_user("bob").await;
    let token = auth.token("alice").await;
    vec![
        Case {
            what: "a genuine token",
            token: token.clone(),
            audience: AUDIENCE,
            accepted_as: Some(alice),
        },
        Case {
            what: "the token rewritten to claim bob's id",
            token: with_sub(&token, &bob),
            audience: AUDIENCE,
            accepted_as: None,
        },
        Case {
            what: "a token for another audience",
            token,
            audience: "another-frontend",
            accepted_as: None,
        },
    ]
}

/// Runs `program script` in `dir` with the snippet's environment, off the
/// test's thread (the servers it calls share the runtime).
async fn run(program: OsString, dir: &Path, script: &str, auth: &AuthApi, case: &Case) -> Output {
    let mut command = Command::new(program);
    command
        .arg(script)
        .current_dir(dir)
        .env("JWKS_URL", auth.jwks_url())
        .env("ISSUER", ISSUER)
        .env("AUDIENCE", case.audience)
        .env("TOKEN", &case.token);
    actix_web::rt::task::spawn_blocking(move || command.output().expect("the interpreter runs"))
        .await
        .expect("not cancelled")
}

#[track_caller]
fn check(lang: &str, case: &Case, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match &case.accepted_as {
        Some(sub) => {
            assert!(out.status.success(), "{lang}, {}: refused\n{stderr}", case.what);
            assert_eq!(stdout.trim(), sub, "{lang}, {}: printed the wrong sub", case.what);
        }
        None => {
            assert!(!out.status.success(), "{lang}, {}: accepted, printed {stdout}", case.what);
            assert!(stdout.trim().is_empty(), "{lang}, {}: printed {stdout}", case.what);
            assert!(stderr.contains("refused"), "{lang}, {}: said {stderr}", case.what);
        }
    }
}

#[actix_web::test]
async fn the_python_snippet_accepts_a_genuine_token_and_refuses_forgeries() {
    let snippets = fenced_blocks(GUIDE, "python");
    assert!(!snippets.is_empty(), "docs/upstreams.md has no ```python block");
    let Some(python) = python() else {
        return unavailable(
            "no python3 with PyJWT >= 2 and cryptography \
             (apt-get install python3-jwt python3-cryptography, or set PYTHON)",
        );
    };
    let auth = auth_api().await;
    let cases = cases(&auth).await;
    for (i, snippet) in snippets.iter().enumerate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = format!("snippet{i}.py");
        std::fs::write(dir.path().join(&script), snippet).expect("write the snippet");
        for case in &cases {
            let out = run(python.clone(), dir.path(), &script, &auth, case).await;
            check("python", case, &out);
        }
    }
}

#[actix_web::test]
async fn the_node_snippet_accepts_a_genuine_token_and_refuses_forgeries() {
    let snippets = fenced_blocks(GUIDE, "js");
    assert!(!snippets.is_empty(), "docs/upstreams.md has no ```js block");
    let Some(modules) = jose_modules() else {
        return unavailable(
            "no node with jose on NODE_PATH (npm install --prefix ~/.cache/cloakroom/node \
             --no-save jose@6; export NODE_PATH=~/.cache/cloakroom/node/node_modules)",
        );
    };
    let auth = auth_api().await;
    let cases = cases(&auth).await;
    for (i, snippet) in snippets.iter().enumerate() {
        // ES modules ignore NODE_PATH: they find `jose` in a `node_modules`
        // beside the script, so one is linked there.
        let dir = tempfile::tempdir().expect("temp dir");
        std::os::unix::fs::symlink(&modules, dir.path().join("node_modules")).expect("symlink");
        let script = format!("snippet{i}.mjs");
        std::fs::write(dir.path().join(&script), snippet).expect("write the snippet");
        for case in &cases {
            let out = run("node".into(), dir.path(), &script, &auth, case).await;
            check("node", case, &out);
        }
    }
}

#[test]
fn fenced_blocks_are_found_whole_and_only_for_their_language() {
    let markdown =
        "text\n```python\nprint(1)\n\nprint(2)\n```\n```js\nx\n```\n  ```python\nprint(3)\n  ```\n";
    assert_eq!(fenced_blocks(markdown, "python"), ["print(1)\n\nprint(2)\n", "print(3)\n"]);
    assert_eq!(fenced_blocks(markdown, "js"), ["x\n"]);
    assert!(fenced_blocks(markdown, "rust").is_empty());
}
