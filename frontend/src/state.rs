//! `FrontendState`: what every worker shares for the process's life — the
//! settings, the cookie codec, the key set, the revocation set, the route
//! table — and the clock. Below the modules that build the server and serve
//! requests, so both import it and neither imports the other.

use std::sync::Arc;

use shared::verify::Expected;

pub use crate::clock::{Clock, system_clock};
use crate::{
    config::Settings,
    metrics::Metrics,
    routes::{RouteError, RouteTable},
    session::{
        cookie::CookieCodec, exchange::UpstreamTokens, jwks::JwksCache, known::KnownCookies,
        refresh::RefreshFlights, revocations::RevokedSessions,
    },
};

/// Process-wide state shared by all workers.
pub struct FrontendState {
    pub settings: Settings,
    pub codec: CookieCodec,
    /// Shared with the revocation follower, which drops keys cut off.
    pub jwks: Arc<JwksCache>,
    pub known: KnownCookies,
    pub flights: RefreshFlights,
    /// Tokens exchanged for upstream apps' audiences (`proxy`).
    pub upstream_tokens: UpstreamTokens,
    pub revoked: Arc<RevokedSessions>,
    pub public_origin: String,
    /// Who may see what, the app's pages and its upstreams (`routes`).
    pub routes: RouteTable,
    /// Served on the metrics listener; parts of it counted by `jwks` and
    /// `flights` too.
    pub metrics: Metrics,
    /// What `/readyz` answers (`startup::readiness`).
    pub readiness: shared::lifecycle::Readiness,
    /// True once the server is stopping: relayed WebSockets close then
    /// (`proxy::websocket`) rather than hold the stop for its whole grace.
    stopping: tokio::sync::watch::Sender<bool>,
    clock: Clock,
}

impl FrontendState {
    /// The shared state with nothing loaded yet: no keys, no revocations.
    /// Fails if an upstream would shadow one of Cloakroom's own routes.
    pub fn new(
        settings: Settings,
        clock: Clock,
        public_origin: String,
    ) -> Result<Self, RouteError> {
        let metrics = Metrics::default();
        Ok(Self {
            routes: RouteTable::new(&settings.upstreams)?,
            codec: CookieCodec::new(settings.cookie_keys.clone(), settings.cookie_secure),
            jwks: Arc::new(JwksCache::counting(metrics.jwks.clone())),
            known: KnownCookies::default(),
            flights: RefreshFlights::counting(metrics.refresh.clone()),
            readiness: shared::lifecycle::Readiness::new(metrics.http.ready()),
            stopping: tokio::sync::watch::channel(false).0,
            metrics,
            upstream_tokens: UpstreamTokens::default(),
            revoked: Arc::new(RevokedSessions::default()),
            public_origin,
            clock,
            settings,
        })
    }

    /// The server is stopping (its stop signal came): see `stopping`.
    pub fn begin_stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Resolves once the server is stopping.
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + 'static {
        let mut stopping = self.stopping.subscribe();
        async move {
            // An error: the state is gone, so is the server.
            let _ = stopping.wait_for(|stopping| *stopping).await;
        }
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    pub fn expected(&self) -> Expected<'_> {
        Expected { issuer: &self.settings.issuer, audience: &self.settings.client_id }
    }
}
