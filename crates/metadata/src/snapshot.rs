//! The persisted snapshot: `raft.snapshot` = frame(JSON `SnapshotMeta`) + frame(JSON state).
//!
//! Replaced atomically (tmp + fsync + rename + dir fsync), so it is never torn; a damaged file
//! is reported as corruption rather than silently dropped, because the log before it is gone.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use std::io;

use crate::frame;
use crate::fsutil::{read_optional, write_atomic};
use crate::types::SnapshotMeta;
use crate::MetadataError;

/// File holding the latest snapshot.
pub(crate) const SNAPSHOT_FILE: &str = "raft.snapshot";

/// A snapshot as stored: its metadata and the serialized `ClusterState`.
pub(crate) struct StoredSnapshot {
    /// Last included log id and membership.
    pub meta: SnapshotMeta,
    /// JSON of the `ClusterState` at `meta.last_log_id`.
    pub data: Vec<u8>,
}

/// Reads and writes `raft.snapshot`; clones share a lock so concurrent builds never let an older
/// snapshot replace a newer one.
#[derive(Clone)]
pub(crate) struct SnapshotFile {
    dir: PathBuf,
    /// The last log id of the snapshot on disk, guarded so check-and-replace is atomic.
    newest: Arc<Mutex<Option<crate::types::LogId>>>,
}

impl SnapshotFile {
    /// Loads the current snapshot (if any) from `dir`.
    pub(crate) fn open(dir: &Path) -> Result<(Self, Option<StoredSnapshot>), MetadataError> {
        let current = match read_optional(&dir.join(SNAPSHOT_FILE))? {
            None => None,
            Some(bytes) => Some(decode(&bytes).map_err(MetadataError::Corrupt)?),
        };
        let file = Self {
            dir: dir.to_path_buf(),
            newest: Arc::new(Mutex::new(
                current.as_ref().and_then(|s| s.meta.last_log_id),
            )),
        };
        Ok((file, current))
    }

    /// Reads the snapshot currently on disk.
    pub(crate) fn load(&self) -> io::Result<Option<StoredSnapshot>> {
        match read_optional(&self.dir.join(SNAPSHOT_FILE))? {
            None => Ok(None),
            Some(bytes) => decode(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }

    /// Durably replaces the snapshot, unless the one on disk is already as new or newer.
    pub(crate) fn save(&self, snap: &StoredSnapshot) -> io::Result<()> {
        let mut newest = self
            .newest
            .lock()
            .map_err(|_| io::Error::other("snapshot lock poisoned"))?;
        if newest.is_some() && *newest >= snap.meta.last_log_id {
            return Ok(());
        }
        let meta = serde_json::to_vec(&snap.meta).map_err(io::Error::other)?;
        let mut buf = Vec::with_capacity(meta.len() + snap.data.len() + 2 * frame::HEADER_LEN);
        frame::encode(&meta, &mut buf);
        frame::encode(&snap.data, &mut buf);
        write_atomic(&self.dir, SNAPSHOT_FILE, &buf)?;
        *newest = snap.meta.last_log_id;
        Ok(())
    }
}

fn decode(bytes: &[u8]) -> Result<StoredSnapshot, String> {
    let scan = frame::scan(bytes);
    match (scan.frames.as_slice(), scan.torn) {
        ([(_, meta), (_, data)], None) => Ok(StoredSnapshot {
            meta: serde_json::from_slice(meta).map_err(|e| format!("{SNAPSHOT_FILE}: {e}"))?,
            data: data.to_vec(),
        }),
        _ => Err(format!("{SNAPSHOT_FILE}: expected two intact records")),
    }
}
