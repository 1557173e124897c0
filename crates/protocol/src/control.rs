//! Transaction markers: the control batches a transaction coordinator writes to every partition
//! of a transaction when it commits or aborts, and how to read one back.
//!
//! A marker is a RecordBatch v2 with the transactional (0x10) and control (0x20) attribute bits,
//! the producer id and epoch of the transaction, base sequence -1, and one record whose key is
//! `(version: i16 = 0, type: i16)` (0 = abort, 1 = commit) and whose value is
//! `(version: i16 = 0, coordinator epoch: i32)`, as Kafka's `EndTransactionMarker` writes it.
//! Consumers skip control batches; a read_committed consumer uses them to close transactions.

use crate::record_batch::{Compression, RecordBatchView};
use crate::records::{batch_records, build_test_batch_with, RecordIter, RecordsError};

/// Attribute bits of a marker batch: transactional | control.
const MARKER_ATTRIBUTES: i16 = 0x30;

/// What a marker says about its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// The transaction's records are to be skipped by read_committed consumers.
    Abort,
    /// The transaction's records are visible.
    Commit,
}

impl Marker {
    /// The control record type Kafka writes in the key.
    fn type_id(self) -> i16 {
        match self {
            Marker::Abort => 0,
            Marker::Commit => 1,
        }
    }
}

/// Builds the marker batch for producer `producer_id`/`producer_epoch` (base offset 0: the log
/// assigns the real one).
pub fn build_marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    marker: Marker,
    coordinator_epoch: i32,
    timestamp_ms: i64,
) -> Vec<u8> {
    let t = marker.type_id().to_be_bytes();
    let key = [0u8, 0, t[0], t[1]];
    let mut value = [0u8; 6];
    value[2..].copy_from_slice(&coordinator_epoch.to_be_bytes());
    let mut batch = build_test_batch_with(
        0,
        timestamp_ms,
        Compression::None,
        (producer_id, producer_epoch, -1),
        &[(Some(&key), Some(&value), 0, vec![])],
    );
    crate::record_batch::set_attributes(&mut batch, MARKER_ATTRIBUTES);
    batch
}

/// The marker a control batch carries and the coordinator epoch that wrote it; `Ok(None)` for
/// a batch that is not a control batch or whose control record is not a transaction marker.
pub fn read_marker(view: &RecordBatchView<'_>) -> Result<Option<(Marker, i32)>, RecordsError> {
    if !view.is_control() {
        return Ok(None);
    }
    let section = batch_records(view, 1 << 16)?;
    let Some(record) = RecordIter::new(&section).next() else {
        return Ok(None);
    };
    let record = record?;
    let kind = record
        .key
        .and_then(|k| k.get(2..4))
        .map(|b| i16::from_be_bytes([b[0], b[1]]));
    let coordinator_epoch = record
        .value
        .and_then(|v| v.get(2..6))
        .map_or(-1, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    Ok(match kind {
        Some(0) => Some((Marker::Abort, coordinator_epoch)),
        Some(1) => Some((Marker::Commit, coordinator_epoch)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        for marker in [Marker::Abort, Marker::Commit] {
            let b = build_marker_batch(42, 3, marker, 7, 1_000);
            let view = RecordBatchView::parse(&b).unwrap();
            view.verify_crc().unwrap();
            assert!(view.is_control() && view.is_transactional());
            assert_eq!((view.producer_id(), view.producer_epoch()), (42, 3));
            assert_eq!(view.base_sequence(), -1);
            assert_eq!(read_marker(&view).unwrap(), Some((marker, 7)));
        }
    }

    #[test]
    fn data_batches_are_not_markers() {
        let b = crate::record_batch::build_test_batch(0, &[(None, Some(&b"v"[..]), 0)]);
        let view = RecordBatchView::parse(&b).unwrap();
        assert_eq!(read_marker(&view).unwrap(), None);
    }
}
