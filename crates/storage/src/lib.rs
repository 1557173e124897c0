//! Segmented append-only partition log: one [`PartitionLog`] per partition directory, with
//! segments, sparse indexes, crash recovery, retention, log compaction and a leader epoch
//! cache.
//!
//! # On-disk format
//!
//! A partition directory (`<topic>-<partition>`, chosen by the caller) holds:
//!
//! * `<base>.log` — a segment: Kafka RecordBatch v2 batches concatenated exactly as they travel
//!   on the wire, with base offset and partition leader epoch rewritten by the broker. `<base>`
//!   is the segment's first offset, zero-padded to 20 digits. The last segment is the *active*
//!   one; a new segment is rolled when the active one would exceed `segment.bytes`, is older
//!   than `segment.ms`, or would need relative offsets beyond `u32`.
//! * `<base>.index` — sparse offset index: 8-byte big-endian entries `(base offset of a batch -
//!   segment base: u32, file position of that batch: u32)`, one after every
//!   `index.interval.bytes` of appended batches.
//! * `<base>.timeindex` — sparse time index: 12-byte entries `(largest timestamp so far: i64,
//!   relative base offset of the batch that first reached it: u32)`, strictly increasing in
//!   timestamp, written alongside offset index entries.
//! * `leader-epoch-checkpoint` — Kafka's text format: `0`, the entry count, then one
//!   `<epoch> <start offset>` line per epoch.
//! * `log-start-offset` — `0` then the log start offset raised by DeleteRecords.
//!
//! Checkpoint files are replaced atomically (write `*.tmp`, fsync, rename, fsync directory);
//! stray `*.tmp` files are removed on open (including `<base>.log.cleaned-<n>.tmp`, a
//! compacted segment not yet swapped in).
//!
//! Files are created by the first write, not on open: a log opened over a missing (or
//! segment-less) directory is empty and touches no files until it appends (or raises its log
//! start offset); that write creates the directory, the caller's marker file
//! ([`PartitionLog::set_directory_marker`]) and the first segment's three files. An empty log
//! with no files reopens to the same empty log, so nothing is lost by not creating them
//! earlier, and a topic with 1,000 partitions is created without creating 5,000 inodes. Under
//! a durable flush policy that first write also fsyncs the marker, the new directory and its
//! parent before it is acknowledged.
//!
//! # Compaction
//!
//! [`PartitionLog::compact`] (or prepare / [`CompactionJob::run`] / finish, so the expensive
//! part runs without the partition's lock) keeps the latest record per key in the closed
//! segments below the high watermark, drops tombstones older than `delete.retention.ms`, and
//! preserves offsets: a compacted log has gaps, and reads starting in a gap get the next batch.
//! Batches are copied byte for byte unless they lose records; then they are rebuilt with the
//! same header (codec, lastOffsetDelta, producer fields) and a new CRC. A rewritten segment is
//! swapped in with the same write-tmp / fsync / rename discipline, its indexes deleted first
//! and rebuilt after, so a crash at any point reopens to the old or the new segment.
//!
//! # Recovery
//!
//! [`PartitionLog::open`] validates the active segment batch by batch (complete, magic 2,
//! CRC-32C, offsets increasing) and truncates the file at the first torn or corrupt batch,
//! logging a warning: a torn write is never served. Its indexes are rebuilt from the log.
//! Closed segments keep their indexes if they are well-formed (whole entries, strictly
//! increasing, inside the file); only the batches after the last index entry are validated,
//! and anything odd triggers the same full validation, truncation and rebuild. The log end
//! offset is the active segment's last offset + 1; the epoch cache drops epochs starting at
//! or beyond it, and the log start offset is the larger of the checkpoint and the first
//! segment's base offset.
//!
//! # Flush policy
//!
//! * [`FlushPolicy::OsCache`] (default, as Kafka): appends are `write()`s into the page cache.
//!   An acknowledged write survives the process being killed (`kill -9`, panic, OOM), but not
//!   power loss or a kernel crash; in a replicated cluster other replicas cover that.
//! * [`FlushPolicy::EveryAppend`]: `fdatasync` after every append, before it is acknowledged;
//!   acknowledged writes survive power loss, at the cost of one fsync per append.
//! * [`FlushPolicy::IntervalMs`]: fsync at most every N ms (on append and via
//!   [`PartitionLog::flush_if_due`]); power loss can lose at most the last N ms of acknowledged
//!   writes (plus what was appended since the last timer tick if no timer calls
//!   `flush_if_due`).
//!
//! Under every policy, a rolled segment is fsynced before the next one is created unless the
//! policy is `OsCache`.
//!
//! # Hot path
//!
//! An append validates each batch from its 61-byte header and CRC and writes a fresh 16-byte
//! prefix (base offset, length, leader epoch) followed by the client's bytes with one
//! `writev`; no per-record work. Reads use positional reads and need only `&self`.

mod checkpoint;
mod compaction;
mod config;
mod epoch_cache;
mod error;
mod header;
mod index;
mod index_file;
mod log;
mod read_buffer;
mod scan;
mod segment;
mod time_index;

pub use compaction::{AbortedRange, CompactionJob, CompactionStats};
pub use config::{FlushPolicy, LogConfig};
pub use error::StorageError;
pub use log::{
    AppendInfo, FetchRead, FetchRecords, PartitionLog, ReadResult, FILE_REGION_MIN_BYTES,
};
