//! One segment of a partition log: the `.log` file of concatenated batches plus its offset and
//! time indexes. Knows how to append, find a batch by offset or timestamp, read whole batches
//! with positional reads, and recover itself on open.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use weir_protocol::file_region::FileRegion;
use weir_protocol::record_batch::{
    record_timestamps, BatchError, BatchIter, Compression, RecordBatchView, BATCH_HEADER_LEN,
};

use crate::error::StorageError;
use crate::header::BatchMeta;
use crate::index::{OffsetEntry, OffsetIndex};
use crate::scan::scan_batches;
use crate::time_index::{TimeEntry, TimeIndex};

/// Bytes read at a time when walking batch headers from an index entry.
const SCAN_CHUNK: usize = 16 * 1024;
/// Bytes read at a time when walking whole batches (compaction).
const WALK_CHUNK: usize = 1 << 20;
/// Bytes read at a time when walking the headers of batches to be sent from the file.
const HEADER_CHUNK: usize = 4 * 1024;
/// Most reads such a header walk may take; past it the batches are small and many,
/// and reading them whole (one pread) is cheaper than finding their bounds header by header.
const HEADER_WALK_READS: usize = 16;

/// Path of a segment file: `<20-digit zero-padded base offset>.<ext>`.
pub(crate) fn segment_path(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

/// Base offset of a `.log` file name, `None` for any other file.
pub(crate) fn parse_log_name(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".log")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Milliseconds since the epoch of a file's last modification (0 if unknown).
fn mtime_ms(file: &File) -> i64 {
    file.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

/// A log's segments by base offset. Boxed: a map node holds eleven entries, so unboxed a
/// partition with one segment would allocate room for eleven whole segments (~3 KB), which
/// adds up for topics with thousands of partitions.
pub(crate) type Segments = std::collections::BTreeMap<i64, Box<Segment>>;

/// One segment: file handle, in-memory indexes and the per-segment facts the log needs.
pub(crate) struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    /// The `.log` file; `None` while a new segment is still empty and has no files (see
    /// [`Segment::pending`]). Shared with the [`FileRegion`]s of fetches still being sent, so
    /// a segment deleted meanwhile stays readable until they are done.
    file: Option<Arc<File>>,
    /// Bytes of valid batches; the file's write cursor sits here.
    size: u64,
    /// Last offset + 1 (== base_offset when empty).
    next_offset: i64,
    index: OffsetIndex,
    time_index: TimeIndex,
    bytes_since_index: u64,
    /// Largest batch max timestamp, and the base offset of the first batch that reached it.
    max_timestamp: Option<(i64, i64)>,
    /// When the segment was created (wall clock ms), for `segment.ms` rolling.
    created_ms: i64,
    /// Written since the last fsync.
    dirty: bool,
    /// Unique per `Segment` value in this process, so work prepared against one instance
    /// (compaction) can tell it was replaced.
    generation: u64,
}

/// Source of `Segment::generation`.
static NEXT_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn next_generation() -> u64 {
    NEXT_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Segment {
    /// Creates an empty segment (truncating any leftover files with the same base offset).
    pub(crate) fn create(dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<Self> {
        let mut seg = Self::pending(dir, base_offset, now_ms);
        seg.create_files()?;
        Ok(seg)
    }

    /// An empty segment whose files do not exist yet: they are created by
    /// [`Segment::create_files`], at the latest by the first append. Until then the segment
    /// answers every read as empty without touching the disk, so a partition that was
    /// created but never written costs no files.
    pub(crate) fn pending(dir: &Path, base_offset: i64, now_ms: i64) -> Self {
        Self {
            base_offset,
            log_path: segment_path(dir, base_offset, "log"),
            file: None,
            size: 0,
            next_offset: base_offset,
            index: OffsetIndex::pending(&segment_path(dir, base_offset, "index")),
            time_index: TimeIndex::pending(&segment_path(dir, base_offset, "timeindex")),
            bytes_since_index: 0,
            max_timestamp: None,
            created_ms: now_ms,
            dirty: false,
            generation: next_generation(),
        }
    }

    /// Whether the segment's files exist (false only for a [`Segment::pending`] one).
    pub(crate) fn has_files(&self) -> bool {
        self.file.is_some()
    }

    /// Creates the `.log`, `.index` and `.timeindex` files of a pending segment (truncating
    /// leftovers with the same base offset); a no-op once they exist. The directory must exist.
    pub(crate) fn create_files(&mut self) -> io::Result<()> {
        if self.file.is_some() {
            return Ok(());
        }
        let file = crate::index_file::create_truncated(&self.log_path)?;
        self.index.create_file()?;
        self.time_index.create_file()?;
        self.file = Some(Arc::new(file));
        Ok(())
    }

    /// The `.log` file, or an error for a pending segment (callers check `size` first: a
    /// pending segment is empty).
    fn file(&self) -> io::Result<&File> {
        self.file.as_deref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} not created yet", self.log_path.display()),
            )
        })
    }

    /// Opens an existing segment. The active segment is always fully validated and its
    /// indexes rebuilt; a closed segment trusts its indexes when they look sane and validates
    /// only the tail after the last index entry, falling back to a full recovery otherwise.
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        active: bool,
        index_interval: u64,
    ) -> Result<Self, StorageError> {
        let log_path = segment_path(dir, base_offset, "log");
        let file = OpenOptions::new().read(true).write(true).open(&log_path)?;
        if !active {
            if let Some(seg) = Self::open_closed(dir, base_offset, &log_path, &file)? {
                return Ok(seg);
            }
            tracing::warn!(path = %log_path.display(), "segment index invalid, rebuilding");
        }
        Self::recover(dir, base_offset, log_path, file, index_interval)
    }

    fn open_closed(
        dir: &Path,
        base_offset: i64,
        log_path: &Path,
        file: &File,
    ) -> Result<Option<Self>, StorageError> {
        let file_len = file.metadata()?.len();
        let Some(index) = OffsetIndex::load(&segment_path(dir, base_offset, "index"))? else {
            return Ok(None);
        };
        let Some(time_index) = TimeIndex::load(&segment_path(dir, base_offset, "timeindex"))?
        else {
            return Ok(None);
        };
        if !index.is_sane(file_len) || !time_index.is_sane() || file_len > u64::from(u32::MAX) {
            return Ok(None);
        }
        let (start_pos, start_offset) = index.last().map_or((0, base_offset), |e| {
            (u64::from(e.pos), base_offset + i64::from(e.rel))
        });
        // An indexed position must hold exactly the indexed batch; without index entries the
        // first batch only has to start at or after the segment's base offset (compaction may
        // have removed the batches before it).
        let exact_start = index.last().is_some();
        let mut seg = Self {
            base_offset,
            log_path: log_path.to_path_buf(),
            file: Some(Arc::new(file.try_clone()?)),
            size: 0,
            next_offset: base_offset,
            index,
            time_index,
            bytes_since_index: 0,
            max_timestamp: None,
            created_ms: mtime_ms(file),
            dirty: false,
            generation: next_generation(),
        };
        seg.max_timestamp = seg
            .time_index
            .last()
            .map(|e| (e.ts, base_offset + i64::from(e.rel)));
        let mut first_ok = true;
        let mut first = true;
        let end = scan_batches(file, start_pos, file_len, base_offset, |pos, meta| {
            if first {
                first_ok = if exact_start {
                    meta.base_offset == start_offset
                } else {
                    meta.base_offset >= start_offset
                };
                first = false;
            }
            seg.track(meta, pos, u64::MAX);
        })?;
        let time_ok = !matches!(
            seg.time_index.last(),
            Some(e) if base_offset + i64::from(e.rel) >= seg.next_offset
        );
        if end.problem.is_some() || !first_ok || !time_ok || (first && start_pos != 0) {
            return Ok(None);
        }
        seg.size = end.valid_end;
        (&*file).seek(SeekFrom::Start(seg.size))?;
        Ok(Some(seg))
    }

    /// Opens a closed segment whose `.log` was just replaced (compaction), rebuilding both
    /// indexes from the log and fsyncing them; the caller has already removed the old ones.
    pub(crate) fn rebuild(
        dir: &Path,
        base_offset: i64,
        index_interval: u64,
    ) -> Result<Self, StorageError> {
        let log_path = segment_path(dir, base_offset, "log");
        let file = OpenOptions::new().read(true).write(true).open(&log_path)?;
        let seg = Self::recover(dir, base_offset, log_path, file, index_interval)?;
        seg.index.sync()?;
        seg.time_index.sync()?;
        Ok(seg)
    }

    /// Full validation: keep the longest valid prefix, truncate the rest, rebuild indexes.
    fn recover(
        dir: &Path,
        base_offset: i64,
        log_path: PathBuf,
        file: File,
        index_interval: u64,
    ) -> Result<Self, StorageError> {
        let file_len = file.metadata()?.len();
        let created_ms = mtime_ms(&file);
        let mut seg = Self {
            base_offset,
            log_path,
            file: Some(Arc::new(file.try_clone()?)),
            size: 0,
            next_offset: base_offset,
            index: OffsetIndex::create(&segment_path(dir, base_offset, "index"), Vec::new())?,
            time_index: TimeIndex::create(
                &segment_path(dir, base_offset, "timeindex"),
                Vec::new(),
            )?,
            bytes_since_index: 0,
            max_timestamp: None,
            created_ms,
            dirty: false,
            generation: next_generation(),
        };
        let end = scan_batches(&file, 0, file_len, base_offset, |pos, meta| {
            seg.track(meta, pos, index_interval);
        })?;
        seg.size = end.valid_end;
        if let Some(problem) = end.problem {
            tracing::warn!(
                path = %seg.log_path.display(),
                valid_bytes = end.valid_end,
                file_bytes = file_len,
                %problem,
                "truncating torn or corrupt segment tail"
            );
            file.set_len(end.valid_end)?;
            file.sync_all()?;
        }
        seg.index.write_pending()?;
        seg.time_index.write_pending()?;
        (&file).seek(SeekFrom::Start(seg.size))?;
        Ok(seg)
    }

    /// Updates per-batch bookkeeping for a batch now stored at `pos`; adds index entries
    /// once more than `index_interval` bytes were appended since the last one.
    fn track(&mut self, meta: &BatchMeta, pos: u64, index_interval: u64) {
        if !matches!(self.max_timestamp, Some((ts, _)) if meta.max_timestamp <= ts) {
            self.max_timestamp = Some((meta.max_timestamp, meta.base_offset));
        }
        if self.bytes_since_index > index_interval {
            let rel = u32::try_from(meta.base_offset - self.base_offset);
            if let (Ok(rel), Ok(pos)) = (rel, u32::try_from(pos)) {
                self.index.push(OffsetEntry { rel, pos });
                if let Some((ts, off)) = self.max_timestamp {
                    let newer = !matches!(self.time_index.last(), Some(e) if ts <= e.ts);
                    if let (true, Ok(rel)) = (newer, u32::try_from(off - self.base_offset)) {
                        self.time_index.push(TimeEntry { ts, rel });
                    }
                }
                self.bytes_since_index = 0;
            }
        }
        self.bytes_since_index += meta.len;
        self.next_offset = meta.last_offset.saturating_add(1);
        self.size = pos + meta.len;
    }

    /// Appends already validated batches: `parts` are the byte slices to write in order and
    /// `metas` describe the batches they form. All-or-nothing: on a write error the file is
    /// cut back to its previous size.
    pub(crate) fn append(
        &mut self,
        parts: &[&[u8]],
        metas: &[BatchMeta],
        index_interval: u64,
    ) -> Result<(), StorageError> {
        self.create_files()?;
        let file = self.file()?;
        let start = self.size;
        if let Err(e) = write_all_vectored(file, parts) {
            let _ = file.set_len(start);
            let _ = (&*file).seek(SeekFrom::Start(start));
            return Err(e.into());
        }
        let mut pos = start;
        for meta in metas {
            self.track(meta, pos, index_interval);
            pos += meta.len;
        }
        self.dirty = true;
        // The log write succeeded; an index write failure only costs a rebuild on open.
        if let Err(e) = self
            .index
            .write_pending()
            .and_then(|()| self.time_index.write_pending())
        {
            tracing::warn!(path = %self.log_path.display(), error = %e, "index write failed");
        }
        Ok(())
    }

    /// Reads `len` bytes at `pos`, failing if they lie beyond the valid data.
    pub(crate) fn read_exact_at(&self, pos: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        if !matches!(pos.checked_add(len), Some(end) if end <= self.size) {
            return Err(StorageError::Corrupt(format!(
                "read of {len} bytes at {pos} past end {} of {}",
                self.size,
                self.log_path.display()
            )));
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        let file = self.file()?;
        let len = usize::try_from(len).map_err(|_| {
            StorageError::Corrupt(format!("read of {len} bytes does not fit memory"))
        })?;
        // Fetches read up to megabytes here: into a reused buffer (see `read_buffer`), with
        // pread straight into its unused capacity rather than zero-filling memory the read
        // overwrites anyway.
        let mut buf = crate::read_buffer::take(len);
        while buf.len() < len {
            let at = pos + buf.len() as u64;
            let read = match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at) {
                Ok(read) => read,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(io::Error::from(e).into()),
            };
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} ends before {len} bytes at {pos}",
                        self.log_path.display()
                    ),
                )
                .into());
            }
        }
        buf.truncate(len);
        Ok(buf)
    }

    /// Header facts of the batch stored at `pos`.
    fn header_at(&self, pos: u64) -> Result<BatchMeta, StorageError> {
        let buf = self.read_exact_at(pos, BATCH_HEADER_LEN as u64)?;
        BatchMeta::decode(&buf).ok_or_else(|| {
            StorageError::Corrupt(format!(
                "bad batch header at {pos} in {}",
                self.log_path.display()
            ))
        })
    }

    /// Position of the first batch whose last offset is >= `offset`, `None` if there is none.
    pub(crate) fn find_position(&self, offset: i64) -> Result<Option<u64>, StorageError> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let rel = u32::try_from(offset.saturating_sub(self.base_offset).max(0)).unwrap_or(u32::MAX);
        let mut pos = u64::from(self.index.lookup(rel));
        // Walk headers from the indexed position, reading a chunk at a time rather than one
        // small pread per batch.
        let mut buf = vec![0u8; SCAN_CHUNK];
        while pos < self.size {
            let n = (self.size - pos).min(SCAN_CHUNK as u64) as usize;
            let chunk = buf.get_mut(..n).unwrap_or(&mut []);
            self.file()?.read_exact_at(chunk, pos)?;
            let mut off = 0usize;
            while let Some(header) = chunk.get(off..off + BATCH_HEADER_LEN) {
                let h = BatchMeta::decode(header).ok_or_else(|| {
                    StorageError::Corrupt(format!(
                        "bad batch header at {} in {}",
                        pos + off as u64,
                        self.log_path.display()
                    ))
                })?;
                if h.last_offset >= offset {
                    return Ok(Some(pos + off as u64));
                }
                off += h.len as usize;
            }
            if off == 0 {
                return Err(StorageError::Corrupt(format!(
                    "truncated batch header at {pos} in {}",
                    self.log_path.display()
                )));
            }
            pos += off as u64;
        }
        Ok(None)
    }

    /// Whole batches from `pos`: as many as fit in `max_bytes`, none with base offset >=
    /// `upper_bound`; with `min_one` the first batch is returned even if it is too big.
    pub(crate) fn read_batches(
        &self,
        pos: u64,
        max_bytes: usize,
        upper_bound: i64,
        min_one: bool,
    ) -> Result<Vec<u8>, StorageError> {
        let available = self.size.saturating_sub(pos);
        let want = available.min(max_bytes as u64);
        let mut buf = self.read_exact_at(pos, want)?;
        let mut end = 0;
        for batch in BatchIter::new(&buf) {
            match batch {
                Ok(b) if b.base_offset() < upper_bound => end += b.total_len(),
                _ => break,
            }
        }
        if end == 0 && min_one && pos < self.size {
            let h = self.header_at(pos)?;
            if h.base_offset < upper_bound {
                return self.read_exact_at(pos, h.len);
            }
        }
        buf.truncate(end);
        Ok(buf)
    }

    /// Where the batches [`Segment::read_batches`] would return end, and the header of the
    /// last of them, found by walking the batch headers only (so the batches can be sent
    /// from the file, see [`Segment::file_region`]). `None` when that walk would take more
    /// than [`HEADER_WALK_READS`] reads.
    pub(crate) fn batches_end(
        &self,
        pos: u64,
        max_bytes: usize,
        upper_bound: i64,
        min_one: bool,
    ) -> Result<Option<(u64, Option<BatchMeta>)>, StorageError> {
        let limit = self.size.min(pos.saturating_add(max_bytes as u64));
        let mut chunk = [0u8; HEADER_CHUNK];
        // File range held in `chunk`.
        let (mut chunk_at, mut chunk_len) = (0u64, 0usize);
        let mut reads = 0;
        let (mut end, mut last) = (pos, None);
        while end + BATCH_HEADER_LEN as u64 <= self.size {
            if end < chunk_at || end + BATCH_HEADER_LEN as u64 > chunk_at + chunk_len as u64 {
                if reads == HEADER_WALK_READS {
                    return Ok(None);
                }
                chunk_len = (self.size - end).min(HEADER_CHUNK as u64) as usize;
                self.file()?.read_exact_at(&mut chunk[..chunk_len], end)?;
                (chunk_at, reads) = (end, reads + 1);
            }
            let at = (end - chunk_at) as usize;
            let Some(h) = chunk
                .get(at..at + BATCH_HEADER_LEN)
                .and_then(BatchMeta::decode)
            else {
                break;
            };
            // KIP-74: a first batch larger than the limit is returned whole.
            let fits = end + h.len <= limit || (end == pos && min_one);
            if h.base_offset >= upper_bound || !fits || end + h.len > self.size {
                break;
            }
            end += h.len;
            last = Some(h);
        }
        Ok(Some((end, last)))
    }

    /// `len` bytes of the file from `pos`, to be sent without reading them into memory;
    /// `None` for a segment without a file.
    pub(crate) fn file_region(&self, pos: u64, len: u64) -> Option<FileRegion> {
        let file = Arc::clone(self.file.as_ref()?);
        Some(FileRegion { file, pos, len })
    }

    /// A reader over the segment's current bytes that needs no access to the log, so
    /// compaction can walk a closed segment without holding the partition's lock.
    pub(crate) fn reader(&self) -> io::Result<SegmentReader> {
        Ok(SegmentReader {
            file: self.file()?.try_clone()?,
            size: self.size,
            path: self.log_path.clone(),
            identity: self.identity(),
            modified: self.file()?.metadata()?.modified()?,
        })
    }

    /// `(generation, size)`: changes when the segment is replaced, reopened or written to, so
    /// a compaction prepared earlier can tell its snapshot is stale.
    pub(crate) fn identity(&self) -> (u64, u64) {
        (self.generation, self.size)
    }

    /// Path of the `.log` file.
    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Paths of the offset and time index files.
    pub(crate) fn index_paths(&self) -> [&Path; 2] {
        [self.index.path(), self.time_index.path()]
    }

    /// Reads and parses-checks the whole batch at `pos` (not the hot path).
    fn batch_at(&self, pos: u64) -> Result<(BatchMeta, Vec<u8>), StorageError> {
        let h = self.header_at(pos)?;
        let bytes = self.read_exact_at(pos, h.len)?;
        RecordBatchView::parse(&bytes)?;
        Ok((h, bytes))
    }

    /// First record at or after `min_offset` with timestamp >= `ts`, as (offset, timestamp).
    /// Compressed batches answer with their base offset and max timestamp.
    pub(crate) fn find_by_timestamp(
        &self,
        ts: i64,
        min_offset: i64,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        let rel_ts = self.time_index.lookup_before(ts);
        let rel_min =
            u32::try_from(min_offset.saturating_sub(self.base_offset).max(0)).unwrap_or(u32::MAX);
        let mut pos = u64::from(self.index.lookup(rel_ts.max(rel_min)));
        while pos < self.size {
            let h = self.header_at(pos)?;
            if h.last_offset >= min_offset && h.max_timestamp >= ts {
                let (_, bytes) = self.batch_at(pos)?;
                let view = RecordBatchView::parse(&bytes)?;
                if view.compression() != Compression::None {
                    return Ok(Some((view.base_offset().max(min_offset), h.max_timestamp)));
                }
                let hit = record_timestamps(&view)?
                    .into_iter()
                    .find(|&(o, t)| o >= min_offset && t >= ts);
                if hit.is_some() {
                    return Ok(hit);
                }
            }
            pos += h.len;
        }
        Ok(None)
    }

    /// (timestamp, offset) of the record with the largest timestamp (first one on ties);
    /// compressed batches answer with their last offset.
    pub(crate) fn max_timestamp_record(&self) -> Result<Option<(i64, i64)>, StorageError> {
        let Some((max_ts, batch_base)) = self.max_timestamp else {
            return Ok(None);
        };
        let Some(pos) = self.find_position(batch_base)? else {
            return Ok(None);
        };
        let (h, bytes) = self.batch_at(pos)?;
        let view = RecordBatchView::parse(&bytes)?;
        if view.compression() == Compression::None {
            if let Some((o, t)) = record_timestamps(&view)?
                .into_iter()
                .find(|&(_, t)| t == max_ts)
            {
                return Ok(Some((t, o)));
            }
        }
        Ok(Some((max_ts, h.last_offset)))
    }

    /// fsyncs the log and its indexes if anything was written since the last sync.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.file()?.sync_data()?;
            self.index.sync()?;
            self.time_index.sync()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Deletes the segment's files.
    pub(crate) fn remove_files(self) -> io::Result<()> {
        for path in [
            self.log_path.as_path(),
            self.index.path(),
            self.time_index.path(),
        ] {
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// First offset this segment may hold.
    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Bytes of valid batches.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Last offset + 1 (base offset when empty).
    pub(crate) fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Largest timestamp in the segment, if it holds any batch.
    pub(crate) fn max_timestamp(&self) -> Option<i64> {
        self.max_timestamp.map(|(ts, _)| ts)
    }

    /// Creation time in wall-clock ms (file mtime for segments found on disk).
    pub(crate) fn created_ms(&self) -> i64 {
        self.created_ms
    }

    /// Timestamp retention compares against: the largest record timestamp, or the file's
    /// modification time when records carry none (as Kafka does).
    pub(crate) fn retention_timestamp(&self) -> i64 {
        match self.max_timestamp() {
            Some(ts) if ts >= 0 => ts,
            _ => self.file.as_deref().map_or(self.created_ms, mtime_ms),
        }
    }
}

/// A read-only handle on a closed segment's bytes (a duplicated file descriptor and the valid
/// size), detached from the log.
pub(crate) struct SegmentReader {
    file: File,
    size: u64,
    path: PathBuf,
    /// `Segment::identity` when the reader was taken.
    pub(crate) identity: (u64, u64),
    /// mtime of the `.log` file when the reader was taken.
    pub(crate) modified: std::time::SystemTime,
}

impl SegmentReader {
    /// Bytes of valid batches.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, pos: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        if !matches!(pos.checked_add(len), Some(end) if end <= self.size) {
            return Err(StorageError::Corrupt(format!(
                "read of {len} bytes at {pos} past end {} of {}",
                self.size,
                self.path.display()
            )));
        }
        let mut buf = vec![0u8; len as usize];
        self.file.read_exact_at(&mut buf, pos)?;
        Ok(buf)
    }

    /// Calls `f` with every batch in order (not the hot path: compaction). Reads about 1 MiB
    /// at a time; a batch larger than that is read on its own. A batch that does not parse is
    /// corruption (the segment was validated when it was opened).
    pub(crate) fn for_each_batch(
        &self,
        mut f: impl FnMut(RecordBatchView<'_>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut pos = 0u64;
        while pos < self.size {
            let want = (self.size - pos).min(WALK_CHUNK as u64);
            let buf = self.read_exact_at(pos, want)?;
            let mut used = 0usize;
            for batch in BatchIter::new(&buf) {
                match batch {
                    Ok(view) => {
                        used += view.total_len();
                        f(view)?;
                    }
                    Err(BatchError::Incomplete { .. }) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            if used == 0 {
                let header = self.read_exact_at(pos, BATCH_HEADER_LEN as u64)?;
                let meta = BatchMeta::decode(&header).ok_or_else(|| {
                    StorageError::Corrupt(format!(
                        "bad batch header at {pos} in {}",
                        self.path.display()
                    ))
                })?;
                let bytes = self.read_exact_at(pos, meta.len)?;
                let view = RecordBatchView::parse(&bytes)?;
                used = view.total_len();
                f(view)?;
            }
            pos += used as u64;
        }
        Ok(())
    }
}

/// `write_all` over several slices with as few syscalls as possible (at most 1024 slices per
/// `writev`, Linux's IOV_MAX), handling short writes.
fn write_all_vectored(mut out: &File, parts: &[&[u8]]) -> io::Result<()> {
    let mut idx = 0;
    let mut off = 0;
    while idx < parts.len() {
        let mut slices = Vec::with_capacity((parts.len() - idx).min(1024));
        for (i, part) in parts.iter().enumerate().skip(idx).take(1024) {
            let part = if i == idx {
                part.get(off..).unwrap_or(&[])
            } else {
                part
            };
            slices.push(IoSlice::new(part));
        }
        let mut n = match out.write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while let Some(part) = parts.get(idx) {
            let rem = part.len() - off;
            if n < rem {
                off += n;
                break;
            }
            n -= rem;
            idx += 1;
            off = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_protocol::record_batch::build_test_batch;

    fn meta_of(bytes: &[u8]) -> BatchMeta {
        BatchMeta::of(&RecordBatchView::parse(bytes).unwrap())
    }

    fn batches(n: i64) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                build_test_batch(
                    i * 2,
                    &[(None, Some(b"abcdef"), i * 10), (None, None, i * 10 + 1)],
                )
            })
            .collect()
    }

    #[test]
    fn names() {
        let p = segment_path(Path::new("/d"), 42, "log");
        assert_eq!(p, Path::new("/d/00000000000000000042.log"));
        assert_eq!(parse_log_name("00000000000000000042.log"), Some(42));
        assert_eq!(parse_log_name("42.log"), None);
        assert_eq!(parse_log_name("00000000000000000042.index"), None);
    }

    #[test]
    fn append_find_read_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, 0).unwrap();
        let bs = batches(20);
        for b in &bs {
            seg.append(&[&b[..]], &[meta_of(b)], 100).unwrap();
        }
        assert_eq!(seg.next_offset(), 40);
        assert!(seg.index.entries().len() > 3);
        let len = bs[0].len() as u64;
        for off in 0..40 {
            let pos = seg.find_position(off).unwrap().unwrap();
            assert_eq!(pos, (off as u64 / 2) * len);
        }
        assert_eq!(seg.find_position(40).unwrap(), None);
        // Exactly two batches fit; upper bound cuts at base offset.
        let r = seg
            .read_batches(0, 2 * len as usize + 5, i64::MAX, false)
            .unwrap();
        assert_eq!(r.len() as u64, 2 * len);
        let r = seg.read_batches(0, usize::MAX, 4, false).unwrap();
        assert_eq!(r.len() as u64, 2 * len);
        let r = seg.read_batches(0, 1, i64::MAX, true).unwrap();
        assert_eq!(r.len() as u64, len);
        assert!(seg.read_batches(0, 1, i64::MAX, false).unwrap().is_empty());
        assert_eq!(seg.find_by_timestamp(55, 0).unwrap(), Some((12, 60)));
        assert_eq!(seg.find_by_timestamp(61, 0).unwrap(), Some((13, 61)));
        assert_eq!(seg.find_by_timestamp(1_000, 0).unwrap(), None);
        assert_eq!(seg.max_timestamp_record().unwrap(), Some((191, 39)));
        let entries = seg.index.entries().to_vec();
        drop(seg);

        let closed = Segment::open(dir.path(), 0, false, 100).unwrap();
        assert_eq!(closed.next_offset(), 40);
        assert_eq!(closed.max_timestamp(), Some(191));
        assert_eq!(closed.index.entries(), &entries[..]);
        let active = Segment::open(dir.path(), 0, true, 100).unwrap();
        assert_eq!(active.index.entries(), &entries[..]);
        assert_eq!(active.size(), 20 * len);
    }

    #[test]
    fn header_walk_crosses_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, 0).unwrap();
        let big = vec![7u8; SCAN_CHUNK + 100];
        let mut expected = Vec::new();
        for i in 0..400 {
            let value: &[u8] = if i % 97 == 5 {
                &big
            } else {
                b"0123456789abcdefghij"
            };
            let mut b = build_test_batch(0, &[(None, Some(value), i)]);
            weir_protocol::record_batch::set_base_offset(&mut b, i);
            expected.push(seg.size());
            // No index entries at all: every lookup walks from position 0.
            seg.append(&[&b[..]], &[meta_of(&b)], u64::MAX).unwrap();
        }
        assert!(seg.index.entries().is_empty());
        for (off, pos) in expected.iter().enumerate() {
            assert_eq!(seg.find_position(off as i64).unwrap(), Some(*pos));
        }
    }

    #[test]
    fn closed_segment_with_bad_index_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, 0).unwrap();
        for b in batches(10) {
            seg.append(&[&b[..]], &[meta_of(&b)], 50).unwrap();
        }
        let entries = seg.index.entries().to_vec();
        drop(seg);
        fs::write(segment_path(dir.path(), 0, "index"), [1u8; 16]).unwrap();
        let s = Segment::open(dir.path(), 0, false, 50).unwrap();
        assert_eq!(s.index.entries(), &entries[..]);
        assert_eq!(s.next_offset(), 20);
        fs::remove_file(segment_path(dir.path(), 0, "timeindex")).unwrap();
        let s = Segment::open(dir.path(), 0, false, 50).unwrap();
        assert_eq!(s.max_timestamp(), Some(91));
    }

    #[test]
    fn vectored_write_of_many_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .unwrap();
        let data: Vec<Vec<u8>> = (0..3000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let mut parts: Vec<&[u8]> = data.iter().map(|d| &d[..]).collect();
        parts.insert(5, &[]);
        write_all_vectored(&f, &parts).unwrap();
        let written = fs::read(&path).unwrap();
        assert_eq!(written, data.concat());
    }
}
