//! The auth-api's Prometheus metrics, served on the private listener
//! (`shared::metrics`, `METRICS_ADDR`) beside the HTTP metrics every server
//! keeps. `docs/operations/` holds the dashboard and alert rules that read
//! them; a test checks that every name they use exists.

use std::{sync::Arc, time::Duration};

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use shared::metrics::{HttpMetrics, latency_histogram};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: &'static str,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub http: HttpMetrics,
    logins: Family<ResultLabels, Counter>,
    refreshes: Family<ResultLabels, Counter>,
    exchanges: Family<ResultLabels, Counter>,
    reuse_detections: Counter,
    revocations: Counter,
    grants: Family<GrantLabels, Histogram>,
    sessions_active: Gauge,
    pool: Family<PoolLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry);
        let metrics = Self {
            registry: Arc::default(),
            http,
            logins: Family::default(),
            refreshes: Family::default(),
            exchanges: Family::default(),
            reuse_detections: Counter::default(),
            revocations: Counter::default(),
            grants: Family::new_with_constructor(latency_histogram),
            sessions_active: Gauge::default(),
            pool: Family::default(),
        };
        registry.register(
            "logins",
            "Sign-in attempts by result (ok, failed, throttled, second_factor)",
            metrics.logins.clone(),
        );
        registry.register(
            "refreshes",
            "Refresh-token grants by result (rotated, retry, reuse, failed)",
            metrics.refreshes.clone(),
        );
        registry.register(
            "token_exchanges",
            "Token exchanges for an upstream's audience by result (ok, or the error code)",
            metrics.exchanges.clone(),
        );
        registry.register(
            "refresh_reuse_detections",
            "Refresh tokens presented after their successor was used (session ended)",
            metrics.reuse_detections.clone(),
        );
        registry.register(
            "revocations",
            "Sessions ended before their timeout",
            metrics.revocations.clone(),
        );
        registry.register(
            "grant_duration_seconds",
            "Time to answer POST /auth/token, by grant type (password, refresh_token, …)",
            metrics.grants.clone(),
        );
        registry.register(
            "sessions_active",
            "Sessions neither ended nor past their absolute expiry (counted every 30 s)",
            metrics.sessions_active.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Database connections by pool (reads, writes) and state (idle, in_use), every 5 s; \
             in_use at the pool's size means queries are waiting for a connection",
            metrics.pool.clone(),
        );
        Self { registry: Arc::new(registry), ..metrics }
    }
}

impl Metrics {
    pub fn login(&self, result: &'static str) {
        self.logins.get_or_create(&ResultLabels { result }).inc();
    }

    pub fn refresh(&self, result: &'static str) {
        self.refreshes.get_or_create(&ResultLabels { result }).inc();
    }

    pub fn exchange(&self, result: &'static str) {
        self.exchanges.get_or_create(&ResultLabels { result }).inc();
    }

    pub fn reuse_detected(&self) {
        self.reuse_detections.inc();
    }

    pub fn revoked(&self, sessions: u64) {
        self.revocations.inc_by(sessions);
    }

    pub fn grant(&self, grant_type: &'static str, took: Duration) {
        self.grants.get_or_create(&GrantLabels { grant_type }).observe(took.as_secs_f64());
    }

    pub fn sessions_active(&self, count: i64) {
        self.sessions_active.set(count);
    }

    pub fn pool(&self, pool: &'static str, size: u32, idle: usize) {
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        self.pool.get_or_create(&PoolLabels { pool, state: "idle" }).set(idle);
        // `size` and `num_idle` are read apart: never below 0 in between.
        let in_use = (i64::from(size) - idle).max(0);
        self.pool.get_or_create(&PoolLabels { pool, state: "in_use" }).set(in_use);
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }
}

/// Middleware: one log line per request, inside its request-id span.
pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = std::time::Instant::now();
    let res = next.call(req).await?;
    let status = res.status().as_u16();
    tracing::info!(status, elapsed_ms = started.elapsed().as_millis() as u64, "request finished");
    Ok(res)
}
