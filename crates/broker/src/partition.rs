//! One partition this broker leads: its log, its high watermark and the topic policy its
//! produce path enforces.
//!
//! The log sits behind a per-partition lock, held only for the synchronous append or read
//! (never across an await), so there is no global lock on the produce or fetch path. The high
//! watermark is published on a `watch` channel: long-polling fetches wait on it instead of
//! polling. On a single node the high watermark follows the log end offset right after each
//! append (the ISR is this broker alone), but the two stay separate values.

use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use kafka_protocol::error::ResponseError;
use tokio::sync::watch;
use uuid::Uuid;
use weir_protocol::control::{build_marker_batch, read_marker, Marker};
use weir_protocol::record_batch::{BatchIter, RecordBatchView};
use weir_protocol::records::{batch_records, RecordIter, DEFAULT_MAX_RECORDS_BYTES};
use weir_storage::{
    AbortedRange, AppendInfo, CompactionStats, FetchRead, FlushPolicy, LogConfig, PartitionLog,
    ReadResult, StorageError,
};

use crate::producer_state::{AbortedTxn, ProducerStates, ProducerSummary, SequenceCheck};
use crate::topic_config::{CleanupPolicy, ProducePolicy};

/// Bytes read per step when rebuilding producer state from the log at start-up.
const REBUILD_READ_BYTES: usize = 1 << 20;

/// Producer-state snapshot beside the segments: the state as of an offset, so start-up reads
/// only the log after it.
const PRODUCER_SNAPSHOT: &str = "producer-state.json";

/// The snapshot file's content.
#[derive(serde::Serialize, serde::Deserialize)]
struct ProducerSnapshot {
    /// The log end offset the state covers (every batch below it is in `producers`).
    end_offset: i64,
    producers: ProducerStates,
}

/// The log and the producer state that must change together under one lock.
struct LogState {
    log: PartitionLog,
    producers: ProducerStates,
}

impl LogState {
    /// The first offset of the oldest open transaction, or `hw` if lower or none is open.
    fn last_stable_offset(&self, hw: i64) -> i64 {
        self.producers
            .first_unstable_offset()
            .map_or(hw, |u| u.min(hw))
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The batches were written.
    New(AppendInfo),
    /// A retry of an idempotent batch already in the log, at this base offset.
    Duplicate {
        /// Offset of the original batch's first record.
        base_offset: i64,
    },
}

/// Why an append was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The batch was invalid or the disk failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A check on the batch headers failed (producer epoch or sequence, timestamp bounds).
    #[error("batch rejected: {0:?}")]
    Rejected(ResponseError),
    /// Some records are invalid (KIP-467): INVALID_RECORD with each bad record's index in its
    /// batch and why, so clients fail only those records.
    #[error("{message}")]
    InvalidRecords {
        /// Summary for the partition's error message.
        message: String,
        /// (index of the record in its batch, why it was rejected).
        record_errors: Vec<(i32, String)>,
    },
}

/// The CreateTime timestamps a topic accepts (`message.timestamp.before.max.ms` and
/// `message.timestamp.after.max.ms` around the broker's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampBounds {
    /// Earliest accepted timestamp.
    pub min: i64,
    /// Latest accepted timestamp.
    pub max: i64,
}

impl TimestampBounds {
    /// Checks a batch from its header: its largest timestamp bounds every record from above,
    /// exactly; its first record's timestamp is checked against the lower bound.
    fn check(&self, batch: &RecordBatchView<'_>) -> Result<(), AppendError> {
        let first = batch.base_timestamp();
        let last = batch.max_timestamp();
        let too_new = last > self.max;
        let too_old = first >= 0 && first < self.min;
        if too_new || too_old {
            return Err(AppendError::Rejected(ResponseError::InvalidTimestamp));
        }
        Ok(())
    }
}

/// The file in a partition directory that names the topic id it belongs to, so a directory left
/// by a deleted topic is never mistaken for the data of a new topic with the same name.
const PARTITION_METADATA: &str = "partition.metadata";

/// What a read_committed fetch reports besides its records: the last stable offset, and the
/// aborted transactions whose records may be among them.
pub type CommittedView = (i64, Vec<AbortedTxn>);

