//! Builds the frontend: shared state, the per-worker auth-api clients, the
//! middleware stack and the Leptos routes, bound to a listener (port 0 works).
//!
//! Middleware order, outermost first: request-id span, security headers,
//! origin check (body-size cap, `X-CSRF` for apps' APIs), the session guard,
//! the proxy (requests to upstream apps stop there), compression, then the
//! route: the bundle and icon, the login POST, server functions, or a Leptos page.

use std::{net::TcpListener, time::Duration};

use actix_web::{
    App, HttpResponse, HttpServer,
    dev::{Server, ServerHandle},
    guard,
    middleware::{Compress, from_fn},
    web,
};
use leptos_actix::{LeptosRoutes, generate_route_list, render_app_async_with_context};
use leptos_router::Method;
use tracing::Instrument;
use tracing_actix_web::TracingLogger;

use crate::{
    app::{App as CloakroomApp, FAVICON, STYLESHEET, shell},
    assets,
    auth_client::AuthClient,
    config::Settings,
    forms::{
        login::handle_login, new_user::handle_new_user, password::handle_password_change,
        security::handle_security, verify::handle_verify,
    },
    proxy::{UpstreamClient, dispatch},
    security::{headers::security_headers, origin::check_origin},
    session::{guard::session_guard, revocations},
    state::{Clock, FrontendState, system_clock},
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error(transparent)]
    Routes(#[from] crate::routes::RouteError),
}

/// A connection must deliver its first request's whole head within this, or
/// it gets a `408` and is closed: a client that trickles bytes (slow loris)
/// or connects and says nothing holds a connection no longer than this.
pub const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle kept-alive connection waits for its next request.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

pub struct Application {
    port: u16,
    server: Server,
    /// The private `/metrics` listener (`METRICS_ADDR`), unless turned off.
    metrics: Option<(u16, ServerHandle)>,
    state: web::Data<FrontendState>,
    /// The revocation-feed follower and the readiness check.
    background: [actix_web::rt::task::JoinHandle<()>; 2],
}

/// The app's routes, walked once per process.
///
/// Walking them sets a process-wide flag in `leptos_server` that parks any
/// resource first polled meanwhile, forever (leptos-rs/leptos#4773). One
/// server per process never notices, since it walks before it serves; two in
/// one process (the end-to-end tests run many) would hang an unlucky render.
fn route_list() -> Vec<leptos_actix::ActixRouteListing> {
    install_executor();
    static ROUTES: std::sync::OnceLock<Vec<leptos_actix::ActixRouteListing>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(CloakroomApp)).clone()
}

/// Runs Leptos's tasks on the actix worker that rendered the page.
///
/// leptos_actix installs a plain tokio executor, whose `spawn` runs a
/// resource's future outside the worker's `LocalSet`. Server functions call
/// the auth-api with awc, and awc opening a new connection starts
/// actix-http's date timer with `spawn_local` — which panics there, and the
/// page waits forever for a resource that died. On a worker thread the
/// runtime is single-threaded anyway, so spawning locally costs nothing.
struct ActixExecutor;

impl any_spawner::CustomExecutor for ActixExecutor {
    // In the span that spawned them: a page's resources call the auth-api,
    // and those calls belong to the page's trace.
    fn spawn(&self, fut: any_spawner::PinnedFuture<()>) {
        let fut = fut.in_current_span();
        if actix_web::rt::System::try_current().is_some() {
            actix_web::rt::spawn(fut);
        } else {
            tokio::spawn(fut);
        }
    }

    fn spawn_local(&self, fut: any_spawner::PinnedLocalFuture<()>) {
        actix_web::rt::spawn(fut.in_current_span());
    }

    fn poll_local(&self) {}
}

