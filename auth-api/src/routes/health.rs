//! Liveness and readiness, for an orchestrator's probes and a load
//! balancer's checks.

use std::time::Duration;

use actix_web::{HttpResponse, web};

use crate::state::AppState;

/// `GET /healthz`: the process is alive and serving HTTP. Nothing else: a
/// liveness probe that failed with the database would have every instance
/// restarted during a database outage, which restarts cannot fix.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: this instance can serve (see [`check`]). The answer is the
/// last check's, so asking often costs nothing: no database round trip an
/// anonymous caller could multiply.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    state.readiness.respond()
}

/// The longest the readiness check waits for the database: a database that
/// takes longer to answer `SELECT 1` is not one to send traffic to.
const DATABASE_DEADLINE: Duration = Duration::from_secs(2);

/// Why this instance cannot serve now, if it cannot: the database does not
/// answer, or no signing key is loaded. `startup` runs it every second.
pub async fn check(state: &AppState) -> Vec<&'static str> {
    let mut reasons = Vec::new();
    match tokio::time::timeout(DATABASE_DEADLINE, state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => reasons.push("the database does not answer"),
        Err(_) => reasons.push("the database did not answer within 2 s"),
    }
    if state.keys.snapshot().signer.is_none() {
        reasons.push("no signing key is loaded");
    }
    reasons
}
