//! Builds the service: the database, the key set, the HTTP server bound to
//! its listener. `Application::build_on` with a listener on port 0 is how
//! the tests start a real instance and learn its port.

use std::net::TcpListener;

use actix_web::{
    App, HttpServer,
    body::MessageBody,
    dev::{Server, ServerHandle, ServiceRequest, ServiceResponse},
    middleware::{DefaultHeaders, Next, from_fn},
    web,
};
use tracing_actix_web::TracingLogger;

use crate::{
    auth::{Jwks, Verifier},
    clock::Clock,
    config::Settings,
    error::rejections,
    notes::{self, Store, StoreError},
};

/// Largest request body accepted, in bytes: a 500-character note, escaped
/// in JSON, is at most ~6 KiB.
pub const MAX_BODY: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}

pub struct Application {
    port: u16,
    server: Server,
    store: Store,
}

impl Application {
    /// Binds `settings.addr` and builds on the wall clock.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(&settings.addr)
            .map_err(|source| StartupError::Bind { addr: settings.addr.clone(), source })?;
        Self::build_on(listener, settings, Clock::system()).await
    }

    /// Builds on a listener already bound (port 0 in tests) and `clock`.
    pub async fn build_on(
        listener: TcpListener,
        settings: Settings,
        clock: Clock,
    ) -> Result<Self, StartupError> {
        let addr = settings.addr.clone();
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr: addr.clone(), source })?
            .port();
        let store = Store::open(&settings.database_url).await?;
        let jwks = Jwks::new(&settings.auth_api_url);
        // Not fatal: the auth-api may start after this service (`just dev`
        // starts them in turn; a deployment in any order). The first token
        // then fetches the keys.
        jwks.load().await;
        let verifier =
            web::Data::new(Verifier::new(jwks, settings.issuer, settings.audience, clock.clone()));
        let store_data = web::Data::new(store.clone());
        let clock = web::Data::new(clock);

        let server = HttpServer::new(move || {
            App::new()
                .app_data(verifier.clone())
                .app_data(store_data.clone())
                .app_data(clock.clone())
                .app_data(
                    web::JsonConfig::default().limit(MAX_BODY).error_handler(rejections::json),
                )
                .app_data(web::PathConfig::default().error_handler(rejections::path))
                .configure(notes::configure)
                .default_service(web::to(rejections::not_found))
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        // Every answer is one user's notes or about their token.
                        .add(("Cache-Control", "no-store")),
                )
                .wrap(from_fn(log_request))
                .wrap(TracingLogger::<shared::telemetry::RequestSpan>::new())
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind { addr, source })?
        .shutdown_timeout(5)
        .run();
        Ok(Self { port, server, store })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.store.close().await;
        result
    }
}

/// One line per request, inside its request-id span: method, route
/// pattern, status, time. No header is logged, here or in the span:
/// `Authorization` carries a live credential.
async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let res = next.call(req).await?;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::info!(%method, %route, status = res.status().as_u16(), elapsed_ms, "request finished");
    Ok(res)
}