/// A partition led by this broker.
pub struct Partition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub index: i32,
    /// The topic's id; a recreated topic has a new one.
    pub topic_id: Uuid,
    log: RwLock<LogState>,
    dir: PathBuf,
    /// Log end offset of the last producer-state snapshot written.
    snapshot_offset: std::sync::atomic::AtomicI64,
    high_watermark: watch::Sender<i64>,
    settings: RwLock<PartitionSettings>,
}

/// Topic-level settings a partition applies, refreshed when the topic's configs change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSettings {
    /// The leader epoch appends are stamped with.
    pub leader_epoch: i32,
    /// The produce path's policy.
    pub policy: ProducePolicy,
    /// Retention and compaction.
    pub cleanup: CleanupPolicy,
    /// The storage engine's config.
    pub log_config: LogConfig,
}

impl Partition {
    /// Opens (recovering if needed) the partition's log in `dir`. A directory that belongs to
    /// another topic id (a deleted topic's leftovers) is wiped first. A missing directory is
    /// not created here: the log creates it, with `partition.metadata`, on its first write
    /// (so creating a topic touches no files; see `PartitionLog::open`). With `dir_exists`
    /// false the caller knows the directory is missing (it listed the parent just before):
    /// the partition opens without touching the disk.
    pub fn open(
        dir: PathBuf,
        topic: &str,
        index: i32,
        topic_id: Uuid,
        settings: PartitionSettings,
        dir_exists: bool,
    ) -> Result<Self, StorageError> {
        let mut log = if dir_exists {
            claim_directory(&dir, topic_id)?;
            PartitionLog::open(&dir, settings.log_config.clone())?
        } else {
            PartitionLog::open_absent(&dir, settings.log_config.clone())
        };
        log.set_directory_marker(PARTITION_METADATA, marker_contents(topic_id).into_bytes());
        let (producers, snapshot_offset) = rebuild_producer_states(&log, &dir)?;
        let (high_watermark, _) = watch::channel(log.log_end_offset());
        Ok(Partition {
            topic: topic.to_string(),
            index,
            topic_id,
            log: RwLock::new(LogState { log, producers }),
            dir,
            snapshot_offset: std::sync::atomic::AtomicI64::new(snapshot_offset),
            high_watermark,
            settings: RwLock::new(settings),
        })
    }

