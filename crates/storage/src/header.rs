//! The few header fields the log needs per stored batch, decoded from the first
//! `BATCH_HEADER_LEN` bytes without requiring the whole batch in memory.

use weir_protocol::record_batch::{RecordBatchView, BATCH_HEADER_LEN, LOG_OVERHEAD};

/// Offsets, size and timestamp of one batch; what the write path and index keep per batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchMeta {
    /// First offset of the batch.
    pub(crate) base_offset: i64,
    /// Last offset of the batch.
    pub(crate) last_offset: i64,
    /// Largest timestamp (header maxTimestamp).
    pub(crate) max_timestamp: i64,
    /// Whole size in bytes (LOG_OVERHEAD + batchLength).
    pub(crate) len: u64,
}

impl BatchMeta {
    /// Metadata of a parsed batch.
    pub(crate) fn of(view: &RecordBatchView<'_>) -> Self {
        Self {
            base_offset: view.base_offset(),
            last_offset: view.last_offset(),
            max_timestamp: view.max_timestamp(),
            len: view.total_len() as u64,
        }
    }

    /// Decodes a header prefix; `None` if `buf` is short or the length/delta are impossible.
    pub(crate) fn decode(buf: &[u8]) -> Option<Self> {
        if buf.len() < BATCH_HEADER_LEN {
            return None;
        }
        let base_offset = i64::from_be_bytes(buf.get(0..8)?.try_into().ok()?);
        let length = i32::from_be_bytes(buf.get(8..12)?.try_into().ok()?);
        let delta = i32::from_be_bytes(buf.get(23..27)?.try_into().ok()?);
        let max_timestamp = i64::from_be_bytes(buf.get(35..43)?.try_into().ok()?);
        let length = u64::try_from(length).ok()?;
        if length < (BATCH_HEADER_LEN - LOG_OVERHEAD) as u64 || delta < 0 {
            return None;
        }
        Some(Self {
            base_offset,
            last_offset: base_offset.checked_add(i64::from(delta))?,
            max_timestamp,
            len: LOG_OVERHEAD as u64 + length,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_protocol::record_batch::build_test_batch;

    #[test]
    fn decode_matches_view() {
        let b = build_test_batch(40, &[(None, Some(b"x"), 5), (None, Some(b"y"), 9)]);
        let v = RecordBatchView::parse(&b).unwrap();
        assert_eq!(BatchMeta::decode(&b), Some(BatchMeta::of(&v)));
        assert_eq!(BatchMeta::decode(&b[..60]), None);
        let mut bad = b.clone();
        bad[8..12].copy_from_slice(&3i32.to_be_bytes());
        assert_eq!(BatchMeta::decode(&bad), None);
    }
}
