//! The schema migrations, embedded in the binary: every file of each
//! dialect's folder under `auth-api/migrations/`, listed here. sqlx's
//! `migrate!` macro would find them itself, but it builds sqlx's drivers (and
//! SQLite's C sources) a second time, for the compiler; the test below keeps
//! this list and the folders in step. Migrations are forward-only: a file,
//! once released, never changes (sqlx refuses a database whose applied
//! checksum differs).

use std::borrow::Cow;

use sqlx::{
    error::BoxDynError,
    migrate::{Migration, MigrationSource, MigrationType},
};

#[derive(Debug)]
pub(super) struct Embedded {
    version: i64,
    /// As sqlx derives it from the file name: `0002_rotation_trigger.sql` → "rotation trigger".
    description: &'static str,
    sql: &'static str,
}

pub(super) const SQLITE: &[Embedded] = &[
    Embedded {
        version: 1,
        description: "init",
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
    },
    Embedded {
        version: 2,
        description: "rotation trigger",
        sql: include_str!("../../migrations/sqlite/0002_rotation_trigger.sql"),
    },
];

pub(super) const POSTGRES: &[Embedded] = &[Embedded {
    version: 1,
    description: "init",
    sql: include_str!("../../migrations/postgres/0001_init.sql"),
}];

/// One dialect's list, as the source sqlx's `Migrator` reads.
#[derive(Debug)]
pub(super) struct Source(pub &'static [Embedded]);

impl MigrationSource<'static> for Source {
    fn resolve(
        self,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send>> {
        let migrations = self.0.iter().map(|m| {
            // The same `Migration` sqlx's own directory reader would build,
            // checksum included, so databases migrated before stay valid.
            Migration::new(
                m.version,
                Cow::Borrowed(m.description),
                MigrationType::Simple,
                Cow::Borrowed(m.sql),
                m.sql.starts_with("-- no-transaction"),
            )
        });
        Box::pin(std::future::ready(Ok(migrations.collect())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded_as_sqlx_would_read_it() {
        for (dir, embedded) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let path =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
            let mut files: Vec<_> = std::fs::read_dir(&path)
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "sql"))
                .collect();
            files.sort();
            assert_eq!(files.len(), embedded.len(), "{dir}: files and list differ in length");
            for (file, m) in files.iter().zip(embedded) {
                let name = file.file_stem().unwrap().to_str().unwrap();
                let (version, description) = name.split_once('_').unwrap();
                assert_eq!(m.version, version.parse::<i64>().unwrap(), "{name}");
                assert_eq!(m.description, description.replace('_', " "), "{name}");
                assert_eq!(m.sql, std::fs::read_to_string(file).unwrap(), "{name}");
            }
        }
    }
}
