//! Idempotent-producer state of one partition: for each producer id, its epoch and the
//! sequence ranges and offsets of its last five batches.
//!
//! This is what turns a retried batch into the answer of its first append instead of a second
//! copy, and a gap in sequence numbers into OUT_OF_ORDER_SEQUENCE_NUMBER, following Kafka's
//! `ProducerStateManager` rules. The checks read only batch headers.
//!
//! For transactional producers it also tracks each producer's open transaction (the offset of
//! its first batch, until a marker closes it), which gives the partition's last stable offset,
//! and the aborted transactions (producer id, first offset, marker offset) that Fetch hands to
//! read_committed consumers so they can drop those records.

use std::collections::{BTreeSet, HashMap, VecDeque};

use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};
use weir_protocol::control::Marker;
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
    /// Offset of the first batch of the producer's open transaction.
    #[serde(default)]
    txn_first_offset: Option<i64>,
    /// Max timestamp of the producer's last batch (DescribeProducers).
    #[serde(default)]
    last_timestamp: i64,
    /// Coordinator epoch of the last marker written for the producer.
    #[serde(default = "no_epoch")]
    coordinator_epoch: i32,
}

fn no_epoch() -> i32 {
    -1
}

/// A transaction that ended with an abort marker: read_committed consumers skip the producer's
/// records from `first_offset` up to `last_offset` (the marker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortedTxn {
    /// The producer of the aborted records.
    pub producer_id: i64,
    /// Offset of the transaction's first batch.
    pub first_offset: i64,
    /// Offset of the abort marker.
    pub last_offset: i64,
}