    fn state_read(&self) -> RwLockReadGuard<'_, LogState> {
        self.log
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn state_write(&self) -> RwLockWriteGuard<'_, LogState> {
        self.log
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current settings.
    pub fn settings(&self) -> PartitionSettings {
        self.settings
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Applies changed topic settings to the partition and its log; unchanged settings leave
    /// the log (and its lock, which appends need) alone.
    pub fn update_settings(&self, settings: PartitionSettings) {
        let mut current = self
            .settings
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *current == settings {
            return;
        }
        self.state_write()
            .log
            .set_config(settings.log_config.clone());
        *current = settings;
    }

    /// Appends a produced batch (or batches) as sent, after the timestamp checks (for
    /// CreateTime topics) and the idempotent-producer checks, then advances the high watermark.
    /// A retried batch already in the log is not written again: its original offset is
    /// returned.
    pub fn append(
        &self,
        records: &[u8],
        leader_epoch: i32,
        log_append_time: Option<i64>,
        timestamps: Option<TimestampBounds>,
    ) -> Result<Appended, AppendError> {
        self.append_checked(records, leader_epoch, log_append_time, timestamps, true)
    }

    /// Appends batches a coordinator built (records of `__consumer_offsets` or
    /// `__transaction_state`, including transactional offset commits): no sequence checks,
    /// since a coordinator writes them without sequence numbers, as Kafka's coordinator-origin
    /// appends do; open transactions are still tracked.
    pub fn append_from_coordinator(&self, records: &[u8]) -> Result<Appended, AppendError> {
        let epoch = self.settings().leader_epoch;
        self.append_checked(records, epoch, None, None, false)
    }

    fn append_checked(
        &self,
        records: &[u8],
        leader_epoch: i32,
        log_append_time: Option<i64>,
        timestamps: Option<TimestampBounds>,
        check_sequences: bool,
    ) -> Result<Appended, AppendError> {
        let compacted = self.settings().cleanup.compact;
        let mut batches = Vec::new();
        for batch in BatchIter::new(records) {
            let batch = batch.map_err(StorageError::from)?;
            if let Some(bounds) = &timestamps {
                bounds.check(&batch)?;
            }
            if compacted {
                require_keys(&self.topic, self.index, &batch)?;
            }
            batches.push(batch);
        }
        let fsync_each = matches!(self.settings().log_config.flush, FlushPolicy::EveryAppend);
        let append = || {
            let mut state = self.state_write();
            for batch in batches.iter().filter(|_| check_sequences) {
                match state
                    .producers
                    .check(batch)
                    .map_err(AppendError::Rejected)?
                {
                    SequenceCheck::Append => {}
                    SequenceCheck::Duplicate(original) if batches.len() == 1 => {
                        return Ok(Appended::Duplicate {
                            base_offset: original.first_offset,
                        });
                    }
                    SequenceCheck::Duplicate(_) => {
                        return Err(AppendError::Rejected(
                            ResponseError::DuplicateSequenceNumber,
                        ))
                    }
                }
            }
            let info = state.log.append(records, leader_epoch, log_append_time)?;
            let mut offset = info.base_offset;
            for batch in &batches {
                state.producers.record(batch, offset, None);
                offset += i64::from(batch.last_offset_delta()) + 1;
            }
            let end = state.log.log_end_offset();
            drop(state);
            self.high_watermark.send_replace(end);
            Ok(Appended::New(info))
        };
        if fsync_each {
            // fsync blocks: let the runtime move other tasks off this worker meanwhile.
            tokio::task::block_in_place(append)
        } else {
            append()
        }
    }

    /// Writes a transaction marker for `producer_id` (the transaction coordinator's last step
    /// of a commit or abort): closes the producer's open transaction here, which may advance the
    /// last stable offset. Returns the marker's offset.
    pub fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        marker: Marker,
        coordinator_epoch: i32,
        timestamp_ms: i64,
    ) -> Result<i64, AppendError> {
        let batch = build_marker_batch(
            producer_id,
            producer_epoch,
            marker,
            coordinator_epoch,
            timestamp_ms,
        );
        let view = RecordBatchView::parse(&batch).map_err(StorageError::from)?;
        let leader_epoch = self.settings().leader_epoch;
        let fsync_each = matches!(self.settings().log_config.flush, FlushPolicy::EveryAppend);
        let append = || {
            let mut state = self.state_write();
            state
                .producers
                .check_marker(producer_id, producer_epoch)
                .map_err(AppendError::Rejected)?;
            let info = state.log.append(&batch, leader_epoch, None)?;
            state
                .producers
                .record(&view, info.base_offset, Some((marker, coordinator_epoch)));
            let end = state.log.log_end_offset();
            drop(state);
            self.high_watermark.send_replace(end);
            Ok(info.base_offset)
        };
        if fsync_each {
            tokio::task::block_in_place(append)
        } else {
            append()
        }
    }

