//! The benchmarks of issue #6, one function each. Each returns its figures;
//! `report` turns them into BENCHMARKS.md. Counts and durations are fixed
//! (scaled by `Scale`) so a run is bounded.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    cpu::Accounting,
    flows::{self, Counters},
    http::{Conn, Error, Req, next_cookie},
    load::{self, Client, Outcome, Rounds, Stats},
    servers::Env,
};

/// How long and how often; `--quick` divides everything for a smoke run.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub rounds: usize,
    pub warmup: Duration,
    pub measure: Duration,
    pub users: usize,
    pub trials: usize,
}

impl Scale {
    pub fn full() -> Self {
        Self {
            // Connections are open before a run starts, so half a second
            // warms the servers; 8 rounds keep the ratio's spread honest
            // within a `just bench` of a few minutes.
            rounds: 8,
            warmup: Duration::from_millis(500),
            measure: Duration::from_millis(2500),
            users: 1000,
            trials: 100,
        }
    }

    pub fn quick() -> Self {
        Self {
            rounds: 2,
            warmup: Duration::from_millis(300),
            measure: Duration::from_secs(1),
            users: 100,
            trials: 20,
        }
    }
}

pub const CONNECTIONS: usize = 32;

/// Sign-ins through the frontend, `concurrency` at a time; the cookies and
/// the wall-clock time it took.
pub async fn sign_in_many(
    frontend: SocketAddr,
    env: &Arc<Env>,
    count: usize,
    concurrency: usize,
) -> Result<(Vec<String>, Duration), Error> {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.min(count) {
        let (env, next) = (env.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(frontend).await?;
            let mut cookies = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                cookies.push(flows::sign_in(&mut conn, frontend, &env).await?);
            }
            Ok::<_, Error>(cookies)
        }));
    }
    let mut cookies = Vec::with_capacity(count);
    for task in tasks {
        cookies.extend(task.await??);
    }
    Ok((cookies, started.elapsed()))
}

// ---- 1 and 9: protected page vs public page vs the naïve baseline ----------

/// A browser viewing one page over and over, carrying its cookie along.
struct PageViewer {
    addr: SocketAddr,
    path: &'static str,
    cookie: Option<String>,
    headers: Vec<(&'static str, String)>,
    /// `cookie`, ready to send; rebuilt only when the cookie changes.
    prepared: Option<(String, hyper::header::HeaderValue)>,
}

impl Client for PageViewer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn step(&mut self, conn: &mut Conn) -> Result<Outcome, Error> {
        if self.prepared.as_ref().map(|p| &p.0) != self.cookie.as_ref() {
            self.prepared = match &self.cookie {
                Some(c) => Some((c.clone(), hyper::header::HeaderValue::from_str(c)?)),
                None => None,
            };
        }
        let value = self.prepared.as_ref().map(|p| p.1.clone());
        let resp =
            conn.send(Req::get(self.path).cookie_value(value).headers(&self.headers)).await?;
        let tagged = resp.set_cookie.is_some();
        self.cookie = next_cookie(self.cookie.take(), &resp);
        Ok(Outcome { ok: resp.status == 200, tagged })
    }
}

#[derive(Debug, Clone)]
pub struct Variant {
    pub name: &'static str,
    pub what: &'static str,
    pub body_bytes: usize,
    pub runs: Rounds,
}

pub struct Pages {
    pub public: Variant,
    pub protected: Variant,
    pub home: Variant,
    pub naive: Option<Variant>,
    /// One more run of public and of protected with the CPU accounted.
    pub cpu: Option<[Metered; 2]>,
}

/// A run with where the CPU went: processes in the order they were given.
#[derive(Debug, Clone, Default)]
pub struct Metered {
    pub run: Stats,
    pub used: Accounting,
}

impl Metered {
    /// CPU of process `i` per request answered, in µs.
    pub fn cpu_per_request(&self, i: usize) -> f64 {
        let used = self.used.processes.get(i).map_or(0.0, |u| u.cpu.as_secs_f64());
        used * 1e6 / self.run.requests.max(1) as f64
    }

    pub fn switches_per_request(&self, i: usize) -> f64 {
        let used = self.used.processes.get(i).map_or(0, |u| u.switches);
        used as f64 / self.run.requests.max(1) as f64
    }
}

