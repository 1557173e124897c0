//! openraft's [`RaftStateMachine`]: applies committed entries to [`ClusterState`] and publishes
//! every new state; snapshots it to `raft.snapshot`.
//!
//! The state itself is not persisted on apply: it is rebuilt on open from the snapshot plus the
//! log entries after it (openraft re-applies them), so the snapshot is the only durable copy.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend, StorageIOError};
use tokio::sync::watch;

use crate::fsutil::blocking;
use crate::snapshot::{SnapshotFile, StoredSnapshot};
use crate::types::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use crate::{ApplyError, ClusterState, MetadataError};

/// Sends each newly applied state to `MetadataStore::state()` / `subscribe()` readers.
pub(crate) type Publisher = Arc<watch::Sender<Arc<ClusterState>>>;

/// The raft state machine: applied state, last applied log id, membership, snapshot file.
pub(crate) struct StateMachine {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    state: Arc<ClusterState>,
    publisher: Publisher,
    snapshots: SnapshotFile,
    snapshot_seq: u64,
}

impl StateMachine {
    /// Restores the state machine from the snapshot in `dir` (or starts empty).
    pub(crate) fn open(dir: &Path) -> Result<Self, MetadataError> {
        let (snapshots, current) = SnapshotFile::open(dir)?;
        let (last_applied, membership, state) = match current {
            None => (None, StoredMembership::default(), ClusterState::default()),
            Some(snap) => {
                let state = serde_json::from_slice(&snap.data).map_err(|e| {
                    MetadataError::Corrupt(format!("snapshot state does not decode: {e}"))
                })?;
                (snap.meta.last_log_id, snap.meta.last_membership, state)
            }
        };
        let state = Arc::new(state);
        let (publisher, _) = watch::channel(state.clone());
        Ok(Self {
            last_applied,
            membership,
            state,
            publisher: Arc::new(publisher),
            snapshots,
            snapshot_seq: 0,
        })
    }

    /// The last log id the restored state includes.
    pub(crate) fn last_applied(&self) -> Option<LogId> {
        self.last_applied
    }

    /// The channel every applied state is published on.
    pub(crate) fn publisher(&self) -> Publisher {
        self.publisher.clone()
    }

    fn publish(&mut self, state: ClusterState) {
        self.state = Arc::new(state);
        self.publisher.send_replace(self.state.clone());
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Result<(), ApplyError>>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        // Copy-on-write once per batch: readers keep the previous Arc untouched.
        let mut next: Option<ClusterState> = None;
        let mut results = Vec::new();
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            let result = match entry.payload {
                EntryPayload::Blank => Ok(()),
                EntryPayload::Normal(cmd) => {
                    let state = next.get_or_insert_with(|| (*self.state).clone());
                    let result = state.apply(&cmd);
                    if let Err(e) = &result {
                        tracing::debug!(log_id = %entry.log_id, error = %e, "metadata command rejected");
                    }
                    result
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m);
                    Ok(())
                }
            };
            results.push(result);
        }
        if let Some(state) = next {
            self.publish(state);
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshot_seq += 1;
        let snapshot_id = match self.last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, self.snapshot_seq),
            None => format!("empty-{}", self.snapshot_seq),
        };
        SnapshotBuilder {
            state: self.state.clone(),
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.membership.clone(),
                snapshot_id,
            },
            snapshots: self.snapshots.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let state: ClusterState = serde_json::from_slice(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        let files = self.snapshots.clone();
        blocking(move || files.save(&stored))
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.publish(state);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let files = self.snapshots.clone();
        let current = blocking(move || files.load())
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(current.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

/// Serializes a point-in-time copy of the state; runs concurrently with later applies.
pub(crate) struct SnapshotBuilder {
    state: Arc<ClusterState>,
    meta: SnapshotMeta,
    snapshots: SnapshotFile,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let data = serde_json::to_vec(&*self.state)
            .map_err(|e| StorageIOError::write_snapshot(Some(self.meta.signature()), &e))?;
        let stored = StoredSnapshot {
            meta: self.meta.clone(),
            data,
        };
        let files = self.snapshots.clone();
        // Durable before openraft learns of it (and may purge the log up to it).
        let stored = blocking(move || files.save(&stored).map(|()| stored))
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(self.meta.signature()), &e))?;
        tracing::debug!(snapshot = %stored.meta, "metadata snapshot written");
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}
