//! Types that cannot hold invalid values. Input becomes one of these at the
//! edge (CLI or HTTP); the rest of the service never handles raw strings.

mod client_secrets;
mod end_reason;
mod password;
mod upstream_audience;
mod username;

pub use client_secrets::ClientSecrets;
pub use end_reason::EndReason;
pub use password::Password;
/// Audit event kinds are wire types too (`GET /admin/audit?type=`).
pub use shared::EventKind;
pub use upstream_audience::UpstreamAudience;
pub use username::Username;