fn install_executor() {
    // Set once per process, before leptos_actix tries to set its own (it
    // ignores `AlreadySet`); a second call finds ours and changes nothing.
    if any_spawner::Executor::init_custom_executor(ActixExecutor).is_err() {
        // Harmless only if it is ours from an earlier call in this process;
        // leptos_actix never gets there first because route_list() calls us.
        tracing::debug!("Leptos executor already installed");
    }
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, system_clock()).await
    }

    pub async fn build_with_clock(settings: Settings, clock: Clock) -> Result<Self, StartupError> {
        let addr = settings.leptos.site_addr;
        let listener = TcpListener::bind(addr)
            .map_err(|source| StartupError::Bind { addr: addr.to_string(), source })?;
        Self::build_on(listener, settings, clock).await
    }

    /// On a listener already bound: a test that must know the port before
    /// the server is built (to make `PUBLIC_ORIGIN` `http://localhost:PORT`)
    /// binds first.
    pub async fn build_on(
        listener: TcpListener,
        settings: Settings,
        clock: Clock,
    ) -> Result<Self, StartupError> {
        let addr = settings.leptos.site_addr;
        let bind_err = |source| StartupError::Bind { addr: addr.to_string(), source };
        let local = listener.local_addr().map_err(bind_err)?;
        #[cfg(feature = "bench")]
        {
            // The bench modes serve a fixed user with no session check: this
            // build must never face anything but the benchmark's own driver.
            if !local.ip().is_loopback() {
                return Err(StartupError::Bind {
                    addr: addr.to_string(),
                    source: std::io::Error::other("a `bench` build listens on loopback only"),
                });
            }
            tracing::warn!("built with the bench-only `bench` feature: never deploy this binary");
        }
        let public_origin =
            settings.public_origin.clone().unwrap_or_else(|| format!("http://{local}"));
        if settings.plaintext_auth_api() && settings.cookie_secure {
            // Only reachable with AUTH_API_ALLOW_HTTP (`Settings::validate`).
            tracing::warn!(
                auth_api_url = %settings.auth_api_url,
                "AUTH_API_ALLOW_HTTP: the auth-api is called over plain http to another host; \
                 the client secret and tokens cross that network readable"
            );
        }
        let state = web::Data::new(FrontendState::new(settings, clock, public_origin)?);
        let metrics_server = match &state.settings.metrics_addr {
            Some(addr) => {
                let bind_err = |source| StartupError::Bind { addr: addr.clone(), source };
                let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
                let port = listener.local_addr().map_err(bind_err)?.port();
                let server =
                    shared::metrics::serve(listener, state.metrics.registry()).map_err(bind_err)?;
                let handle = server.handle();
                // A server runs only while polled: on the runtime, stopped
                // through its handle after the public one.
                actix_web::rt::spawn(server);
                Some((port, handle))
            }
            None => None,
        };

        // Load the signing keys and start following revocations before the
        // first request; neither is fatal if the auth-api is not up yet.
        let client = AuthClient::new(&state.settings);
        state.jwks.refetch(&client).await;
        // The feed's age counts from now until it first answers.
        state.metrics.feed_answered(state.now());
        let follower = actix_web::rt::spawn(revocations::follow(
            client,
            state.revoked.clone(),
            state.jwks.clone(),
            state.metrics.clone(),
            state.clock(),
        ));

        let leptos_options = state.settings.leptos.clone();
        let bundle = assets::bundle(&leptos_options);
        if bundle.is_none() {
            tracing::info!(
                "no wasm bundle under the site root: pages are served without hydration"
            );
        }
        let routes = route_list();
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            let bundle = bundle.clone();
            let render = move || shell(bundle.clone());
            App::new()
                .app_data(app_state.clone())
                // On their own: `shared::metrics::count_requests` reads them.
                .app_data(web::Data::new(app_state.metrics.http.clone()))
                // One pooled client per worker: awc clients are not Send.
                .app_data(web::Data::new(AuthClient::new(&app_state.settings)))
                .app_data(web::Data::new(UpstreamClient::new(&app_state.settings.tls)))
                .app_data(web::Data::new(leptos_options.clone()))
                .app_data(web::FormConfig::default().limit(crate::security::origin::MAX_BODY))
                .app_data(web::PayloadConfig::new(crate::security::origin::MAX_BODY))
                .route(STYLESHEET, web::get().to(stylesheet))
                .route(FAVICON, web::get().to(assets::favicon))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .service(
                    web::resource(format!(
                        "/{}/{{file:.*}}",
                        leptos_options.site_pkg_dir.trim_matches('/')
                    ))
                    .route(web::get().to(assets::bundle_file))
                    .route(web::head().to(assets::bundle_file)),
                )
                .service(
                    web::resource("/login")
                        .guard(guard::Post())
                        .wrap(from_fn(handle_login))
                        .route(render_app_async_with_context(|| (), render.clone(), Method::Post)),
                )
                .service(
                    web::resource(crate::forms::new_user::PATH)
                        .guard(guard::Post())
                        .wrap(from_fn(handle_new_user))
                        .route(render_app_async_with_context(|| (), render.clone(), Method::Post)),
                )
                .service(
                    web::resource(crate::forms::password::PATH)
                        .guard(guard::Post())
                        .wrap(from_fn(handle_password_change))
                        .route(render_app_async_with_context(|| (), render.clone(), Method::Post)),
                )
                .service(
                    web::resource(crate::forms::security::PATH)
                        .guard(guard::Post())
                        .wrap(from_fn(handle_security))
                        .route(render_app_async_with_context(|| (), render.clone(), Method::Post)),
                )
                // Both methods: without this browser's pending sign-in, the
                // page itself sends it back to `/login`.
                .service(
                    web::resource(crate::forms::verify::PATH)
                        .wrap(from_fn(handle_verify))
                        .route(render_app_async_with_context(|| (), render.clone(), Method::Get))
                        .route(render_app_async_with_context(|| (), render.clone(), Method::Post)),
                )
                .leptos_routes(routes.clone(), render.clone())
                // Anything else is rendered by the router too, whose fallback
                // is the 404 page.
                .default_service(render_app_async_with_context(|| (), render, Method::Get))
                // Inside `dispatch`: an upstream app's responses are passed on
                // as it sent them. Our pages may be compressed: they hold no
                // secret beside reflected input (docs/DESIGN.md, "Compression").
                // Files already encoded (the bundle's `.br`/`.gz`) pass untouched.
                .wrap(Compress::default())
                .wrap(from_fn(crate::error::server_fn_arguments))
                .wrap(from_fn(dispatch))
                .wrap(from_fn(session_guard))
                .wrap(from_fn(check_origin))
                .wrap(from_fn(security_headers))
                .wrap(from_fn(shared::metrics::count_requests))
                .wrap(TracingLogger::<shared::telemetry::RequestSpan>::new())
                // Outside the request span, which would otherwise join the
                // trace any client names.
                .wrap(from_fn(crate::telemetry::incoming::trust_trace_context))
        })
        .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
        .keep_alive(KEEP_ALIVE)
        .listen(listener)
        .map_err(bind_err)?
        .shutdown_timeout(state.settings.shutdown_grace)
        // Instead of actix's own handlers (which stop at once on SIGINT):
        // both signals stop gracefully.
        .shutdown_signal({
            let state = state.clone();
            async move {
                shared::lifecycle::stop_requested().await;
                let grace_s = state.settings.shutdown_grace;
                tracing::info!(grace_s, "stopping: requests in flight may finish");
                state.begin_stop();
            }
        })
        .run();
        actix_web::rt::spawn(shared::lifecycle::second_signal_stops_at_once(server.handle()));
        let readiness = actix_web::rt::spawn(watch_readiness(state.clone()));
        let background = [follower, readiness];
        Ok(Self { port: local.port(), server, metrics: metrics_server, state, background })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `/metrics` listener; `None` when it is turned off.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub fn public_origin(&self) -> &str {
        &self.state.public_origin
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> web::Data<FrontendState> {
        self.state.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some((_, metrics)) = self.metrics {
            metrics.stop(true).await;
        }
        for task in &self.background {
            task.abort();
        }
        result
    }
}

