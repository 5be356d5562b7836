//! A stand-in for an app behind Cloakroom: it records every request that
//! reaches it and answers as the path asks (slowly, hugely, with cookies, as
//! a WebSocket echo). Plumbing only; the assertions are in `proxy.rs`.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use actix_web::{
    App, HttpRequest, HttpResponse, HttpServer,
    dev::ServerHandle,
    http::header::HeaderMap,
    web::{self, Bytes},
};
use frontend::routes::{Access, Kind, Upstream};
use futures::StreamExt;

/// The `aud` of the tokens the test app is sent.
pub const AUDIENCE: &str = "test-app";

/// What reached the app.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, as forwarded.
    pub target: String,
    pub headers: HeaderMap,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers.get_all(name).filter_map(|v| v.to_str().ok()).collect()
    }
}

pub struct TestApp {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    handle: ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // `stop` sends its command at once; its future only reports completion.
        drop(self.handle.stop(false));
    }
}

impl TestApp {
    pub async fn start() -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let record = seen.clone();
        let server = HttpServer::new(move || {
            App::new().app_data(web::Data::new(record.clone())).default_service(web::to(answer))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { url, seen, handle }
    }

    /// Everything that reached the app so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("a request reached the app")
    }

    /// An entry for the frontend's UPSTREAMS.
    pub fn route(&self, path: &str, access: Access, kind: Kind) -> Upstream {
        route_to(&self.url, path, access, kind)
    }
}

/// The URL of a port nothing listens on (bound, then let go): an app
/// that is down.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

pub fn route_to(url: &str, path: &str, access: Access, kind: Kind) -> Upstream {
    Upstream {
        path: path.into(),
        url: url.into(),
        access,
        kind,
        audience: AUDIENCE.into(),
        timeout: Duration::from_secs(1),
        max_body_bytes: 1024 * 1024,
    }
}

async fn answer(
    req: HttpRequest,
    body: web::Payload,
    seen: web::Data<Arc<Mutex<Vec<Seen>>>>,
) -> actix_web::Result<HttpResponse> {
    seen.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        target: req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        headers: req.headers().clone(),
    });
    let path = req.path();
    let tail = path.rsplit('/').next().unwrap_or("");
    Ok(if path.ends_with("/ws") {
        let (res, mut session, mut messages) = actix_ws::handle(&req, body)?;
        actix_web::rt::spawn(async move {
            while let Some(Ok(msg)) = messages.next().await {
                match msg {
                    actix_ws::Message::Text(t)
                        if session.text(format!("echo: {t}")).await.is_err() =>
                    {
                        return;
                    }
                    actix_ws::Message::Close(r) => {
                        let _ = session.close(r).await;
                        return;
                    }
                    _ => {}
                }
            }
        });
        res
    } else if path.ends_with("/slow") {
        actix_web::rt::time::sleep(Duration::from_secs(5)).await;
        HttpResponse::Ok().body("too late")
    } else if path.ends_with("/set-cookies") {
        HttpResponse::Ok()
            .append_header(("set-cookie", "cloakroom=planted; Path=/"))
            .append_header(("set-cookie", "app_theme=dark; Path=/app"))
            .body("cookies")
    } else if path.contains("/bytes/") {
        // A body of `tail` bytes, made as it is sent: never held whole.
        let total: u64 = tail.parse().unwrap_or(0);
        let chunk = Bytes::from(vec![b'x'; 256 * 1024]);
        let chunks = futures::stream::unfold(total, move |left| {
            let chunk = chunk.clone();
            async move {
                (left > 0).then(|| {
                    let n = left.min(chunk.len() as u64);
                    (Ok::<_, actix_web::Error>(chunk.slice(..n as usize)), left - n)
                })
            }
        });
        HttpResponse::Ok().content_type("application/octet-stream").streaming(chunks)
    } else if path.ends_with("/count") {
        // Reads an upload as it streams and says how long it was.
        let mut body = body;
        let mut n = 0usize;
        while let Some(chunk) = body.next().await {
            n += chunk?.len();
        }
        HttpResponse::Ok().body(n.to_string())
    } else {
        HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(format!("<p>app page {}</p>", req.uri()))
    })
}
