//! The notes: the routes under `/notes-api/notes`, the note text's rules,
//! and the only SQL in this service.
//!
//! Every query is scoped by the caller's user id (the verified token's
//! `sub`), so no request can read or delete another user's note; a note
//! that is not yours answers exactly like one that does not exist (`404`),
//! so ids cannot be probed.

use std::{borrow::Cow, str::FromStr, time::Duration};

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use sqlx::{
    Row, SqlitePool,
    error::BoxDynError,
    migrate::{Migration, MigrationSource, MigrationType, Migrator},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};

use crate::{auth::User, clock::Clock, error::NotesError, error::rejections};

/// The prefix Cloakroom forwards with (it keeps it): see `upstreams.toml`.
pub const PREFIX: &str = "/notes-api";
/// Longest note, in characters (Unicode scalar values) after trimming.
pub const MAX_CHARS: usize = 500;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(PREFIX)
            .service(
                web::resource("/notes")
                    .route(web::get().to(list))
                    .route(web::post().to(create))
                    .default_service(web::to(rejections::method_not_allowed)),
            )
            .service(
                web::resource("/notes/{id}")
                    .route(web::delete().to(remove))
                    .default_service(web::to(rejections::method_not_allowed)),
            ),
    );
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub text: String,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct NoteList {
    /// Newest first.
    pub notes: Vec<Note>,
}

#[derive(Debug, Deserialize)]
struct NewNote {
    text: String,
}

/// A note's text: trimmed, 1 to [`MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteText(String);

impl NoteText {
    pub fn parse(raw: &str) -> Result<Self, NotesError> {
        let text = raw.trim();
        match text.chars().count() {
            0 => Err(NotesError::InvalidRequest("text must not be empty".into())),
            n if n > MAX_CHARS => Err(NotesError::InvalidRequest(format!(
                "text must be at most {MAX_CHARS} characters"
            ))),
            _ => Ok(Self(text.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `GET /notes-api/notes`: the caller's notes, newest first.
async fn list(user: User, store: web::Data<Store>) -> Result<HttpResponse, NotesError> {
    let notes = store.list(&user.id).await?;
    Ok(HttpResponse::Ok().json(NoteList { notes }))
}

/// `POST /notes-api/notes` `{"text"}`: `201` with the new note. The user is
/// checked before the body is read: a stranger learns nothing from a 400.
async fn create(
    user: User,
    store: web::Data<Store>,
    clock: web::Data<Clock>,
    body: web::Json<NewNote>,
) -> Result<HttpResponse, NotesError> {
    let text = NoteText::parse(&body.text)?;
    let note = store.insert(&user.id, &text, clock.now()).await?;
    Ok(HttpResponse::Created().json(note))
}

/// `DELETE /notes-api/notes/{id}`: `204`, or `404` if the caller has no such note.
async fn remove(
    user: User,
    store: web::Data<Store>,
    id: web::Path<String>,
) -> Result<HttpResponse, NotesError> {
    // Not a UUID: certainly none of ours, and not worth a query.
    let id = uuid::Uuid::parse_str(&id).map_err(|_| NotesError::NotFound)?;
    if store.delete(&user.id, &id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(NotesError::NotFound)
    }
}

/// The notes database (SQLite, one file, one process).
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("NOTES_DATABASE_URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("could not create the folder {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    #[error("could not open the notes database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("could not migrate the notes database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Store {
    /// Opens the database at `sqlite://PATH` (creating the file and its
    /// folder when missing) and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::Url)?
            .create_if_missing(true)
            // Readers proceed while a write commits.
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let path = options.get_filename();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(StoreError::Open)?;
        Migrator::new(Embedded).await?.run(&pool).await?;
        Ok(Self { pool })
    }

    pub async fn list(&self, user_id: &str) -> Result<Vec<Note>, NotesError> {
        let sql = "SELECT id, text, created_at FROM notes WHERE user_id = $1 ORDER BY seq DESC";
        let rows = sqlx::query(sql).bind(user_id).fetch_all(&self.pool).await?;
        rows.iter().map(note_from_row).collect()
    }

    pub async fn insert(
        &self,
        user_id: &str,
        text: &NoteText,
        now: i64,
    ) -> Result<Note, NotesError> {
        let note = Note {
            id: uuid::Uuid::new_v4().to_string(),
            text: text.as_str().to_owned(),
            created_at: now,
        };
        sqlx::query("INSERT INTO notes (id, user_id, text, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&note.id)
            .bind(user_id)
            .bind(&note.text)
            .bind(note.created_at)
            .execute(&self.pool)
            .await?;
        Ok(note)
    }

    /// True if the note existed *and was the user's*: one statement, so
    /// there is no window between checking the owner and deleting.
    pub async fn delete(&self, user_id: &str, id: &uuid::Uuid) -> Result<bool, NotesError> {
        let done = sqlx::query("DELETE FROM notes WHERE id = $1 AND user_id = $2")
            .bind(id.to_string())
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Rows are decoded by hand: the workspace builds sqlx without its macros.
fn note_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Note, NotesError> {
    Ok(Note {
        id: row.try_get("id")?,
        text: row.try_get("text")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The schema, embedded in the binary (sqlx's `migrate!` macro is not built
/// in this workspace). sqlx records each applied version with a checksum:
/// a released file never changes; a new one is added below it.
#[derive(Debug)]
struct Embedded;

const MIGRATIONS: &[(i64, &str, &str)] =
    &[(1, "notes", include_str!("../migrations/0001_notes.sql"))];

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send>> {
        let migrations = MIGRATIONS.iter().map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        });
        Box::pin(std::future::ready(Ok(migrations.collect())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_trimmed_and_between_one_and_five_hundred_characters() {
        assert_eq!(NoteText::parse("  buy milk \n").unwrap().as_str(), "buy milk");
        assert!(NoteText::parse("").is_err());
        assert!(NoteText::parse(" \t\n ").is_err());
        // Characters, not bytes: 500 two-byte letters fit.
        assert!(NoteText::parse(&"é".repeat(MAX_CHARS)).is_ok());
        assert!(NoteText::parse(&"é".repeat(MAX_CHARS + 1)).is_err());
    }

    #[actix_web::test]
    async fn notes_are_kept_per_user_newest_first_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/notes.db", dir.path().display());
        let store = Store::open(&url).await.unwrap();
        let first = store.insert("alice", &NoteText::parse("one").unwrap(), 10).await.unwrap();
        let second = store.insert("alice", &NoteText::parse("two").unwrap(), 10).await.unwrap();
        store.insert("bob", &NoteText::parse("bob's").unwrap(), 11).await.unwrap();
        assert_eq!(store.list("alice").await.unwrap(), vec![second.clone(), first.clone()]);
        let first_id = uuid::Uuid::parse_str(&first.id).unwrap();
        assert!(!store.delete("bob", &first_id).await.unwrap(), "not bob's to delete");
        store.close().await;

        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.list("alice").await.unwrap(), vec![second, first]);
        assert!(store.delete("alice", &first_id).await.unwrap());
        assert!(!store.delete("alice", &first_id).await.unwrap());
    }
}
