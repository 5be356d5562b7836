//! Traces across both servers (W3C Trace Context, OTLP export): the real
//! `frontend` binary and an auth-api process, each exporting its spans over
//! OTLP/HTTP JSON to a receiver in this test, as they would to a collector.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use actix_web::{App, HttpResponse, HttpServer, dev::ServerHandle, web};
use auth_api::{
    audit::Actor,
    domain::{Password, Username},
    passwords::policy::PasswordPolicy,
    store::Store,
};
use awc::http::{Method, StatusCode};
use serde_json::Value;

use crate::{
    cluster::{Options, Process, start_auth_api_with, start_frontend_with},
    harness::{Browser, PASSWORD},
    upstream::TestApp,
};

/// One span as the receiver got it.
#[derive(Debug, Clone)]
struct Exported {
    service: String,
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    attributes: Vec<(String, String)>,
}

impl Exported {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

type Received = Arc<Mutex<Vec<Exported>>>;

/// A minimal OTLP/HTTP receiver: `POST /v1/traces` with a JSON body.
struct Collector {
    url: String,
    spans: Received,
    handle: ServerHandle,
}

impl Drop for Collector {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl Collector {
    async fn start() -> Self {
        let spans: Received = Arc::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let record = spans.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(record.clone()))
                .app_data(web::PayloadConfig::new(16 << 20))
                .route("/v1/traces", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { url, spans, handle }
    }

