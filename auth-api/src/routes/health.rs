//! Liveness and readiness, for an orchestrator's probes and a load
//! balancer's checks.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

/// The longest `/readyz` waits for the database: a probe has its own timeout
/// (Kubernetes: 1 s by default), and a database that takes longer than this
/// to say `SELECT 1` is not one to send traffic to.
const DATABASE_DEADLINE: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process is alive and serving HTTP. Nothing else: a
/// liveness probe that failed with the database would have every instance
/// restarted during a database outage, which restarts cannot fix.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: this instance can serve: the database answers and a
/// signing key is loaded. Otherwise `503` and the reasons, so that a load
/// balancer sends requests elsewhere while, say, the database is away.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut reasons = Vec::new();
    match tokio::time::timeout(DATABASE_DEADLINE, state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            reasons.push("the database does not answer");
        }
        Err(_) => {
            tracing::warn!("not ready: the database did not answer within 2 s");
            reasons.push("the database did not answer within 2 s");
        }
    }
    if state.keys.snapshot().signer.is_none() {
        reasons.push("no signing key is loaded");
    }
    state.metrics.ready(reasons.is_empty());
    if reasons.is_empty() {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(json!({ "status": "unavailable", "reasons": reasons }))
    }
}
