//! WebAuthn with webauthn-rs: the relying party for a frontend's origin,
//! and the ceremony ids. The relying party id is the host of the
//! frontend's `PUBLIC_ORIGIN`, which the frontend names with each ceremony
//! it begins, and which must be one of the auth-api's own `PUBLIC_ORIGIN`s:
//! no caller can have a passkey made or used for a site of its choosing.
//! The ceremony keeps the origin, so the answer is checked against the
//! origin it was begun for.
//!
//! Browsers refuse WebAuthn on IP-address origins (and on plain `http`
//! anywhere but `localhost`): such an origin is refused here too, with a
//! reason, rather than failing later in the browser.

use serde::de::DeserializeOwned;
use webauthn_rs::prelude::{Passkey, Url, Webauthn, WebauthnBuilder};

use crate::{
    error::ApiError,
    store::{Ceremony, PasskeyRecord},
};

/// How long a ceremony's challenge may be answered (seconds).
pub const CEREMONY_TTL: i64 = 300;
/// Shown by the authenticator beside the user's name.
const RP_NAME: &str = "Cloakroom";

#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("passkeys are not set up here: PUBLIC_ORIGIN must name this site on the auth-api too")]
    NotAllowed,
    #[error("passkeys need the site's origin (PUBLIC_ORIGIN) to be a URL")]
    NotAUrl,
    #[error(
        "passkeys need a domain name: browsers refuse them on an IP address (use http://localhost:PORT or https://HOST)"
    )]
    NotADomain,
    #[error("passkeys need https (or http://localhost)")]
    NotSecure,
    #[error("passkeys cannot be used with this origin")]
    Refused,
}

/// The relying party for the frontend at `origin`, one of `allowed`.
pub fn relying_party(origin: &str, allowed: &[String]) -> Result<Webauthn, OriginError> {
    let url = Url::parse(origin).map_err(|_| OriginError::NotAUrl)?;
    let host = url.host_str().ok_or(OriginError::NotAUrl)?.to_owned();
    let bracketed = host.starts_with('[');
    if bracketed || host.parse::<std::net::IpAddr>().is_ok() {
        return Err(OriginError::NotADomain);
    }
    if url.scheme() != "https" && !(url.scheme() == "http" && host == "localhost") {
        return Err(OriginError::NotSecure);
    }
    // After the checks of its shape, whose reasons say more.
    if !allowed.iter().any(|a| a == origin) {
        return Err(OriginError::NotAllowed);
    }
    WebauthnBuilder::new(&host, &url)
        .and_then(|b| b.rp_name(RP_NAME).build())
        .map_err(|_| OriginError::Refused)
}

/// A fresh ceremony id (what the frontend holds) and its stored hash.
pub fn new_ceremony() -> (String, [u8; 32]) {
    super::pending::mint()
}

/// The storage key of a presented ceremony id.
pub fn ceremony_hash(presented: &str) -> [u8; 32] {
    super::pending::hash(presented)
}

/// The webauthn-rs state a ceremony kept.
pub fn state_of<T: DeserializeOwned>(ceremony: &Ceremony) -> Result<T, ApiError> {
    serde_json::from_str(&ceremony.state).map_err(|e| {
        ApiError::Internal(format!("a stored WebAuthn ceremony that does not parse: {e}"))
    })
}

/// A stored passkey, parsed.
pub fn parse_passkey(record: &PasskeyRecord) -> Result<Passkey, ApiError> {
    serde_json::from_str(&record.passkey)
        .map_err(|e| ApiError::Internal(format!("a stored passkey that does not parse: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_domain_origins_over_https_or_localhost_are_relying_parties() {
        let rp = |origin: &str| relying_party(origin, &[origin.to_owned()]);
        assert!(rp("https://app.example.com").is_ok());
        assert!(rp("http://localhost:3000").is_ok());
        assert!(matches!(rp("http://127.0.0.1:3000"), Err(OriginError::NotADomain)));
        assert!(matches!(rp("http://[::1]:3000"), Err(OriginError::NotADomain)));
        assert!(matches!(rp("http://app.example.com"), Err(OriginError::NotSecure)));
        assert!(matches!(rp("not a url"), Err(OriginError::NotAUrl)));
        let allowed = ["https://app.example.com".to_owned()];
        let other = relying_party("https://evil.example", &allowed);
        assert!(matches!(other, Err(OriginError::NotAllowed)), "only the configured sites");
    }
}
