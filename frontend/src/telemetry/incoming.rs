//! In: which peers' trace context is continued (the module's parent says why).

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use shared::telemetry::TRACE_HEADERS;

use crate::state::FrontendState;

/// Outermost middleware: forgets the trace context an untrusted peer sent.
pub async fn trust_trace_context(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let carries = TRACE_HEADERS.iter().any(|h| req.headers().contains_key(*h));
    if carries && !followed(&req) {
        for header in TRACE_HEADERS {
            req.headers_mut().remove(header);
        }
    }
    next.call(req).await
}

fn followed(req: &ServiceRequest) -> bool {
    let Some(state) = req.app_data::<web::Data<FrontendState>>() else { return false };
    if !state.settings.trace_from_proxies {
        return false;
    }
    let Some(peer) = req.peer_addr().map(|a| a.ip().to_canonical()) else { return false };
    state.settings.trusted_proxies.iter().any(|net| net.contains(&peer))
}
