//! Calling an upstream app from a server function, as the signed-in user:
//! what a page does to render the app's data on the server (the `/notes`
//! page does). The route table finds the app for `path` — the same entry
//! the browser's own requests to that path use — and the user's access
//! token, refreshed first if it is due, goes in `Authorization`.

use actix_web::{
    HttpRequest,
    http::{Method, StatusCode},
    web,
};
use leptos::prelude::*;
use leptos_actix::{Request, ResponseOptions};
use serde::de::DeserializeOwned;

use super::UpstreamClient;
use crate::{auth_client::AuthClient, session::context, state::FrontendState};

/// `method path` at the app that serves `path`, with `body` as JSON; its
/// JSON answer.
pub async fn as_user<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<T, ServerFnError> {
    let subject = context::access_token().await?;
    let req: HttpRequest = use_context::<Request>()
        .map(|r| (*r).clone())
        .ok_or_else(|| ServerFnError::new("no request in context"))?;
    let state = req.app_data::<web::Data<FrontendState>>().cloned();
    let client = req.app_data::<web::Data<UpstreamClient>>().cloned();
    let auth = req.app_data::<web::Data<AuthClient>>().cloned();
    let (Some(state), Some(client), Some(auth)) = (state, client, auth) else {
        return Err(ServerFnError::new("no upstream client"));
    };
    let Some(upstream) = state.routes.lookup(path).ok().and_then(|r| r.upstream) else {
        return Err(fail(StatusCode::NOT_FOUND, "That app is not set up on this site."));
    };
    // The app's own token, as the proxy sends it (`session::exchange`).
    let session = context::signed_in()?.user.session_id;
    let token = state
        .upstream_tokens
        .token_for(&auth, &session, &subject, &upstream.audience, state.now())
        .await
        .map_err(context::to_server_error)?;
    let request = client
        .0
        .request(method, format!("{}{path}", upstream.url))
        .timeout(upstream.timeout)
        .bearer_auth(token);
    let sent = match body {
        Some(json) => request.send_json(&json).await,
        None => request.send().await,
    };
    let mut res = match sent {
        Ok(res) => res,
        Err(awc::error::SendRequestError::Timeout) => {
            return Err(fail(StatusCode::GATEWAY_TIMEOUT, "The app did not answer in time."));
        }
        Err(e) => {
            tracing::warn!(upstream = %upstream.path, error = %e, "upstream unavailable");
            return Err(fail(StatusCode::BAD_GATEWAY, "The app is unavailable right now."));
        }
    };
    // The body has its own clock: an app that stalls after its headers
    // must not hold the page's rendering.
    let body = tokio::time::timeout(upstream.timeout, res.json::<serde_json::Value>()).await;
    let body = match body {
        Ok(Ok(json)) => json,
        Ok(Err(e)) if res.status().is_success() => {
            tracing::warn!(upstream = %upstream.path, error = %e, "upstream answered unreadable JSON");
            return Err(fail(StatusCode::BAD_GATEWAY, "The app's answer could not be read."));
        }
        Ok(Err(_)) => serde_json::Value::Null,
        Err(_) => {
            return Err(fail(StatusCode::GATEWAY_TIMEOUT, "The app did not answer in time."));
        }
    };
    if !res.status().is_success() {
        let status = res.status();
        // The app's own words, when it gives them in the usual shape.
        let said = body.get("error_description").and_then(|d| d.as_str()).map(str::to_owned);
        let message = said.unwrap_or_else(|| format!("The app answered {status}."));
        return Err(fail(status, &message));
    }
    serde_json::from_value(body).map_err(|e| {
        tracing::warn!(upstream = %upstream.path, error = %e, "upstream answered unexpected JSON");
        fail(StatusCode::BAD_GATEWAY, "The app's answer could not be read.")
    })
}

fn fail(status: StatusCode, message: &str) -> ServerFnError {
    if let Some(res) = use_context::<ResponseOptions>() {
        res.set_status(status);
    }
    ServerFnError::new(message)
}
