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

    /// A text expression that changes whenever the database server starts
    /// (a restart, or a standby promoted after a failover, which may have
    /// lost the newest commits and hands their feed ids out again) and is
    /// the same for every connection to one running server; appended to the
    /// feed's epoch. Empty on SQLite, where there is no server apart from
    /// the auth-api, which renews the epoch as it starts.
    const INCARNATION: &'static str;
}

/// What a transaction does differently, called on its connection.
pub(super) trait DialectTx {
    /// Appends sessions to the revocation feed (ended, or with `stale_before`
    /// only their tokens up to then), so that feed ids become visible in the
    /// order they were assigned: a reader resuming after id 8 must never find
    /// a 7 later.
    fn publish_revocations(
        &mut self,
        session_ids: &[String],
        until: i64,
        stale_before: Option<i64>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Wakes every instance's waiting feed polls when the transaction
    /// commits, for news that is not a revocation row (a key cut off).
    fn announce_feed(&mut self) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Waits until no other transaction holding `topic` is under way.
    fn lock(&mut self, topic: Topic) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// What a transaction may need to itself, whatever several instances do.
///
/// Lock order, in every transaction that takes more than one (PostgreSQL
/// would otherwise abort one of two crossing transactions as a deadlock):
/// a `Topic` lock, then the user's row, then session rows, and the
/// revocation feed's lock (`publish_revocations`) last.
/// SQLite has one writer connection, so its transactions never interleave;
/// PostgreSQL takes an advisory lock per topic.
#[derive(Debug, Clone, Copy)]
pub(super) enum Topic {
    /// Each rotation retires the key the previous one made current.
    SigningKeys,
    /// Checks on all users (the last active admin) hold until the change
    /// they allow commits: two admins demoting each other at once must not
    /// both pass.
    Users,
}
