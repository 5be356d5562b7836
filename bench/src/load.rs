//! Fixed-concurrency load: N simulated clients, each on its own keep-alive
//! connection, each sending its next request as soon as the last answered
//! (closed loop). A warm-up is run and thrown away before the measured
//! window; every run is bounded by its duration.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::http::{Conn, Error};

/// Latency distribution and throughput of one measured window.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    /// Sorted, microseconds.
    latencies: Vec<u32>,
}

impl Stats {
    pub fn from_latencies(mut latencies: Vec<u32>, errors: u64, seconds: f64) -> Self {
        latencies.sort_unstable();
        Self { requests: latencies.len() as u64, errors, seconds, latencies }
    }

    pub fn throughput(&self) -> f64 {
        if self.seconds > 0.0 { self.requests as f64 / self.seconds } else { 0.0 }
    }

    /// The `q` quantile in milliseconds (nearest rank).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank =
            ((q * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        f64::from(self.latencies[rank - 1]) / 1000.0
    }

    pub fn p50(&self) -> f64 {
        self.quantile_ms(0.50)
    }

    pub fn p99(&self) -> f64 {
        self.quantile_ms(0.99)
    }

    pub fn max_ms(&self) -> f64 {
        self.quantile_ms(1.0)
    }
}

/// One simulated client: its connection and whatever it carries between
/// requests (a cookie, a refresh token).
pub trait Client: Send + 'static {
    /// The server this client talks to.
    fn addr(&self) -> SocketAddr;

    /// Sends the next request on `conn` and says whether the answer was a
    /// success, updating the client's own state from it.
    fn step(
        &mut self,
        conn: &mut Conn,
    ) -> impl std::future::Future<Output = Result<Outcome, Error>> + Send;
}

pub struct Outcome {
    pub ok: bool,
    /// Counted separately as well (e.g. the request carried a token swap).
    pub tagged: bool,
}

pub struct Run {
    pub all: Stats,
    /// Only the requests whose outcome was tagged.
    pub tagged: Stats,
}

/// Runs `clients` concurrently: `warmup`, then `measure`.
pub async fn run<C: Client>(
    clients: Vec<C>,
    warmup: Duration,
    measure: Duration,
) -> Result<(Run, Vec<C>), Error> {
    drive(clients, warmup, measure, None).await
}

/// Like `run`, but open loop: the clients together send `rate` requests per
/// second on a fixed schedule, staggered evenly, whatever the answers take.
/// A request sent late because the previous answer came late is timed from
/// its *scheduled* time, so a server that falls behind is charged for the
/// wait (no coordinated omission).
pub async fn run_paced<C: Client>(
    clients: Vec<C>,
    warmup: Duration,
    measure: Duration,
    rate: f64,
) -> Result<(Run, Vec<C>), Error> {
    drive(clients, warmup, measure, Some(rate)).await
}

/// A closed-loop run with no warm-up, with the CPU of `pids` (and the
/// machine's) accounted over it: for a per-request cost, every request of
/// the window counts.
pub async fn run_metered<C: Client>(
    clients: Vec<C>,
    measure: Duration,
    pids: &[u32],
) -> Result<(Run, Vec<C>, crate::cpu::Accounting), Error> {
    let meter = crate::cpu::Meter::start(pids);
    let (run, back) = drive(clients, Duration::ZERO, measure, None).await?;
    Ok((run, back, meter.stop()))
}