/// `pids`: the frontend's, then the driver's, for the CPU-accounted runs.
pub async fn pages(
    frontend: SocketAddr,
    env: &Arc<Env>,
    scale: Scale,
    with_baseline: bool,
    pids: Option<[u32; 2]>,
) -> Result<Pages, Error> {
    let (cookies, _) = sign_in_many(frontend, env, CONNECTIONS, 4).await?;
    let (naive_cookies, _) = if with_baseline {
        sign_in_many(frontend, env, CONNECTIONS, 4).await?
    } else {
        (Vec::new(), Duration::ZERO)
    };
    let size = |path: &'static str, cookie: Option<String>| async move {
        let mut conn = Conn::open(frontend).await?;
        let resp = conn.send(Req::get(path).cookie(cookie.as_deref())).await?;
        if resp.status != 200 {
            return Err::<usize, Error>(format!("GET {path} answered {}", resp.status).into());
        }
        Ok(resp.body.len())
    };
    let twin = [("x-bench-mode", "public-twin".to_owned())];
    let naive = [("x-bench-mode", "naive".to_owned())];
    let twin_size = {
        let mut conn = Conn::open(frontend).await?;
        let resp = conn.send(Req::get("/profile").headers(&twin)).await?;
        if resp.status != 200 {
            return Err(format!("the public twin of /profile answered {}", resp.status).into());
        }
        resp.body.len()
    };
    let mut variants = vec![
        Variant {
            name: "public",
            what: "`GET /profile` as a public page: the same template for a fixed user, no session work (bench-only twin); sent the same session cookies, which it ignores",
            body_bytes: twin_size,
            runs: Rounds::default(),
        },
        Variant {
            name: "protected",
            what: "`GET /profile`, signed in: cookie, revocations, token (guard fast path)",
            body_bytes: size("/profile", Some(cookies[0].clone())).await?,
            runs: Rounds::default(),
        },
        Variant {
            name: "home",
            what: "`GET /`, signed out (no cookie): the real public home page, for scale",
            body_bytes: size("/", None).await?,
            runs: Rounds::default(),
        },
    ];
    if with_baseline {
        variants.push(Variant {
            name: "naive",
            what: "`GET /profile`, naïve baseline: refresh-token swap at the auth-api on every view",
            body_bytes: variants[1].body_bytes,
            runs: Rounds::default(),
        });
    }
    let mut cookie_sets = [Vec::new(), cookies, Vec::new(), naive_cookies];
    // The ratio's two sides alternate (order swapped every round), so drift
    // in the machine hits both alike; the scale and baseline rows run after,
    // so the baseline's database writes never sit next to them.
    let mut schedule: Vec<usize> = Vec::new();
    for round in 0..scale.rounds {
        schedule.extend(if round % 2 == 0 { [0, 1] } else { [1, 0] });
    }
    for round in 0..scale.rounds.div_ceil(2) {
        schedule.extend(if round % 2 == 0 { vec![2, 3] } else { vec![3, 2] });
    }
    let count = variants.len();
    let mut schedule: Vec<(usize, bool)> =
        schedule.into_iter().filter(|&i| i < count).map(|i| (i, false)).collect();
    if pids.is_some() {
        schedule.extend([(0, true), (1, true)]);
    }
    let mut metered: [Metered; 2] = Default::default();
    for (i, meter) in schedule {
        let (path, cookies, headers): (_, Vec<Option<String>>, &[(&'static str, String)]) =
            match variants[i].name {
                // A browser sends the session cookie to every page of the
                // origin, public ones too: the twin gets the same cookies and
                // ignores them, so the ratio prices the session check, not
                // the bytes of being signed in.
                "public" => ("/profile", cookie_sets[1].iter().cloned().map(Some).collect(), &twin),
                "protected" => {
                    ("/profile", cookie_sets[1].iter().cloned().map(Some).collect(), &[])
                }
                "home" => ("/", vec![None; CONNECTIONS], &[]),
                _ => ("/profile", cookie_sets[3].iter().cloned().map(Some).collect(), &naive),
            };
        let clients = cookies
            .into_iter()
            .map(|cookie| PageViewer {
                addr: frontend,
                path,
                cookie,
                headers: headers.to_vec(),
                prepared: None,
            })
            .collect();
        let (run, clients) = match pids.filter(|_| meter) {
            Some(pids) => {
                let (run, clients, used) = load::run_metered(clients, scale.measure, &pids).await?;
                metered[i] = Metered { run: run.all.clone(), used };
                (run, clients)
            }
            None => load::run(clients, scale.warmup, scale.measure).await?,
        };
        if matches!(variants[i].name, "protected" | "naive") {
            cookie_sets[i] = clients.into_iter().filter_map(|c| c.cookie).collect();
            if cookie_sets[i].len() != CONNECTIONS {
                return Err(format!("{} lost sessions during the run", variants[i].name).into());
            }
        }
        if !meter {
            variants[i].runs.0.push(run.all);
        }
    }
    let naive = if with_baseline { variants.pop() } else { None };
    let home = variants.pop().expect("three variants");
    let protected = variants.pop().expect("three variants");
    let public = variants.pop().expect("three variants");
    Ok(Pages { public, protected, home, naive, cpu: pids.map(|_| metered) })
}

/// One page, `CONNECTIONS` clients, for a profiler (`--profile-page`).
pub async fn load_page(
    frontend: SocketAddr,
    env: &Arc<Env>,
    path: &'static str,
    signed_in: bool,
    mode: Option<&str>,
    duration: Duration,
    started: impl FnOnce(),
) -> Result<Stats, Error> {
    let headers: Vec<(&'static str, String)> =
        mode.map(|m| ("x-bench-mode", m.to_owned())).into_iter().collect();
    let cookies: Vec<Option<String>> = if signed_in {
        sign_in_many(frontend, env, CONNECTIONS, 4).await?.0.into_iter().map(Some).collect()
    } else {
        vec![None; CONNECTIONS]
    };
    let clients = cookies
        .into_iter()
        .map(|cookie| PageViewer {
            addr: frontend,
            path,
            cookie,
            headers: headers.clone(),
            prepared: None,
        })
        .collect();
    started();
    Ok(load::run(clients, Duration::from_secs(1), duration).await?.0.all)
}

// ---- 2: auth-api calls per 1,000 protected page views ----------------------

pub struct Calls {
    pub sign_in: Counters,
    pub views: u64,
    pub during_views: Counters,
    pub cookie_changes: u64,
}

pub async fn calls_per_views(
    frontend: SocketAddr,
    auth_metrics: SocketAddr,
    env: &Arc<Env>,
) -> Result<Calls, Error> {
    const VIEWS: u64 = 1000;
    const PARALLEL: u64 = 8;
    let before = flows::counters(auth_metrics).await?;
    let mut conn = Conn::open(frontend).await?;
    let cookie = flows::sign_in(&mut conn, frontend, env).await?;
    let signed_in = flows::counters(auth_metrics).await?;
    let mut tasks = Vec::new();
    for _ in 0..PARALLEL {
        let cookie = cookie.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(frontend).await?;
            let mut changes = 0;
            for _ in 0..VIEWS / PARALLEL {
                let resp = conn.send(Req::get("/profile").cookie(Some(&cookie))).await?;
                if resp.status != 200 {
                    return Err::<u64, Error>(format!("/profile answered {}", resp.status).into());
                }
                changes += u64::from(resp.set_cookie.is_some());
            }
            Ok(changes)
        }));
    }
    let mut cookie_changes = 0;
    for task in tasks {
        cookie_changes += task.await??;
    }
    let after = flows::counters(auth_metrics).await?;
    Ok(Calls {
        sign_in: signed_in - before,
        views: VIEWS,
        during_views: after - signed_in,
        cookie_changes,
    })
}

