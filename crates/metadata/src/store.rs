//! [`MetadataStore`]: the broker's handle to the running quorum member.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, Fatal, RaftError};
use openraft::metrics::{RaftMetrics, WaitError};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use tokio::sync::watch;

use crate::log_store::LogStore;
use crate::network::NoPeers;
use crate::state_machine::{Publisher, StateMachine};
use crate::types::{kafka_node_id, raft_node_id, NodeId, TypeConfig};
use crate::{cluster_id, ApplyError, ClusterState, MetadataCommand, MetadataError};

/// Where the quorum member keeps its files and who it is.
#[derive(Clone, Debug)]
pub struct MetadataConfig {
    /// Directory for `raft.log`, `raft.vote` and `raft.snapshot` (created if missing).
    pub dir: PathBuf,
    /// This broker's Kafka node id (>= 0); also its raft node id.
    pub node_id: i32,
}

/// Snapshot the state machine after this many applied entries, then purge the log up to it.
pub const SNAPSHOT_EVERY: u64 = 1000;

/// How long `open` waits for this node to lead and catch up before giving up.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Handle to the running quorum member. Clone-able (Arc inside).
#[derive(Clone)]
pub struct MetadataStore {
    inner: Arc<Inner>,
}

struct Inner {
    raft: Raft<TypeConfig>,
    raft_id: NodeId,
    publisher: Publisher,
    metrics: watch::Receiver<RaftMetrics<NodeId, BasicNode>>,
}

/// openraft settings: short timers so a lone voter that did not restore leadership from its
/// persisted vote elects itself quickly; snapshot every [`SNAPSHOT_EVERY`] entries and keep no
/// log before the snapshot.
fn raft_config() -> Result<Config, MetadataError> {
    Config {
        cluster_name: "weir-metadata".into(),
        heartbeat_interval: 100,
        election_timeout_min: 300,
        election_timeout_max: 600,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY),
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Config::default()
    }
    .validate()
    .map_err(|e| MetadataError::InvalidConfig(e.to_string()))
}

fn from_fatal(e: Fatal<NodeId>) -> MetadataError {
    match e {
        Fatal::Stopped => MetadataError::Shutdown,
        other => MetadataError::Raft(other.to_string()),
    }
}

fn from_raft_error<E: std::error::Error>(e: RaftError<NodeId, E>) -> MetadataError {
    match e {
        RaftError::Fatal(f) => from_fatal(f),
        RaftError::APIError(api) => MetadataError::Raft(api.to_string()),
    }
}

