//! The state of one transactional id and the rules for moving it on, as Kafka's
//! `TransactionMetadata` keeps them: which producer id and epoch own it, which partitions the
//! open transaction touched, and where the transaction stands.
//!
//! ```text
//!            AddPartitions/AddOffsets            EndTxn(commit)                markers written
//!   Empty ─────────────────────────────▶ Ongoing ─────────────▶ PrepareCommit ──────────▶ CompleteCommit
//!   Complete* ──────────────────────────▶   │     EndTxn(abort), timeout,                    (Complete* accepts
//!                                           └──── InitProducerId ──▶ PrepareAbort ─▶ CompleteAbort  a new transaction)
//! ```
//!
//! Every step is first written to `__transaction_state` and applied only once written, so a
//! restart replays the log to the same states; a `Prepare*` found at start-up has its markers
//! (re)written and is completed.

use std::collections::BTreeSet;

use crate::records::RecordError;

/// Where a transaction stands (Kafka's `TransactionState`, with its log codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnStatus {
    /// No transaction open (after InitProducerId).
    Empty,
    /// A transaction is open: partitions were added.
    Ongoing,
    /// EndTxn(commit) was accepted; markers are being written.
    PrepareCommit,
    /// EndTxn(abort), a timeout or a fencing InitProducerId aborts it; markers are being written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
    /// The transactional id expired (never stored; a tombstone is written instead).
    Dead,
    /// Kafka's intermediate state while fencing a producer (never written by Weir, read only).
    PrepareEpochFence,
}

impl TxnStatus {
    /// The status byte in the transaction log.
    pub fn code(self) -> i8 {
        match self {
            TxnStatus::Empty => 0,
            TxnStatus::Ongoing => 1,
            TxnStatus::PrepareCommit => 2,
            TxnStatus::PrepareAbort => 3,
            TxnStatus::CompleteCommit => 4,
            TxnStatus::CompleteAbort => 5,
            TxnStatus::Dead => 6,
            TxnStatus::PrepareEpochFence => 7,
        }
    }

    /// The status for a log code.
    pub fn from_code(code: i8) -> Result<Self, RecordError> {
        Ok(match code {
            0 => TxnStatus::Empty,
            1 => TxnStatus::Ongoing,
            2 => TxnStatus::PrepareCommit,
            3 => TxnStatus::PrepareAbort,
            4 => TxnStatus::CompleteCommit,
            5 => TxnStatus::CompleteAbort,
            6 => TxnStatus::Dead,
            7 => TxnStatus::PrepareEpochFence,
            other => return Err(RecordError::Status(other)),
        })
    }

    /// The name ListTransactions and DescribeTransactions report (Kafka's `stateName`).
    pub fn name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::PrepareCommit => "PrepareCommit",
            TxnStatus::PrepareAbort => "PrepareAbort",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
            TxnStatus::Dead => "Dead",
            TxnStatus::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// Markers still have to be written (a `Prepare*` state).
    pub fn is_prepared(self) -> bool {
        matches!(
            self,
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort | TxnStatus::PrepareEpochFence
        )
    }

    /// No transaction is open: a new one may begin.
    pub fn is_idle(self) -> bool {
        matches!(
            self,
            TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort
        )
    }
}

/// The state of one transactional id, as stored in the transaction log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id that owns it.
    pub producer_id: i64,
    /// The current epoch: requests with an older one are fenced.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` of the producer.
    pub timeout_ms: i32,
    /// Where the transaction stands.
    pub status: TxnStatus,
    /// Partitions the open transaction wrote to (or committed offsets to).
    pub partitions: BTreeSet<(String, i32)>,
    /// Wall-clock time of the last change.
    pub last_update_ms: i64,
    /// Wall-clock time the open transaction began (-1 when none).
    pub start_ms: i64,
}

/// The largest epoch handed out before a new producer id is taken (Kafka stops one short of
/// `Short.MAX_VALUE` so a fencing bump always has room).
pub const MAX_EPOCH: i16 = i16::MAX - 1;

impl TxnMetadata {
    /// A new transactional id owned by `producer_id` at epoch 0.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            producer_epoch: 0,
            timeout_ms,
            status: TxnStatus::Empty,
            partitions: BTreeSet::new(),
            last_update_ms: now_ms,
            start_ms: -1,
        }
    }

    /// The state after `partitions` join the transaction (opening it if none is open).
    pub fn with_partitions(&self, partitions: &[(String, i32)], now_ms: i64) -> Self {
        let mut next = self.clone();
        if self.status.is_idle() {
            next.partitions.clear();
            next.start_ms = now_ms;
        }
        next.status = TxnStatus::Ongoing;
        next.partitions.extend(partitions.iter().cloned());
        next.last_update_ms = now_ms;
        next
    }

    /// The `Prepare*` state that ends the open transaction.
    pub fn prepared(&self, commit: bool, now_ms: i64) -> Self {
        let mut next = self.clone();
        next.status = if commit {
            TxnStatus::PrepareCommit
        } else {
            TxnStatus::PrepareAbort
        };
        next.last_update_ms = now_ms;
        next
    }

    /// The `Complete*` state after the markers of a `Prepare*` state are written.
    pub fn completed(&self, now_ms: i64) -> Self {
        let mut next = self.clone();
        next.status = match self.status {
            TxnStatus::PrepareCommit => TxnStatus::CompleteCommit,
            _ => TxnStatus::CompleteAbort,
        };
        next.partitions.clear();
        next.last_update_ms = now_ms;
        next
    }

    /// Whether the transaction was committed (for a `Prepare*`/`Complete*` state).
    pub fn commits(&self) -> bool {
        matches!(
            self.status,
            TxnStatus::PrepareCommit | TxnStatus::CompleteCommit
        )
    }

    /// Whether the epoch can be bumped without taking a new producer id.
    pub fn epoch_exhausted(&self) -> bool {
        self.producer_epoch >= MAX_EPOCH
    }

    /// The open transaction outlived its timeout.
    pub fn timed_out(&self, now_ms: i64) -> bool {
        self.status == TxnStatus::Ongoing
            && self.start_ms >= 0
            && self.start_ms.saturating_add(i64::from(self.timeout_ms)) < now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in 0..8 {
            assert_eq!(TxnStatus::from_code(code).unwrap().code(), code);
        }
        assert_eq!(TxnStatus::from_code(8), Err(RecordError::Status(8)));
    }

    #[test]
    fn a_transaction_begins_collects_partitions_and_ends() {
        let m = TxnMetadata::new("t", 7, 1000, 10);
        let m = m.with_partitions(&[("a".into(), 0)], 20);
        assert_eq!((m.status, m.start_ms), (TxnStatus::Ongoing, 20));
        let m = m.with_partitions(&[("a".into(), 1)], 30);
        assert_eq!(
            m.start_ms, 20,
            "adding to an open transaction keeps its start"
        );
        assert_eq!(m.partitions.len(), 2);
        assert!(!m.timed_out(1020) && m.timed_out(1021));
        let p = m.prepared(true, 40);
        assert!(p.status.is_prepared() && p.commits());
        let c = p.completed(50);
        assert_eq!(c.status, TxnStatus::CompleteCommit);
        assert!(c.partitions.is_empty() && c.status.is_idle());
        let next = c.with_partitions(&[("b".into(), 0)], 60);
        assert_eq!(next.start_ms, 60);
        assert_eq!(next.partitions.len(), 1, "a new transaction starts empty");
        let aborted = next.prepared(false, 70).completed(80);
        assert_eq!(aborted.status, TxnStatus::CompleteAbort);
    }
}