/// One producer as DescribeProducers reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSummary {
    /// Producer id.
    pub producer_id: i64,
    /// Current epoch.
    pub epoch: i16,
    /// Last sequence number written (-1 if none).
    pub last_sequence: i32,
    /// Max timestamp of its last batch.
    pub last_timestamp: i64,
    /// Coordinator epoch of its last marker (-1 if none).
    pub coordinator_epoch: i32,
    /// First offset of its open transaction (-1 if none).
    pub current_txn_start_offset: i64,
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
    /// Aborted transactions in marker order (so sorted by `last_offset`).
    #[serde(default)]
    aborted: Vec<AbortedTxn>,
    /// Open transactions as (first offset, producer id): the smallest bounds the last stable
    /// offset. Derived from `producers`; rebuilt by [`ProducerStates::reindex`] after loading.
    #[serde(skip)]
    open: BTreeSet<(i64, i64)>,
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
        if batch.is_control() {
            // Only the transaction coordinator writes markers (Partition::append_marker); a
            // client's produce request may not.
            return Err(ResponseError::InvalidRecord);
        }
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

    /// Checks a transaction marker for `producer_id` about to be written with `epoch`: a
    /// marker from an older epoch than the producer's is refused (a zombie coordinator).
    pub fn check_marker(&self, producer_id: i64, epoch: i16) -> Result<(), ResponseError> {
        match self.producers.get(&producer_id) {
            Some(entry) if epoch < entry.epoch => Err(ResponseError::InvalidProducerEpoch),
            _ => Ok(()),
        }
    }

    /// Records a batch that was appended at `first_offset`. A marker closes its producer's open
    /// transaction; `marker` is what it said and the coordinator epoch that wrote it (read
    /// from the batch by the caller).
    pub fn record(
        &mut self,
        batch: &RecordBatchView<'_>,
        first_offset: i64,
        marker: Option<(Marker, i32)>,
    ) {
        let pid = batch.producer_id();
        if pid < 0 {
            return;
        }
        let epoch = batch.producer_epoch();
        let entry = self.producers.entry(pid).or_default();
        entry.last_timestamp = batch.max_timestamp();
        if batch.is_control() {
            if epoch > entry.epoch {
                // A coordinator that aborted a timed-out transaction bumped the epoch.
                entry.epoch = epoch;
                entry.batches.clear();
            }
            if let Some((_, coordinator_epoch)) = marker {
                entry.coordinator_epoch = coordinator_epoch;
            }
            if let Some(start) = entry.txn_first_offset.take() {
                self.open.remove(&(start, pid));
                if matches!(marker, Some((Marker::Abort, _))) {
                    self.aborted.push(AbortedTxn {
                        producer_id: pid,
                        first_offset: start,
                        last_offset: first_offset,
                    });
                }
            }
            return;
        }
        if batch.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(first_offset);
            self.open.insert((first_offset, pid));
        }
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        if batch.base_sequence() < 0 {
            // Written by a coordinator without a sequence (a transactional offset commit).
            return;
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

    /// Rebuilds the derived index of open transactions (after deserialising).
    pub fn reindex(&mut self) {
        self.open = self
            .producers
            .iter()
            .filter_map(|(pid, e)| e.txn_first_offset.map(|o| (o, *pid)))
            .collect();
    }

    /// Offset of the first batch of the oldest open transaction: the last stable offset is
    /// this or the high watermark, whichever is lower.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.open.first().map(|(offset, _)| *offset)
    }

    /// Aborted transactions whose records may lie in `[from, to)`: those ending at or after
    /// `from` and starting before `to`.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        let start = self.aborted.partition_point(|a| a.last_offset < from);
        self.aborted[start..]
            .iter()
            .filter(|a| a.first_offset < to)
            .copied()
            .collect()
    }

    /// Forgets aborted transactions that end below the log start offset (their records are
    /// gone).
    pub fn prune_aborted(&mut self, log_start_offset: i64) {
        let gone = self
            .aborted
            .partition_point(|a| a.last_offset < log_start_offset);
        self.aborted.drain(..gone);
    }

    /// Forgets producers whose last batch is older than `expiration_ms`
    /// (`producer.id.expiration.ms`), except those with an open transaction. A forgotten
    /// producer that comes back is accepted at any sequence, as Kafka does since KIP-360.
    /// Returns how many were forgotten.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.txn_first_offset.is_some() || e.last_timestamp.saturating_add(expiration_ms) > now_ms
        });
        before - self.producers.len()
    }

    /// Every producer, for DescribeProducers.
    pub fn summaries(&self) -> Vec<ProducerSummary> {
        self.producers
            .iter()
            .map(|(pid, e)| ProducerSummary {
                producer_id: *pid,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.last_timestamp,
                coordinator_epoch: e.coordinator_epoch,
                current_txn_start_offset: e.txn_first_offset.unwrap_or(-1),
            })
            .collect()
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
        s.record(&view(&b0), 100, None);
        let b1 = batch(7, 0, 3, 2);
        assert_eq!(s.check(&view(&b1)), Ok(SequenceCheck::Append));
        s.record(&view(&b1), 103, None);
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
        s.record(&view(&batch(7, 1, 0, 1)), 0, None);
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
            s.record(&view(&batch(9, 0, i, 1)), i64::from(i), None);
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

    /// A transactional batch from `pid`/`epoch` with sequence `seq`.
    fn txn_batch(pid: i64, epoch: i16, seq: i32) -> Vec<u8> {
        let mut b = batch(pid, epoch, seq, 1);
        weir_protocol::record_batch::set_attributes(&mut b, 0x10);
        b
    }

    fn marker(s: &mut ProducerStates, pid: i64, epoch: i16, offset: i64, m: Marker) {
        let b = weir_protocol::control::build_marker_batch(pid, epoch, m, 0, 0);
        s.record(&view(&b), offset, Some((m, 0)));
    }

    #[test]
    fn open_transactions_bound_the_stable_offset_and_aborts_are_listed() {
        let mut s = ProducerStates::default();
        s.record(&view(&batch(1, 0, 0, 1)), 0, None);
        assert_eq!(s.first_unstable_offset(), None);
        s.record(&view(&txn_batch(7, 0, 0)), 1, None);
        s.record(&view(&txn_batch(8, 0, 0)), 2, None);
        s.record(&view(&txn_batch(7, 0, 1)), 3, None);
        assert_eq!(s.first_unstable_offset(), Some(1));
        marker(&mut s, 7, 0, 4, Marker::Abort);
        assert_eq!(s.first_unstable_offset(), Some(2));
        marker(&mut s, 8, 0, 5, Marker::Commit);
        assert_eq!(s.first_unstable_offset(), None);
        let aborted = AbortedTxn {
            producer_id: 7,
            first_offset: 1,
            last_offset: 4,
        };
        assert_eq!(s.aborted_between(0, 6), vec![aborted]);
        assert_eq!(s.aborted_between(4, 6), vec![aborted]);
        assert!(s.aborted_between(5, 6).is_empty(), "ends before the read");
        assert!(s.aborted_between(0, 1).is_empty(), "starts after the read");
        // A new transaction of the same producer opens at its next transactional batch.
        s.record(&view(&txn_batch(7, 0, 2)), 6, None);
        assert_eq!(s.first_unstable_offset(), Some(6));
        // The state survives a snapshot round trip, including the derived index.
        let json = serde_json::to_vec(&s).unwrap();
        let mut back: ProducerStates = serde_json::from_slice(&json).unwrap();
        back.reindex();
        assert_eq!(back, s);
        assert_eq!(back.first_unstable_offset(), Some(6));
        back.prune_aborted(5);
        assert!(back.aborted_between(0, 10).is_empty());
    }

    #[test]
    fn markers_from_an_older_epoch_are_refused_and_newer_ones_fence() {
        let mut s = ProducerStates::default();
        s.record(&view(&txn_batch(7, 2, 0)), 0, None);
        assert_eq!(
            s.check_marker(7, 1),
            Err(ResponseError::InvalidProducerEpoch)
        );
        // A timed-out transaction is aborted with a bumped epoch: the old epoch is fenced.
        marker(&mut s, 7, 3, 1, Marker::Abort);
        assert_eq!(
            s.check(&view(&txn_batch(7, 2, 1))),
            Err(ResponseError::InvalidProducerEpoch)
        );
        let summary = s.summaries();
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0].epoch, 3);
        assert_eq!(summary[0].current_txn_start_offset, -1);
    }

    #[test]
    fn idle_producers_expire_unless_a_transaction_is_open() {
        let mut s = ProducerStates::default();
        // Test batches carry timestamp 0 (+ delta 1).
        s.record(&view(&batch(1, 0, 0, 1)), 0, None);
        s.record(&view(&txn_batch(2, 0, 0)), 1, None);
        assert_eq!(s.expire(100, 1000), 0, "not idle long enough");
        assert_eq!(s.expire(5_000, 1000), 1);
        assert_eq!(s.len(), 1, "the open transaction keeps its producer");
        // The forgotten producer is accepted again at any sequence.
        assert_eq!(
            s.check(&view(&batch(1, 0, 7, 1))),
            Ok(SequenceCheck::Append)
        );
    }

    #[test]
    fn control_batches_from_clients_are_refused() {
        let s = ProducerStates::default();
        let b = weir_protocol::control::build_marker_batch(7, 0, Marker::Commit, 0, 0);
        assert_eq!(s.check(&view(&b)), Err(ResponseError::InvalidRecord));
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert!(in_sequence(i32::MAX, 0));
        assert_eq!(last_seq(i32::MAX, 1), 0);
    }
}
