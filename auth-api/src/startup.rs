//! Builds the application: storage, keys, shared state, the HTTP server bound
//! to its listener, and the background tasks (housekeeping; on PostgreSQL,
//! the listener for other instances' session ends). `Application::build` on
//! port 0 is how tests start a real instance and learn its port.

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{
    App, HttpServer,
    dev::{Server, ServerHandle},
    middleware::{DefaultHeaders, from_fn},
    rt::task::JoinHandle,
    web,
};
use tracing_actix_web::TracingLogger;

use crate::{
    clock::{Clock, SystemClock},
    config::Settings,
    error::rejections,
    feed::{self, FeedSignal},
    metrics::{Metrics, log_requests},
    passwords::Passwords,
    routes,
    state::AppState,
    store::{Store, StoreError},
    tokens::keys::KeyRing,
};

/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 16 * 1024;
/// How often each instance re-reads the signing keys (so `keys rotate` and
/// `keys retire`, run anywhere, take effect everywhere within this: a key
/// cut off must stop being accepted within the 2 s its frontends take; one
/// small read a second).
const KEY_RELOAD: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// How often readiness is checked (a `SELECT 1`).
const READINESS_EVERY: Duration = Duration::from_secs(1);
/// How often the pool gauges are sampled (free: no query).
const GAUGES_EVERY: Duration = Duration::from_secs(5);
/// How often live sessions are counted (one indexed count).
const COUNT_SESSIONS_EVERY: Duration = Duration::from_secs(30);
/// A connection must deliver its first request's whole head within this, or
/// it gets a `408` and is closed: a client that trickles bytes (slow loris)
/// or connects and says nothing holds a connection no longer than this.
pub const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle kept-alive connection waits for its next request.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error(transparent)]
    Api(#[from] crate::error::ApiError),
}

pub struct Application {
    port: u16,
    server: Server,
    /// The private `/metrics` listener (`METRICS_ADDR`), unless turned off.
    metrics: Option<(u16, ServerHandle)>,
    state: web::Data<AppState>,
    housekeeping: [JoinHandle<()>; 2],
    /// PostgreSQL only: wakes revocation-feed polls for ends made elsewhere.
    announcements: Option<JoinHandle<()>>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let store = Store::connect(&settings.database_url).await?;
        store.migrate().await?;
        // Before serving a poll: a cursor of the database's past (a restored
        // backup) must never pass for one of its present.
        store.renew_feed_epoch(&feed::new_epoch()).await?;
        crate::mfa_rotation::record_single_key(&store, &settings.mfa.keys).await?;
        let keys = KeyRing::load(&store, settings.access_token_ttl, clock.now()).await?;
        let passwords = Passwords::new().await?;
        let feed = FeedSignal::new(store.announces_revocations());
        // Listening starts here, before the server accepts a poll, so no
        // announcement made after this instance is up can be missed.
        let announcements = store
            .revocation_announcements({
                let feed = feed.clone();
                move || feed.notify()
            })
            .await?;
        let metrics = Metrics::default();
        let readiness = shared::lifecycle::Readiness::new(metrics.http.ready());
        let state = web::Data::new(AppState {
            settings,
            store,
            clock,
            keys,
            passwords,
            metrics,
            feed,
            readiness,
        });

