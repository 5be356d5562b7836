//! Where SQLite and PostgreSQL truly differ inside queries that are otherwise
//! shared (`queries`): each difference is one item here, implemented in
//! `sqlite/` and `postgres/`. What differs wholesale (connecting, refresh
//! rotation, announcements) is not here but in those folders.

use sqlx::Database;

use super::migrations::Embedded;

pub(super) trait Dialect: Database {
    /// What runs beside the pools and must live as long as they do.
    type Tasks: Clone + std::fmt::Debug + Send + Sync;

    /// The schema, as this database spells it.
    const MIGRATIONS: &'static [Embedded];

    /// Follows a text `ORDER BY` so that it sorts by bytes: SQLite's default;
    /// PostgreSQL would otherwise sort by the server's locale.
    const BYTE_ORDER: &'static str;
}

/// What a transaction does differently, called on its connection.
pub(super) trait DialectTx {
    /// Appends ended sessions to the revocation feed, so that feed ids become
    /// visible in the order they were assigned: a reader resuming after id 8
    /// must never find a 7 later.
    fn publish_revocations(
        &mut self,
        session_ids: &[String],
        until: i64,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Waits until no other signing-key rotation is under way, so each
    /// retires the key the previous one made current.
    fn lock_signing_keys(&mut self) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}