impl MetadataStore {
    /// Opens (or bootstraps) the quorum in `config.dir`, and returns once this node is leader and
    /// has applied every committed entry (so `state()` is complete). Bootstrap also submits
    /// `InitCluster` with a fresh 22-char id if the cluster id is not set yet.
    pub async fn open(config: MetadataConfig) -> Result<Self, MetadataError> {
        let raft_id = raft_node_id(config.node_id)?;
        let dir = config.dir.clone();
        let (log, sm) = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let (log, sm) = (LogStore::open(&dir)?, StateMachine::open(&dir)?);
            // Purged entries must be covered by the snapshot, or they are lost.
            let purged = log.last_purged()?;
            if purged.is_some() && purged > sm.last_applied() {
                return Err(MetadataError::Corrupt(format!(
                    "log is purged up to {purged:?} but the snapshot only reaches {:?}",
                    sm.last_applied()
                )));
            }
            Ok((log, sm))
        })
        .await
        .map_err(|e| MetadataError::Io(std::io::Error::other(e)))??;
        let publisher = sm.publisher();
        let raft = Raft::new(raft_id, Arc::new(raft_config()?), NoPeers, log, sm)
            .await
            .map_err(from_fatal)?;
        let store = Self {
            inner: Arc::new(Inner {
                metrics: raft.metrics(),
                raft,
                raft_id,
                publisher,
            }),
        };
        if let Err(e) = store.start().await {
            // Do not leave the raft task running behind a failed open.
            let _ = store.inner.raft.shutdown().await;
            return Err(e);
        }
        Ok(store)
    }

    /// Becomes leader (bootstrap or fast re-election), waits until everything is applied, and
    /// fixes the cluster id on first start.
    async fn start(&self) -> Result<(), MetadataError> {
        let raft = &self.inner.raft;
        let id = self.inner.raft_id;
        if !raft.is_initialized().await.map_err(from_fatal)? {
            let members = BTreeMap::from([(id, BasicNode::default())]);
            raft.initialize(members).await.map_err(from_raft_error)?;
        } else {
            // A lone voter that did not restore leadership from a committed vote would otherwise
            // sit out a full election timeout; an election it starts wins at once.
            let voters: Vec<NodeId> = raft
                .with_raft_state(|st| st.membership_state.effective().voter_ids().collect())
                .await
                .map_err(from_fatal)?;
            if voters == [id] {
                raft.trigger().elect().await.map_err(from_fatal)?;
            }
        }
        raft.wait(Some(OPEN_TIMEOUT))
            .metrics(
                |m| {
                    m.current_leader == Some(id)
                        && m.last_applied.map(|l| l.index) >= m.last_log_index
                },
                "leader with every entry applied",
            )
            .await
            .map_err(|e| match e {
                WaitError::Timeout(..) => MetadataError::Timeout(e.to_string()),
                WaitError::ShuttingDown => MetadataError::Shutdown,
            })?;
        if self.state().cluster_id.is_none() {
            let cluster_id = cluster_id::generate();
            tracing::info!(%cluster_id, "bootstrapped new metadata quorum");
            self.submit(MetadataCommand::InitCluster { cluster_id })
                .await?
                .map_err(|e| MetadataError::Raft(format!("InitCluster rejected: {e}")))?;
        }
        Ok(())
    }

    /// Current applied state: cheap (an Arc swapped on each apply). Never blocks on raft.
    pub fn state(&self) -> Arc<ClusterState> {
        self.inner.publisher.borrow().clone()
    }

    /// Watch that changes after each apply (the broker uses it to react to topic deletion etc.).
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterState>> {
        self.inner.publisher.subscribe()
    }

    /// Proposes a command through raft and waits until it is committed and applied; returns the
    /// state machine's verdict. When this returns, `state()` already reflects the command.
    pub async fn submit(
        &self,
        cmd: MetadataCommand,
    ) -> Result<Result<(), ApplyError>, MetadataError> {
        match self.inner.raft.client_write(cmd).await {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(MetadataError::NotLeader {
                    leader: f.leader_id.and_then(kafka_node_id),
                })
            }
            Err(e) => Err(from_raft_error(e)),
        }
    }

    /// The node id of the current raft leader (the Kafka "controller id").
    pub fn controller_id(&self) -> Option<i32> {
        self.inner
            .metrics
            .borrow()
            .current_leader
            .and_then(kafka_node_id)
    }

    /// Stops the raft task. Later `submit`s fail with [`MetadataError::Shutdown`]; `state()`
    /// keeps returning the last applied state.
    pub async fn shutdown(&self) -> Result<(), MetadataError> {
        self.inner
            .raft
            .shutdown()
            .await
            .map_err(|e| MetadataError::Raft(format!("raft task failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::frame;
    use crate::log_store::VOTE_FILE;
    use crate::types::Vote;

    /// If the persisted vote was never committed (crash right after voting for itself), the
    /// lone voter must still lead at once rather than after an election timeout.
    #[tokio::test]
    async fn uncommitted_vote_still_elects_without_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let config = MetadataConfig {
            dir: dir.path().to_path_buf(),
            node_id: 3,
        };
        let store = MetadataStore::open(config.clone()).await.unwrap();
        store.shutdown().await.unwrap();

        let path = dir.path().join(VOTE_FILE);
        let bytes = std::fs::read(&path).unwrap();
        let scan = frame::scan(&bytes);
        let vote: Vote = serde_json::from_slice(scan.frames[0].1).unwrap();
        assert!(vote.is_committed());
        let uncommitted = Vote::new(vote.leader_id().term, 3);
        let mut buf = Vec::new();
        frame::encode(&serde_json::to_vec(&uncommitted).unwrap(), &mut buf);
        std::fs::write(&path, buf).unwrap();

        let t = Instant::now();
        let store = MetadataStore::open(config).await.unwrap();
        let took = t.elapsed();
        eprintln!("reopen with uncommitted vote: {took:?}");
        assert_eq!(store.controller_id(), Some(3));
        // Without the explicit election this waits for the first tick (1.5 x heartbeat = 150 ms).
        assert!(took < Duration::from_millis(100), "open took {took:?}");
        store.shutdown().await.unwrap();
    }
}
