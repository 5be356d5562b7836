//! A small file system to fill: the disk-full tests of the auth-api and the
//! frontend (included there by `#[path]`).

/// A small tmpfs mounted on a temporary folder for one test; unmounted when
/// dropped, a panic included (lazily: a process killed a moment ago may
/// still hold a file there).
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Needs root (CAP_SYS_ADMIN); the reason when it cannot.
    pub fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "cloakroom-test"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Self { dir })
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes `path` until the file system has no byte left.
    pub fn fill(&self, path: &std::path::Path) {
        use std::io::Write;
        let mut file = std::fs::File::create(path).expect("the filler");
        for chunk in [64 * 1024, 512, 1] {
            let bytes = vec![0u8; chunk];
            while file.write(&bytes).is_ok_and(|n| n > 0) {}
        }
        let _ = file.sync_all();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Checkpoints the WAL of the SQLite database at `db_url` into the database
/// file and truncates it to nothing, while the auth-api has it open. A WAL
/// that SQLite starts over reuses its file's space, so without this a "full"
/// disk still takes a few dozen writes; after it, the next write needs room.
pub async fn truncate_wal(db_url: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(db_url).await.expect("the database");
    // Waits (busy timeout) for the writer; `busy` is 1 if it still could not.
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut conn)
        .await
        .expect("a checkpoint");
    assert_eq!(busy, 0, "the WAL was truncated");
    conn.close().await.expect("closed");
}