    /// The last stable offset: below it every transaction is decided (committed or aborted),
    /// so read_committed consumers read up to it.
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark();
        self.state_read().last_stable_offset(hw)
    }

    /// What a fetch answers with: whole stored batches from `offset`, bounded by the high
    /// watermark, or with `read_committed` by the last stable offset, then also the last stable
    /// offset and the aborted transactions among the batches (for the client to drop). Large
    /// reads come as a region of the segment file, sent from there.
    pub fn read_for_fetch(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        read_committed: bool,
    ) -> Result<(FetchRead, Option<CommittedView>), StorageError> {
        let hw = self.high_watermark();
        let state = self.state_read();
        if !read_committed {
            return Ok((
                state.log.read_for_fetch(offset, max_bytes, hw, min_one)?,
                None,
            ));
        }
        let lso = state.last_stable_offset(hw);
        let read = state.log.read_for_fetch(offset, max_bytes, lso, min_one)?;
        let upto = read.last_offset.map_or(offset, |last| last + 1);
        let aborted = if upto > offset {
            state.producers.aborted_between(offset, upto)
        } else {
            Vec::new()
        };
        Ok((read, Some((lso, aborted))))
    }

    /// Forgets idle producers (`producer.id.expiration.ms`); returns how many.
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        self.state_write().producers.expire(now_ms, expiration_ms)
    }

    /// The producers writing to this partition (DescribeProducers).
    pub fn producer_summaries(&self) -> Vec<ProducerSummary> {
        self.state_read().producers.summaries()
    }

    /// Reads whole stored batches from `offset`, bounded by the high watermark.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadResult, StorageError> {
        let hw = self.high_watermark();
        self.state_read().log.read(offset, max_bytes, hw, min_one)
    }

    /// The offset below which records are committed (visible to consumers).
    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// A receiver that changes whenever the high watermark moves.
    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.state_read().log.log_start_offset()
    }

    /// The next offset to be assigned.
    pub fn log_end_offset(&self) -> i64 {
        self.state_read().log.log_end_offset()
    }

    /// Bytes on disk.
    pub fn size_bytes(&self) -> u64 {
        self.state_read().log.size_bytes()
    }

    /// ListOffsets by timestamp.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, StorageError> {
        self.state_read().log.offset_for_timestamp(ts)
    }

    /// ListOffsets MAX_TIMESTAMP: (timestamp, offset).
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, StorageError> {
        self.state_read().log.max_timestamp()
    }

    /// OffsetForLeaderEpoch: (epoch, end offset) for the largest epoch <= `epoch`; `None` for an
    /// epoch newer than the leader's (Kafka answers UNDEFINED_EPOCH and offset -1).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        let state = self.state_read();
        let log = &state.log;
        let current = self.settings().leader_epoch;
        match log.end_offset_for_epoch(epoch) {
            Some(found) => Some(found),
            // The current leader's epoch starts at the log end when nothing was appended in it
            // yet (Kafka registers the epoch when the leader takes over).
            None if epoch == current => Some((current, log.log_end_offset())),
            None => None,
        }
    }

    /// DeleteRecords: raises the log start offset; returns the new low watermark.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, StorageError> {
        let mut state = self.state_write();
        let start = state.log.delete_records_before(offset)?;
        state.producers.prune_aborted(start);
        Ok(start)
    }

    /// Runs retention; returns the number of segments deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, StorageError> {
        let mut state = self.state_write();
        let deleted = state.log.enforce_retention(now_ms)?;
        let start = state.log.log_start_offset();
        state.producers.prune_aborted(start);
        Ok(deleted)
    }

    /// fsyncs if the flush policy's interval has passed.
    pub fn flush_if_due(&self) -> Result<(), StorageError> {
        self.state_write().log.flush_if_due()
    }

    /// Runs one compaction pass (`cleanup.policy` has `compact`) below the last stable offset,
    /// dropping records of aborted transactions: plans under the read lock,
    /// rewrites closed segments on a blocking thread without any lock, swaps the cleaned
    /// segments in under the write lock. `None` when there was nothing to do.
    pub async fn compact(&self, now_ms: i64) -> Result<Option<CompactionStats>, StorageError> {
        let retention = self.settings().cleanup.delete_retention_ms;
        let hw = self.high_watermark();
        let job = {
            let state = self.state_read();
            // Only decided data is compacted: below the last stable offset, without the records
            // of aborted transactions (an aborted write must not hide a committed one).
            let lso = state.last_stable_offset(hw);
            let aborted = state
                .producers
                .aborted_between(state.log.log_start_offset(), lso)
                .into_iter()
                .map(|a| AbortedRange {
                    producer_id: a.producer_id,
                    first_offset: a.first_offset,
                    last_offset: a.last_offset,
                })
                .collect();
            state
                .log
                .prepare_compaction(lso, now_ms, retention, aborted)?
        };
        let Some(mut job) = job else {
            return Ok(None);
        };
        let job = tokio::task::spawn_blocking(move || job.run().map(|()| job))
            .await
            .map_err(|e| StorageError::Corrupt(format!("compaction task failed: {e}")))??;
        let stats = self.state_write().log.finish_compaction(job)?;
        Ok(Some(stats))
    }

    /// Writes the idempotent-producer state to its snapshot file if the log grew since the
    /// last one, so the next start-up reads only the log after it.
    pub fn snapshot_producers(&self) -> Result<(), StorageError> {
        use std::sync::atomic::Ordering;
        let state = self.state_read();
        let end_offset = state.log.log_end_offset();
        // A log never written has no directory and no producers: nothing to snapshot.
        if self.snapshot_offset.load(Ordering::Relaxed) == end_offset || !state.log.has_directory()
        {
            return Ok(());
        }
        let json = serde_json::to_vec(&SnapshotRef {
            end_offset,
            producers: &state.producers,
        })
        .map_err(|e| StorageError::Corrupt(format!("producer snapshot: {e}")))?;
        drop(state);
        let tmp = self.dir.join(format!("{PRODUCER_SNAPSHOT}.tmp"));
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, self.dir.join(PRODUCER_SNAPSHOT))?;
        self.snapshot_offset.store(end_offset, Ordering::Relaxed);
        Ok(())
    }

    /// fsyncs everything written so far.
    pub fn flush(&self) -> Result<(), StorageError> {
        self.state_write().log.flush()
    }

    /// Stops the log from creating its directory (the topic was deleted while a request still
    /// holds this partition): a write still in flight fails instead of recreating the
    /// directory after it was removed.
    pub fn retire(&self) {
        self.state_write().log.retire();
    }

    /// Removes the partition's data (the topic was deleted).
    pub fn delete_data(self) -> Result<(), StorageError> {
        let state = self
            .log
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.log.delete()
    }
}

