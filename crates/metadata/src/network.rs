//! Raft transport. There are no peers yet (metadata replication between brokers is a later
//! issue), so every connection reports `Unreachable`; replace this module to form a cluster.

use std::io;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use crate::types::{NodeId, TypeConfig};

/// Creates connections to peers; all of them are unreachable in a one-voter quorum.
#[derive(Clone, Debug, Default)]
pub(crate) struct NoPeers;

/// A connection to a peer that cannot be reached.
#[derive(Debug)]
pub(crate) struct UnreachablePeer {
    target: NodeId,
}

impl UnreachablePeer {
    fn error<E: std::error::Error>(&self) -> RPCError<NodeId, BasicNode, E> {
        let why = io::Error::new(
            io::ErrorKind::NotConnected,
            format!(
                "no raft transport to node {}: metadata replication is not implemented",
                self.target
            ),
        );
        RPCError::Unreachable(Unreachable::new(&why))
    }
}

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = UnreachablePeer;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Self::Network {
        UnreachablePeer { target }
    }
}

impl RaftNetwork<TypeConfig> for UnreachablePeer {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(self.error())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        Err(self.error())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(self.error())
    }
}
