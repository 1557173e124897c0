//! Idempotent-producer state of one partition: for each producer id, its epoch and the
//! sequence ranges and offsets of its last five batches.
//!
//! This is what turns a retried batch into the answer of its first append instead of a second
//! copy, and a gap in sequence numbers into OUT_OF_ORDER_SEQUENCE_NUMBER, following Kafka's
//! `ProducerStateManager` rules. The checks read only batch headers.

use std::collections::{HashMap, VecDeque};

use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};
use weir_protocol::record_batch::RecordBatchView;

/// How many recent batches per producer are remembered for duplicate detection (Kafka's
/// `max.in.flight.requests.per.connection` limit for idempotence).
pub const REMEMBERED_BATCHES: usize = 5;

/// A batch's identity for deduplication and where it landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// First sequence number of the batch.
    pub first_seq: i32,
    /// Last sequence number of the batch.
    pub last_seq: i32,
    /// Offset of the batch's first record.
    pub first_offset: i64,
    /// Offset of the batch's last record.
    pub last_offset: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchRecord>,
}

/// The verdict on an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not an idempotent batch, or the next in sequence: append it.
    Append,
    /// A retry of a batch already in the log: answer with its original offsets.
    Duplicate(BatchRecord),
}

/// Producer states of one partition.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

fn last_seq(first_seq: i32, last_offset_delta: i32) -> i32 {
    // Sequence numbers wrap around at i32::MAX.
    ((i64::from(first_seq) + i64::from(last_offset_delta)) % (i64::from(i32::MAX) + 1)) as i32
}

fn in_sequence(last: i32, next: i32) -> bool {
    next == last.wrapping_add(1) || (next == 0 && last == i32::MAX)
}

impl ProducerStates {
    /// Checks an incoming batch against its producer's state.
    pub fn check(&self, batch: &RecordBatchView<'_>) -> Result<SequenceCheck, ResponseError> {
        let pid = batch.producer_id();
        if pid < 0 {
            return Ok(SequenceCheck::Append);
        }
        let epoch = batch.producer_epoch();
        let first = batch.base_sequence();
        let last = last_seq(first, batch.last_offset_delta());
        let Some(entry) = self.producers.get(&pid) else {
            // Unknown producer (new, or its state expired): accept any sequence (KIP-360).
            return Ok(SequenceCheck::Append);
        };
        if epoch < entry.epoch {
            return Err(ResponseError::InvalidProducerEpoch);
        }
        if epoch > entry.epoch {
            return if first == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(ResponseError::OutOfOrderSequenceNumber)
            };
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == first && b.last_seq == last)
        {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        match entry.batches.back() {
            Some(prev) if !in_sequence(prev.last_seq, first) => {
                Err(ResponseError::OutOfOrderSequenceNumber)
            }
            _ => Ok(SequenceCheck::Append),
        }
    }

    /// Records a batch that was appended at `first_offset`.
    pub fn record(&mut self, batch: &RecordBatchView<'_>, first_offset: i64) {
        let pid = batch.producer_id();
        if pid < 0 {
            return;
        }
        let epoch = batch.producer_epoch();
        let entry = self.producers.entry(pid).or_default();
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == REMEMBERED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchRecord {
            first_seq: batch.base_sequence(),
            last_seq: last_seq(batch.base_sequence(), batch.last_offset_delta()),
            first_offset,
            last_offset: first_offset + i64::from(batch.last_offset_delta()),
        });
    }

    /// Number of producers tracked.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether no producer is tracked.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_protocol::record_batch::{build_test_batch, TestRecord};

    /// A one-record batch from producer `pid`/`epoch` with sequence `seq`.
    fn batch(pid: i64, epoch: i16, seq: i32, records: usize) -> Vec<u8> {
        let recs: Vec<TestRecord<'_>> = (0..records).map(|_| (None, Some(&b"v"[..]), 1)).collect();
        let mut b = build_test_batch(0, &recs);
        b[43..51].copy_from_slice(&pid.to_be_bytes());
        b[51..53].copy_from_slice(&epoch.to_be_bytes());
        b[53..57].copy_from_slice(&seq.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn view(bytes: &[u8]) -> RecordBatchView<'_> {
        RecordBatchView::parse(bytes).unwrap()
    }

    #[test]
    fn non_idempotent_batches_always_append() {
        let s = ProducerStates::default();
        let b = batch(-1, -1, -1, 1);
        assert_eq!(s.check(&view(&b)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn retried_batch_is_a_duplicate_with_its_original_offsets() {
        let mut s = ProducerStates::default();
        let b0 = batch(7, 0, 0, 3);
        s.record(&view(&b0), 100);
        let b1 = batch(7, 0, 3, 2);
        assert_eq!(s.check(&view(&b1)), Ok(SequenceCheck::Append));
        s.record(&view(&b1), 103);
        match s.check(&view(&b0)) {
            Ok(SequenceCheck::Duplicate(r)) => {
                assert_eq!((r.first_offset, r.last_offset), (100, 102))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gaps_and_stale_epochs_are_refused() {
        let mut s = ProducerStates::default();
        s.record(&view(&batch(7, 1, 0, 1)), 0);
        assert_eq!(
            s.check(&view(&batch(7, 1, 5, 1))),
            Err(ResponseError::OutOfOrderSequenceNumber)
        );
        assert_eq!(
            s.check(&view(&batch(7, 0, 1, 1))),
            Err(ResponseError::InvalidProducerEpoch)
        );
        assert_eq!(
            s.check(&view(&batch(7, 2, 3, 1))),
            Err(ResponseError::OutOfOrderSequenceNumber)
        );
        assert_eq!(
            s.check(&view(&batch(7, 2, 0, 1))),
            Ok(SequenceCheck::Append)
        );
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut s = ProducerStates::default();
        for i in 0..7 {
            s.record(&view(&batch(9, 0, i, 1)), i64::from(i));
        }
        assert_eq!(
            s.check(&view(&batch(9, 0, 6, 1))),
            Ok(SequenceCheck::Duplicate(BatchRecord {
                first_seq: 6,
                last_seq: 6,
                first_offset: 6,
                last_offset: 6
            }))
        );
        // Sequence 0 fell out of the window: no longer recognised as a duplicate.
        assert_eq!(
            s.check(&view(&batch(9, 0, 0, 1))),
            Err(ResponseError::OutOfOrderSequenceNumber)
        );
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert!(in_sequence(i32::MAX, 0));
        assert_eq!(last_seq(i32::MAX, 1), 0);
    }
}
