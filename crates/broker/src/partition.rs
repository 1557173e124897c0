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

use tokio::sync::watch;
use uuid::Uuid;
use weir_storage::{AppendInfo, FlushPolicy, LogConfig, PartitionLog, ReadResult, StorageError};

use crate::topic_config::ProducePolicy;

/// The file in a partition directory that names the topic id it belongs to, so a directory left
/// by a deleted topic is never mistaken for the data of a new topic with the same name.
const PARTITION_METADATA: &str = "partition.metadata";

/// A partition led by this broker.
pub struct Partition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub index: i32,
    /// The topic's id; a recreated topic has a new one.
    pub topic_id: Uuid,
    log: RwLock<PartitionLog>,
    high_watermark: watch::Sender<i64>,
    settings: RwLock<PartitionSettings>,
}

/// Topic-level settings a partition applies, refreshed when the topic's configs change.
#[derive(Debug, Clone)]
pub struct PartitionSettings {
    /// The leader epoch appends are stamped with.
    pub leader_epoch: i32,
    /// The produce path's policy.
    pub policy: ProducePolicy,
    /// The storage engine's config.
    pub log_config: LogConfig,
}

impl Partition {
    /// Opens (recovering if needed) the partition's log in `dir`. A directory that belongs to
    /// another topic id (a deleted topic's leftovers) is wiped first.
    pub fn open(
        dir: PathBuf,
        topic: &str,
        index: i32,
        topic_id: Uuid,
        settings: PartitionSettings,
    ) -> Result<Self, StorageError> {
        claim_directory(&dir, topic_id)?;
        let log = PartitionLog::open(&dir, settings.log_config.clone())?;
        let (high_watermark, _) = watch::channel(log.log_end_offset());
        Ok(Partition {
            topic: topic.to_string(),
            index,
            topic_id,
            log: RwLock::new(log),
            high_watermark,
            settings: RwLock::new(settings),
        })
    }

    fn log_read(&self) -> RwLockReadGuard<'_, PartitionLog> {
        self.log.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn log_write(&self) -> RwLockWriteGuard<'_, PartitionLog> {
        self.log.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current settings.
    pub fn settings(&self) -> PartitionSettings {
        self.settings
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Applies changed topic settings to the partition and its log.
    pub fn update_settings(&self, settings: PartitionSettings) {
        let mut current = self
            .settings
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.log_write().set_config(settings.log_config.clone());
        *current = settings;
    }

    /// Appends a produced batch (or batches) as sent, then advances the high watermark.
    pub fn append(
        &self,
        records: &[u8],
        leader_epoch: i32,
        log_append_time: Option<i64>,
    ) -> Result<AppendInfo, StorageError> {
        let fsync_each = matches!(self.settings().log_config.flush, FlushPolicy::EveryAppend);
        let append = || {
            let mut log = self.log_write();
            let info = log.append(records, leader_epoch, log_append_time)?;
            let end = log.log_end_offset();
            drop(log);
            self.high_watermark.send_replace(end);
            Ok(info)
        };
        if fsync_each {
            // fsync blocks: let the runtime move other tasks off this worker meanwhile.
            tokio::task::block_in_place(append)
        } else {
            append()
        }
    }

    /// Reads whole stored batches from `offset`, bounded by the high watermark.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadResult, StorageError> {
        let hw = self.high_watermark();
        self.log_read().read(offset, max_bytes, hw, min_one)
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
        self.log_read().log_start_offset()
    }

    /// The next offset to be assigned.
    pub fn log_end_offset(&self) -> i64 {
        self.log_read().log_end_offset()
    }

    /// Bytes on disk.
    pub fn size_bytes(&self) -> u64 {
        self.log_read().size_bytes()
    }

    /// ListOffsets by timestamp.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, StorageError> {
        self.log_read().offset_for_timestamp(ts)
    }

    /// ListOffsets MAX_TIMESTAMP: (timestamp, offset).
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, StorageError> {
        self.log_read().max_timestamp()
    }

    /// OffsetForLeaderEpoch: (epoch, end offset) for the largest epoch <= `epoch`.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        let log = self.log_read();
        let current = self.settings().leader_epoch;
        match log.end_offset_for_epoch(epoch) {
            Some(found) => Some(found),
            // The current leader's epoch starts at the log end when nothing was appended in it
            // yet (Kafka registers the epoch when the leader takes over).
            None if epoch >= current => Some((current, log.log_end_offset())),
            None => None,
        }
    }

    /// DeleteRecords: raises the log start offset; returns the new low watermark.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, StorageError> {
        self.log_write().delete_records_before(offset)
    }

    /// Runs retention; returns the number of segments deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, StorageError> {
        self.log_write().enforce_retention(now_ms)
    }

    /// fsyncs if the flush policy's interval has passed.
    pub fn flush_if_due(&self) -> Result<(), StorageError> {
        self.log_write().flush_if_due()
    }

    /// fsyncs everything written so far.
    pub fn flush(&self) -> Result<(), StorageError> {
        self.log_write().flush()
    }

    /// Removes the partition's data (the topic was deleted).
    pub fn delete_data(self) -> Result<(), StorageError> {
        let log = self
            .log
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        log.delete()
    }
}

/// Makes sure `dir` holds data of `topic_id` only: wipes it if it names another topic id, and
/// records the id in it.
fn claim_directory(dir: &Path, topic_id: Uuid) -> Result<(), StorageError> {
    let marker = dir.join(PARTITION_METADATA);
    let expected = format!("version: 0\ntopic_id: {topic_id}\n");
    match std::fs::read_to_string(&marker) {
        Ok(found) if found == expected => return Ok(()),
        Ok(found) => {
            tracing::warn!(dir = %dir.display(), found = %found.trim(), %topic_id,
                "partition directory belongs to another topic id; removing it");
            std::fs::remove_dir_all(dir)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{PARTITION_METADATA}.tmp"));
    std::fs::write(&tmp, expected)?;
    std::fs::rename(&tmp, &marker)?;
    Ok(())
}