/// Refuses a batch with records without a key (compacted topics need a key per record, as
/// Kafka requires), naming every such record (KIP-467). Decompresses the batch: compacted
/// topics only.
fn require_keys(topic: &str, index: i32, batch: &RecordBatchView<'_>) -> Result<(), AppendError> {
    let corrupt = || AppendError::Rejected(ResponseError::CorruptMessage);
    let section = batch_records(batch, DEFAULT_MAX_RECORDS_BYTES).map_err(|_| corrupt())?;
    let mut record_errors = Vec::new();
    for (i, record) in RecordIter::new(&section).enumerate() {
        if record.map_err(|_| corrupt())?.key.is_none() {
            record_errors.push((
                i as i32,
                format!("Compacted topic cannot accept message without key in topic partition {topic}-{index}."),
            ));
        }
    }
    if record_errors.is_empty() {
        return Ok(());
    }
    Err(AppendError::InvalidRecords {
        message: format!(
            "One or more records have been rejected due to {} record errors in total, and only showing the first {} record errors in the response",
            record_errors.len(),
            record_errors.len()
        ),
        record_errors,
    })
}

/// Serialises a snapshot without cloning the state.
#[derive(serde::Serialize)]
struct SnapshotRef<'a> {
    end_offset: i64,
    producers: &'a ProducerStates,
}