// ---- 3: refresh storm -----------------------------------------------------

#[derive(Debug, Default)]
pub struct Storm {
    pub trials: usize,
    pub requests_per_trial: usize,
    /// Token calls per trial.
    pub token_calls: Vec<u64>,
    pub ok: u64,
    pub not_ok: u64,
    pub sign_outs: u64,
    pub alive_after: u64,
    /// Through the proxy only: how many different access tokens the app saw
    /// in each trial.
    pub distinct_tokens: Vec<usize>,
}

/// 50 requests at once, all carrying the same cookie whose access token has
/// expired: one swap at the auth-api should serve all of them.
pub async fn refresh_storm(
    frontend: SocketAddr,
    auth_metrics: SocketAddr,
    cookies: Vec<String>,
    path: &'static str,
    app: Option<&crate::upstream::App>,
) -> Result<Storm, Error> {
    const REQUESTS: usize = 50;
    let mut storm =
        Storm { trials: cookies.len(), requests_per_trial: REQUESTS, ..Storm::default() };
    for cookie in cookies {
        let mut conns = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            conns.push(Conn::open(frontend).await?);
        }
        let before = flows::counters(auth_metrics).await?;
        let barrier = Arc::new(tokio::sync::Barrier::new(REQUESTS));
        let tasks: Vec<_> = conns
            .into_iter()
            .map(|mut conn| {
                let (cookie, barrier) = (cookie.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    conn.send(Req::get(path).cookie(Some(&cookie))).await
                })
            })
            .collect();
        let mut fresh = None;
        for task in tasks {
            let resp = task.await??;
            if resp.status == 200 {
                storm.ok += 1;
            } else {
                storm.not_ok += 1;
            }
            let signed_out = resp.status == 303
                || resp.set_cookie.as_deref().is_some_and(crate::http::is_cleared);
            storm.sign_outs += u64::from(signed_out);
            if let Some(c) = resp.set_cookie.filter(|c| !crate::http::is_cleared(c)) {
                fresh = Some(c);
            }
        }
        storm.token_calls.push((flows::counters(auth_metrics).await? - before).token);
        if let Some(app) = app {
            let seen: std::collections::HashSet<String> =
                app.take_storm_tokens().into_iter().collect();
            storm.distinct_tokens.push(seen.len());
        }
        // The session must still work with the cookie the storm handed out.
        if let Some(cookie) = fresh {
            let mut conn = Conn::open(frontend).await?;
            let resp = conn.send(Req::get("/profile").cookie(Some(&cookie))).await?;
            storm.alive_after += u64::from(resp.status == 200);
        }
    }
    Ok(storm)
}

