//! A minimal HTTP/1.1 client: one keep-alive connection per simulated
//! browser, nothing pooled or hidden, so a request's latency is the server's
//! answer time plus one loopback round trip.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    Method, Request,
    client::conn::http1::{self, SendRequest},
    header,
    header::HeaderValue,
};
use hyper_util::rt::TokioIo;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub struct Conn {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    /// `name=value` of the first `Set-Cookie`, if any.
    pub set_cookie: Option<String>,
    pub body: Bytes,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Self, Error> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { addr, sender })
    }

    pub async fn send(&mut self, req: Req<'_>) -> Result<Resp, Error> {
        let (status, set_cookie, body) = self.send_head(req).await?;
        let body = body.collect().await?.to_bytes();
        Ok(Resp { status, set_cookie, body })
    }

    /// The same, reading the body as it arrives and keeping only its length
    /// (a download larger than this process should hold).
    pub async fn send_discarding(&mut self, req: Req<'_>) -> Result<(u16, u64), Error> {
        let (status, _, mut body) = self.send_head(req).await?;
        let mut length = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                length += data.len() as u64;
            }
        }
        Ok((status, length))
    }

    async fn send_head(
        &mut self,
        req: Req<'_>,
    ) -> Result<(u16, Option<String>, hyper::body::Incoming), Error> {
        // A connection the server closed (keep-alive timeout) is reopened once.
        if self.sender.is_closed() || self.sender.ready().await.is_err() {
            *self = Self::open(self.addr).await?;
        }
        let mut builder = Request::builder()
            .method(req.method)
            .uri(req.path)
            .header(header::HOST, self.addr.to_string());
        for (name, value) in req.headers {
            builder = builder.header(*name, value.as_str());
        }
        if let Some(cookie) = req.cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        if let Some(value) = req.cookie_value {
            builder = builder.header(header::COOKIE, value);
        }
        let request = builder.body(Full::new(req.body))?;
        let res = self.sender.send_request(request).await?;
        let status = res.status().as_u16();
        // The session cookie's `name=value`; a sign-in also sets the device
        // cookie, which these flows do not follow.
        let set_cookie = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|pair| {
                pair.split_once('=').is_some_and(|(name, _)| SESSION_COOKIES.contains(&name))
            })
            .map(str::to_owned);
        Ok((status, set_cookie, res.into_body()))
    }
}

/// The session cookie's names (`COOKIE_SECURE` on or off).
const SESSION_COOKIES: [&str; 2] = ["cloakroom", "__Host-cloakroom"];

pub struct Req<'a> {
    pub method: Method,
    pub path: &'a str,
    pub cookie: Option<&'a str>,
    /// A prepared `Cookie` header: sent without re-validating its bytes, as
    /// a browser on another machine would cost this one nothing.
    pub cookie_value: Option<HeaderValue>,
    pub headers: &'a [(&'static str, String)],
    pub body: Bytes,
}

impl<'a> Req<'a> {
    pub fn get(path: &'a str) -> Self {
        Self {
            method: Method::GET,
            path,
            cookie: None,
            cookie_value: None,
            headers: &[],
            body: Bytes::new(),
        }
    }

    pub fn post(path: &'a str, headers: &'a [(&'static str, String)], body: String) -> Self {
        Self {
            method: Method::POST,
            path,
            cookie: None,
            cookie_value: None,
            headers,
            body: Bytes::from(body),
        }
    }

    pub fn delete(path: &'a str, headers: &'a [(&'static str, String)]) -> Self {
        Self {
            method: Method::DELETE,
            path,
            cookie: None,
            cookie_value: None,
            headers,
            body: Bytes::new(),
        }
    }

    pub fn cookie(mut self, cookie: Option<&'a str>) -> Self {
        self.cookie = cookie;
        self
    }

    pub fn cookie_value(mut self, value: Option<HeaderValue>) -> Self {
        self.cookie_value = value;
        self
    }

    pub fn headers(mut self, headers: &'a [(&'static str, String)]) -> Self {
        self.headers = headers;
        self
    }
}

/// The cookie a browser would send next, after `resp` (which may set or clear it).
pub fn next_cookie(current: Option<String>, resp: &Resp) -> Option<String> {
    match &resp.set_cookie {
        Some(pair) if is_cleared(pair) => None,
        Some(pair) => Some(pair.clone()),
        None => current,
    }
}

/// `name=` with no value: the server deleted the cookie.
pub fn is_cleared(pair: &str) -> bool {
    pair.split_once('=').is_none_or(|(_, value)| value.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sealed_value_may_end_in_padding_and_is_not_a_deletion() {
        assert!(!super::is_cleared("cloakroom=abc+/d0="));
        assert!(super::is_cleared("cloakroom="));
    }
}