/// The hand-written stylesheet, compiled in so the site needs no asset
/// pipeline to look right.
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../style/cloakroom.css"))
}

/// `GET /healthz`: the process is alive and serving HTTP, whatever the
/// auth-api's state (restarting frontends cannot fix an auth-api outage).
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: this frontend can judge sessions (see [`unready_because`]),
/// checked as it is asked (two reads of memory) and every second besides
/// (`watch_readiness`), so the `ready` gauge follows an unprobed instance.
async fn readyz(state: web::Data<FrontendState>) -> HttpResponse {
    state.readiness.set(unready_because(&state));
    state.readiness.respond()
}

/// Why this frontend cannot judge sessions now, if it cannot: without the
/// auth-api's signing keys every signed-in page is refused; with the
/// revocation feed silent past its trust window, every view is refreshed.
fn unready_because(state: &FrontendState) -> Vec<&'static str> {
    let mut reasons = Vec::new();
    if !state.jwks.is_loaded() {
        reasons.push("the auth-api's signing keys are not loaded");
    }
    if !state.revoked.is_current() {
        reasons.push("the revocation feed has not answered within its trust window");
    }
    reasons
}

/// Checks readiness every second, until the server stops.
async fn watch_readiness(state: web::Data<FrontendState>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        state.readiness.set(unready_because(&state));
    }
}
