//! The two release binaries as child processes, each on a port the kernel
//! picked (`127.0.0.1:0`), found by reading the line the server logs when it
//! is listening. Their logs go to files in the run's temporary folder.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, Command},
    sync::oneshot,
};

use crate::http::{Conn, Error, Req};

pub const CLIENT_ID: &str = "cloakroom-frontend";
pub const ISSUER: &str = "http://auth.cloakroom.bench";
pub const USER: &str = "bench";

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// The private `/metrics` listener (`METRICS_ADDR`).
    pub metrics: SocketAddr,
}

impl Server {
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Secrets and paths one run shares between its servers.
pub struct Env {
    pub bin_dir: PathBuf,
    pub workspace: PathBuf,
    pub dir: PathBuf,
    /// The frontends' `UPSTREAMS` file (the proxy benchmarks' app at `/app`).
    pub upstreams: Option<PathBuf>,
    pub client_secret: String,
    pub cookie_keys: String,
    pub mfa_key: String,
    pub password: String,
}

impl Env {
    pub fn new(
        bin_dir: PathBuf,
        workspace: PathBuf,
        dir: PathBuf,
        upstreams: Option<PathBuf>,
    ) -> Self {
        Self {
            bin_dir,
            workspace,
            dir,
            upstreams,
            client_secret: random_b64(32),
            cookie_keys: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                random::<64>(),
            ),
            mfa_key: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                random::<32>(),
            ),
            password: random_b64(18),
        }
    }

    fn auth_api(&self, database_url: &str, access_ttl: i64) -> Command {
        let mut cmd = self.command("auth-api");
        cmd.env("DATABASE_URL", database_url)
            .env("AUTH_API_ADDR", "127.0.0.1:0")
            .env("METRICS_ADDR", "127.0.0.1:0")
            .env("AUTH_ISSUER", ISSUER)
            .env("AUTH_CLIENT_ID", CLIENT_ID)
            .env("AUTH_CLIENT_SECRETS", &self.client_secret)
            .env("MFA_ENCRYPTION_KEY", &self.mfa_key)
            .env("ACCESS_TOKEN_TTL", access_ttl.to_string())
            // The bench signs in thousands of times from one address.
            .env("LOGIN_MAX_FAILURES_PER_IP", "1000000")
            // And signs one user in from many connections at once: the cap
            // would end the first sessions while their pages are measured.
            .env("MAX_SESSIONS_PER_USER", "10000");
        cmd
    }

    fn command(&self, binary: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(binary));
        // A folder of its own: no `.env` of a developer's is read.
        cmd.current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .kill_on_drop(true);
        cmd
    }

    /// Creates the database and the benchmark user, as an operator would.
    pub async fn add_user(&self, database_url: &str) -> Result<(), Error> {
        let mut child = self
            .auth_api(database_url, 300)
            .args(["user", "add", USER, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        stdin.write_all(format!("{}\n", self.password).as_bytes()).await?;
        drop(stdin);
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            return Err(format!("user add failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(())
    }

    pub async fn start_auth_api(
        &self,
        name: &str,
        database_url: &str,
        access_ttl: i64,
    ) -> Result<Server, Error> {
        let server = spawn(self.auth_api(database_url, access_ttl), &self.dir.join(name)).await?;
        wait_healthy(server.addr, "/healthz").await?;
        Ok(server)
    }

    pub async fn start_frontend(&self, name: &str, auth_api: &Server) -> Result<Server, Error> {
        // An empty site folder: pages are rendered without the hydration
        // bundle, whatever a developer built, so runs compare.
        let site = self.dir.join("site");
        std::fs::create_dir_all(site.join("pkg"))?;
        self.start_frontend_serving(name, auth_api, &site).await
    }

    /// A frontend whose pages load the hydration bundle in `site` (the page
    /// weight, benchmark 13).
    pub async fn start_frontend_serving(
        &self,
        name: &str,
        auth_api: &Server,
        site: &Path,
    ) -> Result<Server, Error> {
        let mut cmd = self.command("frontend");
        cmd.env("LEPTOS_CONFIG", self.workspace.join("Leptos.toml"))
            .env("LEPTOS_SITE_ROOT", site)
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env("METRICS_ADDR", "127.0.0.1:0")
            .env("AUTH_API_URL", auth_api.base())
            .env("AUTH_ISSUER", ISSUER)
            .env("AUTH_CLIENT_ID", CLIENT_ID)
            .env("AUTH_CLIENT_SECRETS", &self.client_secret)
            .env("COOKIE_KEYS", &self.cookie_keys)
            .env("COOKIE_SECURE", "false");
        if let Some(upstreams) = &self.upstreams {
            cmd.env("UPSTREAMS", upstreams);
        }
        let server = spawn(cmd, &self.dir.join(name)).await?;
        wait_healthy(server.addr, "/healthz").await?;
        Ok(server)
    }
}

async fn spawn(mut cmd: Command, log: &Path) -> Result<Server, Error> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    // The public address and the metrics listener's, in whichever order the
    // server logs them (both start before either line is written).
    let (tx, rx) = oneshot::channel();
    let mut tx = Some(tx);
    let (mut addr, mut metrics) = (None, None);
    let mut file = tokio::fs::File::create(log.with_extension("log")).await?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    tokio::spawn(async move {
        let mut out = BufReader::new(stdout).lines();
        let mut err = BufReader::new(stderr).lines();
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            let line = tokio::select! {
                l = out.next_line(), if out_open => l.ok().flatten().or_else(|| { out_open = false; None }),
                l = err.next_line(), if err_open => l.ok().flatten().or_else(|| { err_open = false; None }),
            };
            let Some(line) = line else { continue };
            addr = addr.or_else(|| listening_addr(&line));
            metrics = metrics.or_else(|| metrics_addr(&line));
            if let (Some(addr), Some(metrics)) = (addr, metrics)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send((addr, metrics));
            }
            let _ = file.write_all(line.as_bytes()).await;
            let _ = file.write_all(b"\n").await;
        }
    });
    let (addr, metrics) = tokio::time::timeout(Duration::from_secs(60), rx)
        .await
        .map_err(|_| format!("{} did not report its address within 60 s", log.display()))?
        .map_err(|_| format!("{} exited before listening; see its log", log.display()))?;
    Ok(Server { child, addr, metrics })
}

