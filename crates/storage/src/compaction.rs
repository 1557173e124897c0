//! Log compaction (`cleanup.policy=compact`): keep the latest record per key in the closed
//! segments, drop expired tombstones, preserve offsets.
//!
//! # What a pass does
//!
//! 1. **Scope.** Only closed segments (never the active one), and in them only batches whose
//!    last offset is below the caller's upper bound (the last stable offset, so an undecided
//!    transaction is never compacted) and that are not control batches (transaction markers
//!    stay). Everything else is copied byte for byte.
//! 2. **Key map.** One walk over that range builds `full key -> latest offset` (whole keys, no
//!    hashing shortcuts, so two keys can never be confused) and `producer id -> last offset of
//!    its newest batch`.
//! 3. **Rewrite.** Each closed segment is walked again into a temporary file. A record stays
//!    if its key is null, or its offset is the latest for its key and it is not a tombstone
//!    (null value) from a batch whose max timestamp is older than
//!    `now - delete.retention.ms`. Records of aborted transactions (batches of a producer
//!    inside one of the caller's aborted ranges) go whatever their keys, and their keys do not
//!    count in step 2, so an aborted write never hides a committed one. A batch keeping all
//!    its records is copied byte for byte;
//!    one keeping some is rebuilt with the same header (`weir_protocol::records::build_batch`:
//!    same base offset, lastOffsetDelta, timestamps, producer fields, codec; new count, length
//!    and CRC); one keeping none is dropped, except the newest batch of an idempotent or
//!    transactional producer, which is kept as an empty batch so the producer's sequence state
//!    survives a restart (as Kafka does). Offsets never change: a compacted log has gaps,
//!    which reads skip.
//! 4. **Swap**, per segment that changed, crash-safe: the temp file
//!    (`<base>.log.cleaned-<n>.tmp`) was fsynced and given the old file's mtime (time
//!    retention of a segment without timestamps goes by mtime); delete `<base>.index` and
//!    `<base>.timeindex`, fsync the directory; rename the temp file over `<base>.log`, fsync
//!    the directory; rebuild and fsync the indexes. A crash before the rename leaves the old
//!    segment (`.tmp` files are removed on open); a crash after it leaves the new one; either
//!    way a closed segment without indexes gets them rebuilt from its log on open. A closed
//!    segment left with no batch at all is deleted, unless it is the first segment (kept,
//!    empty, so the log start offset survives a reopen).
//!
//! Steps 2 and 3 only read closed segments, which nothing but compaction, retention and
//! truncation changes, so they run on a [`CompactionJob`] detached from the log (no lock
//! needed); step 4 needs `&mut PartitionLog` and first checks that every segment read is
//! still there unchanged (same in-memory instance and size), discarding all the work if not.
//!
//! A batch whose records cannot be decoded (corrupt compressed data, more than
//! [`DEFAULT_MAX_RECORDS_BYTES`] decompressed, malformed records) is kept as it is and its
//! keys are ignored: compaction never loses data it cannot read.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use weir_protocol::record_batch::RecordBatchView;
use weir_protocol::records::{batch_records, build_batch, RecordIter, DEFAULT_MAX_RECORDS_BYTES};

use crate::checkpoint::sync_dir;
use crate::error::StorageError;
use crate::segment::{Segment, SegmentReader, Segments};

/// Distinguishes the temp files of jobs prepared in this process.
static NEXT_JOB: AtomicU64 = AtomicU64::new(0);