// ---- 10 and 11: the proxy: a signed-in request forwarded to an app ---------

pub struct Proxy {
    pub proxied: Variant,
    pub direct: Variant,
    pub streamed: Streamed,
}

/// One large download through the proxy, and the frontend's memory meanwhile.
#[derive(Debug, Clone, Default)]
pub struct Streamed {
    pub bytes: u64,
    pub seconds: f64,
    pub rss_before: u64,
    pub rss_peak: u64,
}

/// `frontend` forwards `/app` to `app`. Proxied and direct runs alternate
/// like the page variants, so the ratio and the added latency are taken
/// side by side; then 1 GiB is streamed through while the frontend's
/// resident memory is sampled.
pub async fn proxy(
    frontend: SocketAddr,
    app: SocketAddr,
    frontend_pid: u32,
    env: &Arc<Env>,
    scale: Scale,
) -> Result<Proxy, Error> {
    const PATH: &str = "/app/hello";
    let (mut cookies, _) = sign_in_many(frontend, env, CONNECTIONS, 4).await?;
    let mut proxied = Variant {
        name: "proxied",
        what: "`GET /app/hello` through the frontend, signed in: the guard's fast path, the token and identity attached, forwarded to the app over a pooled connection",
        body_bytes: 2,
        runs: Rounds::default(),
    };
    let mut direct = Variant {
        name: "direct",
        what: "`GET /app/hello` to the same app directly, without Cloakroom",
        body_bytes: 2,
        runs: Rounds::default(),
    };
    for round in 0..scale.rounds {
        let order = if round % 2 == 0 { [true, false] } else { [false, true] };
        for through_proxy in order {
            let viewer = |addr, cookie| PageViewer {
                addr,
                path: PATH,
                cookie,
                headers: Vec::new(),
                prepared: None,
            };
            if through_proxy {
                let clients = cookies.iter().cloned().map(|c| viewer(frontend, Some(c))).collect();
                let (run, clients) = load::run(clients, scale.warmup, scale.measure).await?;
                cookies = clients.into_iter().filter_map(|c| c.cookie).collect();
                if cookies.len() != CONNECTIONS {
                    return Err("sessions were lost during the proxied run".into());
                }
                proxied.runs.0.push(run.all);
            } else {
                let clients = (0..CONNECTIONS).map(|_| viewer(app, None)).collect();
                direct.runs.0.push(load::run(clients, scale.warmup, scale.measure).await?.0.all);
            }
        }
    }
    let streamed = stream_through(frontend, &cookies[0], frontend_pid).await?;
    Ok(Proxy { proxied, direct, streamed })
}

