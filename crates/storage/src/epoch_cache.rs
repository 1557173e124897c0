//! Leader epoch cache: which leader epoch started at which offset, persisted in
//! `leader-epoch-checkpoint` (Kafka's format). Serves OffsetForLeaderEpoch so a follower can
//! find where its log diverges from the leader's after a failover.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::checkpoint::write_atomic;
use crate::error::StorageError;

/// File name, as in Kafka.
pub(crate) const EPOCH_FILE: &str = "leader-epoch-checkpoint";

/// One epoch and the first offset written in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EpochEntry {
    pub(crate) epoch: i32,
    pub(crate) start_offset: i64,
}

/// Epoch entries ordered by epoch and start offset, mirrored to the checkpoint file on change.
pub(crate) struct LeaderEpochCache {
    dir: PathBuf,
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// An empty cache for a log whose directory does not exist yet.
    pub(crate) fn empty(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            entries: Vec::new(),
        }
    }

    /// Loads the checkpoint from `dir` (empty cache if absent).
    pub(crate) fn load(dir: &Path) -> Result<Self, StorageError> {
        let path = dir.join(EPOCH_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e.into()),
        };
        let entries = if text.is_empty() {
            Vec::new()
        } else {
            parse(&text)
                .ok_or_else(|| StorageError::Corrupt(format!("bad {}: {text:?}", path.display())))?
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            entries,
        })
    }

    /// Current entries (oldest first).
    #[cfg(test)]
    pub(crate) fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest epoch, if any.
    pub(crate) fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset` (Kafka's `assign`): a no-op for the
    /// current epoch, otherwise entries that would break monotonicity are dropped first.
    pub(crate) fn assign(&mut self, epoch: i32, start_offset: i64) -> io::Result<()> {
        if epoch < 0 || start_offset < 0 {
            return Ok(());
        }
        let current = matches!(
            self.entries.last(),
            Some(l) if l.epoch == epoch && start_offset >= l.start_offset
        );
        if current {
            return Ok(());
        }
        self.entries
            .retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        self.persist()
    }

    /// Drops entries starting at or after `end_offset` (the log was truncated there).
    pub(crate) fn truncate_from_end(&mut self, end_offset: i64) -> io::Result<()> {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        if self.entries.len() != before {
            self.persist()?;
        }
        Ok(())
    }

    /// Drops entries wholly below a new log start offset, keeping the epoch in force at
    /// `start_offset` with its start moved up to it (Kafka's `truncateFromStart`).
    pub(crate) fn truncate_from_start(&mut self, start_offset: i64) -> io::Result<()> {
        let removed = self
            .entries
            .iter()
            .take_while(|e| e.start_offset <= start_offset)
            .count();
        let Some(last_removed) = removed.checked_sub(1).and_then(|i| self.entries.get(i)) else {
            return Ok(());
        };
        let kept = EpochEntry {
            epoch: last_removed.epoch,
            start_offset,
        };
        if removed == 1 && last_removed.start_offset == start_offset {
            return Ok(());
        }
        self.entries.drain(..removed);
        self.entries.insert(0, kept);
        self.persist()
    }

    /// OffsetForLeaderEpoch with Kafka's semantics: `(largest epoch <= requested, start offset
    /// of the next larger epoch)`, `(latest, log_end)` for the latest epoch, `None` when the
    /// requested epoch is newer than any known (or the cache is empty).
    pub(crate) fn end_offset_for(&self, requested: i32, log_end: i64) -> Option<(i32, i64)> {
        if requested < 0 {
            return None;
        }
        if self.latest_epoch() == Some(requested) {
            return Some((requested, log_end));
        }
        let higher = self.entries.iter().find(|e| e.epoch > requested)?;
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            Some(floor) => Some((floor.epoch, higher.start_offset)),
            None => Some((requested, higher.start_offset)),
        }
    }

    fn persist(&self) -> io::Result<()> {
        let mut text = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        write_atomic(&self.dir, EPOCH_FILE, text.as_bytes())
    }
}

fn parse(text: &str) -> Option<Vec<EpochEntry>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "0" {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut entries = Vec::new();
    for line in lines.by_ref().take(count) {
        let mut parts = line.split_whitespace();
        let epoch: i32 = parts.next()?.parse().ok()?;
        let start_offset: i64 = parts.next()?.parse().ok()?;
        if let Some(prev) = entries.last() {
            let prev: &EpochEntry = prev;
            if epoch <= prev.epoch || start_offset < prev.start_offset {
                return None;
            }
        }
        entries.push(EpochEntry {
            epoch,
            start_offset,
        });
    }
    (entries.len() == count).then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(epoch: i32, start_offset: i64) -> EpochEntry {
        EpochEntry {
            epoch,
            start_offset,
        }
    }

    #[test]
    fn assign_persist_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(c.latest_epoch(), None);
        assert_eq!(c.end_offset_for(0, 10), None);
        c.assign(0, 0).unwrap();
        c.assign(0, 5).unwrap(); // same epoch, later offset: no-op
        c.assign(2, 10).unwrap();
        c.assign(5, 20).unwrap();
        assert_eq!(c.entries(), &[e(0, 0), e(2, 10), e(5, 20)]);
        let text = fs::read_to_string(dir.path().join(EPOCH_FILE)).unwrap();
        assert_eq!(text, "0\n3\n0 0\n2 10\n5 20\n");
        let c2 = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(c2.entries(), c.entries());
    }

    #[test]
    fn end_offset_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::load(dir.path()).unwrap();
        c.assign(2, 10).unwrap();
        c.assign(5, 20).unwrap();
        assert_eq!(c.end_offset_for(5, 30), Some((5, 30)));
        assert_eq!(c.end_offset_for(2, 30), Some((2, 20)));
        assert_eq!(c.end_offset_for(3, 30), Some((2, 20)));
        assert_eq!(c.end_offset_for(1, 30), Some((1, 10)));
        assert_eq!(c.end_offset_for(6, 30), None);
        assert_eq!(c.end_offset_for(-1, 30), None);
    }

    #[test]
    fn non_monotonic_assign_drops_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::load(dir.path()).unwrap();
        c.assign(1, 0).unwrap();
        c.assign(3, 50).unwrap();
        c.assign(4, 40).unwrap();
        assert_eq!(c.entries(), &[e(1, 0), e(4, 40)]);
    }

    #[test]
    fn truncation() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::load(dir.path()).unwrap();
        c.assign(1, 0).unwrap();
        c.assign(2, 10).unwrap();
        c.assign(3, 20).unwrap();
        c.truncate_from_end(20).unwrap();
        assert_eq!(c.entries(), &[e(1, 0), e(2, 10)]);
        c.truncate_from_start(15).unwrap();
        assert_eq!(c.entries(), &[e(2, 15)]);
        c.truncate_from_start(3).unwrap();
        assert_eq!(c.entries(), &[e(2, 15)]);
        let c2 = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(c2.entries(), &[e(2, 15)]);
    }

    #[test]
    fn corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(EPOCH_FILE), "0\n2\n1 0\n").unwrap();
        assert!(LeaderEpochCache::load(dir.path()).is_err());
        fs::write(dir.path().join(EPOCH_FILE), "0\n2\n3 0\n1 5\n").unwrap();
        assert!(LeaderEpochCache::load(dir.path()).is_err());
    }
}
