//! Durable raft log and vote: openraft's [`RaftLogStorage`].
//!
//! `raft.log` is a sequence of [frames](crate::frame), each holding one JSON [`LogRecord`]: an
//! optional `Purged(log_id)` first, then consecutive entries. Appends are written and
//! `fdatasync`ed before openraft's callback runs; truncation shrinks the file in place; a purge
//! rewrites the (short) remainder into `raft.log.tmp` and renames it over `raft.log`. The vote
//! lives in `raft.vote` (one frame), replaced atomically. On open a torn tail is cut off.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, StorageIOError};
use serde::{Deserialize, Serialize};

use crate::fsutil::{blocking, read_optional, sync_dir, write_atomic};
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::{frame, MetadataError};

/// File holding the log records.
pub(crate) const LOG_FILE: &str = "raft.log";
/// File holding the last vote.
pub(crate) const VOTE_FILE: &str = "raft.vote";

/// One record of `raft.log`.
#[derive(Serialize, Deserialize)]
enum LogRecord {
    /// Everything up to and including this id was purged (only ever the first record).
    Purged(LogId),
    /// A raft log entry.
    Entry(Entry),
}

/// Borrowing twin of [`LogRecord`] for writing without cloning (same serde shape).
#[derive(Serialize)]
enum LogRecordRef<'a> {
    Purged(&'a LogId),
    Entry(&'a Entry),
}

/// The raft log store; clones share the same file and in-memory index.
#[derive(Clone)]
pub(crate) struct LogStore {
    inner: Arc<Mutex<LogFile>>,
}

/// The open log file plus an in-memory copy of the live entries (metadata logs are short: they
/// are purged at every snapshot).
struct LogFile {
    dir: PathBuf,
    file: File,
    /// Length of the valid file content; writes go here.
    len: u64,
    /// Live entries by index, with the byte offset of their frame.
    entries: BTreeMap<u64, (u64, Entry)>,
    last_purged: Option<LogId>,
    vote: Option<Vote>,
}

fn corrupt(msg: impl Into<String>) -> MetadataError {
    MetadataError::Corrupt(msg.into())
}

fn encode_record(rec: &LogRecordRef<'_>, out: &mut Vec<u8>) -> io::Result<()> {
    let payload = serde_json::to_vec(rec).map_err(io::Error::other)?;
    frame::encode(&payload, out);
    Ok(())
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, cutting off a torn tail and checking continuity.
    pub(crate) fn open(dir: &Path) -> Result<Self, MetadataError> {
        let path = dir.join(LOG_FILE);
        let existing = read_optional(&path)?;
        let created = existing.is_none();
        let bytes = existing.unwrap_or_default();
        let scan = frame::scan(&bytes);

        let mut entries: BTreeMap<u64, (u64, Entry)> = BTreeMap::new();
        let mut last_purged = None;
        for (i, (offset, payload)) in scan.frames.iter().enumerate() {
            let rec: LogRecord = serde_json::from_slice(payload)
                .map_err(|e| corrupt(format!("{LOG_FILE}: record at byte {offset}: {e}")))?;
            match rec {
                LogRecord::Purged(id) if i == 0 => last_purged = Some(id),
                LogRecord::Purged(_) => {
                    return Err(corrupt(format!(
                        "{LOG_FILE}: purge marker at byte {offset} is not the first record"
                    )))
                }
                LogRecord::Entry(entry) => {
                    let expected = match entries.last_key_value() {
                        Some((last, _)) => last + 1,
                        None => last_purged.map_or(0, |p: LogId| p.index + 1),
                    };
                    if entry.log_id.index != expected {
                        return Err(corrupt(format!(
                            "{LOG_FILE}: entry at byte {offset} has index {}, expected {expected}",
                            entry.log_id.index
                        )));
                    }
                    entries.insert(entry.log_id.index, (*offset as u64, entry));
                }
            }
        }

        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&path)?;
        if let Some(why) = scan.torn {
            tracing::warn!(
                file = %path.display(),
                valid_len = scan.valid_len,
                file_len = bytes.len(),
                why,
                "dropping torn tail of the metadata log"
            );
            file.set_len(scan.valid_len as u64)?;
            file.sync_all()?;
        }
        if created {
            sync_dir(dir)?;
        }

        Ok(Self {
            inner: Arc::new(Mutex::new(LogFile {
                dir: dir.to_path_buf(),
                file,
                len: scan.valid_len as u64,
                entries,
                last_purged,
                vote: read_vote_file(dir)?,
            })),
        })
    }

    fn lock(&self) -> io::Result<MutexGuard<'_, LogFile>> {
        lock(&self.inner)
    }

    /// The id up to which the log was purged (entries before it live only in the snapshot).
    pub(crate) fn last_purged(&self) -> Result<Option<LogId>, MetadataError> {
        Ok(self.lock()?.last_purged)
    }

    /// Runs `f` on the log file on the blocking pool (file I/O and fsync).
    async fn with_file<T, F>(&self, f: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut LogFile) -> io::Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || f(&mut *lock(&inner)?)).await
    }
}

