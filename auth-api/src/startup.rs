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
    feed::FeedSignal,
    metrics::{Metrics, count_requests},
    passwords::Passwords,
    routes,
    state::AppState,
    store::{Store, StoreError},
    tokens::keys::KeyRing,
};

/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 16 * 1024;
/// How often each instance re-reads the signing keys (so `keys rotate`,
/// run anywhere, takes effect everywhere within this).
const KEY_RELOAD: Duration = Duration::from_secs(5);
const PRUNE_EVERY: Duration = Duration::from_secs(600);

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
    state: web::Data<AppState>,
    housekeeping: JoinHandle<()>,
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
        let state = web::Data::new(AppState {
            settings,
            store,
            clock,
            keys,
            passwords,
            metrics: Metrics::default(),
            feed,
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
                // Also on its own: the request counter reads it without
                // knowing `AppState` (which holds it), so `metrics` imports
                // nothing from above it.
                .app_data(app_state.metrics.clone())
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
                .wrap(from_fn(count_requests))
                .wrap(TracingLogger::default())
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind { addr: state.settings.addr.clone(), source })?
        .shutdown_timeout(5)
        .run();

        let housekeeping = spawn_housekeeping(state.clone());
        // On the runtime itself, not the worker-local set: the listener's
        // connection must be dropped inside the runtime, whenever that is.
        let announcements = announcements.map(tokio::spawn);
        Ok(Self { port, server, state, housekeeping, announcements })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.housekeeping.abort();
        if let Some(announcements) = &self.announcements {
            announcements.abort();
        }
        self.state.store.close().await;
        result
    }
}

/// Reloads signing keys every few seconds and prunes dead rows every few
/// minutes, until the server stops.
fn spawn_housekeeping(state: web::Data<AppState>) -> JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut keys_tick = tokio::time::interval(KEY_RELOAD);
        let mut prune_tick = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                _ = keys_tick.tick() => {
                    if let Err(e) = state.keys.reload(&state.store, state.now()).await {
                        tracing::warn!(error = %e, "could not reload signing keys; keeping the loaded ones");
                    }
                }
                _ = prune_tick.tick() => {
                    let now = state.now();
                    let keep = state.policy().keep_ended();
                    let audit_before = now - state.settings.audit_retention;
                    let window = state.settings.throttle.window;
                    if let Err(e) = state.store.prune(now, now - keep, window, audit_before).await {
                        tracing::warn!(error = %e, "pruning failed");
                    }
                }
            }
        }
    })
}
