//! The Prometheus plumbing both servers share: the HTTP metrics every
//! request updates, the latency buckets, and the private listener that
//! serves `/metrics` (`METRICS_ADDR`), never the public one: request counts
//! by route tell an outsider who signs in when, and scraping is an
//! operator's business. Each server registers its own metrics beside these
//! in one [`Registry`].
//!
//! Labels are bounded: the route is the matched *pattern*
//! (`/auth/sessions/{id}`), never the raw path, and the method one of the
//! standard ones or `other` (HTTP lets a client make up methods), so a
//! scanner cannot blow up the series count.

use std::{sync::Arc, time::Instant};

use actix_web::{
    App, Error, HttpResponse, HttpServer,
    body::MessageBody,
    dev::{Server, ServiceRequest, ServiceResponse},
    http::Method,
    middleware::Next,
    web,
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

/// Latency buckets in seconds, 0.5 ms to ~8 s doubling: fine enough below
/// the millisecond where the fast paths live, wide enough for a stuck call.
pub fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// What every request updates, whichever server answers it.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    in_flight: Gauge,
    ready: Gauge,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            durations: Family::new_with_constructor(latency_histogram),
            in_flight: Gauge::default(),
            ready: Gauge::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            metrics.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the start of each answer, by route and method (a page's: its rendering)",
            metrics.durations.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being handled (until their answer starts)",
            metrics.in_flight.clone(),
        );
        registry.register(
            "ready",
            "1 while this instance is ready (as /readyz answers; checked every second), else 0",
            metrics.ready.clone(),
        );
        metrics
    }

    /// The `ready` gauge, which `lifecycle::Readiness` sets.
    pub fn ready(&self) -> Gauge {
        self.ready.clone()
    }
}

/// Middleware: counts every response by route pattern, method and status,
/// and times it, reading the [`HttpMetrics`] in the app's data (requests
/// go uncounted in an app without them).
pub async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let metrics = req.app_data::<web::Data<HttpMetrics>>().cloned();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(req.method()).to_owned();
    let started = Instant::now();
    // Counted down however the request ends, a cancelled one too.
    let _in_flight = metrics.as_ref().map(|m| InFlight::enter(&m.in_flight));
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        let status = res.status().as_u16();
        let labels = RouteLabels { route, method };
        metrics.durations.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
        let RouteLabels { route, method } = labels;
        metrics.requests.get_or_create(&RequestLabels { route, method, status }).inc();
    }
    Ok(res)
}

/// The `method` label: a standard method's name, any other `other`.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    STANDARD.iter().find(|m| *m == method).map_or("other", Method::as_str)
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

/// The registry in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, registry).expect("writing to a String cannot fail");
    out
}

/// Starts the metrics listener on `listener`: `GET /metrics` and 404 for
/// everything else, one worker. It ignores signals: whoever runs the public
/// server stops it after that one.
pub fn serve(listener: std::net::TcpListener, registry: Arc<Registry>) -> std::io::Result<Server> {
    let registry = web::Data::from(registry);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(registry.clone())
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
async fn exposition(registry: web::Data<Registry>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(render(&registry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_up_method_is_labelled_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        for made_up in ["AAA1", "AAA2", "get"] {
            assert_eq!(method_label(&Method::from_bytes(made_up.as_bytes()).unwrap()), "other");
        }
    }
}