/// 1 GiB down through the proxy, read and thrown away as it arrives.
async fn stream_through(frontend: SocketAddr, cookie: &str, pid: u32) -> Result<Streamed, Error> {
    const GIB: u64 = 1 << 30;
    let mut conn = Conn::open(frontend).await?;
    // Warm: the first proxied request through this connection's path.
    conn.send(Req::get("/app/bytes/65536").cookie(Some(cookie))).await?;
    let rss_before = resident(pid);
    let (done, mut stop) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        loop {
            peak = peak.max(resident(pid));
            tokio::select! {
                _ = &mut stop => return peak,
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
    });
    let started = Instant::now();
    let path = format!("/app/bytes/{GIB}");
    let (status, bytes) = conn.send_discarding(Req::get(&path).cookie(Some(cookie))).await?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = done.send(());
    let rss_peak = sampler.await?;
    if status != 200 || bytes != GIB {
        return Err(format!("the 1 GiB download answered {status} with {bytes} bytes").into());
    }
    Ok(Streamed { bytes, seconds, rss_before, rss_peak })
}

/// A process's resident set (`VmRSS`), in bytes.
fn resident(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
            line.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

// ---- 4 and 5: many users with short-lived access tokens; login throughput --

/// One of the 32 connections, cycling through its share of the sessions.
struct Crowd {
    addr: SocketAddr,
    cookies: Vec<String>,
    next: usize,
}

impl Client for Crowd {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn step(&mut self, conn: &mut Conn) -> Result<Outcome, Error> {
        let i = self.next % self.cookies.len();
        self.next += 1;
        let resp = conn.send(Req::get("/profile").cookie(Some(&self.cookies[i]))).await?;
        let tagged = resp.set_cookie.is_some();
        match next_cookie(Some(self.cookies[i].clone()), &resp) {
            Some(c) => self.cookies[i] = c,
            None => return Err("a session was signed out".into()),
        }
        Ok(Outcome { ok: resp.status == 200, tagged })
    }
}

pub struct Crowds {
    pub sessions: usize,
    pub access_ttl: i64,
    pub run: load::Run,
    pub token_calls: u64,
    pub elapsed: f64,
}

pub async fn many_users(
    frontend: SocketAddr,
    auth_metrics: SocketAddr,
    cookies: Vec<String>,
    access_ttl: i64,
    duration: Duration,
) -> Result<Crowds, Error> {
    let sessions = cookies.len();
    let mut shares: Vec<Vec<String>> = vec![Vec::new(); CONNECTIONS];
    for (i, c) in cookies.into_iter().enumerate() {
        shares[i % CONNECTIONS].push(c);
    }
    let clients: Vec<Crowd> = shares
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|cookies| Crowd { addr: frontend, cookies, next: 0 })
        .collect();
    let before = flows::counters(auth_metrics).await?;
    let started = Instant::now();
    let (run, _) = load::run(clients, Duration::from_secs(1), duration).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let token_calls = (flows::counters(auth_metrics).await? - before).token;
    Ok(Crowds { sessions, access_ttl, run, token_calls, elapsed })
}

pub struct Logins {
    pub count: usize,
    pub concurrency: usize,
    pub elapsed: Duration,
    /// One argon2id hash, median of criterion's samples (ms).
    pub hash_ms: f64,
    /// One hash on every core at once, the whole round (ms).
    pub together_ms: f64,
    pub cores: usize,
}

impl Logins {
    pub fn throughput(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }
    /// Logins per second if every core did nothing but argon2.
    pub fn bound(&self) -> f64 {
        self.cores as f64 / (self.hash_ms / 1000.0)
    }
    /// Logins per second if every core did nothing but argon2, at the speed
    /// the cores actually hash when they all do it at once.
    pub fn capacity(&self) -> f64 {
        self.cores as f64 / (self.together_ms / 1000.0)
    }
}

// ---- 6: the refresh grant at the auth-api alone -----------------------------

/// A client of the auth-api rotating its own session's refresh token.
struct Rotator {
    addr: SocketAddr,
    env: Arc<Env>,
    refresh_token: String,
}

impl Client for Rotator {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn step(&mut self, conn: &mut Conn) -> Result<Outcome, Error> {
        let tokens = flows::refresh_grant(conn, &self.env, &self.refresh_token).await?;
        self.refresh_token = tokens.refresh_token;
        Ok(Outcome { ok: true, tagged: false })
    }
}

/// A client of the auth-api asking for its cheapest answer (JWKS, served
/// from memory): what HTTP alone costs on these connections and cores.
struct Prober {
    addr: SocketAddr,
}

impl Client for Prober {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn step(&mut self, conn: &mut Conn) -> Result<Outcome, Error> {
        let resp = conn.send(Req::get("/.well-known/jwks.json")).await?;
        Ok(Outcome { ok: resp.status == 200, tagged: false })
    }
}

