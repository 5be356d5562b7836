//! Single-flight refresh: concurrent requests carrying the same refresh token
//! share one call to the auth-api and all get its result.
//!
//! Without this, a page that loads with several parallel requests would
//! make N calls instead of one (the auth-api would hand each the same
//! successor: the old token is a retry until its successor is used). A
//! settled result is kept for a few seconds so requests that left the
//! browser with the old cookie just before the new one arrived reuse it too,
//! but no longer than the auth-api would hand it out: once the successor
//! itself is presented here, the old token's result is forgotten, and the
//! old token, if it comes back, goes to the auth-api, which calls it reuse.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};
use shared::TokenResponse;
use tokio::sync::OnceCell;

use crate::{
    auth_client::{AuthClient, AuthError},
    metrics::RefreshMetrics,
};

/// How long a settled result is handed out again.
const LINGER: Duration = Duration::from_secs(5);

pub type Outcome = Result<Arc<TokenResponse>, AuthError>;

struct Flight {
    cell: Arc<OnceCell<Outcome>>,
    started: Instant,
    /// The hash of the refresh token the call got, hashed once it has.
    successor: std::sync::OnceLock<Option<[u8; 32]>>,
}

impl Flight {
    /// The hash of the refresh token this flight's call got, once it has.
    fn successor(&self) -> Option<[u8; 32]> {
        self.cell.get()?;
        *self.successor.get_or_init(|| {
            let tokens = self.cell.get()?.as_ref().ok()?;
            Some(Sha256::digest(tokens.refresh_token.as_bytes()).into())
        })
    }
}

#[derive(Default)]
pub struct RefreshFlights {
    // Keyed by the presented token's hash. A settled cell holds the answer,
    // successor refresh token included, for `LINGER`: only in memory, and
    // only for requests that present the token it replaced.
    flights: Mutex<HashMap<[u8; 32], Flight>>,
    metrics: RefreshMetrics,
}

impl RefreshFlights {
    /// No flights yet; calls and joins counted into `metrics`.
    pub fn counting(metrics: RefreshMetrics) -> Self {
        Self { metrics, ..Self::default() }
    }

    pub async fn refresh(&self, client: &AuthClient, refresh_token: &str) -> Outcome {
        let key: [u8; 32] = Sha256::digest(refresh_token.as_bytes()).into();
        let cell = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            // The successor is being used: the old token's result goes.
            flights.retain(|_, f| {
                !(f.cell.initialized() && f.started.elapsed() > LINGER)
                    && f.successor().is_none_or(|successor| successor != key)
            });
            flights
                .entry(key)
                .or_insert_with(|| Flight {
                    cell: Arc::new(OnceCell::new()),
                    started: Instant::now(),
                    successor: std::sync::OnceLock::new(),
                })
                .cell
                .clone()
        };
        // If the request running the refresh is dropped midway, the next
        // waiter runs it instead: the cell is only filled by a finished call.
        let mut called = false;
        let outcome = cell
            .get_or_init(|| async {
                called = true;
                let started = Instant::now();
                let outcome = client.refresh(refresh_token).await.map(Arc::new);
                let result = match &outcome {
                    Ok(_) => "ok",
                    Err(AuthError::InvalidGrant) => "invalid_grant",
                    Err(AuthError::Unavailable(_)) => "unavailable",
                    Err(_) => "error",
                };
                self.metrics.called(result, started.elapsed());
                outcome
            })
            .await
            .clone();
        if !called {
            self.metrics.joined();
        }
        if matches!(outcome, Err(AuthError::Unavailable(_))) {
            // Do not remember an outage: the next request should try again.
            self.flights.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        }
        outcome
    }

    pub fn in_flight(&self) -> usize {
        self.flights.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
