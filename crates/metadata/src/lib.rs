//! Cluster metadata state machine driven by openraft: Weir's "KRaft".
//!
//! # What the state machine holds
//! [`ClusterState`]: the cluster id, registered brokers, and topics (UUID, partitions with
//! leader / leader epoch / replicas / ISR, config overrides), plus an id→name index, the
//! access control lists (module [`acl`], with the authorization rule brokers apply) and SCRAM
//! credentials (module [`scram`]: salt, StoredKey, ServerKey, iterations). It changes
//! only through [`MetadataCommand`]s, applied by the pure [`ClusterState::apply`]; a rejected
//! command yields a deterministic [`ApplyError`] and leaves the state unchanged.
//!
//! # Quorum
//! [`MetadataStore::open`] starts an openraft member (0.9, v2 storage traits). Today it is a
//! one-voter quorum: on first start it calls `Raft::initialize` with just itself (which elects
//! it at once); on restart openraft restores a committed vote as leadership, and if the vote was
//! not committed `open` triggers an election at once instead of waiting for the first timer tick.
//! `open` returns when this node leads and has applied every entry (a rule that will change
//! with real peers).
//! The transport (module `network`) reports every peer unreachable, and is meant to
//! be replaced when metadata is replicated between brokers.
//!
//! # On-disk layout (all in `MetadataConfig::dir`)
//! Every file is a sequence of frames `[len: u32 LE][crc32c(payload): u32 LE][payload]`, with
//! JSON payloads. Commands are stored in serde's externally tagged form, so renaming a
//! [`MetadataCommand`] variant or field is an on-disk format change.
//! - `raft.log`: an optional `Purged(log_id)` record, then consecutive log entries. An append
//!   is written and `fdatasync`ed *before* openraft's flush callback runs, so an acknowledged
//!   entry is durable. Truncation (conflicting entries) shrinks the file and fsyncs it.
//! - `raft.vote`: the last vote, one frame.
//! - `raft.snapshot`: two frames, the `SnapshotMeta` and the serialized `ClusterState`.
//!   Taken every [`SNAPSHOT_EVERY`] entries; after it is durable openraft purges the log up to
//!   it, which rewrites `raft.log` as `Purged(snapshot last id)` + the entries after it.
//! - `raft.vote`, `raft.snapshot` and the purged `raft.log` are replaced atomically:
//!   write `<name>.tmp`, fsync, rename, fsync the directory. Leftover `*.tmp` files are ignored.
//!
//! # Recovery
//! On open, `raft.log` is scanned frame by frame; the first incomplete or checksum-failing
//! frame marks a torn tail (a write cut short by a crash or `kill -9`, never acknowledged),
//! which is cut off and logged. A frame with a valid checksum that does not decode, a gap in
//! entry indexes, or a damaged vote or snapshot file (they are never torn) is reported as
//! [`MetadataError::Corrupt`], as is a log purged beyond the snapshot. The state machine starts
//! from the snapshot and openraft re-applies the log after it; `open` returns once every entry
//! is applied.
//!
//! # Example
//! ```
//! use weir_metadata::{MetadataCommand, MetadataConfig, MetadataStore};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! tokio::runtime::Runtime::new()?.block_on(async {
//!     let config = MetadataConfig { dir: tmp.path().join("metadata"), node_id: 1 };
//!     let store = MetadataStore::open(config).await?;
//!     let verdict = store
//!         .submit(MetadataCommand::CreateTopic {
//!             name: "orders".into(),
//!             topic_id: uuid::Uuid::new_v4(),
//!             replicas: vec![vec![1]; 3],
//!             configs: Default::default(),
//!         })
//!         .await?;
//!     assert!(verdict.is_ok());
//!     assert_eq!(store.state().topic("orders").unwrap().partitions.len(), 3);
//!     assert_eq!(store.controller_id(), Some(1));
//!     store.shutdown().await?;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! # }
//! ```

pub mod acl;
mod cluster_id;
mod command;
mod error;
mod frame;
mod fsutil;
mod log_store;
mod network;
pub mod scram;
mod snapshot;
mod state;
mod state_machine;
mod store;
mod types;

pub use acl::{AclBinding, AclFilter, AclOperation, PatternType, PermissionType, ResourceType};
pub use command::MetadataCommand;
pub use error::{ApplyError, MetadataError};
pub use scram::{ScramCredential, ScramMechanism, MAX_SCRAM_ITERATIONS};
pub use state::{BrokerInfo, ClusterState, PartitionInfo, TopicInfo};
pub use store::{MetadataConfig, MetadataStore, SNAPSHOT_EVERY};
