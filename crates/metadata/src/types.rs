//! openraft type configuration and conversions between Kafka node ids and raft node ids.

use std::io::Cursor;

use openraft::{BasicNode, TokioRuntime};

use crate::{ApplyError, MetadataCommand, MetadataError};

openraft::declare_raft_types!(
    /// Binds openraft's generic types to Weir's metadata commands and results.
    pub(crate) TypeConfig:
        D = MetadataCommand,
        R = Result<(), ApplyError>,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = TokioRuntime,
);

/// Raft node id (openraft needs an unsigned id; Kafka node ids are non-negative `i32`s).
pub(crate) type NodeId = u64;
/// A raft log entry.
pub(crate) type Entry = openraft::Entry<TypeConfig>;
/// Position of an entry in the raft log.
pub(crate) type LogId = openraft::LogId<NodeId>;
/// Persisted vote (term + candidate).
pub(crate) type Vote = openraft::Vote<NodeId>;
/// Snapshot metadata (last included log id and membership).
pub(crate) type SnapshotMeta = openraft::SnapshotMeta<NodeId, BasicNode>;
/// Membership together with the log id that introduced it.
pub(crate) type StoredMembership = openraft::StoredMembership<NodeId, BasicNode>;
/// openraft's storage error.
pub(crate) type StorageError = openraft::StorageError<NodeId>;

/// Converts a Kafka node id into a raft node id; negative ids are not valid brokers.
pub(crate) fn raft_node_id(node_id: i32) -> Result<NodeId, MetadataError> {
    NodeId::try_from(node_id)
        .map_err(|_| MetadataError::InvalidConfig(format!("node id {node_id} is negative")))
}

/// Converts a raft node id back into a Kafka node id (always fits: we only create them from i32).
pub(crate) fn kafka_node_id(node_id: NodeId) -> Option<i32> {
    i32::try_from(node_id).ok()
}
