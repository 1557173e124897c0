//! Small crash-safe state files (write tmp, fsync, rename, fsync dir) and the
//! `log-start-offset` checkpoint.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::error::StorageError;

/// Name of the file holding the log start offset raised by DeleteRecords.
pub(crate) const LOG_START_FILE: &str = "log-start-offset";

/// Replaces `dir/name` atomically: readers see the old or the new content, never a mix.
pub(crate) fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Makes file creations, renames and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads the persisted log start offset, `None` if never written.
pub(crate) fn read_log_start(dir: &Path) -> Result<Option<i64>, StorageError> {
    let text = match fs::read_to_string(dir.join(LOG_START_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut lines = text.lines();
    let corrupt = || StorageError::Corrupt(format!("bad {LOG_START_FILE} file: {text:?}"));
    if lines.next() != Some("0") {
        return Err(corrupt());
    }
    let offset = lines
        .next()
        .and_then(|l| l.trim().parse::<i64>().ok())
        .filter(|o| *o >= 0)
        .ok_or_else(corrupt)?;
    Ok(Some(offset))
}

/// Persists the log start offset (format: version line `0`, then the offset).
pub(crate) fn write_log_start(dir: &Path, offset: i64) -> io::Result<()> {
    write_atomic(dir, LOG_START_FILE, format!("0\n{offset}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_start_round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_log_start(dir.path()).unwrap(), None);
        write_log_start(dir.path(), 42).unwrap();
        assert_eq!(read_log_start(dir.path()).unwrap(), Some(42));
        write_log_start(dir.path(), 7).unwrap();
        assert_eq!(read_log_start(dir.path()).unwrap(), Some(7));
        assert!(!dir.path().join("log-start-offset.tmp").exists());
        fs::write(dir.path().join(LOG_START_FILE), "0\nxyz\n").unwrap();
        assert!(matches!(
            read_log_start(dir.path()),
            Err(StorageError::Corrupt(_))
        ));
    }
}
