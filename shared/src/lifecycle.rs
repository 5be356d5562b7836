//! How both servers start serving and stop: their readiness, as `/readyz`
//! answers it and the `ready` gauge shows it, and the signals that stop them.

use std::sync::RwLock;

use actix_web::HttpResponse;
use prometheus_client::metrics::gauge::Gauge;

/// Whether this instance can serve, with the reasons when it cannot. Checked
/// in the background by each server (cheaply, on a timer), so that `/readyz`
/// costs nothing however often it is asked, and the `ready` gauge follows
/// even an instance nobody probes.
pub struct Readiness {
    reasons: RwLock<Vec<&'static str>>,
    gauge: Gauge,
}

impl Readiness {
    /// Not ready until the first check says otherwise.
    pub fn new(gauge: Gauge) -> Self {
        Self { reasons: RwLock::new(vec!["starting"]), gauge }
    }

    /// Records a check's verdict (no reasons: ready), logging each change.
    pub fn set(&self, reasons: Vec<&'static str>) {
        let mut current = self.reasons.write().unwrap_or_else(|e| e.into_inner());
        if *current != reasons {
            if reasons.is_empty() {
                tracing::info!("ready");
            } else {
                tracing::warn!(reasons = ?reasons, "not ready");
            }
        }
        self.gauge.set(i64::from(reasons.is_empty()));
        *current = reasons;
    }

    pub fn is_ready(&self) -> bool {
        self.reasons.read().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// `GET /readyz`: `200 {"status":"ready"}`, or `503` with the reasons
    /// (`Retry-After: 1`): what is missing, never how to get at it.
    pub fn respond(&self) -> HttpResponse {
        let reasons = self.reasons.read().unwrap_or_else(|e| e.into_inner()).clone();
        if reasons.is_empty() {
            HttpResponse::Ok().json(Status { status: "ready", reasons: None })
        } else {
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "1"))
                .insert_header(("Cache-Control", "no-store"))
                .json(Status { status: "unavailable", reasons: Some(reasons) })
        }
    }
}

#[derive(serde::Serialize)]
struct Status {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasons: Option<Vec<&'static str>>,
}

/// Resolves at the first SIGTERM (what orchestrators send) or SIGINT
/// (Ctrl-C). Never, if neither can be listened for: the signals then keep
/// their default effect, ending the process at once.
pub async fn stop_requested() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM and SIGINT; they stop the server at once");
            std::future::pending::<()>().await;
        }
    }
}

/// Stops `server` at once at a second SIGTERM or SIGINT, for whoever will
/// not wait out the grace the first one started (a person pressing Ctrl-C
/// again). Spawn it beside the server.
pub async fn second_signal_stops_at_once(server: actix_web::dev::ServerHandle) {
    // Listening from now: the first signal arrives after this is polled.
    stop_requested().await;
    stop_requested().await;
    tracing::warn!("stopping now: requests still in flight are cut off");
    server.stop(false).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_starts_unready_and_the_gauge_follows_each_verdict() {
        let gauge = Gauge::default();
        let readiness = Readiness::new(gauge.clone());
        assert!(!readiness.is_ready());
        assert_eq!(gauge.get(), 0);
        readiness.set(vec![]);
        assert!(readiness.is_ready());
        assert_eq!(gauge.get(), 1);
        readiness.set(vec!["the database does not answer"]);
        assert_eq!(gauge.get(), 0);
        assert_eq!(readiness.respond().status(), actix_web::http::StatusCode::SERVICE_UNAVAILABLE);
    }
}
