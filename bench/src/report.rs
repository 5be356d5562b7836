//! BENCHMARKS.md: the machine, the commit, the commands, a summary of every
//! target beside its result, then one table per benchmark.

use std::{fmt::Write, path::Path};

use crate::{
    load::{Spread, Stats},
    scenarios::{Calls, Crowds, Grants, Logins, Metered, Pages, Proxy, Revocation, Storm, Variant},
    weight::{self, PageWeight},
};

pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: kib / 1024.0 / 1024.0,
            kernel,
        }
    }
}

/// A micro-benchmark's median and its 95 % confidence interval, from criterion.
pub struct Micro {
    pub name: &'static str,
    pub what: &'static str,
    pub median_ns: f64,
    pub low_ns: f64,
    pub high_ns: f64,
}

pub fn read_micro(dir: &Path, id: &'static str, what: &'static str) -> Option<Micro> {
    let text = std::fs::read_to_string(dir.join(id).join("new/estimates.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let median = &json["median"];
    Some(Micro {
        name: id,
        what,
        median_ns: median["point_estimate"].as_f64()?,
        low_ns: median["confidence_interval"]["lower_bound"].as_f64()?,
        high_ns: median["confidence_interval"]["upper_bound"].as_f64()?,
    })
}

pub struct Report {
    pub date: String,
    pub commit: String,
    pub command: String,
    pub machine: Machine,
    pub scale_note: String,
    pub pages: Pages,
    pub calls: Calls,
    pub storm: Storm,
    pub proxy: Proxy,
    pub proxy_storm: Storm,
    pub crowds: Crowds,
    pub logins: Logins,
    pub grants: Vec<Grants>,
    pub postgres_note: Option<String>,
    pub revocation: Revocation,
    pub micro: Vec<Micro>,
    pub weight: PageWeight,
}

fn spread(s: Spread, digits: usize) -> String {
    format!("{:.d$} ({:.d$}–{:.d$})", s.median, s.min, s.max, d = digits)
}

/// Bytes as KB of 1,000 (the page-weight targets' unit), one decimal.
fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

/// How many swaps a session may make in `seconds`: one per access token it
/// uses up (a token is swapped `REFRESH_MARGIN` s before it expires, so each
/// serves `access_ttl - REFRESH_MARGIN` seconds of browsing).
pub fn lifetimes(seconds: f64, access_ttl: i64) -> f64 {
    const REFRESH_MARGIN: f64 = 10.0;
    (seconds / (access_ttl as f64 - REFRESH_MARGIN)).ceil()
}

impl Report {
    pub fn render(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let p = &self.pages;
        let tput = p.protected.runs.ratio(&p.public.runs, |s| s.throughput());
        let p99 = p.protected.runs.ratio(&p.public.runs, |s| s.p99());
        let c = &self.crowds;
        let swaps_per_session = c.token_calls as f64 / c.sessions as f64;
        let allowed_per_session = lifetimes(c.elapsed, c.access_ttl);
        let storm_max = self.storm.token_calls.iter().copied().max().unwrap_or(0);
        let login_ratio = self.logins.throughput() / self.logins.bound();
        let sqlite = self.grants.iter().find(|g| g.offered.is_none());
        let paced = self.grants.iter().find(|g| g.offered.is_some());
        let guard = self.micro.iter().find(|m| m.name == "guard/fast_path");
        let rev_p99 = self.revocation.latencies.p99();

        let _ = writeln!(md, "# Benchmarks\n");
        let _ = writeln!(
            md,
            "Written by `just bench` on {}; do not edit by hand. Every figure below was measured in \
             this one run, side by side, against release builds on 127.0.0.1.\n",
            self.date
        );
        let _ = writeln!(md, "| | |\n|---|---|");
        let _ = writeln!(
            md,
            "| Machine | {} × {}, {:.1} GiB memory, Linux {} |",
            m.cores, m.cpu, m.memory_gib, m.kernel
        );
        let _ = writeln!(md, "| Commit | `{}` |", self.commit);
        let _ = writeln!(md, "| Command | `{}` |", self.command);
        let _ = writeln!(md, "| Scale | {} |", self.scale_note);
        let _ = writeln!(
            md,
            "| Load | closed loop, {} keep-alive HTTP/1.1 connections, warm-up discarded; the load \
             driver shares the machine's {} cores with both servers |\n",
            crate::scenarios::CONNECTIONS,
            m.cores
        );
        let _ = writeln!(
            md,
            "Figures are medians over rounds with the spread (min–max) in brackets.\n"
        );

        let _ = writeln!(md, "## Summary\n");
        let _ = writeln!(md, "| # | Benchmark | Target | Result | |\n|---|---|---|---|---|");
        let _ = writeln!(
            md,
            "| 1 | Protected page vs public page, throughput ratio | ≥ 0.95 | {} | {} |",
            spread(tput, 3),
            verdict(tput.median >= 0.95)
        );
        let _ = writeln!(
            md,
            "| 1 | Protected page vs public page, p99 latency ratio | ≤ 1.1 | {} | {} |",
            spread(p99, 3),
            verdict(p99.median <= 1.1)
        );
        let _ = writeln!(
            md,
            "| 2 | auth-api calls per {} protected views after sign-in | 0 | {} | {} |",
            self.calls.views,
            self.calls.during_views.calls,
            verdict(self.calls.during_views.calls == 0)
        );
        let _ = writeln!(
            md,
            "| 2 | Swaps per session over {:.0} s with {} s access tokens | ≤ 1 per token used up (≤ {:.0}) | {:.2} | {} |",
            c.elapsed,
            c.access_ttl,
            allowed_per_session,
            swaps_per_session,
            verdict(swaps_per_session <= allowed_per_session)
        );
        let _ = writeln!(
            md,
            "| 3 | Refresh storm: {} requests on one expired token | 1 `/auth/token` call, 0 sign-outs, all 200 | {} call(s) at most, {} sign-outs, {}/{} 200 | {} |",
            self.storm.requests_per_trial,
            storm_max,
            self.storm.sign_outs,
            self.storm.ok,
            self.storm.ok + self.storm.not_ok,
            verdict(storm_max == 1 && self.storm.sign_outs == 0 && self.storm.not_ok == 0)
        );
        let _ = writeln!(
            md,
            "| 4 | {} sessions, {} s access tokens: errors | 0 | {} errors, {:.0} swaps/s, swap p99 {:.1} ms | {} |",
            c.sessions,
            c.access_ttl,
            c.run.all.errors,
            c.run.tagged.throughput(),
            c.run.tagged.p99(),
            verdict(c.run.all.errors == 0)
        );
        let _ = writeln!(
            md,
            "| 5 | Login throughput / argon2 bound | ≥ 0.9 | {:.2} ({:.1} of {:.1} logins/s) | {} |",
            login_ratio,
            self.logins.throughput(),
            self.logins.bound(),
            verdict(login_ratio >= 0.9)
        );
        let _ = writeln!(
            md,
            "| 5 | … / what the cores hash when all hash at once | (reported) | {:.2} ({:.1} of {:.1} logins/s) | |",
            self.logins.throughput() / self.logins.capacity(),
            self.logins.throughput(),
            self.logins.capacity(),
        );
        if let Some(g) = sqlite {
            let _ = writeln!(
                md,
                "| 6 | Refresh grant, auth-api alone, 32 concurrent, SQLite: p99 | ≤ 5 ms | {} ms | {} |",
                spread(g.runs.p99(), 2),
                verdict(g.runs.p99().median <= 5.0)
            );
            if let Some(floor) = &g.floor {
                let _ = writeln!(
                    md,
                    "| 6 | … the same clients fetching JWKS instead (HTTP alone, no grant): p99 | (reported) | {} ms | |",
                    spread(floor.p99(), 2),
                );
                let multiple = g.runs.ratio(floor, Stats::p99);
                let _ = writeln!(
                    md,
                    "| 6 | … refresh-grant p99 as a multiple of that HTTP floor (each round beside its own floor round) | ≤ 1.5 | {} | {} |",
                    spread(multiple, 2),
                    verdict(multiple.median <= 1.5)
                );
            }
        }
        if let Some(g) = paced {
            let _ = writeln!(
                md,
                "| 6 | … the same at {:.0} grants/s offered (open loop): p99 | (reported) | {} ms | |",
                g.offered.unwrap_or_default(),
                spread(g.runs.p99(), 2),
            );
            if let Some(floor) = &g.floor {
                let _ = writeln!(
                    md,
                    "| 6 | … as a multiple of JWKS's p99 at the same rate (an operating load, not saturation) | (reported) | {} | |",
                    spread(g.runs.ratio(floor, Stats::p99), 2),
                );
            }
        }
        let _ = writeln!(
            md,
            "| 7 | Revocation reaches the frontend: p99 over {} trials | ≤ 100 ms | {:.1} ms | {} |",
            self.revocation.latencies.requests,
            rev_p99,
            verdict(rev_p99 <= 100.0 && self.revocation.refused_late == 0)
        );
        if let Some(g) = guard {
            let _ = writeln!(
                md,
                "| 8 | The guard's fast path, median | ≤ 10 µs | {:.2} µs | {} |",
                g.median_ns / 1000.0,
                verdict(g.median_ns <= 10_000.0)
            );
        }
        if let Some(naive) = &p.naive {
            // Not side by side round for round: a ratio of the two medians.
            let x =
                Spread::of(
                    &[p.protected.runs.throughput().median / naive.runs.throughput().median],
                );
            let _ = writeln!(
                md,
                "| 9 | Protected-page throughput, Cloakroom / naïve swap-per-view | (reported) | × {:.1} | |",
                x.median
            );
        }

        let x = &self.proxy;
        let proxy_tput = x.proxied.runs.ratio(&x.direct.runs, |s| s.throughput());
        let added_p50 = x.proxied.runs.p50().median - x.direct.runs.p50().median;
        let added_p99 = x.proxied.runs.p99().median - x.direct.runs.p99().median;
        let growth = x.streamed.rss_peak.saturating_sub(x.streamed.rss_before);
        let _ = writeln!(
            md,
            "| 10 | Signed-in request proxied to a trivial app vs the app directly: throughput ratio | (reported) | {} | |",
            spread(proxy_tput, 3)
        );
        let _ = writeln!(
            md,
            "| 10 | … latency the proxy adds, p50 / p99 (difference of medians) | (reported) | {:.2} ms / {:.2} ms | |",
            added_p50, added_p99
        );
        let _ = writeln!(
            md,
            "| 11 | Frontend resident memory while 1 GiB streams through it | grows < 64 MiB | {} → {} MiB at most (+{} MiB), {:.0} MiB/s | {} |",
            x.streamed.rss_before >> 20,
            x.streamed.rss_peak >> 20,
            growth >> 20,
            x.streamed.bytes as f64 / x.streamed.seconds / (1 << 20) as f64,
            verdict(growth < 64 << 20)
        );
        let ps = &self.proxy_storm;
        let ps_max = ps.token_calls.iter().copied().max().unwrap_or(0);
        let ps_tokens = ps.distinct_tokens.iter().copied().max().unwrap_or(0);
        let _ = writeln!(
            md,
            "| 12 | Refresh storm through the proxy: {} requests on one expired token | 2 `/auth/token` calls (1 refresh, 1 exchange), 1 token at the app, all 200 | {} call(s) at most, {} token(s) at most, {}/{} 200 | {} |",
            ps.requests_per_trial,
            ps_max,
            ps_tokens,
            ps.ok,
            ps.ok + ps.not_ok,
            verdict(ps_max <= 2 && ps_tokens == 1 && ps.not_ok == 0 && ps.sign_outs == 0)
        );
        self.render_weight_summary(&mut md);

        let _ = writeln!(md, "\n## 1 and 9. Page views: protected, public, naïve baseline\n");
        let _ = writeln!(
            md,
            "{} rounds of public and protected, alternating (order swapped every round), then {} \
             rounds of the home page and the naïve baseline; each run is {}. The protected/public \
             ratios are taken per round, then summarised; the baseline multiple is a ratio of medians.\n",
            p.public.runs.0.len(),
            p.home.runs.0.len(),
            self.scale_note_pages()
        );
        let _ = writeln!(
            md,
            "| Variant | What | Body bytes | Requests/s | p50 ms | p99 ms | Errors |\n|---|---|---|---|---|---|---|"
        );
        let mut variants: Vec<&Variant> = vec![&p.public, &p.protected, &p.home];
        variants.extend(p.naive.iter());
        for v in variants {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                v.name,
                v.what,
                v.body_bytes,
                spread(v.runs.throughput(), 0),
                spread(v.runs.p50(), 2),
                spread(v.runs.p99(), 2),
                v.runs.errors()
            );
        }
        let _ = writeln!(
            md,
            "\nThroughput ratio protected / public: {}; p99 ratio: {}. The public twin renders the \
             protected page's own template at the same size and receives the same cookies (as a \
             signed-in browser sends them to every page of the origin) without reading them, so \
             the ratio is the price of the session check alone.",
            spread(tput, 3),
            spread(p99, 3)
        );
        if let Some(cpu) = &p.cpu {
            self.render_page_cpu(&mut md, cpu);
        }

        let _ = writeln!(md, "\n## 2. auth-api calls per protected page view\n");
        let _ = writeln!(
            md,
            "| Phase | Requests to the auth-api | of which `/auth/token` |\n|---|---|---|"
        );
        let _ = writeln!(
            md,
            "| Sign-in (the first swap) | {} | {} |",
            self.calls.sign_in.calls, self.calls.sign_in.token
        );
        let _ = writeln!(
            md,
            "| {} views of `/profile`, 8 at a time | {} | {} |",
            self.calls.views, self.calls.during_views.calls, self.calls.during_views.token
        );
        let _ = writeln!(
            md,
            "\nCookie changes during the views: {}. Counted from the auth-api's `/metrics` \
             (`http_requests_total`, every route but the revocation feed's long poll).",
            self.calls.cookie_changes
        );

        let _ = writeln!(md, "\n## 3. Refresh storm\n");
        let _ = writeln!(
            md,
            "{} trials; each sends {} requests at once, on {} connections, all with the same cookie \
             whose access token has expired.\n",
            self.storm.trials, self.storm.requests_per_trial, self.storm.requests_per_trial
        );
        let _ = writeln!(
            md,
            "| `/auth/token` calls per trial | 200s | Other answers | Sign-outs | Sessions alive afterwards |\n|---|---|---|---|---|"
        );
        let _ = writeln!(
            md,
            "| {:?} | {} | {} | {} | {}/{} |",
            self.storm.token_calls,
            self.storm.ok,
            self.storm.not_ok,
            self.storm.sign_outs,
            self.storm.alive_after,
            self.storm.trials
        );

        let _ = writeln!(md, "\n## 10–12. The proxy: an app behind Cloakroom\n");
        let _ = writeln!(
            md,
            "A trivial HTTP/1.1 app (two bytes per answer, in the load driver's process) is the \
             upstream at `/app` (`access = \"signed-in\"`). {} rounds each of proxied and direct, \
             alternating (order swapped every round); the ratio is taken per round.\n",
            x.proxied.runs.0.len()
        );
        let _ = writeln!(
            md,
            "| Variant | What | Requests/s | p50 ms | p99 ms | Errors |\n|---|---|---|---|---|---|"
        );
        for v in [&x.proxied, &x.direct] {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                v.name,
                v.what,
                spread(v.runs.throughput(), 0),
                spread(v.runs.p50(), 2),
                spread(v.runs.p99(), 2),
                v.runs.errors()
            );
        }
        let _ = writeln!(
            md,
            "\nThe direct run is the app's own ceiling, not a target: a proxy doubles the HTTP \
             work per request (parse, then send again, for both the request and the answer), \
             on the same two cores. Streaming: `GET /app/bytes/1073741824` signed in, read and \
             discarded by the driver as it arrives, {:.1} s; the frontend's `VmRSS` sampled every \
             10 ms. Refresh storm through the proxy: {} trials of {} requests at once on \
             `/app/storm` with one cookie whose access token expired; `/auth/token` calls per \
             trial {:?}, distinct tokens the app received per trial {:?}, {} sign-outs.",
            x.streamed.seconds,
            ps.trials,
            ps.requests_per_trial,
            ps.token_calls,
            ps.distinct_tokens,
            ps.sign_outs
        );

        let _ = writeln!(md, "\n## 4. Many users, short-lived access tokens\n");
        let _ = writeln!(
            md,
            "{} signed-in sessions browsing `/profile` over {} connections for {:.0} s (after 1 s of \
             warm-up), `ACCESS_TOKEN_TTL={}`: each session swaps about every {} s.\n",
            c.sessions,
            crate::scenarios::CONNECTIONS,
            c.run.all.seconds,
            c.access_ttl,
            c.access_ttl - 10
        );
        let _ = writeln!(
            md,
            "| Requests/s | p50 ms | p99 ms | Swap-carrying requests/s | Their p50 ms | Their p99 ms | `/auth/token` calls | Errors |\n|---|---|---|---|---|---|---|---|"
        );
        let _ = writeln!(
            md,
            "| {:.0} | {:.2} | {:.2} | {:.1} | {:.2} | {:.2} | {} | {} |",
            c.run.all.throughput(),
            c.run.all.p50(),
            c.run.all.p99(),
            c.run.tagged.throughput(),
            c.run.tagged.p50(),
            c.run.tagged.p99(),
            c.token_calls,
            c.run.all.errors
        );

        let l = &self.logins;
        let _ = writeln!(md, "\n## 5. Login throughput vs the argon2 bound\n");
        let _ = writeln!(
            md,
            "One argon2id hash with the auth-api's parameters (m = 19 MiB, t = 2, p = 1; criterion, \
             `argon2/hash` below) takes {:.1} ms here; with {} cores the bound is {:.1} logins/s. \
             {} sign-ins through the frontend's form, {} at a time:\n",
            l.hash_ms,
            l.cores,
            l.bound(),
            l.count,
            l.concurrency
        );
        let _ = writeln!(
            md,
            "| Sign-ins | Seconds | Logins/s | Bound | Ratio | Hashing capacity | Ratio |\n|---|---|---|---|---|---|---|"
        );
        let _ = writeln!(
            md,
            "| {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} | {:.2} |",
            l.count,
            l.elapsed.as_secs_f64(),
            l.throughput(),
            l.bound(),
            login_ratio,
            l.capacity(),
            l.throughput() / l.capacity()
        );
        let _ = writeln!(
            md,
            "\nHashing capacity: the same hash on all {} cores at once takes {:.1} ms for the round \
             (`argon2/hash_on_every_core`), so the cores together hash {:.1} passwords/s, {:.0} % of \
             {} × one lone hash. argon2id is memory-hard: cores that share caches and memory \
             bandwidth (or vCPUs sharing a physical core) slow each other down. The first ratio is \
             the issue's target; the second says whether the server adds anything on top of the \
             hashing it must do.",
            l.cores,
            l.together_ms,
            l.capacity(),
            100.0 * l.capacity() / l.bound(),
            l.cores
        );

        let _ = writeln!(md, "\n## 6. Refresh grant at the auth-api alone\n");
        let _ = writeln!(
            md,
            "{} clients, each rotating its own session's refresh token as fast as answers come \
             back (closed loop), or together at a fixed rate (open loop: latency counts from each \
             request's scheduled time when it waited for a late answer, so time spent queued behind a \
             slow answer is included, and from when it left otherwise, so the driver's 1 ms timer is \
             not). Each open-loop round is paired with JWKS fetched at the same rate.\n",
            crate::scenarios::CONNECTIONS
        );
        let _ = writeln!(
            md,
            "| Store and instances | Grants/s | p50 ms | p99 ms | Errors |\n|---|---|---|---|---|"
        );
        for g in &self.grants {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                g.label,
                spread(g.runs.throughput(), 0),
                spread(g.runs.p50(), 2),
                spread(g.runs.p99(), 2),
                g.runs.errors()
            );
            if let Some(floor) = &g.floor {
                let _ = writeln!(
                    md,
                    "| {}: the same clients fetching JWKS (served from memory) | {} | {} | {} | {} |",
                    g.label,
                    spread(floor.throughput(), 0),
                    spread(floor.p50(), 2),
                    spread(floor.p99(), 2),
                    floor.errors()
                );
            }
        }
        if let Some((g, cpu)) = sqlite.and_then(|g| Some((g, g.cpu.as_ref()?))) {
            self.render_grant_cpu(&mut md, g, cpu);
        }
        if let Some(note) = &self.postgres_note {
            let _ = writeln!(md, "\n{note}");
        }

        let r = &self.revocation;
        let _ = writeln!(md, "\n## 7. Revocation latency\n");
        let _ = writeln!(
            md,
            "A session is ended at the auth-api (`DELETE /auth/sessions/{{id}}`); the clock runs \
             from sending that until the frontend first answers the session's cookie with a \
             redirect to sign-in. The frontend learns of it from its long poll of \
             `/auth/revocations`, which the auth-api answers the moment a session ends.\n"
        );
        let _ = writeln!(
            md,
            "| Trials | p50 ms | p99 ms | Max ms | Not refused within 5 s |\n|---|---|---|---|---|"
        );
        let _ = writeln!(
            md,
            "| {} | {:.1} | {:.1} | {:.1} | {} |",
            r.latencies.requests,
            r.latencies.p50(),
            r.latencies.p99(),
            r.latencies.max_ms(),
            r.refused_late
        );

        self.render_weight(&mut md);

        let _ = writeln!(md, "\n## 8. Micro-benchmarks (criterion)\n");
        let _ =
            writeln!(md, "| Benchmark | What | Median µs | 95 % interval µs |\n|---|---|---|---|");
        for micro in &self.micro {
            let _ = writeln!(
                md,
                "| `{}` | {} | {:.3} | {:.3}–{:.3} |",
                micro.name,
                micro.what,
                micro.median_ns / 1000.0,
                micro.low_ns / 1000.0,
                micro.high_ns / 1000.0
            );
        }
        md
    }

    fn render_weight_summary(&self, md: &mut String) {
        let page = weight::PAGE;
        let (on_target, off_target) = (kb(weight::JS_ON_TARGET), kb(weight::JS_OFF_TARGET));
        match &self.weight {
            Ok(w) => {
                let _ = writeln!(
                    md,
                    "| 13 | First visit to `{page}`, JavaScript on: bytes transferred | ≤ {on_target} | {} | {} |",
                    kb(w.js_on_bytes),
                    verdict(w.js_on_bytes <= weight::JS_ON_TARGET)
                );
                let _ = writeln!(
                    md,
                    "| 13 | First visit to `{page}`, JavaScript off: bytes transferred | ≤ {off_target} | {} | {} |",
                    kb(w.js_off_bytes),
                    verdict(w.js_off_bytes <= weight::JS_OFF_TARGET)
                );
            }
            Err(reason) => {
                for (js, target) in [("on", on_target), ("off", off_target)] {
                    let _ = writeln!(
                        md,
                        "| 13 | First visit to `{page}`, JavaScript {js}: bytes transferred | ≤ {target} | skipped: {reason} | |"
                    );
                }
            }
        }
    }

    fn render_weight(&self, md: &mut String) {
        let page = weight::PAGE;
        let _ = writeln!(md, "\n## 13. Page weight of a first visit\n");
        let _ = writeln!(
            md,
            "A frontend serving the release bundle (`scripts/wasm.sh release`: the `wasm-release` \
             profile, split into lazily loaded chunks, `wasm-opt -Oz`, pre-compressed), visited in \
             headless Chromium through chromedriver by `bench/page_weight.mjs`, each visit with an \
             empty cache and profile. Bytes transferred are Resource Timing's `transferSize` of the \
             document and everything it fetched (the icon too, when Chromium lists it there): \
             headers and bodies as they crossed the wire, brotli-compressed. 1 KB = 1,000 bytes.\n"
        );
        let w = match &self.weight {
            Ok(w) => w,
            Err(reason) => {
                let _ = writeln!(md, "Skipped: {reason}.");
                return;
            }
        };
        let _ = writeln!(
            md,
            "| First visit to `{page}` | Bytes transferred | Target | |\n|---|---|---|---|"
        );
        for (what, bytes, target) in [
            ("JavaScript on", w.js_on_bytes, weight::JS_ON_TARGET),
            ("JavaScript off", w.js_off_bytes, weight::JS_OFF_TARGET),
        ] {
            let _ = writeln!(
                md,
                "| {what} | {bytes} ({}) | ≤ {} | {} |",
                kb(bytes),
                kb(target),
                verdict(bytes <= target)
            );
        }
        let parts = w
            .by_kind()
            .into_iter()
            .map(|(kind, n, bytes)| {
                format!("{kind} {} in {n} request{}", kb(bytes), if n == 1 { "" } else { "s" })
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(md, "\nWith JavaScript on, by kind: {parts}.\n");
        let h = &w.hydrated_ms;
        let _ = writeln!(
            md,
            "| Time from navigation to hydrated (`<html data-hydrated>`) | Median ms | Min–max ms | Loads |\n|---|---|---|---|"
        );
        let _ = writeln!(
            md,
            "| First visit to `{page}`, empty cache | {:.0} | {:.0}–{:.0} | {} |",
            h.median, h.min, h.max, h.loads
        );
    }

    /// Where the CPU went in one more run of each page: the evidence for
    /// what bounds the protected/public ratio on this machine.
    fn render_page_cpu(&self, md: &mut String, cpu: &[Metered; 2]) {
        let [public, protected] = cpu;
        let _ = writeln!(
            md,
            "\nWhere the CPU went, in one more run of each ({:.1} s, CPU time from `/proc`; the \
             driver is this benchmark's own process, on the same cores):\n",
            protected.used.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            md,
            "| Run | Views/s | Frontend µs per view | Driver µs per view | Frontend context switches per view | Cores busy |\n|---|---|---|---|---|---|"
        );
        for (name, m) in [("public", public), ("protected", protected)] {
            let _ = writeln!(
                md,
                "| {name} | {:.0} | {:.1} | {:.1} | {:.2} | {:.0} % |",
                m.run.throughput(),
                m.cpu_per_request(0),
                m.cpu_per_request(1),
                m.switches_per_request(0),
                100.0 * m.used.machine_busy
            );
        }
        let extra = protected.cpu_per_request(0) - public.cpu_per_request(0);
        let both = |m: &Metered| m.cpu_per_request(0) + m.cpu_per_request(1);
        let guard = self.micro.iter().find(|m| m.name == "guard/fast_path");
        let _ = writeln!(
            md,
            "\nThe protected view costs the frontend {extra:.1} µs more CPU than its twin{}. With the \
             cores busy, throughput follows CPU per view: (frontend + driver) public ÷ protected \
             = {:.3}, the ratio this machine allows for that difference.",
            guard.map_or(String::new(), |g| format!(
                " (the guard's whole decision takes {:.2} µs under criterion, §8)",
                g.median_ns / 1000.0
            )),
            both(public) / both(protected)
        );
    }

    /// Where the CPU went in one more closed-loop run of refresh grants, and
    /// what p99 ≤ 5 ms would take on these cores.
    fn render_grant_cpu(&self, md: &mut String, g: &Grants, cpu: &Metered) {
        let cores = self.machine.cores as f64;
        let rate = cpu.run.throughput();
        let server = cpu.cpu_per_request(0);
        let driver = cpu.cpu_per_request(1);
        let mean_ms = crate::scenarios::CONNECTIONS as f64 / g.runs.throughput().median * 1000.0;
        let tail = g.runs.p99().median / mean_ms;
        let needed = crate::scenarios::CONNECTIONS as f64 / (5.0 / tail / 1000.0);
        let _ = writeln!(
            md,
            "\nWhere the CPU went in one more closed-loop run on SQLite ({:.1} s, from `/proc`): \
             {rate:.0} grants/s; the auth-api used {server:.0} µs and the driver {driver:.0} µs of \
             CPU per grant, with {:.1} context switches per grant in the auth-api; the cores were \
             {:.0} % busy. In a closed loop of {} clients the mean latency is {} ÷ throughput = \
             {mean_ms:.1} ms, and p99 was {tail:.1} × the mean. For p99 ≤ 5 ms the mean would have \
             to be ≤ {:.1} ms: ≥ {needed:.0} grants/s, which {cores:.0} fully busy cores allow only \
             at ≤ {:.0} µs of CPU per grant for server and driver together ({:.0} µs here). \
             Open loop at a rate the cores can serve (the row above), a grant's own latency is \
             what remains.{}",
            cpu.used.elapsed.as_secs_f64(),
            cpu.switches_per_request(0),
            100.0 * cpu.used.machine_busy,
            crate::scenarios::CONNECTIONS,
            crate::scenarios::CONNECTIONS,
            5.0 / tail,
            cores / needed * 1e6,
            server + driver,
            g.floor.as_ref().map_or(String::new(), |f| format!(
                "\n\nThe floor: the same {} connections asking the auth-api for its cheapest \
                 answer (JWKS, a string in memory; each round right after its grant round) got \
                 {:.0} answers/s at p99 {:.2} ms. That is what HTTP alone costs on these cores \
                 with this driver: the 5 ms target is {:.1} × what answering anything at all \
                 costs here, and within it a grant must read the token, seal and write its \
                 successor and sign an access token.",
                crate::scenarios::CONNECTIONS,
                f.throughput().median,
                f.p99().median,
                5.0 / f.p99().median
            ))
        );
    }

    fn scale_note_pages(&self) -> String {
        let s = &self.pages.public.runs.0.first();
        s.map_or_else(String::new, |r| format!("{:.1} s measured after a warm-up", r.seconds))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_session_may_swap_once_per_token_it_uses() {
        // 31 s with 20 s tokens swapped 10 s early: each token serves 10 s.
        assert_eq!(super::lifetimes(31.0, 20), 4.0);
        assert_eq!(super::lifetimes(30.0, 20), 3.0);
    }
}