fn lock(inner: &Mutex<LogFile>) -> io::Result<MutexGuard<'_, LogFile>> {
    inner
        .lock()
        .map_err(|_| io::Error::other("metadata log lock poisoned"))
}

/// Reads `raft.vote`: absent means "never voted"; anything but one intact frame is corruption
/// (it is only ever replaced by rename, so it cannot be torn).
fn read_vote_file(dir: &Path) -> Result<Option<Vote>, MetadataError> {
    let Some(bytes) = read_optional(&dir.join(VOTE_FILE))? else {
        return Ok(None);
    };
    let scan = frame::scan(&bytes);
    match (scan.frames.as_slice(), scan.torn) {
        ([(_, payload)], None) => serde_json::from_slice(payload)
            .map(Some)
            .map_err(|e| corrupt(format!("{VOTE_FILE}: {e}"))),
        _ => Err(corrupt(format!("{VOTE_FILE}: not a single intact record"))),
    }
}

impl LogFile {
    fn append(&mut self, entries: Vec<Entry>) -> io::Result<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let expected = self.next_index();
        if first.log_id.index != expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "append at index {} would leave a hole (next is {expected})",
                    first.log_id.index
                ),
            ));
        }
        let mut buf = Vec::new();
        let mut offsets = Vec::with_capacity(entries.len());
        for e in &entries {
            offsets.push(self.len + buf.len() as u64);
            encode_record(&LogRecordRef::Entry(e), &mut buf)?;
        }
        let start = self.len;
        let written = self
            .file
            .seek(SeekFrom::Start(start))
            .and_then(|_| self.file.write_all(&buf))
            .and_then(|_| self.file.sync_data());
        if let Err(e) = written {
            // Best effort: do not leave a half-written frame behind a later append.
            let _ = self.file.set_len(start);
            return Err(e);
        }
        self.len = start + buf.len() as u64;
        for (e, off) in entries.into_iter().zip(offsets) {
            self.entries.insert(e.log_id.index, (off, e));
        }
        Ok(())
    }

    fn next_index(&self) -> u64 {
        match (self.entries.last_key_value(), &self.last_purged) {
            (Some((last, _)), _) => last + 1,
            (None, Some(p)) => p.index + 1,
            (None, None) => 0,
        }
    }

    fn truncate(&mut self, index: u64) -> io::Result<()> {
        let Some(&(offset, _)) = self.entries.get(&index) else {
            return Ok(());
        };
        self.file.set_len(offset)?;
        self.file.sync_data()?;
        self.len = offset;
        self.entries.split_off(&index);
        Ok(())
    }

    fn purge(&mut self, upto: LogId) -> io::Result<()> {
        if self
            .last_purged
            .as_ref()
            .is_some_and(|p| p.index >= upto.index)
        {
            return Ok(());
        }
        let kept = self.entries.split_off(&(upto.index + 1));
        let mut buf = Vec::new();
        encode_record(&LogRecordRef::Purged(&upto), &mut buf)?;
        let mut rewritten = BTreeMap::new();
        for (index, (_, e)) in kept {
            let off = buf.len() as u64;
            encode_record(&LogRecordRef::Entry(&e), &mut buf)?;
            rewritten.insert(index, (off, e));
        }
        let tmp = self.dir.join(format!("{LOG_FILE}.tmp"));
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(true)
            .open(&tmp)?;
        file.write_all(&buf)?;
        file.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(LOG_FILE))?;
        sync_dir(&self.dir)?;
        // The handle follows the renamed inode, so it now is raft.log.
        self.file = file;
        self.len = buf.len() as u64;
        self.entries = rewritten;
        self.last_purged = Some(upto);
        Ok(())
    }

    fn save_vote(&mut self, vote: Vote) -> io::Result<()> {
        let payload = serde_json::to_vec(&vote).map_err(io::Error::other)?;
        let mut buf = Vec::new();
        frame::encode(&payload, &mut buf);
        write_atomic(&self.dir, VOTE_FILE, &buf)?;
        self.vote = Some(vote);
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let g = self.lock().map_err(|e| StorageIOError::read_logs(&e))?;
        Ok(g.entries
            .range(range)
            .map(|(_, (_, e))| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let g = self.lock().map_err(|e| StorageIOError::read_logs(&e))?;
        let last_log_id = g
            .entries
            .last_key_value()
            .map(|(_, (_, e))| e.log_id)
            .or(g.last_purged);
        Ok(LogState {
            last_purged_log_id: g.last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        self.with_file(move |f| f.save_vote(vote))
            .await
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        let g = self.lock().map_err(|e| StorageIOError::read_vote(&e))?;
        Ok(g.vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        // Durable (fdatasync returned) before the callback tells openraft so.
        match self.with_file(move |f| f.append(entries)).await {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let err = StorageIOError::write_logs(&e);
                callback.log_io_completed(Err(e));
                Err(err.into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.with_file(move |f| f.truncate(log_id.index))
            .await
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.with_file(move |f| f.purge(log_id))
            .await
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::MetadataCommand;

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(MetadataCommand::DeleteTopic {
                name: format!("t{index}"),
            }),
        }
    }

    fn indexes(store: &LogStore) -> Vec<u64> {
        store.lock().unwrap().entries.keys().copied().collect()
    }

    fn append(store: &LogStore, range: std::ops::Range<u64>) {
        store
            .lock()
            .unwrap()
            .append(range.map(entry).collect())
            .unwrap();
    }

    #[test]
    fn append_truncate_purge_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        append(&store, 0..10);
        store.lock().unwrap().truncate(7).unwrap();
        append(&store, 7..9);
        store.lock().unwrap().purge(entry(3).log_id).unwrap();
        append(&store, 9..12);
        store
            .lock()
            .unwrap()
            .save_vote(Vote::new_committed(1, 1))
            .unwrap();
        drop(store);

        let store = LogStore::open(dir.path()).unwrap();
        assert_eq!(indexes(&store), (4..12).collect::<Vec<_>>());
        let g = store.lock().unwrap();
        assert_eq!(g.last_purged, Some(entry(3).log_id));
        assert_eq!(g.vote, Some(Vote::new_committed(1, 1)));
        assert_eq!(g.entries[&11].1, entry(11));
    }

    #[test]
    fn purge_past_the_end_keeps_the_marker() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        append(&store, 0..3);
        store.lock().unwrap().purge(entry(5).log_id).unwrap();
        drop(store);
        let store = LogStore::open(dir.path()).unwrap();
        assert!(indexes(&store).is_empty());
        assert_eq!(store.lock().unwrap().next_index(), 6);
        append(&store, 6..7);
    }

    #[test]
    fn appending_with_a_hole_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        append(&store, 0..2);
        let res = store.lock().unwrap().append(vec![entry(5)]);
        assert!(res.is_err());
        assert_eq!(indexes(&store), vec![0, 1]);
    }

    #[test]
    fn every_torn_cut_of_the_last_entry_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        append(&store, 0..3);
        let last_offset = store.lock().unwrap().entries[&2].0;
        drop(store);
        let path = dir.path().join(LOG_FILE);
        let full = std::fs::read(&path).unwrap();
        for cut in last_offset as usize + 1..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let store = LogStore::open(dir.path()).unwrap();
            assert_eq!(indexes(&store), vec![0, 1], "cut at {cut}");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), last_offset);
        }
    }

    #[test]
    fn a_gap_in_indexes_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut buf = Vec::new();
        for i in [0, 2] {
            encode_record(&LogRecordRef::Entry(&entry(i)), &mut buf).unwrap();
        }
        std::fs::write(dir.path().join(LOG_FILE), buf).unwrap();
        assert!(matches!(
            LogStore::open(dir.path()),
            Err(MetadataError::Corrupt(_))
        ));
    }
}
