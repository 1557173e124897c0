//! The sparse offset index (`.index`): relative base offset of a batch -> its file position,
//! one entry every `index_interval_bytes`, so a read seeks close to its batch and then walks
//! at most that many bytes of headers.

use crate::index_file::{IndexEntry, IndexFile};

/// One offset index entry: batch base offset minus segment base, and its byte position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    /// Base offset of the batch relative to the segment's base offset.
    pub(crate) rel: u32,
    /// Byte position of the batch in the `.log` file.
    pub(crate) pos: u32,
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = 8;

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.rel.to_be_bytes());
        out.extend_from_slice(&self.pos.to_be_bytes());
    }

    fn decode(buf: &[u8]) -> Option<Self> {
        let rel = u32::from_be_bytes(buf.get(0..4)?.try_into().ok()?);
        let pos = u32::from_be_bytes(buf.get(4..8)?.try_into().ok()?);
        Some(Self { rel, pos })
    }
}

/// The offset index of one segment.
pub(crate) type OffsetIndex = IndexFile<OffsetEntry>;

impl IndexFile<OffsetEntry> {
    /// Position of the last indexed batch whose relative base offset is <= `rel` (0 if none):
    /// the batch holding `rel` starts there or later.
    pub(crate) fn lookup(&self, rel: u32) -> u32 {
        let entries = self.entries();
        let n = entries.partition_point(|e| e.rel <= rel);
        n.checked_sub(1)
            .and_then(|i| entries.get(i))
            .map_or(0, |e| e.pos)
    }

    /// True when entries strictly increase in both fields and point inside a log of `log_size`
    /// bytes; an index failing this is rebuilt from the log.
    pub(crate) fn is_sane(&self, log_size: u64) -> bool {
        let entries = self.entries();
        entries.windows(2).all(|w| match w {
            [a, b] => a.rel < b.rel && a.pos < b.pos,
            _ => true,
        }) && entries.iter().all(|e| u64::from(e.pos) < log_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: Vec<OffsetEntry>) -> (tempfile::TempDir, OffsetIndex) {
        let dir = tempfile::tempdir().unwrap();
        let idx = OffsetIndex::create(&dir.path().join("0.index"), entries).unwrap();
        (dir, idx)
    }

    #[test]
    fn lookup_finds_floor_entry() {
        let (_d, idx) = index(vec![
            OffsetEntry { rel: 10, pos: 100 },
            OffsetEntry { rel: 20, pos: 200 },
            OffsetEntry { rel: 30, pos: 300 },
        ]);
        assert_eq!(idx.lookup(0), 0);
        assert_eq!(idx.lookup(9), 0);
        assert_eq!(idx.lookup(10), 100);
        assert_eq!(idx.lookup(25), 200);
        assert_eq!(idx.lookup(30), 300);
        assert_eq!(idx.lookup(u32::MAX), 300);
        assert!(idx.is_sane(301));
        assert!(!idx.is_sane(300));
    }

    #[test]
    fn insane_orders_detected() {
        let (_d, idx) = index(vec![
            OffsetEntry { rel: 10, pos: 100 },
            OffsetEntry { rel: 5, pos: 200 },
        ]);
        assert!(!idx.is_sane(1000));
        let (_d, empty) = index(vec![]);
        assert!(empty.is_sane(0));
        assert_eq!(empty.lookup(3), 0);
    }
}
