//! Single-flight refresh: concurrent requests carrying the same refresh token
//! share one call to the auth-api and all get its result.
//!
//! Without this, a page that loads with several parallel requests would
//! rotate the token several times; the auth-api's grace window would save
//! the user, but at the cost of N calls instead of one. A settled result is
//! kept for a few seconds so requests that left the browser with the old
//! cookie just before the new one arrived reuse it too.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};
use shared::TokenResponse;
use tokio::sync::OnceCell;

use crate::auth_client::{AuthClient, AuthError};

/// Shorter than the auth-api's reuse grace, so a reused result is never one
/// the auth-api would no longer have handed out.
const LINGER: Duration = Duration::from_secs(5);

pub type Outcome = Result<Arc<TokenResponse>, AuthError>;

struct Flight {
    cell: Arc<OnceCell<Outcome>>,
    started: Instant,
}

#[derive(Default)]
pub struct RefreshFlights {
    // Keyed by the token's hash: the map never holds a usable token.
    flights: Mutex<HashMap<[u8; 32], Flight>>,
}

impl RefreshFlights {
    pub async fn refresh(&self, client: &AuthClient, refresh_token: &str) -> Outcome {
        let key: [u8; 32] = Sha256::digest(refresh_token.as_bytes()).into();
        let cell = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.retain(|_, f| !(f.cell.initialized() && f.started.elapsed() > LINGER));
            flights
                .entry(key)
                .or_insert_with(|| Flight {
                    cell: Arc::new(OnceCell::new()),
                    started: Instant::now(),
                })
                .cell
                .clone()
        };
        // If the request running the refresh is dropped midway, the next
        // waiter runs it instead: the cell is only filled by a finished call.
        let outcome = cell
            .get_or_init(|| async { client.refresh(refresh_token).await.map(Arc::new) })
            .await
            .clone();
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
