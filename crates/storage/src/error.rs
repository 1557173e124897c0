//! The storage error type: one enum so the broker can map every failure to a Kafka error code.

use weir_protocol::record_batch::BatchError;

/// Everything that can go wrong in the partition log.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file system failed (disk full, permissions, I/O error).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A produced batch failed validation (maps to CORRUPT_MESSAGE / INVALID_RECORD).
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// A read or DeleteRecords asked for an offset outside `[log_start, log_end]`.
    #[error("offset {requested} out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: i64,
        /// Current log start offset.
        log_start: i64,
        /// Current log end offset.
        log_end: i64,
    },
    /// On-disk state that recovery cannot repair (bad checkpoint file, broken invariant).
    #[error("corrupt log: {0}")]
    Corrupt(String),
    /// One append is larger than a segment can address (4 GiB of bytes or 2^31 offsets).
    #[error("append too large: {0}")]
    AppendTooLarge(&'static str),
}
