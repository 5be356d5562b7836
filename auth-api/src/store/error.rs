//! What can go wrong in storage; `ApiError` decides what a client sees of it.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported DATABASE_URL scheme {0:?}: expected sqlite://PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
    )]
    UnsupportedUrl(String),
    #[error("could not create the database folder {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    /// Shared, because one failed group commit answers several callers.
    #[error("database error: {0}")]
    Database(std::sync::Arc<sqlx::Error>),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Database(std::sync::Arc::new(err))
    }
}
