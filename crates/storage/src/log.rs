//! `PartitionLog`: the segmented log of one partition. Owns the segments, the log start/end
//! offsets, the leader epoch cache and the flush policy; validates produced batches from their
//! headers and appends them without copying.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use weir_protocol::file_region::FileRegion;
use weir_protocol::record_batch::{
    set_log_append_time, BatchError, BatchIter, RecordBatchView, BATCH_HEADER_LEN,
};

use crate::checkpoint::{read_log_start, sync_dir, write_atomic, write_log_start};
use crate::compaction::{self, AbortedRange, CleanerState, CompactionJob, CompactionStats};
use crate::config::{FlushPolicy, LogConfig};
use crate::epoch_cache::LeaderEpochCache;
use crate::error::StorageError;
use crate::header::BatchMeta;
use crate::segment::{parse_log_name, Segment, Segments};

/// Bytes of a rewritten batch prefix: baseOffset, batchLength, partitionLeaderEpoch.
const PREFIX_LEN: usize = 16;

/// Fetch reads of at least this many bytes are handed out as a [`FileRegion`] rather than read
/// into memory: below it, a read costs less than the extra system call and bookkeeping.
pub const FILE_REGION_MIN_BYTES: usize = 64 * 1024;

/// What an append assigned, for the produce response and replication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// Largest timestamp of the appended batches (the append time under LogAppendTime).
    pub max_timestamp: i64,
    /// The broker timestamp written into the batches, if LogAppendTime was requested.
    pub log_append_time: Option<i64>,
    /// Records appended, summed from the batch headers.
    pub record_count: i64,
}

/// Bytes for a fetch plus the offsets the fetch response reports.
#[derive(Clone, Debug)]
pub struct ReadResult {
    /// Whole batches exactly as stored.
    pub records: Bytes,
    /// Log start offset at the time of the read.
    pub log_start_offset: i64,
    /// Log end offset at the time of the read.
    pub log_end_offset: i64,
}

/// The record data of a fetch: read into memory, or left in the file for large reads.
#[derive(Clone, Debug)]
pub enum FetchRecords {
    /// Whole batches read into memory.
    Bytes(Bytes),
    /// Whole batches still in their segment file. Segments are only cut back in place on
    /// open (recovery), so the bytes do not change while the region is alive.
    File(FileRegion),
}

/// What [`PartitionLog::read_for_fetch`] found.
#[derive(Clone, Debug)]
pub struct FetchRead {
    /// Whole batches exactly as stored.
    pub records: FetchRecords,
    /// Last offset of the last batch, `None` if there are no records.
    pub last_offset: Option<i64>,
    /// Log start offset at the time of the read.
    pub log_start_offset: i64,
}

/// The append-only, segmented log of one partition (see the crate docs for the format).
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    /// Segments by base offset; never empty, the last one is active.
    segments: Segments,
    log_start_offset: i64,
    epochs: LeaderEpochCache,
    last_flush: Instant,
    /// What the last compaction pass covered (in memory only: a reopened log compacts once
    /// in full).
    cleaner: Option<CleanerState>,
    /// Whether `dir` exists. A log opened over a missing directory creates it (and its
    /// marker file) only when it first writes: see [`PartitionLog::open`].
    dir_exists: bool,
    /// A file written into the directory when this log creates it (name, contents).
    dir_marker: Option<(String, Vec<u8>)>,
    /// Set by [`PartitionLog::retire`]: the directory must not be created any more.
    retired: bool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn no_segment() -> StorageError {
    StorageError::Corrupt("log has no active segment".into())
}

/// A validated batch of an append with its assigned offsets.
struct Pending<'a> {
    view: RecordBatchView<'a>,
    meta: BatchMeta,
    prefix: [u8; PREFIX_LEN],
    /// A modified copy (LogAppendTime); `None` writes prefix + the client's bytes.
    owned: Option<Vec<u8>>,
}