/// What one compaction pass did, for logs and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// True when nothing changed since the previous pass (no new closed data, same
    /// `delete.retention.ms`, no tombstone due), so no segment was read at all.
    pub up_to_date: bool,
    /// Closed segments read.
    pub segments_scanned: usize,
    /// Segments rewritten or deleted because they lost records.
    pub segments_cleaned: usize,
    /// Of those, segments deleted because no batch was left in them.
    pub segments_deleted: usize,
    /// Cleaned copies discarded because a segment the pass read changed (retention,
    /// truncation, another compaction) between `prepare_compaction` and `finish_compaction`.
    pub segments_stale: usize,
    /// Batches rebuilt with a subset of their records (or emptied for producer state).
    pub batches_rewritten: u64,
    /// Batches removed entirely.
    pub batches_dropped: u64,
    /// Records removed (superseded values and expired tombstones).
    pub records_removed: u64,
    /// Of those, tombstones removed because `delete.retention.ms` had passed.
    pub tombstones_removed: u64,
    /// Batches kept unchanged because their records could not be decoded.
    pub undecodable_batches: u64,
    /// Size of the cleaned segments before the pass.
    pub bytes_before: u64,
    /// Size of the cleaned segments after the pass.
    pub bytes_after: u64,
}

impl CompactionStats {
    fn add_segment(&mut self, s: &CompactionStats) {
        self.batches_rewritten += s.batches_rewritten;
        self.batches_dropped += s.batches_dropped;
        self.records_removed += s.records_removed;
        self.tombstones_removed += s.tombstones_removed;
    }
}

/// What the previous pass covered; a pass with the same inputs and no tombstone due is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CleanerState {
    /// `min(upper_bound, active segment base)` of the pass.
    end: i64,
    /// `delete.retention.ms` of the pass.
    delete_retention_ms: i64,
    /// Latest time at which every retained tombstone is still within `delete.retention.ms`.
    next_tombstone_expiry: Option<i64>,
}

impl CleanerState {
    /// True when a pass with these inputs would change nothing.
    pub(crate) fn is_current(&self, end: i64, delete_retention_ms: i64, now_ms: i64) -> bool {
        self.end == end
            && self.delete_retention_ms == delete_retention_ms
            && !matches!(self.next_tombstone_expiry, Some(t) if now_ms > t)
    }
}

/// Where a swap may be interrupted, so tests can simulate a crash between its steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SwapStep {
    /// After the cleaned file is written and fsynced.
    TempWritten,
    /// After the old indexes are deleted.
    IndexesDeleted,
    /// After the cleaned file replaced the `.log`, before the indexes are rebuilt.
    Renamed,
}

/// Inputs of one pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    pub(crate) upper_bound: i64,
    pub(crate) now_ms: i64,
    pub(crate) delete_retention_ms: i64,
    /// Test hook: stop (with an error) after this step of the first swap.
    pub(crate) crash_after: Option<SwapStep>,
}

impl Params {
    /// `min(upper_bound, active_base)`: what a pass covers, for [`CleanerState`].
    pub(crate) fn end(&self, active_base: i64) -> i64 {
        self.upper_bound.min(active_base)
    }
}

/// A transaction that ended with an abort marker: the producer's transactional batches from
/// `first_offset` to `last_offset` (the marker) are discarded by compaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedRange {
    /// The producer.
    pub producer_id: i64,
    /// Offset of the transaction's first batch.
    pub first_offset: i64,
    /// Offset of its abort marker.
    pub last_offset: i64,
}

/// The result of pass 1.
#[derive(Default)]
struct KeyMap {
    /// Aborted ranges by producer id.
    aborted: HashMap<i64, Vec<(i64, i64)>>,
    /// Latest offset of every key in the compactable range.
    latest: HashMap<Vec<u8>, i64>,
    /// Last offset of the newest batch of each producer id in the range.
    producer_last: HashMap<i64, i64>,
}

/// A closed segment as read by a job, and what cleaning it produced.
struct JobSegment {
    base: i64,
    reader: SegmentReader,
    /// Set by `run` when the segment lost records.
    cleaned: Option<Cleaned>,
}

/// A cleaned copy waiting in its temp file.
struct Cleaned {
    tmp: PathBuf,
    written: u64,
    batches: u64,
    stats: CompactionStats,
}

