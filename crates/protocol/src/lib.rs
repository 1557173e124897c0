//! Kafka wire protocol pieces that Weir owns itself: framing, request/response header versions,
//! the supported-API table advertised by ApiVersions, a zero-copy view of RecordBatch v2
//! headers, and (off the hot path, for log compaction) record-level access with decompression.
//! This crate does no I/O: it turns bytes into values and back, and keeps "incomplete, read
//! more" apart from "malformed, close the connection".
//!
//! Message bodies themselves are (de)serialised by the `kafka-protocol` crate, re-exported here
//! so every Weir crate uses the same version of it.

pub mod api;
pub mod control;
pub mod file_region;
pub mod frame;
pub mod record_batch;
pub mod records;
pub mod request;
pub mod response;
pub mod response_buf;

pub use kafka_protocol;

/// Kafka's placement of a coordinator key (a group id or a transactional id) on a partition of
/// its internal topic: `Utils.abs(key.hashCode()) % partitions`, with Java's `String.hashCode`
/// over UTF-16 units (`Utils.abs` maps `i32::MIN` to 0). Matching it keeps a group or a
/// transactional id on the partition a Kafka cluster would use.
pub fn partition_for_key(key: &str, partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in key.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}