/// `… listening on http://127.0.0.1:PORT …` → the address.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    rest.split(|c: char| c.is_whitespace() || c == '/').next()?.parse().ok()
}

/// `… metrics served at http://127.0.0.1:PORT/metrics` → the address.
fn metrics_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("metrics served at http://")? + "metrics served at http://".len()..];
    rest.split(|c: char| c.is_whitespace() || c == '/').next()?.parse().ok()
}

async fn wait_healthy(addr: SocketAddr, path: &str) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut conn) = Conn::open(addr).await
            && let Ok(resp) = conn.send(Req::get(path)).await
            && resp.status == 200
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("{addr}{path} not healthy within 30 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).expect("the OS random source works");
    bytes
}

fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes).expect("the OS random source works");
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_address_in_either_servers_line() {
        assert_eq!(
            super::listening_addr("INFO auth_api: auth-api listening on http://127.0.0.1:4312"),
            Some("127.0.0.1:4312".parse().unwrap())
        );
        assert_eq!(
            super::listening_addr(
                "INFO frontend: frontend listening on http://127.0.0.1:5000 (port 5000)"
            ),
            Some("127.0.0.1:5000".parse().unwrap())
        );
        assert_eq!(super::listening_addr("INFO starting"), None);
        assert_eq!(
            super::metrics_addr(
                "INFO auth_api: auth-api metrics served at http://127.0.0.1:4313/metrics"
            ),
            Some("127.0.0.1:4313".parse().unwrap())
        );
        assert_eq!(
            super::listening_addr(
                "INFO auth_api: auth-api metrics served at http://127.0.0.1:4313/metrics"
            ),
            None
        );
    }
}
