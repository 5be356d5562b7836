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
    Embedded {
        version: 3,
        description: "accounts",
        sql: include_str!("../../migrations/sqlite/0003_accounts.sql"),
    },
    Embedded {
        version: 4,
        description: "user admin",
        sql: include_str!("../../migrations/sqlite/0004_user_admin.sql"),
    },
    Embedded {
        version: 5,
        description: "audit lookup",
        sql: include_str!("../../migrations/sqlite/0005_audit_lookup.sql"),
    },
    Embedded {
        version: 6,
        description: "second factors",
        sql: include_str!("../../migrations/sqlite/0006_second_factors.sql"),
    },
    Embedded {
        version: 7,
        description: "passkeys",
        sql: include_str!("../../migrations/sqlite/0007_passkeys.sql"),
    },
    Embedded {
        version: 8,
        description: "refresh generations",
        sql: include_str!("../../migrations/sqlite/0008_refresh_generations.sql"),
    },
    Embedded {
        version: 9,
        description: "feed epoch",
        sql: include_str!("../../migrations/sqlite/0009_feed_epoch.sql"),
    },
    Embedded {
        version: 10,
        description: "mfa key ids",
        sql: include_str!("../../migrations/sqlite/0010_mfa_key_ids.sql"),
    },
];

pub(super) const POSTGRES: &[Embedded] = &[
    Embedded {
        version: 1,
        description: "init",
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Embedded {
        version: 2,
        description: "accounts",
        sql: include_str!("../../migrations/postgres/0002_accounts.sql"),
    },
    Embedded {
        version: 3,
        description: "user admin",
        sql: include_str!("../../migrations/postgres/0003_user_admin.sql"),
    },
    Embedded {
        version: 4,
        description: "audit lookup",
        sql: include_str!("../../migrations/postgres/0004_audit_lookup.sql"),
    },
    Embedded {
        version: 5,
        description: "second factors",
        sql: include_str!("../../migrations/postgres/0005_second_factors.sql"),
    },
    Embedded {
        version: 6,
        description: "passkeys",
        sql: include_str!("../../migrations/postgres/0006_passkeys.sql"),
    },
    Embedded {
        version: 7,
        description: "refresh generations",
        sql: include_str!("../../migrations/postgres/0007_refresh_generations.sql"),
    },
    Embedded {
        version: 8,
        description: "feed epoch",
        sql: include_str!("../../migrations/postgres/0008_feed_epoch.sql"),
    },
    Embedded {
        version: 9,
        description: "mfa key ids",
        sql: include_str!("../../migrations/postgres/0009_mfa_key_ids.sql"),
    },
];

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
    use std::path::Path;

    use sha2::{Digest, Sha384};
    use sqlx::migrate::Migrator;

    use super::*;

    /// What sqlx's own reader makes of each folder (as `migrate!` did) is
    /// exactly what is embedded: versions, descriptions, SQL, checksums.
    #[tokio::test]
    async fn every_migration_file_is_embedded_as_sqlx_reads_it() {
        for (dir, embedded) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
            let from_files = Migrator::new(folder).await.unwrap();
            let from_binary = Migrator::new(Source(embedded)).await.unwrap();
            let fields = |m: &Migration| {
                (
                    m.version,
                    m.description.to_string(),
                    m.sql.to_string(),
                    m.checksum.to_vec(),
                    m.no_tx,
                )
            };
            let files: Vec<_> = from_files.iter().map(fields).collect();
            let binary: Vec<_> = from_binary.iter().map(fields).collect();
            assert_eq!(files, binary, "{dir}: the embedded list and the folder differ");
        }
    }

    /// Released migrations never change: a database that applied one refuses
    /// to start once its checksum differs. Add a new file instead.
    #[test]
    fn released_migrations_are_unchanged() {
        let sha384 = |sql: &str| {
            Sha384::digest(sql.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let released = [
            (
                &SQLITE[0],
                "sqlite/0001",
                "c374d94dae5d1267bf3fb05a085446c8131a5e0d0e092293e23fe069a75635ad8b278924d9d2551b756e81df58e7c91e",
            ),
            (
                &SQLITE[1],
                "sqlite/0002",
                "daee3d30989429d01e881900560604c4f6648063988af7b11bb82be52da55836a3ec47914be817b1ca422101682631e3",
            ),
            (
                &SQLITE[2],
                "sqlite/0003",
                "78f3d8239ea36de8dd4e573a0934c7865ed54c1688bb817f2e0fe6738ba43b5140dc78cc7214a80751b51d7b5a22110c",
            ),
            (
                &SQLITE[3],
                "sqlite/0004",
                "1421b3049cc3e09c2b29b07b4b208fab56e1f8008ddd5868f5d5df056e43396bc64d9e8548bbd013050ec49c05561a15",
            ),
            (
                &SQLITE[4],
                "sqlite/0005",
                "97a2033a7436f1dc0008927ddc9adf9d9b53e0436db005c684627572e240e29f1d6aade5b320297f20052f662eac5544",
            ),
            (
                &SQLITE[5],
                "sqlite/0006",
                "b22e106200e74d7febcd6c1e76a7a7bb51fd607d4a87794f0c8b8216cac40385a922d272007398a3aa4fc5ff25dbad52",
            ),
            (
                &SQLITE[6],
                "sqlite/0007",
                "efc2e208f1ae09c33f4972123edeb5be9f697914ae606ff0e817e7181c82f59a5f0ffe60a9f67eabbd74f8c04668a145",
            ),
            (
                &POSTGRES[0],
                "postgres/0001",
                "038e0c631bf20e9809cb6eda8fecf618cf7cb3fc9217c779736d6cbb45dad057dfb87dd0fb53f3d8551ee98377bae706",
            ),
            (
                &POSTGRES[1],
                "postgres/0002",
                "85cc991a278eada4cf40e4ccdb62468258f613c27faa36b82680475d89014ed414f784358ba92bd47a11599c2c457c89",
            ),
            (
                &POSTGRES[2],
                "postgres/0003",
                "cd250de46e4a076dc7879ae9000863e7d47d680948679b323212c211ca018907869dcd6f473a91fa9794cd028006df46",
            ),
            (
                &POSTGRES[3],
                "postgres/0004",
                "97a2033a7436f1dc0008927ddc9adf9d9b53e0436db005c684627572e240e29f1d6aade5b320297f20052f662eac5544",
            ),
            (
                &POSTGRES[4],
                "postgres/0005",
                "a640b3780224fd3c145907c118eb5c5959dc9763a8cc5f23d7df481a0874d07a479b01b3caf63d040cc72c87061e12bc",
            ),
            (
                &POSTGRES[5],
                "postgres/0006",
                "13165d65a9fac3d608fa801e15244a9450b85096bba18124da2b3d18c36f65aeaebc094ab84feece3e8159fd8256db0f",
            ),
        ];
        for (migration, name, checksum) in released {
            assert_eq!(sha384(migration.sql), checksum, "migration {name} was edited");
        }
    }
}
