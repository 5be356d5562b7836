//! What a browser and the frontend's server side do, as the bench needs
//! them: sign in through the frontend's form, read the auth-api's counters,
//! get tokens from the auth-api directly.

use std::net::SocketAddr;

use shared::TokenResponse;

use crate::{
    http::{Conn, Error, Req},
    servers::{CLIENT_ID, Env, USER},
};

/// Signs in through the frontend's form, like a browser with JavaScript off.
/// Returns the session cookie (`name=value`).
pub async fn sign_in(conn: &mut Conn, frontend: SocketAddr, env: &Env) -> Result<String, Error> {
    let headers = [
        ("origin", format!("http://{frontend}")),
        ("content-type", "application/x-www-form-urlencoded".to_owned()),
    ];
    let body = format!("username={USER}&password={}", env.password);
    let resp = conn.send(Req::post("/login", &headers, body)).await?;
    match (resp.status, resp.set_cookie) {
        (303, Some(cookie)) if !crate::http::is_cleared(&cookie) => Ok(cookie),
        (status, _) => Err(format!("sign-in answered {status}").into()),
    }
}

fn basic_auth(env: &Env) -> (&'static str, String) {
    let raw = format!("{CLIENT_ID}:{}", env.client_secret);
    (
        "authorization",
        format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw)
        ),
    )
}

/// The password grant at the auth-api, as the frontend makes it.
pub async fn password_grant(conn: &mut Conn, env: &Env) -> Result<TokenResponse, Error> {
    let body = serde_json::json!({
        "grant_type": "password", "username": USER, "password": env.password,
    });
    token_call(conn, env, body.to_string()).await
}

pub async fn refresh_grant(
    conn: &mut Conn,
    env: &Env,
    refresh_token: &str,
) -> Result<TokenResponse, Error> {
    let body = serde_json::json!({ "grant_type": "refresh_token", "refresh_token": refresh_token });
    token_call(conn, env, body.to_string()).await
}

async fn token_call(conn: &mut Conn, env: &Env, body: String) -> Result<TokenResponse, Error> {
    let headers = [basic_auth(env), ("content-type", "application/json".to_owned())];
    let resp = conn.send(Req::post("/auth/token", &headers, body)).await?;
    if resp.status != 200 {
        return Err(format!("token endpoint answered {}", resp.status).into());
    }
    Ok(serde_json::from_slice(&resp.body)?)
}

/// Ends one session at the auth-api, as its user.
pub async fn end_session(conn: &mut Conn, access_token: &str, sid: &str) -> Result<(), Error> {
    let headers = [("authorization", format!("Bearer {access_token}"))];
    let path = format!("/auth/sessions/{sid}");
    let resp = conn.send(Req::delete(&path, &headers)).await?;
    if resp.status / 100 != 2 {
        return Err(format!("ending the session answered {}", resp.status).into());
    }
    Ok(())
}

/// Counters read from the auth-api's `/metrics` (its private listener).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// Calls to `POST /auth/token` (both grants).
    pub token: u64,
    /// Every request but the revocation feed's long polls and `/metrics` itself.
    pub calls: u64,
}

impl std::ops::Sub for Counters {
    type Output = Counters;
    fn sub(self, rhs: Counters) -> Counters {
        Counters { token: self.token - rhs.token, calls: self.calls - rhs.calls }
    }
}

pub async fn counters(auth_metrics: SocketAddr) -> Result<Counters, Error> {
    let mut conn = Conn::open(auth_metrics).await?;
    let resp = conn.send(Req::get("/metrics")).await?;
    Ok(parse_counters(&String::from_utf8_lossy(&resp.body)))
}

fn parse_counters(text: &str) -> Counters {
    let mut c = Counters::default();
    for line in text.lines().filter(|l| l.starts_with("http_requests_total{")) {
        let Some((labels, value)) = line.rsplit_once(' ') else { continue };
        let n = value.parse::<f64>().unwrap_or(0.0) as u64;
        if labels.contains("route=\"/auth/revocations\"") || labels.contains("route=\"/metrics\"") {
            continue;
        }
        c.calls += n;
        if labels.contains("route=\"/auth/token\"") {
            c.token += n;
        }
    }
    c
}

/// The session id the profile page shows ("This session").
pub fn session_id_on_profile(html: &str) -> Option<String> {
    let after = &html[html.find("This session")?..];
    let code = &after[after.find("<code>")? + "<code>".len()..];
    let sid = &code[..code.find("</code>")?];
    (sid.len() == 36).then(|| sid.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_token_calls_and_all_but_the_feed() {
        let text = "# TYPE http_requests counter\n\
            http_requests_total{route=\"/auth/token\",method=\"POST\",status=\"200\"} 7\n\
            http_requests_total{route=\"/auth/token\",method=\"POST\",status=\"400\"} 1\n\
            http_requests_total{route=\"/auth/revocations\",method=\"GET\",status=\"200\"} 40\n\
            http_requests_total{route=\"/.well-known/jwks.json\",method=\"GET\",status=\"200\"} 2\n";
        let c = parse_counters(text);
        assert_eq!((c.token, c.calls), (8, 10));
    }

    #[test]
    fn reads_the_session_id_from_the_profile() {
        let html =
            "<dt>This session</dt><dd><code>5f0c1a2b-7d3e-4f6a-8b9c-0d1e2f3a4b5c</code></dd>";
        assert_eq!(
            session_id_on_profile(html).as_deref(),
            Some("5f0c1a2b-7d3e-4f6a-8b9c-0d1e2f3a4b5c")
        );
        assert_eq!(session_id_on_profile("<p>nothing</p>"), None);
    }
}
