//! Per-partition log settings, named after Kafka's topic configs and with Kafka's defaults.

/// Settings of one partition log (`segment.bytes`, `segment.ms`, `retention.ms`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment before it would exceed this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll a non-empty active segment older than this.
    pub segment_ms: i64,
    /// `retention.ms`: delete closed segments whose newest timestamp is older; -1 = forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest closed segments while the log is larger; -1 = no limit.
    pub retention_bytes: i64,
    /// `index.interval.bytes`: bytes of batches between two sparse index entries.
    pub index_interval_bytes: u64,
    /// When appended data is fsynced.
    pub flush: FlushPolicy,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: 7 * DAY_MS,
            retention_ms: 7 * DAY_MS,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            flush: FlushPolicy::OsCache,
        }
    }
}

/// Durability of an acknowledged append; see the crate docs for the exact guarantee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushPolicy {
    /// write() only: survives kill -9 (page cache), not power loss.
    OsCache,
    /// fsync after every append.
    EveryAppend,
    /// fsync when at least this many ms passed since the last fsync (checked on append and by
    /// `flush_if_due`).
    IntervalMs(u64),
}
