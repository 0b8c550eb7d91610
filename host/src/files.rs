//! Files heph creates are private to the user it runs as: the data directory and the compiled
//! cache 0700, the database (and the WAL and shared-memory files SQLite makes beside it, which
//! take the database's mode), the key file and compiled components 0600. A store made by an
//! older heph with wider modes is narrowed when it is opened.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates a directory (and its parents) readable only by its owner; narrows an existing one
/// (for heph's own directories: the data directory, the compiled cache).
pub fn private_dir(path: &Path) -> io::Result<()> {
    create_private_dir(path)?;
    narrow(path, 0o700)
}

/// Creates a directory (and its parents) readable only by its owner; leaves an existing one
/// as it is (a directory the operator chose for a file of heph's).
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// Makes sure `path` exists as a file only its owner can read, without touching its content.
pub fn private_file(path: &Path) -> io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => narrow(path, 0o600),
        Err(e) => Err(e),
    }
}

/// Writes a new file, 0600, whole.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

/// The SQLite files beside a database (made by SQLite with the database's mode, but an older
/// heph's may be wider).
pub fn narrow_sqlite(database: &Path) -> io::Result<()> {
    private_file(database)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        let path = Path::new(&name);
        if path.exists() {
            narrow(path, 0o600)?;
        }
    }
    Ok(())
}

/// Takes group and other permissions away.
fn narrow(path: &Path, mode: u32) -> io::Result<()> {
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & 0o077 != 0 {
        std::fs::set_permissions(path, Permissions::from_mode(mode))?;
        tracing::info!(path = %path.display(), "made private (it was {current:o})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_and_directories_are_made_and_kept_private() {
        let dir = std::env::temp_dir().join(format!("heph-files-{}", std::process::id()));
        let nested = dir.join("a/b");
        private_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o700);
        let db = nested.join("heph.db");
        private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        // An older store: world-readable database and WAL, narrowed without losing content.
        std::fs::write(&db, b"content").unwrap();
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        let wal = nested.join("heph.db-wal");
        std::fs::write(&wal, b"wal").unwrap();
        std::fs::set_permissions(&wal, Permissions::from_mode(0o644)).unwrap();
        narrow_sqlite(&db).unwrap();
        assert_eq!((mode(&db), mode(&wal)), (0o600, 0o600));
        assert_eq!(std::fs::read(&db).unwrap(), b"content");
        write_private(&nested.join("c"), b"x").unwrap();
        assert_eq!(mode(&nested.join("c")), 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