/// Rebuilds the idempotent-producer state: from the snapshot file if it is usable (it covers
/// no more than the recovered log), then by reading the batch headers of the log after it.
/// Returns the state and the offset of the snapshot used (-1 if none).
fn rebuild_producer_states(
    log: &PartitionLog,
    dir: &Path,
) -> Result<(ProducerStates, i64), StorageError> {
    if !log.has_directory() {
        return Ok((ProducerStates::default(), -1));
    }
    let end = log.log_end_offset();
    let snapshot = std::fs::read(dir.join(PRODUCER_SNAPSHOT))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<ProducerSnapshot>(&bytes).ok())
        // A snapshot past the recovered end describes batches a crash truncated away.
        .filter(|s| s.end_offset <= end);
    let (mut producers, snapshot_offset) = match snapshot {
        Some(mut s) => {
            s.producers.reindex();
            (s.producers, s.end_offset)
        }
        None => (ProducerStates::default(), -1),
    };
    let mut offset = snapshot_offset.max(log.log_start_offset());
    while offset < end {
        let read = log.read(offset, REBUILD_READ_BYTES, end, true)?;
        if read.records.is_empty() {
            break;
        }
        let mut next = offset;
        for batch in BatchIter::new(&read.records) {
            let batch: RecordBatchView<'_> = batch?;
            // A marker that does not decode still closes its transaction (as a commit).
            let marker = if batch.is_control() {
                read_marker(&batch).ok().flatten()
            } else {
                None
            };
            producers.record(&batch, batch.base_offset(), marker);
            next = batch.last_offset() + 1;
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok((producers, snapshot_offset))
}

/// Contents of `partition.metadata` for `topic_id` (Kafka's format).
fn marker_contents(topic_id: Uuid) -> String {
    format!("version: 0\ntopic_id: {topic_id}\n")
}

/// Makes sure `dir` holds data of `topic_id` only: wipes it if it names another topic id, and
/// records the id in an existing directory that has no marker yet (a missing or wiped one is
/// created, with the marker, by the log's first write).
fn claim_directory(dir: &Path, topic_id: Uuid) -> Result<(), StorageError> {
    // A missing directory is left to the log to create, with the marker, on its first write.
    if !dir.is_dir() {
        return Ok(());
    }
    let marker = dir.join(PARTITION_METADATA);
    let expected = marker_contents(topic_id);
    match std::fs::read_to_string(&marker) {
        Ok(found) if found == expected => return Ok(()),
        Ok(found) => {
            tracing::warn!(dir = %dir.display(), found = %found.trim(), %topic_id,
                "partition directory belongs to another topic id; removing it");
            std::fs::remove_dir_all(dir)?;
            return Ok(());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    // An existing directory without a marker (from before markers were written) is claimed.
    let tmp = dir.join(format!("{PARTITION_METADATA}.tmp"));
    std::fs::write(&tmp, expected)?;
    std::fs::rename(&tmp, &marker)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_protocol::record_batch::build_test_batch;

    fn idempotent_batch(pid: i64, seq: i32) -> Vec<u8> {
        let mut b = build_test_batch(0, &[(None, Some(&b"v"[..]), 1)]);
        b[43..51].copy_from_slice(&pid.to_be_bytes());
        b[51..53].copy_from_slice(&0i16.to_be_bytes());
        b[53..57].copy_from_slice(&seq.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn settings() -> PartitionSettings {
        PartitionSettings {
            leader_epoch: 0,
            policy: crate::topic_config::EffectiveConfig::new(
                &Default::default(),
                &Default::default(),
            )
            .produce_policy(),
            cleanup: crate::topic_config::EffectiveConfig::new(
                &Default::default(),
                &Default::default(),
            )
            .cleanup_policy(),
            log_config: LogConfig::default(),
        }
    }

    fn open(dir: &Path) -> Partition {
        Partition::open(dir.to_path_buf(), "t", 0, Uuid::nil(), settings(), true).unwrap()
    }

    /// A retry of the last batch is recognised after a restart, whether the state comes from
    /// the snapshot plus the log after it, or from the log alone.
    #[test]
    fn producer_state_survives_reopen_with_and_without_snapshot() {
        for snapshot in [true, false] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("t-0");
            let p = open(&dir);
            p.append(&idempotent_batch(5, 0), 0, None, None).unwrap();
            if snapshot {
                p.snapshot_producers().unwrap();
            }
            p.append(&idempotent_batch(5, 1), 0, None, None).unwrap();
            drop(p);
            let p = open(&dir);
            assert_eq!(
                p.append(&idempotent_batch(5, 1), 0, None, None).unwrap(),
                Appended::Duplicate { base_offset: 1 },
                "snapshot: {snapshot}"
            );
            assert!(matches!(
                p.append(&idempotent_batch(5, 3), 0, None, None),
                Err(AppendError::Rejected(
                    ResponseError::OutOfOrderSequenceNumber
                ))
            ));
            assert_eq!(p.log_end_offset(), 2);
        }
    }

    /// A new partition creates its directory (with `partition.metadata`) on its first write,
    /// not when it is opened; a directory of another topic id is wiped when opened.
    #[test]
    fn directory_is_created_by_the_first_write_and_claimed_by_id() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t-0");
        let p = open(&dir);
        p.snapshot_producers().unwrap();
        p.flush().unwrap();
        assert!(!dir.exists());
        p.append(&idempotent_batch(5, 0), 0, None, None).unwrap();
        let marker = std::fs::read_to_string(dir.join(PARTITION_METADATA)).unwrap();
        assert!(marker.contains(&p.topic_id.to_string()));
        drop(p);
        let other = Uuid::new_v4();
        let p = Partition::open(dir.clone(), "t", 0, other, settings(), true).unwrap();
        assert!(!dir.exists());
        assert_eq!(p.log_end_offset(), 0);
        p.retire();
        assert!(p.append(&idempotent_batch(5, 0), 0, None, None).is_err());
        assert!(!dir.exists());
    }

    fn txn_batch(pid: i64, seq: i32) -> Vec<u8> {
        let mut b = idempotent_batch(pid, seq);
        weir_protocol::record_batch::set_attributes(&mut b, 0x10);
        b
    }

    /// Open transactions hold read_committed readers at the first open batch; an abort marker
    /// lists the transaction for the reader; the state comes back after a restart (from the
    /// log alone, and from the snapshot).
    #[test]
    fn transactions_bound_read_committed_and_survive_reopen() {
        for snapshot in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("t-0");
            let p = open(&dir);
            p.append(&idempotent_batch(1, 0), 0, None, None).unwrap(); // 0
            p.append(&txn_batch(7, 0), 0, None, None).unwrap(); // 1
            p.append(&txn_batch(8, 0), 0, None, None).unwrap(); // 2
            assert_eq!(p.high_watermark(), 3);
            assert_eq!(p.last_stable_offset(), 1);
            let (read, committed) = p.read_for_fetch(0, 1 << 20, true, true).unwrap();
            let (lso, aborted) = committed.unwrap();
            assert_eq!(lso, 1);
            assert_eq!(read.last_offset, Some(0), "nothing of the open ones");
            assert!(aborted.is_empty());
            assert_eq!(p.append_marker(7, 0, Marker::Abort, 0, 0).unwrap(), 3);
            assert_eq!(p.last_stable_offset(), 2, "producer 8 is still open");
            assert_eq!(p.append_marker(8, 0, Marker::Commit, 0, 0).unwrap(), 4);
            assert_eq!(p.last_stable_offset(), 5);
            if snapshot {
                p.snapshot_producers().unwrap();
            }
            drop(p);
            let p = open(&dir);
            assert_eq!(p.last_stable_offset(), 5, "snapshot: {snapshot}");
            let (read, committed) = p.read_for_fetch(0, 1 << 20, true, true).unwrap();
            let aborted = committed.unwrap().1;
            assert_eq!(read.last_offset, Some(4));
            assert_eq!(
                aborted,
                vec![AbortedTxn {
                    producer_id: 7,
                    first_offset: 1,
                    last_offset: 3
                }]
            );
            // A marker from a fenced (older) epoch is refused.
            p.append(&txn_batch(7, 1), 0, None, None).unwrap();
            assert!(matches!(
                p.append_marker(7, -1, Marker::Commit, 0, 0),
                Err(AppendError::Rejected(ResponseError::InvalidProducerEpoch))
            ));
            assert_eq!(p.producer_summaries().len(), 3);
        }
    }

    /// A snapshot that covers more than the recovered log (a crash truncated the tail after
    /// it was written) is ignored rather than trusted.
    #[test]
    fn snapshot_beyond_the_log_is_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t-0");
        let p = open(&dir);
        p.append(&idempotent_batch(5, 0), 0, None, None).unwrap();
        drop(p);
        let fake = serde_json::to_vec(&SnapshotRef {
            end_offset: 50,
            producers: &ProducerStates::default(),
        })
        .unwrap();
        std::fs::write(dir.join(PRODUCER_SNAPSHOT), fake).unwrap();
        let p = open(&dir);
        assert_eq!(
            p.append(&idempotent_batch(5, 0), 0, None, None).unwrap(),
            Appended::Duplicate { base_offset: 0 }
        );
    }
}