/// A compaction pass prepared from a log (see [`crate::PartitionLog::prepare_compaction`]):
/// holds duplicated handles on the closed segments, so [`CompactionJob::run`] can do all the
/// reading, decompressing and writing without access to the log. Dropping an unfinished job
/// removes its temp files.
pub struct CompactionJob {
    dir: PathBuf,
    params: Params,
    /// `min(upper_bound, active base)` when prepared.
    end: i64,
    id: u64,
    segments: Vec<JobSegment>,
    /// Aborted transactions whose records go.
    aborted: Vec<AbortedRange>,
    /// Whether `run` completed.
    ran: bool,
    stats: CompactionStats,
    next_tombstone_expiry: Option<i64>,
}

impl std::fmt::Debug for CompactionJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactionJob")
            .field("dir", &self.dir)
            .field("upper_bound", &self.params.upper_bound)
            .field("segments", &self.segments.len())
            .field("ran", &self.ran)
            .finish()
    }
}

impl KeyMap {
    /// Whether `view` is a data batch of an aborted transaction.
    fn is_aborted(&self, view: &RecordBatchView<'_>) -> bool {
        view.is_transactional()
            && !view.is_control()
            && self.aborted.get(&view.producer_id()).is_some_and(|ranges| {
                ranges
                    .iter()
                    .any(|&(first, last)| first <= view.base_offset() && view.base_offset() <= last)
            })
    }
}

impl CompactionJob {
    /// Snapshots the closed segments of `segments` (the last one is the active one).
    pub(crate) fn prepare(
        dir: &Path,
        segments: &Segments,
        params: Params,
        aborted: Vec<AbortedRange>,
    ) -> Result<Self, StorageError> {
        let active_base = segments.keys().next_back().copied().unwrap_or(i64::MIN);
        let mut job = Self {
            dir: dir.to_path_buf(),
            params,
            end: params.end(active_base),
            id: NEXT_JOB.fetch_add(1, Ordering::Relaxed),
            segments: Vec::new(),
            aborted,
            ran: false,
            stats: CompactionStats::default(),
            next_tombstone_expiry: None,
        };
        for (&base, seg) in segments.range(..active_base) {
            job.segments.push(JobSegment {
                base,
                reader: seg.reader()?,
                cleaned: None,
            });
        }
        Ok(job)
    }

    /// Does the expensive part: builds the key map and writes a cleaned, fsynced copy of every
    /// closed segment that loses records. Needs no access to the log; call it without holding
    /// the partition's lock.
    pub fn run(&mut self) -> Result<(), StorageError> {
        if self.ran {
            return Ok(());
        }
        let mut map = KeyMap::default();
        for a in &self.aborted {
            map.aborted
                .entry(a.producer_id)
                .or_default()
                .push((a.first_offset, a.last_offset));
        }
        build_key_map(&self.segments, self.params.upper_bound, &mut map)?;
        for seg in &mut self.segments {
            self.stats.segments_scanned += 1;
            let tmp = self
                .dir
                .join(format!("{:020}.log.cleaned-{}.tmp", seg.base, self.id));
            let out = clean_segment(&seg.reader, &tmp, &map, &self.params)?;
            self.stats.undecodable_batches += out.stats.undecodable_batches;
            if let Some(t) = out.next_tombstone_expiry {
                self.next_tombstone_expiry =
                    Some(self.next_tombstone_expiry.map_or(t, |n| n.min(t)));
            }
            if out.changed {
                seg.cleaned = Some(Cleaned {
                    tmp,
                    written: out.written,
                    batches: out.batches,
                    stats: out.stats,
                });
            }
        }
        self.ran = true;
        Ok(())
    }

