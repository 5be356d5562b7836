//! The frontend's Prometheus metrics, served on the private listener
//! (`shared::metrics`, `METRICS_ADDR`) beside the HTTP metrics every server
//! keeps (`http_request_duration_seconds{route}` is also each page's render
//! time). `docs/operations/` holds the dashboard and alert rules that read
//! them; a test checks that every name they use exists.
//!
//! Parts of the session layer count through handles of their own
//! ([`RefreshMetrics`], [`JwksMetrics`]), cheap clones of the registered
//! metrics, so that they need not know this module's whole struct.

use std::{sync::Arc, time::Duration};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use shared::metrics::{HttpMetrics, latency_histogram};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamNameLabels {
    upstream: String,
}

/// What the guard decided for one request (`guard_decisions_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No session cookie.
    Anonymous,
    /// A cookie seen before, decided from memory (the fast path).
    Cached,
    /// The cookie's access token verified here.
    Verified,
    /// Fresh tokens from the auth-api.
    Refreshed,
    /// The cookie was invalid or its session ended: cleared.
    SignedOut,
    /// The auth-api unreachable, the cookie's still-valid token served
    /// meanwhile.
    Fallback,
    /// Neither verifiable nor refreshable now (the auth-api unreachable).
    Unavailable,
}

impl Outcome {
    /// Also the guard span's `outcome` attribute (`session::guard`).
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Anonymous => "anonymous",
            Outcome::Cached => "cached",
            Outcome::Verified => "verified",
            Outcome::Refreshed => "refreshed",
            Outcome::SignedOut => "signed_out",
            Outcome::Fallback => "fallback",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// The refresh calls to the auth-api, and the requests that joined one
/// already in flight instead of calling (`session::refresh`).
#[derive(Clone)]
pub struct RefreshMetrics {
    calls: Family<ResultLabels, Counter>,
    duration: Histogram,
    joins: Counter,
}

impl Default for RefreshMetrics {
    fn default() -> Self {
        Self { calls: Family::default(), duration: latency_histogram(), joins: Counter::default() }
    }
}

impl RefreshMetrics {
    pub fn called(&self, result: &'static str, took: Duration) {
        self.calls.get_or_create(&ResultLabels { result }).inc();
        self.duration.observe(took.as_secs_f64());
    }

    pub fn joined(&self) {
        self.joins.inc();
    }
}

/// Fetches of the auth-api's signing keys (`session::jwks`).
#[derive(Clone, Default)]
pub struct JwksMetrics {
    fetches: Family<ResultLabels, Counter>,
}

impl JwksMetrics {
    pub fn fetched(&self, result: &'static str) {
        self.fetches.get_or_create(&ResultLabels { result }).inc();
    }
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub http: HttpMetrics,
    pub refresh: RefreshMetrics,
    pub jwks: JwksMetrics,
    guard: Family<OutcomeLabels, Counter>,
    feed_answered: Gauge,
    upstream_requests: Family<UpstreamLabels, Counter>,
    upstream_duration: Family<UpstreamNameLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry);
        let metrics = Self {
            registry: Arc::default(),
            http,
            refresh: RefreshMetrics::default(),
            jwks: JwksMetrics::default(),
            guard: Family::default(),
            feed_answered: Gauge::default(),
            upstream_requests: Family::default(),
            upstream_duration: Family::new_with_constructor(latency_histogram),
        };
        registry.register(
            "guard_decisions",
            "The session guard's decisions by outcome (anonymous, cached, verified, refreshed, \
             signed_out, fallback, unavailable)",
            metrics.guard.clone(),
        );
        registry.register(
            "refresh_calls",
            "Refresh-token swaps at the auth-api by result (ok, invalid_grant, unavailable, error)",
            metrics.refresh.calls.clone(),
        );
        registry.register(
            "refresh_call_duration_seconds",
            "Time of each refresh-token swap at the auth-api",
            metrics.refresh.duration.clone(),
        );
        registry.register(
            "refresh_single_flight_joins",
            "Requests that used a refresh in flight, or settled in the last 5 s, instead of making one",
            metrics.refresh.joins.clone(),
        );
        registry.register(
            "revocation_feed_last_answer_timestamp_seconds",
            "When the revocation feed last answered (Unix time; the process's start until it does)",
            metrics.feed_answered.clone(),
        );
        registry.register(
            "jwks_fetches",
            "Fetches of the auth-api's signing keys by result (loaded, unusable, failed)",
            metrics.jwks.fetches.clone(),
        );
        registry.register(
            "upstream_requests",
            "Requests forwarded to upstream apps, by upstream (its path) and the status answered",
            metrics.upstream_requests.clone(),
        );
        registry.register(
            "upstream_request_duration_seconds",
            "Time to an upstream's response head, the request's upload included, by upstream",
            metrics.upstream_duration.clone(),
        );
        Self { registry: Arc::new(registry), ..metrics }
    }
}

impl Metrics {
    pub fn decided(&self, outcome: Outcome) {
        self.guard.get_or_create(&OutcomeLabels { outcome: outcome.label() }).inc();
    }

    /// The revocation feed answered at `now` (Unix seconds).
    pub fn feed_answered(&self, now: i64) {
        self.feed_answered.set(now);
    }

    pub fn upstream(&self, upstream: &str, status: u16, took: Duration) {
        let labels = UpstreamLabels { upstream: upstream.to_owned(), status };
        self.upstream_requests.get_or_create(&labels).inc();
        let labels = UpstreamNameLabels { upstream: upstream.to_owned() };
        self.upstream_duration.get_or_create(&labels).observe(took.as_secs_f64());
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }
}