        let addr = state.settings.addr.clone();
        let listener = TcpListener::bind(&addr)
            .map_err(|source| StartupError::Bind { addr: addr.clone(), source })?;
        let port =
            listener.local_addr().map_err(|source| StartupError::Bind { addr, source })?.port();

        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                // On their own: `shared::metrics::count_requests` reads them
                // without knowing `AppState` (which holds them).
                .app_data(web::Data::new(app_state.metrics.http.clone()))
                .app_data(
                    web::JsonConfig::default().limit(MAX_BODY).error_handler(rejections::json),
                )
                .app_data(web::PayloadConfig::default().limit(MAX_BODY))
                .app_data(web::QueryConfig::default().error_handler(rejections::query))
                .app_data(web::PathConfig::default().error_handler(rejections::path))
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        // Everything here but JWKS (which sets its own) is
                        // per-user and must never sit in a shared cache.
                        .add(("Cache-Control", "no-store")),
                )
                .wrap(from_fn(log_requests))
                .wrap(from_fn(shared::metrics::count_requests))
                .wrap(TracingLogger::<shared::telemetry::RequestSpan>::new())
        })
        .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
        .keep_alive(KEEP_ALIVE)
        .listen(listener)
        .map_err(|source| StartupError::Bind { addr: state.settings.addr.clone(), source })?
        .shutdown_timeout(state.settings.shutdown_grace)
        // Instead of actix's own handlers (which stop at once on SIGINT):
        // both signals stop gracefully, and long polls are told first.
        .shutdown_signal({
            let feed = state.feed.clone();
            let grace = state.settings.shutdown_grace;
            async move {
                shared::lifecycle::stop_requested().await;
                tracing::info!(grace_s = grace, "stopping: requests in flight may finish");
                feed.close();
            }
        })
        .run();
        actix_web::rt::spawn(shared::lifecycle::second_signal_stops_at_once(server.handle()));

        let metrics = match &state.settings.metrics_addr {
            Some(addr) => {
                let bind_err = |source| StartupError::Bind { addr: addr.clone(), source };
                let listener = TcpListener::bind(addr).map_err(bind_err)?;
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

        let housekeeping = spawn_housekeeping(state.clone());
        // On the runtime itself, not the worker-local set: the listener's
        // connection must be dropped inside the runtime, whenever that is.
        let announcements = announcements.map(tokio::spawn);
        Ok(Self { port, server, metrics, state, housekeeping, announcements })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `/metrics` listener; `None` when it is turned off.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some((_, metrics)) = self.metrics {
            metrics.stop(true).await;
        }
        for task in &self.housekeeping {
            task.abort();
        }
        if let Some(announcements) = &self.announcements {
            announcements.abort();
        }
        self.state.store.close().await;
        result
    }
}

/// Reloads signing keys every second and prunes dead rows every few
/// minutes; beside it, so that a slow database delays neither, checks
/// readiness every second and samples the gauges. Until the server stops.
fn spawn_housekeeping(state: web::Data<AppState>) -> [JoinHandle<()>; 2] {
    let upkeep = actix_web::rt::spawn({
        let state = state.clone();
        async move {
            let mut keys_tick = tokio::time::interval(KEY_RELOAD);
            let mut prune_tick = tokio::time::interval(PRUNE_EVERY);
            loop {
                tokio::select! {
                    _ = keys_tick.tick() => {
                        if let Err(e) = state.keys.reload(&state.store, state.now()).await {
                            tracing::warn!(error = %e, "could not reload signing keys; keeping the loaded ones");
                        }
                    }
                    _ = prune_tick.tick() => prune(&state).await,
                }
            }
        }
    });
    let observation = actix_web::rt::spawn(async move {
        let mut ready_tick = tokio::time::interval(READINESS_EVERY);
        ready_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut gauges_tick = tokio::time::interval(GAUGES_EVERY);
        let mut sessions_tick = tokio::time::interval(COUNT_SESSIONS_EVERY);
        loop {
            tokio::select! {
                _ = ready_tick.tick() => {
                    state.readiness.set(crate::routes::health::check(&state).await);
                }
                _ = gauges_tick.tick() => {
                    for (pool, size, idle) in state.store.pool_usage() {
                        state.metrics.pool(pool, size, idle);
                    }
                }
                _ = sessions_tick.tick() => {
                    let live = state.policy().liveness(state.now());
                    let count = state.store.count_live_sessions(live);
                    match tokio::time::timeout(COUNT_SESSIONS_EVERY, count).await {
                        Ok(Ok(count)) => state.metrics.sessions_active(count),
                        Ok(Err(e)) => tracing::warn!(error = %e, "could not count the live sessions"),
                        Err(_) => tracing::warn!("counting the live sessions took over 30 s"),
                    }
                }
            }
        }
    });
    [upkeep, observation]
}

async fn prune(state: &AppState) {
    let now = state.now();
    let keep = state.policy().keep_ended();
    let audit_before = now - state.settings.audit_retention;
    let window = state.settings.throttle.window;
    match state.store.prune(now, now - keep, window, audit_before).await {
        Ok(pruned) if pruned.rows > 0 => tracing::info!(
            rows = pruned.rows,
            batches = pruned.batches,
            longest_ms = pruned.longest.as_millis() as u64,
            "pruned"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "pruning failed"),
    }
}