    /// Swaps the cleaned copies into `segments` (see the module docs for the order). All or
    /// nothing: if any segment the job read changed since `prepare` (retention, truncation,
    /// another compaction), every cleaned copy is discarded, since the key map may count
    /// records that are gone. Returns the stats and the cleaner state to keep (`None` after
    /// discarding, so the next pass runs in full).
    pub(crate) fn finish(
        mut self,
        segments: &mut Segments,
        index_interval: u64,
    ) -> Result<(CompactionStats, Option<CleanerState>), StorageError> {
        self.run()?;
        let mut stats = self.stats;
        let first_base = segments.keys().next().copied();
        let active_base = segments.keys().next_back().copied();
        let all_current = self.segments.iter().all(|js| {
            Some(js.base) != active_base
                && segments
                    .get(&js.base)
                    .is_some_and(|s| s.identity() == js.reader.identity)
        });
        if !all_current {
            for js in &mut self.segments {
                if let Some(cleaned) = js.cleaned.take() {
                    remove_if_exists(&cleaned.tmp)?;
                    stats.segments_stale += 1;
                }
            }
            return Ok((stats, None));
        }
        let mut crash_after = self.params.crash_after;
        for seg in &mut self.segments {
            let Some(cleaned) = seg.cleaned.take() else {
                continue;
            };
            if cleaned.batches == 0 && Some(seg.base) != first_base {
                remove_if_exists(&cleaned.tmp)?;
                if let Some(old) = segments.remove(&seg.base) {
                    old.remove_files()?;
                }
                sync_dir(&self.dir)?;
                stats.segments_deleted += 1;
            } else if let Some(old) = segments.get(&seg.base) {
                let new = swap(&self.dir, old, &cleaned.tmp, index_interval, crash_after)?;
                crash_after = None;
                segments.insert(seg.base, Box::new(new));
            }
            let before = seg.reader.size();
            tracing::info!(
                dir = %self.dir.display(),
                base_offset = seg.base,
                bytes_before = before,
                bytes_after = cleaned.written,
                records_removed = cleaned.stats.records_removed,
                "compacted segment"
            );
            stats.segments_cleaned += 1;
            stats.add_segment(&cleaned.stats);
            stats.bytes_before += before;
            stats.bytes_after += cleaned.written;
        }
        let state = CleanerState {
            end: self.end,
            delete_retention_ms: self.params.delete_retention_ms,
            next_tombstone_expiry: self.next_tombstone_expiry,
        };
        Ok((stats, Some(state)))
    }
}

impl Drop for CompactionJob {
    fn drop(&mut self) {
        for seg in &self.segments {
            if let Some(cleaned) = &seg.cleaned {
                let _ = remove_if_exists(&cleaned.tmp);
            }
        }
    }
}

/// Calls `per_record(key, offset, is_tombstone, raw)` for every record of a batch; `false` if
/// the batch cannot be decoded (bad codec data, too large, malformed record, or an offset
/// delta beyond lastOffsetDelta).
fn walk_records<'a>(
    view: &RecordBatchView<'_>,
    section: &'a [u8],
    mut per_record: impl FnMut(Option<&'a [u8]>, i64, bool, &'a [u8]),
) -> bool {
    let base = view.base_offset();
    for record in RecordIter::new(section) {
        let Ok(r) = record else { return false };
        if r.offset_delta > view.last_offset_delta() {
            return false;
        }
        per_record(
            r.key,
            base.saturating_add(i64::from(r.offset_delta)),
            r.is_tombstone(),
            r.raw,
        );
    }
    true
}

