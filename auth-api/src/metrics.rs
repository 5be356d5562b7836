//! Prometheus counters, served as text at `/metrics` on a listener of their
//! own (`METRICS_ADDR`, private), never on the public one: request counts by
//! route tell an outsider who signs in when, and scraping is an operator's
//! business.
//!
//! Labels are bounded: the route is the matched *pattern* (`/auth/sessions/{id}`),
//! never the raw path, so a scanner cannot blow up the series count.

use std::sync::Arc;

use actix_web::{
    App, Error, HttpResponse, HttpServer,
    body::MessageBody,
    dev::{Server, ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    in_flight: Gauge,
    logins: Family<ResultLabels, Counter>,
    refreshes: Family<ResultLabels, Counter>,
    exchanges: Family<ResultLabels, Counter>,
    reuse_detections: Counter,
    revocations: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let in_flight = Gauge::default();
        let logins = Family::<ResultLabels, Counter>::default();
        let refreshes = Family::<ResultLabels, Counter>::default();
        let exchanges = Family::<ResultLabels, Counter>::default();
        let reuse_detections = Counter::default();
        let revocations = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being handled (until their answer starts)",
            in_flight.clone(),
        );
        registry.register(
            "logins",
            "Password logins by result (ok, failed, throttled)",
            logins.clone(),
        );
        registry.register(
            "refreshes",
            "Refresh-token grants by result (rotated, retry, reuse, failed)",
            refreshes.clone(),
        );
        registry.register(
            "token_exchanges",
            "Token exchanges for an upstream's audience by result (ok, or the error code)",
            exchanges.clone(),
        );
        registry.register(
            "refresh_reuse_detections",
            "Refresh tokens presented after their successor was used (session ended)",
            reuse_detections.clone(),
        );
        registry.register(
            "revocations",
            "Sessions ended before their timeout",
            revocations.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            in_flight,
            logins,
            refreshes,
            exchanges,
            reuse_detections,
            revocations,
        }
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

    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Middleware counting every response by route pattern, method and status,
/// and logging one line per request inside its request-id span.
pub async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let metrics = req.app_data::<Metrics>().cloned();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = std::time::Instant::now();
    // Counted down however the request ends, a cancelled one too.
    let _in_flight = metrics.as_ref().map(|m| InFlight::enter(&m.in_flight));
    let res = next.call(req).await?;
    let status = res.status().as_u16();
    tracing::info!(status, elapsed_ms = started.elapsed().as_millis() as u64, "request finished");
    if let Some(metrics) = metrics {
        metrics.requests.get_or_create(&RequestLabels { route, method, status }).inc();
    }
    Ok(res)
}

/// One request in `http_requests_in_flight`, for as long as it lives.
struct InFlight(Gauge);

impl InFlight {
    fn enter(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Starts the metrics listener on `listener`: `GET /metrics` and 404 for
/// everything else, one worker. It ignores signals; whoever runs the public
/// server stops it after that one (see `startup`).
pub fn serve(listener: std::net::TcpListener, metrics: Metrics) -> std::io::Result<Server> {
    let metrics = web::Data::new(metrics);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .route("/metrics", web::get().to(exposition))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .shutdown_timeout(1)
    .run())
}

/// `GET /metrics`: Prometheus text exposition.
async fn exposition(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(metrics.render())
}
