//! `FrontendError`: the answers the frontend gives instead of a page, and the
//! one place that decides each one's status and HTML. Error pages are plain
//! HTML with the site's stylesheet: they must render even when nothing else
//! works (no auth-api, no session).

use actix_web::{HttpResponse, ResponseError, http::StatusCode};

#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error("forbidden")]
    Forbidden,
    #[error("cross-origin request refused")]
    CrossOrigin,
    #[error("the auth-api is unavailable")]
    AuthUnavailable,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("length required")]
    LengthRequired,
    /// An app's API called without a session (never a redirect: a script
    /// cannot follow one to a sign-in form).
    #[error("not signed in")]
    SignedOut,
    /// An app's API called without `X-CSRF: 1`.
    #[error("the X-CSRF header is required")]
    CsrfHeaderRequired,
    /// The user must first change a temporary password or set up a second
    /// factor (`error` names which).
    #[error("{0}")]
    ActionRequired(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the upstream app is unavailable")]
    UpstreamUnavailable,
    #[error("the upstream app did not answer in time")]
    UpstreamTimeout,
}

impl FrontendError {
    fn parts(&self) -> (&'static str, &'static str) {
        match self {
            FrontendError::Forbidden => (
                "You do not have access to this page",
                "This page needs a role your account does not have. If you think you should \
                 see it, ask an administrator.",
            ),
            FrontendError::CrossOrigin => (
                "Request refused",
                "This request did not come from a Cloakroom page, so it was not carried out. \
                 If you used a form on this site, go back, reload the page and try again.",
            ),
            FrontendError::AuthUnavailable => (
                "Sign-in is temporarily unavailable",
                "We could not check your session because the sign-in service is not responding. \
                 You have not been signed out. Please try again in a moment.",
            ),
            FrontendError::BadRequest(why) => ("That request could not be understood", why),
            FrontendError::PayloadTooLarge => (
                "That request was too large",
                "The form you sent was larger than this site accepts.",
            ),
            FrontendError::LengthRequired => (
                "That request could not be accepted",
                "Requests to this site must say how long they are (Content-Length).",
            ),
            FrontendError::SignedOut => ("You are not signed in", "Sign in first."),
            FrontendError::CsrfHeaderRequired => {
                ("Request refused", "Requests to this API must carry the header X-CSRF: 1.")
            }
            FrontendError::ActionRequired(_) => (
                "One more step first",
                "Change your temporary password or set up a second factor before going on.",
            ),
            FrontendError::MethodNotAllowed => (
                "That request could not be accepted",
                "This site does not pass TRACE or CONNECT requests on.",
            ),
            FrontendError::UpstreamUnavailable => (
                "This part of the site is unavailable",
                "The application behind this page is not responding. You are still signed in. \
                 Please try again in a moment.",
            ),
            FrontendError::UpstreamTimeout => (
                "This page took too long",
                "The application behind this page did not answer in time. You are still signed \
                 in. Please try again in a moment.",
            ),
        }
    }

    /// The `error` code of the JSON answer (RFC 6749's style).
    fn code(&self) -> &'static str {
        match self {
            FrontendError::Forbidden => "forbidden",
            FrontendError::CrossOrigin => "cross_origin",
            FrontendError::AuthUnavailable => "temporarily_unavailable",
            FrontendError::BadRequest(_) => "invalid_request",
            FrontendError::PayloadTooLarge => "payload_too_large",
            FrontendError::LengthRequired => "length_required",
            FrontendError::SignedOut => "unauthorized",
            FrontendError::CsrfHeaderRequired => "csrf_header_required",
            FrontendError::ActionRequired(code) => code,
            FrontendError::MethodNotAllowed => "method_not_allowed",
            FrontendError::UpstreamUnavailable => "bad_gateway",
            FrontendError::UpstreamTimeout => "gateway_timeout",
        }
    }

    pub fn into_page(self) -> HttpResponse {
        self.error_response()
    }

    /// For an app's API: `{"error", "error_description"}`, the shape the
    /// auth-api answers with too.
    pub fn into_json(self) -> HttpResponse {
        let (_, description) = self.parts();
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header(("Cache-Control", "no-store"));
        if matches!(self, FrontendError::AuthUnavailable) {
            res.insert_header(("Retry-After", "5"));
        }
        res.json(serde_json::json!({ "error": self.code(), "error_description": description }))
    }

    /// A page, or JSON for an app's API.
    pub fn respond(self, json: bool) -> HttpResponse {
        if json { self.into_json() } else { self.into_page() }
    }
}

impl ResponseError for FrontendError {
    fn status_code(&self) -> StatusCode {
        match self {
            FrontendError::Forbidden
            | FrontendError::CrossOrigin
            | FrontendError::CsrfHeaderRequired
            | FrontendError::ActionRequired(_) => StatusCode::FORBIDDEN,
            FrontendError::SignedOut => StatusCode::UNAUTHORIZED,
            FrontendError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            FrontendError::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            FrontendError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            FrontendError::AuthUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            FrontendError::BadRequest(_) => StatusCode::BAD_REQUEST,
            FrontendError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            FrontendError::LengthRequired => StatusCode::LENGTH_REQUIRED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message) = self.parts();
        let mut res = HttpResponse::build(self.status_code());
        res.content_type("text/html; charset=utf-8").insert_header(("Cache-Control", "no-store"));
        if matches!(self, FrontendError::AuthUnavailable) {
            res.insert_header(("Retry-After", "5"));
        }
        res.body(page(self.status_code(), title, message))
    }
}

/// A complete, script-free page. `title` and `message` are our own constants.
fn page(status: StatusCode, title: &str, message: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark"><title>{title} · Cloakroom</title><link rel="stylesheet" href="{css}"></head><body><header class="site-header"><a class="brand" href="/"><span class="brand-mark" aria-hidden="true">▣</span>Cloakroom</a></header><main id="main"><section class="card narrow error-page"><p class="status-code">{code}</p><h1>{title}</h1><p>{message}</p><p><a class="button" href="/">Go to the home page</a></p></section></main></body></html>"#,
        css = crate::app::paths::STYLESHEET,
        code = status.as_u16(),
    )
}

/// Server functions whose arguments do not decode (a form that is not theirs,
/// bytes that are not UTF-8, a missing field) answer `400`: `server_fn`
/// answers every error its function did not give a status to with `500`,
/// and these never reach our code to be given one. Nothing else changes:
/// only `500`s that `server_fn` marks as its own errors are read at all.
pub async fn server_fn_arguments(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::body::{BoxBody, to_bytes_limited};
    use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;

    let res = next.call(req).await?;
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !res.headers().contains_key(SERVER_FN_ERROR_HEADER)
    {
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (mut head, body) = res.into_parts();
    // An encoded `ServerFnError`: a few hundred bytes.
    let body = match to_bytes_limited(body, 64 * 1024).await {
        Ok(Ok(bytes)) => bytes,
        _ => return Ok(actix_web::dev::ServiceResponse::new(req, head.set_body(BoxBody::new(())))),
    };
    // `server_fn`'s own encoding: the variant's name, `|`, the message.
    let undecodable = ["Args|", "MissingArg|", "Deserialization|"]
        .iter()
        .any(|kind| body.starts_with(kind.as_bytes()));
    if undecodable {
        *head.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(actix_web::dev::ServiceResponse::new(req, head.set_body(BoxBody::new(body))))
}