/// Pass 1: latest offset per key and newest batch per producer over the compactable range.
fn build_key_map(
    segments: &[JobSegment],
    upper_bound: i64,
    map: &mut KeyMap,
) -> Result<(), StorageError> {
    for seg in segments {
        seg.reader.for_each_batch(|view| {
            if view.last_offset() >= upper_bound {
                return Ok(());
            }
            if view.producer_id() >= 0 {
                map.producer_last
                    .insert(view.producer_id(), view.last_offset());
            }
            if view.is_control() || map.is_aborted(&view) {
                return Ok(());
            }
            let Ok(section) = batch_records(&view, DEFAULT_MAX_RECORDS_BYTES) else {
                return Ok(());
            };
            // Keys of a batch count only if the whole batch decodes (it is kept verbatim
            // otherwise).
            let mut keys: Vec<(&[u8], i64)> = Vec::new();
            let ok = walk_records(&view, &section, |key, offset, _, _| {
                if let Some(k) = key {
                    keys.push((k, offset));
                }
            });
            if !ok {
                return Ok(());
            }
            for &(key, offset) in &keys {
                match map.latest.get_mut(key) {
                    Some(latest) => *latest = (*latest).max(offset),
                    None => {
                        map.latest.insert(key.to_vec(), offset);
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Per-segment rewrite bookkeeping.
#[derive(Default)]
struct SegmentClean {
    changed: bool,
    written: u64,
    batches: u64,
    stats: CompactionStats,
    next_tombstone_expiry: Option<i64>,
}

/// How one batch comes out of the rewrite.
enum Outcome {
    Keep,
    Rebuilt(Vec<u8>),
    Drop,
}

/// Decides what becomes of one batch (pass 2).
fn clean_batch(
    view: &RecordBatchView<'_>,
    map: &KeyMap,
    params: &Params,
    out: &mut SegmentClean,
) -> Outcome {
    if view.last_offset() >= params.upper_bound || view.is_control() {
        return Outcome::Keep;
    }
    let Ok(section) = batch_records(view, DEFAULT_MAX_RECORDS_BYTES) else {
        out.stats.undecodable_batches += 1;
        return Outcome::Keep;
    };
    let retention = params.delete_retention_ms.max(0);
    let tombstones_expired = view.max_timestamp() < params.now_ms.saturating_sub(retention);
    let mut kept: Vec<&[u8]> = Vec::new();
    let (mut removed, mut tombstones_removed, mut tombstone_kept) = (0u64, 0u64, false);
    let aborted = map.is_aborted(view);
    let decoded = walk_records(view, &section, |key, offset, tombstone, raw| {
        if aborted {
            removed += 1;
            return;
        }
        let Some(key) = key else {
            // Null keys are not compacted (and a null-key null value is not a tombstone).
            kept.push(raw);
            return;
        };
        if matches!(map.latest.get(key), Some(&latest) if latest > offset) {
            removed += 1;
        } else if tombstone && tombstones_expired {
            removed += 1;
            tombstones_removed += 1;
        } else {
            tombstone_kept |= tombstone;
            kept.push(raw);
        }
    });
    if !decoded {
        out.stats.undecodable_batches += 1;
        return Outcome::Keep;
    }
    if tombstone_kept {
        let expiry = view.max_timestamp().saturating_add(retention);
        out.next_tombstone_expiry =
            Some(out.next_tombstone_expiry.map_or(expiry, |t| t.min(expiry)));
    }
    if removed == 0 {
        return Outcome::Keep;
    }
    let producer_newest = view.producer_id() >= 0
        && map.producer_last.get(&view.producer_id()) == Some(&view.last_offset());
    let outcome = if kept.is_empty() && !producer_newest {
        out.stats.batches_dropped += 1;
        Outcome::Drop
    } else {
        match build_batch(view, &kept) {
            Ok(bytes) => {
                out.stats.batches_rewritten += 1;
                Outcome::Rebuilt(bytes)
            }
            Err(e) => {
                // Recompression failed: keeping the batch as it is loses nothing.
                tracing::warn!(base_offset = view.base_offset(), error = %e, "cannot rebuild batch");
                out.stats.undecodable_batches += 1;
                return Outcome::Keep;
            }
        }
    };
    out.stats.records_removed += removed;
    out.stats.tombstones_removed += tombstones_removed;
    outcome
}

/// Pass 2 for one segment: writes the cleaned copy to `tmp`, fsyncs it and gives it the old
/// file's mtime. When nothing changed (or on error) the temp file is removed again.
fn clean_segment(
    reader: &SegmentReader,
    tmp: &Path,
    map: &KeyMap,
    params: &Params,
) -> Result<SegmentClean, StorageError> {
    let mut out = SegmentClean::default();
    let result = (|| -> Result<(), StorageError> {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(tmp)?);
        reader.for_each_batch(|view| {
            let rebuilt;
            let bytes: &[u8] = match clean_batch(&view, map, params, &mut out) {
                Outcome::Keep => view.as_bytes(),
                Outcome::Drop => {
                    out.changed = true;
                    return Ok(());
                }
                Outcome::Rebuilt(bytes) => {
                    out.changed = true;
                    rebuilt = bytes;
                    &rebuilt
                }
            };
            w.write_all(bytes)?;
            out.written += bytes.len() as u64;
            out.batches += 1;
            Ok(())
        })?;
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        if out.changed {
            file.sync_all()?;
            file.set_modified(reader.modified)?;
        }
        Ok(())
    })();
    if result.is_err() || !out.changed {
        remove_if_exists(tmp)?;
    }
    result.map(|()| out)
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn simulated_crash(step: SwapStep) -> StorageError {
    StorageError::Io(io::Error::other(format!("simulated crash after {step:?}")))
}

/// Replaces segment `seg` by the cleaned file `tmp` (see the module docs for the order) and
/// returns the reopened segment with rebuilt indexes.
fn swap(
    dir: &Path,
    seg: &Segment,
    tmp: &Path,
    index_interval: u64,
    crash_after: Option<SwapStep>,
) -> Result<Segment, StorageError> {
    let crash = |step| crash_after == Some(step);
    if crash(SwapStep::TempWritten) {
        return Err(simulated_crash(SwapStep::TempWritten));
    }
    for path in seg.index_paths() {
        remove_if_exists(path)?;
    }
    sync_dir(dir)?;
    if crash(SwapStep::IndexesDeleted) {
        return Err(simulated_crash(SwapStep::IndexesDeleted));
    }
    fs::rename(tmp, seg.log_path())?;
    sync_dir(dir)?;
    if crash(SwapStep::Renamed) {
        return Err(simulated_crash(SwapStep::Renamed));
    }
    let new = Segment::rebuild(dir, seg.base_offset(), index_interval)?;
    sync_dir(dir)?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LogConfig, PartitionLog};
    use weir_protocol::record_batch::{build_test_batch, BatchIter};

    type Rec = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

    fn build(dir: &Path) -> PartitionLog {
        let config = LogConfig {
            segment_bytes: 250,
            index_interval_bytes: 64,
            ..LogConfig::default()
        };
        let mut log = PartitionLog::open(dir, config).unwrap();
        for i in 0..14i64 {
            let key = format!("k{}", i % 3);
            let value = format!("v{i}");
            // One null-key record in the first segment, so its swap keeps something.
            let key = (i != 1).then_some(key.as_bytes());
            let b = build_test_batch(0, &[(key, Some(value.as_bytes()), i)]);
            log.append(&b, 0, None).unwrap();
        }
        log
    }

    fn reopen(dir: &Path) -> PartitionLog {
        PartitionLog::open(
            dir,
            LogConfig {
                segment_bytes: 250,
                index_interval_bytes: 64,
                ..LogConfig::default()
            },
        )
        .unwrap()
    }

    fn content(log: &PartitionLog) -> Vec<Rec> {
        let mut out = Vec::new();
        let mut offset = log.log_start_offset();
        loop {
            let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
            if r.records.is_empty() {
                return out;
            }
            for b in BatchIter::new(&r.records) {
                let v = b.unwrap();
                v.verify_crc().unwrap();
                let section = batch_records(&v, DEFAULT_MAX_RECORDS_BYTES).unwrap();
                for rec in RecordIter::new(&section) {
                    let rec = rec.unwrap();
                    out.push((
                        v.base_offset() + i64::from(rec.offset_delta),
                        rec.key.map(<[u8]>::to_vec),
                        rec.value.map(<[u8]>::to_vec),
                    ));
                }
                offset = v.last_offset() + 1;
            }
        }
    }

    fn params(log: &PartitionLog, crash_after: Option<SwapStep>) -> Params {
        Params {
            upper_bound: log.log_end_offset(),
            now_ms: 100,
            delete_retention_ms: 1_000,
            crash_after,
        }
    }

    #[test]
    fn crash_at_every_swap_step_reopens_consistently() {
        let reference = tempfile::tempdir().unwrap();
        let mut log = build(reference.path());
        let before = content(&log);
        log.compact_with(params(&log, None)).unwrap();
        let after = content(&log);
        assert!(after.len() < before.len());
        for (step, expect_new) in [
            (SwapStep::TempWritten, false),
            (SwapStep::IndexesDeleted, false),
            (SwapStep::Renamed, true),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut log = build(dir.path());
            assert!(log.compact_with(params(&log, Some(step))).is_err());
            drop(log);
            let mut log = reopen(dir.path());
            let got = content(&log);
            // Only the first segment was swapped (or not) before the crash.
            let mut bases: Vec<i64> = fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| {
                    let name = e.unwrap().file_name().into_string().unwrap();
                    name.strip_suffix(".log").and_then(|b| b.parse().ok())
                })
                .collect();
            bases.sort_unstable();
            let first_end = bases[1];
            assert!(after.iter().any(|r| r.0 < first_end));
            assert!(after.iter().filter(|r| r.0 < first_end).count() < first_end as usize);
            let want_first: Vec<&Rec> = if expect_new {
                after.iter().filter(|r| r.0 < first_end).collect()
            } else {
                before.iter().filter(|r| r.0 < first_end).collect()
            };
            assert_eq!(
                got.iter().filter(|r| r.0 < first_end).collect::<Vec<_>>(),
                want_first,
                "{step:?}"
            );
            assert_eq!(
                got.iter().filter(|r| r.0 >= first_end).collect::<Vec<_>>(),
                before
                    .iter()
                    .filter(|r| r.0 >= first_end)
                    .collect::<Vec<_>>(),
                "{step:?}"
            );
            let names: Vec<String> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{step:?}");
            assert!(names.contains(&format!("{:020}.index", 0)), "{step:?}");
            assert!(names.contains(&format!("{:020}.timeindex", 0)), "{step:?}");
            // Compacting again converges to the same result as an uninterrupted pass.
            log.compact_with(params(&log, None)).unwrap();
            assert_eq!(content(&log), after, "{step:?}");
            drop(log);
            assert_eq!(content(&reopen(dir.path())), after, "{step:?}");
        }
    }

    #[test]
    fn state_skips_only_identical_passes() {
        let s = CleanerState {
            end: 10,
            delete_retention_ms: 5,
            next_tombstone_expiry: Some(100),
        };
        assert!(s.is_current(10, 5, 100));
        assert!(!s.is_current(10, 5, 101));
        assert!(!s.is_current(11, 5, 0));
        assert!(!s.is_current(10, 6, 0));
        let none = CleanerState {
            next_tombstone_expiry: None,
            ..s
        };
        assert!(none.is_current(10, 5, i64::MAX));
    }

    #[test]
    fn undecodable_batches_are_kept_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = build(dir.path());
        // A gzip batch whose "compressed" records are garbage, with a valid CRC.
        let mut bad = build_test_batch(0, &[(Some(b"k0"), Some(b"x"), 1)]);
        bad[22] |= 1; // attributes low byte: gzip
        let crc = crc32c_of(&bad[21..]);
        bad[17..21].copy_from_slice(&crc.to_be_bytes());
        let at = log.append(&bad, 0, None).unwrap().base_offset;
        for i in 0..6i64 {
            let b = build_test_batch(0, &[(Some(b"k0"), Some(b"later"), i)]);
            log.append(&b, 0, None).unwrap();
        }
        let stats = log.compact_with(params(&log, None)).unwrap();
        assert!(stats.undecodable_batches >= 1);
        let r = log.read(at, 1 << 20, i64::MAX, false).unwrap();
        let first = BatchIter::new(&r.records).next().unwrap().unwrap();
        assert_eq!(first.base_offset(), at);
        assert_eq!(&first.as_bytes()[16..], &bad[16..]);
    }

    /// CRC-32C (Castagnoli), bitwise; only for building corrupt-but-checksummed test data.
    fn crc32c_of(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
