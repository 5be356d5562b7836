//! Time as this service sees it: token expiry and `created_at` read it from
//! here, so tests move time forward (the auth-api's manual clock) instead of
//! sleeping past a token's `exp`.

use std::{fmt, sync::Arc};

/// Unix time in whole seconds; cheap to clone.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The wall clock.
    pub fn system() -> Self {
        Self::from_fn(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                // A host clock before 1970 is broken; 0 makes every token
                // look not yet valid, which fails closed.
                .unwrap_or(0)
        })
    }

    /// Any source of Unix seconds, e.g. a test's clock.
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}
