//! The second-factor forms of `/account/security`, answered before the page
//! renders so that they work without JavaScript. One form field, `action`,
//! says which:
//!
//! - `setup`: the page again, with the key as a QR code and as text (the
//!   auth-api offers the same key for ten minutes, so a reload or a wrong
//!   code does not break what was scanned);
//! - `confirm` (+ `code`): the app is switched on and the page shows the
//!   recovery codes, once; the session's tokens are swapped at once, so
//!   they say what it proved;
//! - `disable` (+ `code`): off, then `303` back;
//! - `regenerate`: the page with a new set of recovery codes, once;
//! - `remove_passkey` (+ `passkey`, its id): removed, then `303` back.
//!
//! Adding a passkey needs the browser's WebAuthn API, so JavaScript: that
//! is `app::passkeys`, through server functions.
//!
//! The key and the codes exist only in these answers (the guard marks every
//! page of a signed-in browser `no-store`). Changes need a recent password:
//! the auth-api says so, and the browser is sent to confirm it and back.

use actix_web::{
    Error, HttpMessage,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, StatusCode},
    middleware::Next,
};
use serde::Deserialize;

use super::{Posted, read_form, render_with_notice, session_ended, to_sign_in, unavailable};
use crate::{
    app::{
        format::sentence,
        types::{FormNotice, REAUTH_FOR_SECURITY, SecurityNotice},
    },
    auth_client::{AuthClient, AuthError},
    session::guard::{refresh_now, see_other},
};

/// Where the page lives.
pub const PATH: &str = crate::routes::pages::SECURITY;
/// Where a user who must set up a second factor is sent from every protected page.
pub const REQUIRED: &str = crate::routes::pages::SECURITY_REQUIRED;
const DISABLED: &str = "/account/security?disabled=1";

#[derive(Deserialize)]
struct SecurityForm {
    action: String,
    code: Option<String>,
    /// `remove_passkey`: which (its id).
    passkey: Option<String>,
}

pub async fn handle_security(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.method() != Method::POST {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let (client, session, form) = match read_form::<SecurityForm>(&mut req).await {
        Posted::Form { client, session, form } => (client, session, form),
        Posted::SignedOut => return Ok(req.into_response(to_sign_in(PATH))),
        Posted::Incomplete => {
            let notice = FormNotice::error("The form was incomplete.");
            return render_with_notice(req, next, notice, StatusCode::BAD_REQUEST, None).await;
        }
    };
    let token = &session.access_token;
    let code = form.code.as_deref().map(str::trim).unwrap_or_default().to_owned();
    let outcome = match form.action.as_str() {
        "setup" => setup(&client, token, &session.user.username).await,
        "confirm" => match client.totp_confirm(token, &code).await {
            Ok(codes) => {
                // The session proved the app just now: new tokens say so
                // (and lift the hold on a user who had to set one up).
                if let Err(e) = refresh_now(req.request()).await {
                    tracing::warn!(error = %e, "could not refresh the session after enrolment");
                }
                tracing::info!("authenticator app switched on");
                Ok(SecurityNotice::Enabled { recovery_codes: codes.codes })
            }
            Err(AuthError::WrongPassword) => {
                // The same key again, with the reason: the user tries the next code.
                let again = setup(&client, token, &session.user.username).await;
                if let Ok(notice) = again {
                    req.extensions_mut().insert(notice);
                    let refused = FormNotice::error(
                        "That code did not work. Check the time on your phone and enter the code it shows now.",
                    );
                    return render_with_notice(req, next, refused, StatusCode::BAD_REQUEST, None)
                        .await;
                }
                again
            }
            Err(e) => Err(e),
        },
        "disable" => match client.totp_disable(token, &code).await {
            Ok(()) => return Ok(req.into_response(see_other(DISABLED))),
            Err(e) => Err(e),
        },
        "remove_passkey" => {
            let id = form.passkey.as_deref().unwrap_or_default();
            match client.remove_passkey(token, id).await {
                Ok(()) => {
                    return Ok(req.into_response(see_other("/account/security?passkey_removed=1")));
                }
                Err(e) => Err(e),
            }
        }
        "regenerate" => client
            .regenerate_recovery_codes(token)
            .await
            .map(|codes| SecurityNotice::NewCodes { recovery_codes: codes.codes }),
        _ => {
            let notice = FormNotice::error("That is not something this page can do.");
            return render_with_notice(req, next, notice, StatusCode::BAD_REQUEST, None).await;
        }
    };
    let (status, message) = match outcome {
        Ok(notice) => return render_with_notice(req, next, notice, StatusCode::OK, None).await,
        Err(AuthError::ReauthRequired) => {
            return Ok(req.into_response(see_other(REAUTH_FOR_SECURITY)));
        }
        Err(AuthError::InvalidToken | AuthError::InvalidGrant) => {
            let to_sign_in = session_ended(&req, PATH);
            return Ok(req.into_response(to_sign_in));
        }
        Err(AuthError::WrongPassword) => (
            StatusCode::BAD_REQUEST,
            "That code did not work. Enter the code your authenticator app shows now.".to_owned(),
        ),
        Err(AuthError::RateLimited(seconds)) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many attempts — try again in {seconds} seconds."),
        ),
        Err(AuthError::Conflict(why)) => (StatusCode::CONFLICT, sentence(&why)),
        Err(AuthError::NotFound) => {
            (StatusCode::NOT_FOUND, "That is not (or no longer) set up.".to_owned())
        }
        Err(AuthError::SecondFactorRequired) => (
            StatusCode::FORBIDDEN,
            "To change your second factors, sign in again with one of them.".to_owned(),
        ),
        Err(e) => return unavailable(req, next, e, "Changing your second factors").await,
    };
    render_with_notice(req, next, FormNotice::error(message), status, None).await
}

/// A key to scan, with its QR code.
async fn setup(
    client: &AuthClient,
    token: &str,
    username: &str,
) -> Result<SecurityNotice, AuthError> {
    let setup = client.totp_setup(token).await?;
    let qr_svg = qr_svg(&setup.otpauth_uri, username)
        .ok_or_else(|| AuthError::Protocol("an otpauth URI too long for a QR code".into()))?;
    Ok(SecurityNotice::Setup { secret: setup.secret, qr_svg })
}

/// `uri` as an inline SVG QR code: drawn here, so no image service learns
/// the key, and allowed by the page's CSP (no script, no external source).
fn qr_svg(uri: &str, username: &str) -> Option<String> {
    use qrcode::{EcLevel, QrCode, render::svg};
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M).ok()?;
    let svg = code
        .render::<svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // Inline in HTML: no XML declaration, and a name for screen readers.
    let start = svg.find("<svg")?;
    let label = format!(
        "<svg role=\"img\" aria-label=\"QR code to add {} to an authenticator app\"",
        html_escape(username)
    );
    Some(svg[start..].replacen("<svg", &label, 1))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_a_bare_labelled_svg() {
        let svg =
            qr_svg("otpauth://totp/Cloakroom:alice?secret=ABC&issuer=Cloakroom", "a\"<b").unwrap();
        assert!(
            svg.starts_with("<svg role=\"img\" aria-label=\"QR code to add a&quot;&lt;b"),
            "{svg:.120}"
        );
        assert!(!svg.contains("<?xml"));
        assert!(!svg.contains("<script"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