impl PartitionLog {
    /// Opens the log in `dir`, recovering the active segment: it is validated batch by batch
    /// and truncated at the first torn or corrupt batch.
    ///
    /// A log without segment files (a missing or empty directory) is opened empty without
    /// touching the disk: the directory, the marker file set by
    /// [`PartitionLog::set_directory_marker`] and the first segment's files are created by
    /// the first write. Creating a topic with many partitions therefore creates no files.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Self, StorageError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::open_absent(dir, config));
            }
            Err(e) => return Err(e.into()),
        };
        let mut bases = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".tmp") {
                fs::remove_file(entry.path())?;
            } else if let Some(base) = parse_log_name(name) {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let mut segments = Segments::new();
        let last = bases.len().checked_sub(1);
        for (i, &base) in bases.iter().enumerate() {
            let seg = Segment::open(dir, base, Some(i) == last, config.index_interval_bytes)?;
            segments.insert(base, Box::new(seg));
        }
        let checkpoint = read_log_start(dir)?;
        if segments.is_empty() {
            let base = checkpoint.unwrap_or(0);
            segments.insert(base, Box::new(Segment::pending(dir, base, now_ms())));
        }
        let mut log = Self {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset: 0,
            epochs: LeaderEpochCache::load(dir)?,
            last_flush: Instant::now(),
            cleaner: None,
            dir_exists: true,
            dir_marker: None,
            retired: false,
        };
        let first_base = log.segments.keys().next().copied().ok_or_else(no_segment)?;
        let log_end = log.log_end_offset();
        log.log_start_offset = checkpoint.unwrap_or(first_base).max(first_base);
        if log.log_start_offset > log_end {
            // Data below the log start offset is invisible anyway: start afresh there.
            tracing::warn!(
                dir = %dir.display(),
                log_start = log.log_start_offset,
                log_end,
                "log start offset beyond recovered log end, starting empty log at log start"
            );
            log.truncate_fully_and_start_at(log.log_start_offset)?;
        }
        let log_end = log.log_end_offset();
        log.epochs.truncate_from_end(log_end)?;
        log.epochs.truncate_from_start(log.log_start_offset)?;
        Ok(log)
    }

    /// The empty log of a directory that does not exist, opened without touching the disk:
    /// what [`PartitionLog::open`] gives there, for a caller that already knows the directory
    /// is missing (the broker lists the parent once for a topic with many new partitions,
    /// instead of two failing look-ups per partition). The first write creates everything.
    pub fn open_absent(dir: &Path, config: LogConfig) -> Self {
        let mut segments = Segments::new();
        segments.insert(0, Box::new(Segment::pending(dir, 0, now_ms())));
        Self {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset: 0,
            epochs: LeaderEpochCache::empty(dir),
            last_flush: Instant::now(),
            cleaner: None,
            dir_exists: false,
            dir_marker: None,
            retired: false,
        }
    }

    /// Sets a file (name, contents) to write into the directory if this log has to create
    /// it, before anything else goes in (the broker's `partition.metadata`). Ignored when the
    /// directory already exists.
    pub fn set_directory_marker(&mut self, name: &str, contents: Vec<u8>) {
        self.dir_marker = Some((name.to_string(), contents));
    }

    /// Whether the log's directory exists (false for a log opened over a missing directory
    /// that has not been written to yet).
    pub fn has_directory(&self) -> bool {
        self.dir_exists
    }

    /// Forbids creating the directory from now on: the partition is being deleted, so a
    /// write still in flight must not bring its directory back. Such a write fails.
    pub fn retire(&mut self) {
        self.retired = true;
    }

    fn durable(&self) -> bool {
        self.config.flush != FlushPolicy::OsCache
    }

    /// Creates the directory if it does not exist yet, with the marker file (written to a
    /// `.tmp` and renamed, so it is whole or absent). Under a durable flush policy the marker,
    /// the directory and its parent's entry are fsynced.
    fn ensure_dir(&mut self) -> Result<(), StorageError> {
        if self.dir_exists {
            return Ok(());
        }
        if self.retired {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} was deleted", self.dir.display()),
            )
            .into());
        }
        fs::create_dir_all(&self.dir)?;
        if let Some((name, contents)) = &self.dir_marker {
            if self.durable() {
                write_atomic(&self.dir, name, contents)?;
            } else {
                let tmp = self.dir.join(format!("{name}.tmp"));
                fs::write(&tmp, contents)?;
                fs::rename(&tmp, self.dir.join(name))?;
            }
        }
        if self.durable() {
            if let Some(parent) = self.dir.parent() {
                sync_dir(parent)?;
            }
        }
        self.dir_exists = true;
        Ok(())
    }

    /// Creates what an empty log defers until its first write: the directory and the active
    /// segment's files (fsyncing the directory under a durable flush policy).
    fn materialize(&mut self) -> Result<(), StorageError> {
        if self.dir_exists && self.active()?.has_files() {
            return Ok(());
        }
        self.ensure_dir()?;
        self.active_mut()?.create_files()?;
        if self.durable() {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), StorageError> {
        self.ensure_dir()?;
        for (_, seg) in std::mem::take(&mut self.segments) {
            seg.remove_files()?;
        }
        self.segments.insert(
            offset,
            Box::new(Segment::create(&self.dir, offset, now_ms())?),
        );
        sync_dir(&self.dir)?;
        Ok(())
    }

    fn active(&self) -> Result<&Segment, StorageError> {
        self.segments
            .values()
            .next_back()
            .map(|s| &**s)
            .ok_or_else(no_segment)
    }

    fn active_mut(&mut self) -> Result<&mut Segment, StorageError> {
        self.segments
            .values_mut()
            .next_back()
            .map(|s| &mut **s)
            .ok_or_else(no_segment)
    }

    /// Validates every batch of `records` (parse, CRC, lastOffsetDelta == count - 1) before
    /// anything is written, and assigns offsets starting at `first_offset`.
    fn prepare<'a>(
        records: &'a [u8],
        first_offset: i64,
        leader_epoch: i32,
        log_append_time: Option<i64>,
    ) -> Result<Vec<Pending<'a>>, StorageError> {
        if records.len() < BATCH_HEADER_LEN {
            return Err(BatchError::Incomplete {
                needed: BATCH_HEADER_LEN,
            }
            .into());
        }
        if records.len() as u64 > u64::from(u32::MAX) {
            return Err(StorageError::AppendTooLarge(
                "more than 4 GiB in one append",
            ));
        }
        let mut next = first_offset;
        let mut out = Vec::new();
        for batch in BatchIter::new(records) {
            let view = batch?;
            view.verify_crc()?;
            if i64::from(view.record_count()) != i64::from(view.last_offset_delta()) + 1 {
                return Err(BatchError::InvalidHeader(
                    "lastOffsetDelta does not match record count",
                )
                .into());
            }
            let base = next;
            let last = base
                .checked_add(i64::from(view.last_offset_delta()))
                .ok_or(StorageError::AppendTooLarge("offset overflow"))?;
            next = last + 1;
            if next - first_offset > i64::from(i32::MAX) {
                return Err(StorageError::AppendTooLarge(
                    "more than 2^31 offsets in one append",
                ));
            }
            let mut prefix = [0u8; PREFIX_LEN];
            prefix[..8].copy_from_slice(&base.to_be_bytes());
            prefix[8..12].copy_from_slice(&view.batch_length().to_be_bytes());
            prefix[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
            let owned = log_append_time.map(|ts| {
                let mut copy = view.as_bytes().to_vec();
                copy[..PREFIX_LEN].copy_from_slice(&prefix);
                set_log_append_time(&mut copy, ts);
                copy
            });
            let mut meta = BatchMeta::of(&view);
            meta.base_offset = base;
            meta.last_offset = last;
            if let Some(ts) = log_append_time {
                meta.max_timestamp = ts;
            }
            out.push(Pending {
                view,
                meta,
                prefix,
                owned,
            });
        }
        Ok(out)
    }

    /// Appends the batches of `records` (one or more v2 batches, exactly the bytes of a
    /// produce request): validates all first (all-or-nothing), assigns offsets from the log
    /// end, rewrites base offset and leader epoch through a fresh 16-byte prefix (no copy of
    /// the batch unless `log_append_time` is set), rolls the segment if needed, updates the
    /// indexes and the epoch cache, and honours the flush policy.
    pub fn append(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        log_append_time: Option<i64>,
    ) -> Result<AppendInfo, StorageError> {
        let log_end = self.log_end_offset();
        let pending = Self::prepare(records, log_end, leader_epoch, log_append_time)?;
        let (Some(first), Some(last)) = (pending.first(), pending.last()) else {
            return Err(BatchError::Incomplete {
                needed: BATCH_HEADER_LEN,
            }
            .into());
        };
        self.materialize()?;
        let info = AppendInfo {
            base_offset: first.meta.base_offset,
            last_offset: last.meta.last_offset,
            max_timestamp: pending
                .iter()
                .map(|p| p.meta.max_timestamp)
                .max()
                .unwrap_or(-1),
            log_append_time,
            record_count: pending
                .iter()
                .map(|p| i64::from(p.view.record_count()))
                .sum(),
        };
        if self.should_roll(records.len() as u64, info.last_offset, now_ms())? {
            self.roll()?;
        }
        if leader_epoch >= 0 {
            self.epochs.assign(leader_epoch, info.base_offset)?;
        }
        let mut parts: Vec<&[u8]> = Vec::with_capacity(pending.len() * 2);
        for p in &pending {
            match &p.owned {
                Some(copy) => parts.push(copy),
                None => {
                    parts.push(&p.prefix);
                    parts.push(p.view.as_bytes().get(PREFIX_LEN..).unwrap_or(&[]));
                }
            }
        }
        let metas: Vec<BatchMeta> = pending.iter().map(|p| p.meta).collect();
        let interval = self.config.index_interval_bytes;
        self.active_mut()?.append(&parts, &metas, interval)?;
        match self.config.flush {
            FlushPolicy::OsCache => {}
            FlushPolicy::EveryAppend => {
                self.active_mut()?.sync()?;
                self.last_flush = Instant::now();
            }
            FlushPolicy::IntervalMs(_) => self.flush_if_due()?,
        }
        Ok(info)
    }

    fn should_roll(&self, incoming: u64, last_offset: i64, now: i64) -> Result<bool, StorageError> {
        let active = self.active()?;
        if active.size() == 0 {
            return Ok(false);
        }
        let too_big = active.size() + incoming > self.config.segment_bytes
            || active.size() + incoming > u64::from(u32::MAX);
        let too_old = now - active.created_ms() > self.config.segment_ms;
        let offsets_overflow = last_offset - active.base_offset() > i64::from(u32::MAX);
        Ok(too_big || too_old || offsets_overflow)
    }

    /// Closes the active segment and starts a new one at the log end offset.
    fn roll(&mut self) -> Result<(), StorageError> {
        let log_end = self.log_end_offset();
        let durable = self.config.flush != FlushPolicy::OsCache;
        let active = self.active_mut()?;
        if active.base_offset() == log_end {
            return Ok(());
        }
        if durable {
            active.sync()?;
        }
        let seg = Segment::create(&self.dir, log_end, now_ms())?;
        self.segments.insert(log_end, Box::new(seg));
        if durable {
            sync_dir(&self.dir)?;
        }
        tracing::debug!(dir = %self.dir.display(), base_offset = log_end, "rolled segment");
        Ok(())
    }

    /// Reads whole batches starting with the batch containing `offset`, up to `max_bytes`,
    /// none with base offset >= `upper_bound`; with `min_one` an oversized first batch is
    /// returned whole (KIP-74). Offsets outside `[log_start, log_end]` are out of range;
    /// `log_end` itself gives empty records. Data comes from one segment per call.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
        min_one: bool,
    ) -> Result<ReadResult, StorageError> {
        self.check_readable(offset)?;
        let (log_start, log_end) = (self.log_start_offset, self.log_end_offset());
        let records = match self.batch_position(offset)? {
            Some((seg, pos)) => seg.read_batches(pos, max_bytes, upper_bound, min_one)?,
            None => Vec::new(),
        };
        Ok(ReadResult {
            records: crate::read_buffer::into_bytes(records),
            log_start_offset: log_start,
            log_end_offset: log_end,
        })
    }

    /// As [`PartitionLog::read`], for a fetch response: a read of [`FILE_REGION_MIN_BYTES`]
    /// or more comes back as a region of the segment file, to be sent from there, unless the
    /// batches are so small and many that finding their bounds costs more than reading them.
    pub fn read_for_fetch(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
        min_one: bool,
    ) -> Result<FetchRead, StorageError> {
        self.check_readable(offset)?;
        let read = |records, last_offset| FetchRead {
            records,
            last_offset,
            log_start_offset: self.log_start_offset,
        };
        let Some((seg, pos)) = self.batch_position(offset)? else {
            return Ok(read(FetchRecords::Bytes(Bytes::new()), None));
        };
        if max_bytes >= FILE_REGION_MIN_BYTES {
            if let Some((end, last)) = seg.batches_end(pos, max_bytes, upper_bound, min_one)? {
                let len = end - pos;
                let region = (len >= FILE_REGION_MIN_BYTES as u64)
                    .then(|| seg.file_region(pos, len))
                    .flatten();
                let records = match region {
                    Some(region) => FetchRecords::File(region),
                    None => FetchRecords::Bytes(crate::read_buffer::into_bytes(
                        seg.read_exact_at(pos, len)?,
                    )),
                };
                return Ok(read(records, last.map(|h| h.last_offset)));
            }
        }
        let bytes = seg.read_batches(pos, max_bytes, upper_bound, min_one)?;
        let last = BatchIter::new(&bytes)
            .map_while(Result::ok)
            .last()
            .map(|b| b.last_offset());
        Ok(read(
            FetchRecords::Bytes(crate::read_buffer::into_bytes(bytes)),
            last,
        ))
    }

    /// Fails with `OffsetOutOfRange` unless `offset` lies within `[log_start, log_end]`.
    fn check_readable(&self, offset: i64) -> Result<(), StorageError> {
        let (log_start, log_end) = (self.log_start_offset, self.log_end_offset());
        if offset < log_start || offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start,
                log_end,
            });
        }
        Ok(())
    }

    /// The segment holding the batch that contains `offset` (or the next batch after a gap)
    /// and that batch's position; `None` if there is none.
    fn batch_position(&self, offset: i64) -> Result<Option<(&Segment, u64)>, StorageError> {
        let start = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(i64::MIN, |(base, _)| *base);
        for seg in self.segments.range(start..).map(|(_, s)| s) {
            if let Some(pos) = seg.find_position(offset)? {
                return Ok(Some((seg, pos)));
            }
        }
        Ok(None)
    }

    /// First offset still readable (raised by retention and DeleteRecords).
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Next offset to assign.
    pub fn log_end_offset(&self) -> i64 {
        self.segments
            .values()
            .next_back()
            .map_or(self.log_start_offset, |s| s.next_offset())
    }

    /// Bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size()).sum()
    }

    /// Number of segments, including the active one.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Current settings.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Applies changed topic configs; they take effect on the next append/retention pass.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// ListOffsets by timestamp: (offset, timestamp) of the first record at or after the log
    /// start whose timestamp is >= `ts`; compressed batches answer with their base offset and
    /// max timestamp. `None` if there is no such record.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, StorageError> {
        for seg in self.segments.values() {
            let Some(max) = seg.max_timestamp() else {
                continue;
            };
            if max < ts || seg.next_offset() <= self.log_start_offset {
                continue;
            }
            if let Some(hit) = seg.find_by_timestamp(ts, self.log_start_offset)? {
                return Ok(Some(hit));
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP: (timestamp, offset) of the record with the largest timestamp
    /// (exact record for uncompressed batches, the batch's last offset otherwise).
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, StorageError> {
        let mut best: Option<&Segment> = None;
        for seg in self.segments.values() {
            if let Some(ts) = seg.max_timestamp() {
                if !matches!(best.and_then(Segment::max_timestamp), Some(b) if b >= ts) {
                    best = Some(seg);
                }
            }
        }
        match best {
            Some(seg) => seg.max_timestamp_record(),
            None => Ok(None),
        }
    }

    /// DeleteRecords: raises the log start offset to `offset` (<= log end), persists it, and
    /// deletes segments wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, StorageError> {
        let log_end = self.log_end_offset();
        if offset < 0 || offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start: self.log_start_offset,
                log_end,
            });
        }
        if offset <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        self.materialize()?;
        write_log_start(&self.dir, offset)?;
        self.log_start_offset = offset;
        if offset == log_end {
            // Make the whole current data deletable (Kafka rolls a deletable active segment).
            self.roll()?;
        }
        self.delete_segments_below_log_start()?;
        self.epochs.truncate_from_start(offset)?;
        Ok(offset)
    }

    /// Removes leading segments whose successor starts at or below the log start offset.
    fn delete_segments_below_log_start(&mut self) -> Result<usize, StorageError> {
        let mut deleted = 0;
        loop {
            let mut bases = self.segments.keys();
            let (Some(&first), Some(&second)) = (bases.next(), bases.next()) else {
                break;
            };
            if second > self.log_start_offset {
                break;
            }
            self.remove_segment(first)?;
            deleted += 1;
        }
        Ok(deleted)
    }

    fn remove_segment(&mut self, base: i64) -> Result<(), StorageError> {
        if let Some(seg) = self.segments.remove(&base) {
            tracing::info!(dir = %self.dir.display(), base_offset = base, "deleting segment");
            seg.remove_files()?;
        }
        Ok(())
    }

    /// Retention: rolls an active segment older than `segment_ms`, then deletes the oldest
    /// closed segments whose newest timestamp is older than `now_ms - retention_ms`, then the
    /// oldest closed segments while the log exceeds `retention_bytes`. Never deletes the
    /// active segment. Returns how many segments were deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, StorageError> {
        let active = self.active()?;
        if active.size() > 0 && now_ms - active.created_ms() > self.config.segment_ms {
            self.roll()?;
        }
        let mut deleted = 0;
        if self.config.retention_ms >= 0 {
            while self.segments.len() > 1 {
                let Some((&base, seg)) = self.segments.iter().next() else {
                    break;
                };
                if now_ms.saturating_sub(seg.retention_timestamp()) <= self.config.retention_ms {
                    break;
                }
                self.remove_segment(base)?;
                deleted += 1;
            }
        }
        if self.config.retention_bytes >= 0 {
            let mut excess = self.size_bytes() as i64 - self.config.retention_bytes;
            while self.segments.len() > 1 {
                let Some((&base, seg)) = self.segments.iter().next() else {
                    break;
                };
                let size = seg.size() as i64;
                if excess - size < 0 {
                    break;
                }
                excess -= size;
                self.remove_segment(base)?;
                deleted += 1;
            }
        }
        if deleted > 0 {
            let first = self
                .segments
                .keys()
                .next()
                .copied()
                .ok_or_else(no_segment)?;
            if first > self.log_start_offset {
                self.log_start_offset = first;
                self.epochs.truncate_from_start(first)?;
            }
        }
        Ok(deleted)
    }

    /// Log compaction for `cleanup.policy=compact` (and `compact,delete`, together with
    /// [`Self::enforce_retention`]), in one call: [`Self::prepare_compaction`], then
    /// [`CompactionJob::run`], then [`Self::finish_compaction`]. In the closed segments, keeps
    /// only the latest record of each key among batches whose last offset is below
    /// `upper_bound` (pass the last stable offset), plus null-key records, control batches, and
    /// tombstones whose batch max timestamp is not older than `now_ms - delete_retention_ms`.
    /// The active segment and anything at or above `upper_bound` are never changed. Offsets
    /// are preserved (the log gets gaps, which reads skip); the log start and end offsets and
    /// the leader epoch cache are unchanged. See the `compaction` module docs for the exact
    /// rules and the crash-safe on-disk order.
    ///
    /// This holds `&mut self` for the whole pass; a broker should rather prepare and finish
    /// under its lock and `run` without it.
    pub fn compact(
        &mut self,
        upper_bound: i64,
        now_ms: i64,
        delete_retention_ms: i64,
    ) -> Result<CompactionStats, StorageError> {
        self.compact_with(compaction::Params {
            upper_bound,
            now_ms,
            delete_retention_ms,
            crash_after: None,
        })
    }

    /// `compact` with explicit parameters (tests inject crashes through them).
    pub(crate) fn compact_with(
        &mut self,
        params: compaction::Params,
    ) -> Result<CompactionStats, StorageError> {
        match self.prepare_with(params, Vec::new())? {
            None => Ok(CompactionStats {
                up_to_date: true,
                ..CompactionStats::default()
            }),
            Some(mut job) => {
                job.run()?;
                self.finish_compaction(job)
            }
        }
    }

    /// First step of a compaction pass (arguments as for [`Self::compact`]); cheap: takes
    /// duplicated handles on the closed segments. `None` when a pass would change nothing:
    /// since the previous pass (in this process) `min(upper_bound, active segment base)` and
    /// `delete_retention_ms` are the same and no retained tombstone has expired. Run the job
    /// with [`CompactionJob::run`] (no access to the log needed), then hand it to
    /// [`Self::finish_compaction`].
    pub fn prepare_compaction(
        &self,
        upper_bound: i64,
        now_ms: i64,
        delete_retention_ms: i64,
        aborted: Vec<AbortedRange>,
    ) -> Result<Option<CompactionJob>, StorageError> {
        self.prepare_with(
            compaction::Params {
                upper_bound,
                now_ms,
                delete_retention_ms,
                crash_after: None,
            },
            aborted,
        )
    }

    fn prepare_with(
        &self,
        params: compaction::Params,
        aborted: Vec<AbortedRange>,
    ) -> Result<Option<CompactionJob>, StorageError> {
        let active_base = self.active()?.base_offset();
        let end = params.end(active_base);
        let current = self
            .cleaner
            .is_some_and(|s| s.is_current(end, params.delete_retention_ms, params.now_ms));
        if current {
            return Ok(None);
        }
        CompactionJob::prepare(&self.dir, &self.segments, params, aborted).map(Some)
    }

    /// Last step of a compaction pass: swaps the cleaned segments in (running the job first
    /// if it has not run). If any segment the job read changed since `prepare_compaction`
    /// (deleted by retention, truncated, compacted by another job), nothing is swapped and the
    /// discarded copies are counted in `segments_stale`. Costs, per cleaned segment, a few fsyncs and one
    /// sequential read of the cleaned file to rebuild its indexes.
    pub fn finish_compaction(
        &mut self,
        job: CompactionJob,
    ) -> Result<CompactionStats, StorageError> {
        let (stats, state) = job.finish(&mut self.segments, self.config.index_interval_bytes)?;
        self.cleaner = state;
        Ok(stats)
    }

    /// OffsetForLeaderEpoch (Kafka semantics): the largest epoch <= `epoch` and the start
    /// offset of the next larger epoch, or the log end offset for the latest epoch. `None`
    /// when the epoch is unknown (newer than any, or the cache is empty).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// The newest leader epoch that appended to this log.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }

    /// fsyncs every segment written since its last fsync.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        for seg in self.segments.values_mut() {
            seg.sync()?;
        }
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Under `FlushPolicy::IntervalMs`, flushes if the interval has passed since the last
    /// fsync; call it from a timer so idle partitions get flushed too.
    pub fn flush_if_due(&mut self) -> Result<(), StorageError> {
        if let FlushPolicy::IntervalMs(ms) = self.config.flush {
            if self.last_flush.elapsed().as_millis() >= u128::from(ms) {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Flushes, fsyncs and closes the log.
    pub fn close(mut self) -> Result<(), StorageError> {
        self.flush()
    }

    /// Removes the partition's directory (topic deletion).
    pub fn delete(self) -> Result<(), StorageError> {
        let dir = self.dir.clone();
        drop(self);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}
