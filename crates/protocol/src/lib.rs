//! Kafka wire protocol pieces that Weir owns itself: framing, request/response header versions,
//! the supported-API table advertised by ApiVersions, a zero-copy view of RecordBatch v2
//! headers, and (off the hot path, for log compaction) record-level access with decompression.
//! This crate does no I/O: it turns bytes into values and back, and keeps "incomplete, read
//! more" apart from "malformed, close the connection".
//!
//! Message bodies themselves are (de)serialised by the `kafka-protocol` crate, re-exported here
//! so every Weir crate uses the same version of it.

pub mod api;
pub mod frame;
pub mod record_batch;
pub mod records;
pub mod request;
pub mod response;

pub use kafka_protocol;
