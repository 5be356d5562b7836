//! Types that cannot hold invalid values. Input becomes one of these at the
//! edge (CLI or HTTP); the rest of the service never handles raw strings.

mod end_reason;
mod password;
mod username;

pub use end_reason::EndReason;
pub use password::Password;
pub use username::Username;
