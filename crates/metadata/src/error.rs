//! Error types: [`MetadataError`] for failures of the quorum itself, [`ApplyError`] for
//! commands the state machine rejected.

use serde::{Deserialize, Serialize};

/// Why an operation on the metadata quorum failed (I/O, raft, shutdown, a damaged directory).
///
/// A command that was committed but *rejected* by the state machine is not a `MetadataError`;
/// it is reported as [`ApplyError`] inside `Ok`.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Reading or writing the metadata directory failed.
    #[error("metadata i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// openraft reported an error that is neither a shutdown nor a leadership change.
    #[error("raft error: {0}")]
    Raft(String),
    /// The quorum member has been shut down (or stopped after a fatal storage error).
    #[error("metadata quorum is shut down")]
    Shutdown,
    /// This node is not the leader; the command must go to `leader` (if known).
    #[error("not the metadata leader (leader: {leader:?})")]
    NotLeader {
        /// The Kafka node id of the current leader, when known.
        leader: Option<i32>,
    },
    /// A file in the metadata directory is damaged beyond a torn tail, or inconsistent.
    #[error("metadata directory is corrupt: {0}")]
    Corrupt(String),
    /// The configuration cannot be used (e.g. a negative node id).
    #[error("invalid metadata configuration: {0}")]
    InvalidConfig(String),
    /// `open` did not see this node become leader and catch up in time.
    #[error("timed out waiting for the metadata quorum: {0}")]
    Timeout(String),
}

/// Outcome of a command that the state machine rejected deterministically (not a raft failure).
///
/// Every replica rejects the same command the same way, so this is part of the replicated
/// result and is serialisable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApplyError {
    /// A topic with that name (or with the requested topic id) already exists.
    #[error("topic already exists: {0}")]
    TopicAlreadyExists(String),
    /// No topic with that name exists.
    #[error("unknown topic: {0}")]
    UnknownTopic(String),
    /// The partition change is not allowed (no partitions, empty replica list, ...).
    #[error("invalid partitions: {0}")]
    InvalidPartitions(String),
    /// The config change is not allowed (empty key, cluster id already fixed, ...).
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// A producer-id block request named a first id that is no longer the next free one.
    #[error("producer id block starting at {0} is already taken")]
    StaleProducerIdBlock(i64),
    /// An ACL was malformed (see `AclBinding::validate`).
    #[error("invalid ACL: {0}")]
    InvalidAcl(String),
    /// A SCRAM credential deletion named a (user, mechanism) that has no credential.
    #[error("no {} credential for user {user}", mechanism.name())]
    ScramCredentialNotFound {
        /// User name.
        user: String,
        /// The SCRAM mechanism.
        mechanism: crate::ScramMechanism,
    },
}
