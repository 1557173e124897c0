//! The sparse time index (`.timeindex`): monotone "largest timestamp so far" -> relative base
//! offset of the batch that first reached it. Used by ListOffsets-by-timestamp to skip the part
//! of a segment whose records are all older than the target.

use crate::index_file::{IndexEntry, IndexFile};

/// One time index entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    /// Largest record timestamp in the segment up to this entry.
    pub(crate) ts: i64,
    /// Relative base offset of the batch where `ts` was first reached.
    pub(crate) rel: u32,
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = 12;

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ts.to_be_bytes());
        out.extend_from_slice(&self.rel.to_be_bytes());
    }

    fn decode(buf: &[u8]) -> Option<Self> {
        let ts = i64::from_be_bytes(buf.get(0..8)?.try_into().ok()?);
        let rel = u32::from_be_bytes(buf.get(8..12)?.try_into().ok()?);
        Some(Self { ts, rel })
    }
}

/// The time index of one segment.
pub(crate) type TimeIndex = IndexFile<TimeEntry>;

impl IndexFile<TimeEntry> {
    /// Relative offset from which to search for the first record with timestamp >= `ts`: the
    /// batch of the last entry with a timestamp strictly below `ts` (every earlier record is
    /// older than `ts`), or 0.
    pub(crate) fn lookup_before(&self, ts: i64) -> u32 {
        let entries = self.entries();
        let n = entries.partition_point(|e| e.ts < ts);
        n.checked_sub(1)
            .and_then(|i| entries.get(i))
            .map_or(0, |e| e.rel)
    }

    /// True when timestamps strictly increase and offsets never decrease.
    pub(crate) fn is_sane(&self) -> bool {
        self.entries().windows(2).all(|w| match w {
            [a, b] => a.ts < b.ts && a.rel <= b.rel,
            _ => true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_before_is_strict() {
        let dir = tempfile::tempdir().unwrap();
        let idx = TimeIndex::create(
            &dir.path().join("0.timeindex"),
            vec![
                TimeEntry { ts: 100, rel: 0 },
                TimeEntry { ts: 200, rel: 5 },
                TimeEntry { ts: 300, rel: 9 },
            ],
        )
        .unwrap();
        assert!(idx.is_sane());
        assert_eq!(idx.lookup_before(50), 0);
        assert_eq!(idx.lookup_before(100), 0);
        assert_eq!(idx.lookup_before(200), 0);
        assert_eq!(idx.lookup_before(201), 5);
        assert_eq!(idx.lookup_before(1_000), 9);
        let bad = TimeIndex::create(
            &dir.path().join("1.timeindex"),
            vec![TimeEntry { ts: 5, rel: 3 }, TimeEntry { ts: 5, rel: 4 }],
        )
        .unwrap();
        assert!(!bad.is_sane());
    }
}
