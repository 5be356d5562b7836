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
}

impl FrontendError {
    fn parts(&self) -> (&'static str, &'static str) {
        match self {
            FrontendError::Forbidden => (
                "You do not have access to this page",
                "This page is for administrators. If you think you should see it, ask one.",
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
        }
    }

    pub fn into_page(self) -> HttpResponse {
        self.error_response()
    }
}

impl ResponseError for FrontendError {
    fn status_code(&self) -> StatusCode {
        match self {
            FrontendError::Forbidden | FrontendError::CrossOrigin => StatusCode::FORBIDDEN,
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
        css = crate::app::STYLESHEET,
        code = status.as_u16(),
    )
}