async fn drive<C: Client>(
    clients: Vec<C>,
    warmup: Duration,
    measure: Duration,
    rate: Option<f64>,
) -> Result<(Run, Vec<C>), Error> {
    let start = Instant::now() + Duration::from_millis(50);
    let interval = rate.map(|r| Duration::from_secs_f64(clients.len() as f64 / r));
    let n = clients.len() as u32;
    let measure_from = start + warmup;
    let until = measure_from + measure;
    let barrier = Arc::new(tokio::sync::Barrier::new(clients.len()));
    let mut tasks = Vec::with_capacity(clients.len());
    for (i, mut client) in clients.into_iter().enumerate() {
        let barrier = barrier.clone();
        // Client i's next slot and the interval between its slots; the first
        // is i/n of an interval after the start.
        let mut schedule = interval.map(|every| (start + every * i as u32 / n, every));
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(client.addr()).await?;
            barrier.wait().await;
            let (mut all, mut tagged, mut errors) = (Vec::new(), Vec::new(), 0u64);
            loop {
                let (slot, sent) = match &mut schedule {
                    Some((next, every)) => {
                        let due = *next;
                        *next += *every;
                        if Instant::now() < due {
                            // Idle until the slot: timed from when the request
                            // leaves, as Tokio's timer wakes up to a
                            // millisecond late and that is the driver's delay,
                            // not the server's.
                            tokio::time::sleep_until(due.into()).await;
                            (due, Instant::now())
                        } else {
                            // Behind (the last answer came after this slot):
                            // timed from the slot, so the server is charged
                            // for the wait it caused.
                            (due, due)
                        }
                    }
                    None => {
                        let now = Instant::now();
                        (now, now)
                    }
                };
                if slot >= until {
                    break;
                }
                let outcome = client.step(&mut conn).await;
                let micros = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                if slot < measure_from {
                    continue;
                }
                match outcome {
                    Ok(o) if o.ok => {
                        all.push(micros);
                        if o.tagged {
                            tagged.push(micros);
                        }
                    }
                    _ => errors += 1,
                }
            }
            Ok::<_, Error>((client, all, tagged, errors))
        }));
    }
    let (mut all, mut tagged, mut errors, mut back) = (Vec::new(), Vec::new(), 0, Vec::new());
    for task in tasks {
        let (client, a, t, e) = task.await??;
        all.extend(a);
        tagged.extend(t);
        errors += e;
        back.push(client);
    }
    let seconds = measure.as_secs_f64();
    Ok((
        Run {
            all: Stats::from_latencies(all, errors, seconds),
            tagged: Stats::from_latencies(tagged, 0, seconds),
        },
        back,
    ))
}

/// The same measurement repeated, summarised as median and spread.
#[derive(Debug, Clone, Default)]
pub struct Rounds(pub Vec<Stats>);

impl Rounds {
    fn spread(&self, f: impl Fn(&Stats) -> f64) -> Spread {
        Spread::of(&self.0.iter().map(f).collect::<Vec<_>>())
    }
    pub fn throughput(&self) -> Spread {
        self.spread(Stats::throughput)
    }
    pub fn p50(&self) -> Spread {
        self.spread(Stats::p50)
    }
    pub fn p99(&self) -> Spread {
        self.spread(Stats::p99)
    }
    pub fn errors(&self) -> u64 {
        self.0.iter().map(|r| r.errors).sum()
    }
    /// Per-round ratio of `self` to `base` (rounds ran side by side).
    pub fn ratio(&self, base: &Rounds, f: impl Fn(&Stats) -> f64) -> Spread {
        let ratios: Vec<f64> = self.0.iter().zip(&base.0).map(|(a, b)| f(a) / f(b)).collect();
        Spread::of(&ratios)
    }
}

/// Median and spread (min, max) of repeated measurements.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Self {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Self { median: f64::NAN, min: f64::NAN, max: f64::NAN };
        }
        let median = if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        };
        Self { median, min: v[0], max: v[v.len() - 1] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let s = Stats::from_latencies((1..=100).map(|ms| ms * 1000).collect(), 0, 2.0);
        assert_eq!(s.p50(), 50.0);
        assert_eq!(s.p99(), 99.0);
        assert_eq!(s.max_ms(), 100.0);
        assert_eq!(s.throughput(), 50.0);
    }

    #[test]
    fn spread_is_median_min_max() {
        let s = Spread::of(&[3.0, 1.0, 2.0, f64::NAN]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(&[1.0, 2.0]).median, 1.5);
    }

    /// Answers at once without touching the connection.
    struct Instant200(SocketAddr);

    impl Client for Instant200 {
        fn addr(&self) -> SocketAddr {
            self.0
        }
        async fn step(&mut self, _: &mut Conn) -> Result<Outcome, Error> {
            Ok(Outcome { ok: true, tagged: false })
        }
    }

    #[tokio::test]
    async fn a_paced_run_sends_on_schedule_not_as_fast_as_it_can() {
        // Conn::open needs something listening; the handshake is lazy.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let clients = (0..4).map(|_| Instant200(addr)).collect();
        let measure = Duration::from_millis(500);
        let (paced, _) = run_paced(clients, Duration::ZERO, measure, 200.0).await.unwrap();
        // 200/s for 0.5 s is 100 slots; the schedule never allows more. A
        // closed loop of instant answers would send millions.
        assert!(paced.all.requests <= 100, "{} requests", paced.all.requests);
        assert!(paced.all.requests >= 50, "{} requests", paced.all.requests);
        accept.abort();
    }
}