    /// The variables that send a server's spans here.
    fn variables(&self) -> [(&'static str, &str); 3] {
        [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", self.url.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            // Batches every 50 ms rather than every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ]
    }

    /// The spans received so far once `done` holds of them; fails after 20 s.
    async fn until(&self, what: &str, done: impl Fn(&[Exported]) -> bool) -> Vec<Exported> {
        let started = std::time::Instant::now();
        loop {
            let spans = self.spans.lock().unwrap().clone();
            if done(&spans) {
                return spans;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "never received {what}; got:\n{}",
                spans.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(
    spans: web::Data<Received>,
    req: actix_web::HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let json = req.headers().get("content-type").and_then(|v| v.to_str().ok());
    if json.is_none_or(|t| !t.starts_with("application/json")) {
        return HttpResponse::UnsupportedMediaType().finish();
    }
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut got = Vec::new();
    for resource in doc["resourceSpans"].as_array().into_iter().flatten() {
        let service = attributes(&resource["resource"])
            .into_iter()
            .find_map(|(k, v)| (k == "service.name").then_some(v))
            .unwrap_or_default();
        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope["spans"].as_array().into_iter().flatten() {
                let text = |key: &str| span[key].as_str().unwrap_or_default().to_lowercase();
                got.push(Exported {
                    service: service.clone(),
                    trace_id: text("traceId"),
                    span_id: text("spanId"),
                    parent: text("parentSpanId"),
                    name: span["name"].as_str().unwrap_or_default().to_owned(),
                    attributes: attributes(span),
                });
            }
        }
    }
    spans.lock().unwrap().extend(got);
    HttpResponse::Ok().json(serde_json::json!({}))
}

/// `attributes` of an OTLP object, each value as text.
fn attributes(of: &Value) -> Vec<(String, String)> {
    let pairs = of["attributes"].as_array().into_iter().flatten();
    pairs
        .filter_map(|a| {
            let value = a["value"].as_object()?.values().next()?;
            let value = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            Some((a["key"].as_str()?.to_owned(), value))
        })
        .collect()
}

/// `traceparent`'s trace id and parent span id.
fn parent_of(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00", "{traceparent}");
    (parts[1].to_owned(), parts[2].to_owned())
}

/// An auth-api on a fresh SQLite file with the user `erin`.
async fn auth_api(dir: &std::path::Path, extra: &[(&str, &str)]) -> (Process, String) {
    let db_url = format!("sqlite://{}/auth.db", dir.display());
    let store = Store::connect(&db_url).await.unwrap();
    store.migrate().await.unwrap();
    let password = Password::parse(PASSWORD.into()).unwrap();
    let password = PasswordPolicy::default().accept(password, "erin").await.unwrap();
    let username = Username::parse("erin").unwrap();
    auth_api::users::add(&store, username, password, &[], Actor::Cli, 0)
        .await
        .unwrap()
        .expect("a new user");
    store.close().await;
    let (process, base, _, _) =
        start_auth_api_with("auth-api", &db_url, &Options::default(), extra).await;
    (process, base)
}

fn keys() -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 64])
}

#[actix_web::test]
async fn one_sign_in_is_one_trace_across_both_servers_and_the_app() {
    let collector = Collector::start().await;
    let app = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (_auth, auth_base) = auth_api(dir.path(), &collector.variables()).await;
    let upstreams = dir.path().join("upstreams.toml");
    let entry = format!(
        "[[upstream]]\npath = \"/app\"\nurl = \"{}\"\naccess = \"signed-in\"\nkind = \"page\"\n",
        app.url
    );
    std::fs::write(&upstreams, entry).unwrap();
    let mut variables = collector.variables().to_vec();
    variables.extend([
        ("UPSTREAMS", upstreams.to_str().unwrap()),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "info"),
    ]);
    let (frontend, base) =
        start_frontend_with("frontend", &auth_base, &keys(), dir.path(), &variables).await;

    let browser = Browser::new(&base);
    let page = browser.sign_in("erin", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);

    // The sign-in's trace: the frontend's request span, then the auth-api's
    // for the password grant inside it, argon2 and the queries included.
    let is_sign_in = |s: &Exported| {
        s.service == "cloakroom-frontend"
            && s.attribute("http.method") == Some("POST")
            && s.attribute("http.target") == Some("/login")
    };
    let spans = collector.until("the sign-in's request span", |s| s.iter().any(is_sign_in)).await;
    let sign_in = spans.iter().find(|s| is_sign_in(s)).unwrap().clone();
    let trace = sign_in.trace_id.clone();
    assert_eq!(trace.len(), 32, "{sign_in:?}");
    let in_trace = |s: &Exported, service: &str, name: &str| {
        s.trace_id == trace && s.service == service && s.name == name
    };
    let spans = collector
        .until("the auth-api's spans of the sign-in", |spans| {
            let names = [
                "POST /auth/token",
                "grant",
                "argon2.verify",
                "store.find_user_by_name",
                "store.create_session",
            ];
            names.iter().all(|name| spans.iter().any(|s| in_trace(s, "cloakroom-auth-api", name)))
        })
        .await;
    let guard = spans
        .iter()
        .find(|s| in_trace(s, "cloakroom-frontend", "guard"))
        .expect("the guard's span in the sign-in's trace");
    assert_eq!(guard.attribute("outcome"), Some("anonymous"), "{guard:?}");
    // The auth-api's request span is the child of the frontend's call span.
    let call = spans
        .iter()
        .find(|s| {
            in_trace(s, "cloakroom-frontend", "POST /auth/token") && s.parent != sign_in.span_id
        })
        .or_else(|| spans.iter().find(|s| in_trace(s, "cloakroom-frontend", "POST /auth/token")))
        .expect("the frontend's call to the auth-api");
    assert!(
        spans.iter().any(|s| s.service == "cloakroom-auth-api" && s.parent == call.span_id),
        "no auth-api span is the call's child: {call:?}"
    );

    // A page of the app, asked for with a trace context of the browser's
    // own making: not followed; the app is sent ours.
    let forged = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let res = browser
        .request(Method::GET, "/app/hello")
        .insert_header(("traceparent", forged))
        .insert_header(("baggage", "user=mallory"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let seen = app.last();
    assert_eq!(seen.header("baggage"), None, "a browser's baggage reached the app");
    let sent = seen.header("traceparent").expect("the app gets a traceparent");
    let (app_trace, app_parent) = parent_of(sent);
    assert_ne!(app_trace, "0af7651916cd43dd8448eb211c80319c");
    let spans = collector
        .until("the page's guard span", |spans| {
            spans.iter().any(|s| s.trace_id == app_trace && s.name == "guard")
                && spans.iter().any(|s| s.span_id == app_parent)
        })
        .await;
    let guard = spans.iter().find(|s| s.trace_id == app_trace && s.name == "guard").unwrap();
    let outcome = guard.attribute("outcome").unwrap_or_default();
    assert!(["verified", "cached", "refreshed"].contains(&outcome), "{guard:?}");
    let upstream_call = spans.iter().find(|s| s.span_id == app_parent).unwrap();
    assert_eq!(upstream_call.attribute("url.path"), Some("/app/hello"), "{upstream_call:?}");
    assert!(spans.iter().all(|s| s.trace_id != "0af7651916cd43dd8448eb211c80319c"));

    // Every line of the frontend's log is one JSON object; the sign-in's
    // carry its trace id.
    let log = frontend.output();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let signed_in = lines
        .iter()
        .find(|l| l["message"] == "signed in")
        .unwrap_or_else(|| panic!("no sign-in line in:\n{log}"));
    assert_eq!(signed_in["spans"][0]["trace_id"].as_str(), Some(trace.as_str()), "{signed_in}");
}

#[actix_web::test]
async fn a_trace_is_continued_only_from_a_proxy_trusted_to_write_it() {
    let collector = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (_auth, auth_base) = auth_api(dir.path(), &[]).await;
    // Our peer is a trusted proxy for both; only the second is told its
    // proxy writes `traceparent` itself.
    let mut variables = collector.variables().to_vec();
    variables.push(("TRUSTED_PROXIES", "127.0.0.1/32"));
    let mut behind = variables.clone();
    variables.push(("OTEL_SERVICE_NAME", "open"));
    let (_open, open) =
        start_frontend_with("frontend", &auth_base, &keys(), dir.path(), &variables).await;
    behind.extend([("TRACE_FROM_PROXIES", "true"), ("OTEL_SERVICE_NAME", "proxied")]);
    let (_proxied, proxied) =
        start_frontend_with("frontend behind a proxy", &auth_base, &keys(), dir.path(), &behind)
            .await;

    let untrusted = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let trusted = ("5bf92f3577b34da6a3ce929d0e0e4737", "10f067aa0ba902b8");
    for (base, (trace, parent), probe) in
        [(&open, untrusted, "open"), (&proxied, trusted, "proxied")]
    {
        let res = awc::Client::default()
            .get(format!("{base}/login?secret={probe}"))
            .insert_header(("traceparent", format!("00-{trace}-{parent}-01")))
            .insert_header(("tracestate", "vendor=value"))
            .insert_header(("baggage", "user=mallory"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    // The request span names the path, never the query: one probe per server.
    let request = |probe: &str| {
        let service = probe.to_owned();
        move |s: &Exported| {
            s.service == service
                && s.name == "GET /login"
                && s.attribute("http.target") == Some("/login")
        }
    };
    let spans = collector
        .until("both requests' spans", |spans| {
            spans.iter().any(request("open")) && spans.iter().any(request("proxied"))
        })
        .await;
    let continued = spans.iter().find(|s| request("proxied")(s)).unwrap();
    assert_eq!((continued.trace_id.as_str(), continued.parent.as_str()), trusted, "{continued:?}");
    let fresh = spans.iter().find(|s| request("open")(s)).unwrap();
    assert_ne!(fresh.trace_id, untrusted.0, "{fresh:?}");
    assert!(fresh.parent.is_empty(), "a new trace's first span has no parent: {fresh:?}");
    assert!(spans.iter().all(|s| s.trace_id != untrusted.0));
    // No query string (`?secret=…`) leaves the process in a span.
    assert!(
        spans.iter().flat_map(|s| &s.attributes).all(|(_, v)| !v.contains("secret=")),
        "{spans:?}"
    );
}