pub struct Grants {
    pub label: String,
    /// Requests per second offered on a fixed schedule; `None`: closed loop.
    pub offered: Option<f64>,
    pub runs: Rounds,
    /// With `floor`: the same clients' rounds on JWKS, each run just after
    /// the grant round it pairs with.
    pub floor: Option<Rounds>,
    /// One more closed-loop run with the CPU accounted (auth-api, driver).
    pub cpu: Option<Metered>,
}

/// 32 clients, spread evenly over `instances`, each rotating its own token,
/// as fast as answers come back or, with `offered`, at that many grants per
/// second in total (open loop). With `floor`, each round is paired with one
/// of as many clients fetching JWKS from the same instances, at the same
/// offered rate if any.
pub async fn refresh_grants(
    label: String,
    instances: &[SocketAddr],
    env: &Arc<Env>,
    scale: Scale,
    offered: Option<f64>,
    floor: bool,
    pids: Option<[u32; 2]>,
) -> Result<Grants, Error> {
    let mut clients = Vec::with_capacity(CONNECTIONS);
    let mut conn = Conn::open(instances[0]).await?;
    for i in 0..CONNECTIONS {
        let tokens = flows::password_grant(&mut conn, env).await?;
        clients.push(Rotator {
            addr: instances[i % instances.len()],
            env: env.clone(),
            refresh_token: tokens.refresh_token,
        });
    }
    let mut probers: Vec<Prober> =
        (0..CONNECTIONS).map(|i| Prober { addr: instances[i % instances.len()] }).collect();
    let mut runs = Vec::new();
    let mut floor_runs = Vec::new();
    for _ in 0..scale.rounds.min(3) {
        let (run, back) = match offered {
            Some(rate) => load::run_paced(clients, scale.warmup, scale.measure, rate).await?,
            None => load::run(clients, scale.warmup, scale.measure).await?,
        };
        clients = back;
        runs.push(run.all);
        if floor {
            let (run, back) = match offered {
                Some(rate) => load::run_paced(probers, scale.warmup, scale.measure, rate).await?,
                None => load::run(probers, scale.warmup, scale.measure).await?,
            };
            probers = back;
            floor_runs.push(run.all);
        }
    }
    let cpu = match pids {
        Some(pids) => {
            let (run, _, used) = load::run_metered(clients, scale.measure, &pids).await?;
            Some(Metered { run: run.all, used })
        }
        None => None,
    };
    let floor = (!floor_runs.is_empty()).then_some(Rounds(floor_runs));
    Ok(Grants { label, offered, runs: Rounds(runs), floor, cpu })
}

// ---- 7: revocation latency --------------------------------------------------

pub struct Revocation {
    /// Milliseconds from sending the end to the frontend's first refusal.
    pub latencies: Stats,
    pub refused_late: u64,
}

pub async fn revocation_latency(
    frontend: SocketAddr,
    auth_api: SocketAddr,
    env: &Arc<Env>,
    trials: usize,
) -> Result<Revocation, Error> {
    let mut front = Conn::open(frontend).await?;
    let mut auth = Conn::open(auth_api).await?;
    let mut latencies = Vec::with_capacity(trials);
    let mut refused_late = 0;
    let mut actor = flows::password_grant(&mut auth, env).await?;
    let mut actor_since = Instant::now();
    for _ in 0..trials {
        if actor_since.elapsed() > Duration::from_secs(60) {
            actor = flows::refresh_grant(&mut auth, env, &actor.refresh_token).await?;
            actor_since = Instant::now();
        }
        let cookie = flows::sign_in(&mut front, frontend, env).await?;
        let profile = front.send(Req::get("/profile").cookie(Some(&cookie))).await?;
        let sid = flows::session_id_on_profile(&String::from_utf8_lossy(&profile.body))
            .ok_or("no session id on /profile")?;
        let started = Instant::now();
        flows::end_session(&mut auth, &actor.access_token, &sid).await?;
        loop {
            let resp = front.send(Req::get("/profile").cookie(Some(&cookie))).await?;
            if resp.status == 303 {
                break;
            }
            if started.elapsed() > Duration::from_secs(5) {
                refused_late += 1;
                break;
            }
        }
        latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
    }
    Ok(Revocation { latencies: Stats::from_latencies(latencies, 0, 0.0), refused_late })
}
