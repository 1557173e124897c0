//! The group coordinator and committed offsets of Weir: Kafka's classic consumer-group protocol
//! (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, static membership, session expiry), the KIP-848
//! consumer protocol (ConsumerGroupHeartbeat, server-side assignment) and the
//! offset store (OffsetCommit, OffsetFetch, OffsetDelete), kept as records of the internal
//! compacted topic `__consumer_offsets` and recovered by replaying it.
//!
//! Layout, from the wire inwards:
//! - [`coordinator`] — [`GroupCoordinator`]: one shard per `__consumer_offsets` partition behind
//!   its own lock, waiting JoinGroup/SyncGroup requests, the session timer, the append edge.
//! - [`shard`] — the groups of one partition and their offsets (pure).
//! - [`group`] — one group's classic state machine (pure).
//! - [`consumer`] — one consumer group of the KIP-848 protocol (pure).
//! - [`records`] — the `__consumer_offsets` key/value formats (Kafka's bytes) and batches.
//! - [`types`] — version-independent requests and answers that handlers translate.
//!
//! ```
//! use weir_group::coordinator::partition_for;
//! // Kafka places a group on abs(hashCode) % partitions of __consumer_offsets.
//! assert_eq!(partition_for("my-group", 50), 12);
//! ```

#![warn(missing_docs)]

pub mod consumer;
pub mod coordinator;
pub mod group;
pub mod records;
pub mod shard;
pub mod subscription;
pub mod types;

pub use coordinator::{AppendError, GroupCoordinator, OffsetsLog};
pub use types::GroupConfig;

/// The internal topic holding group metadata and committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
