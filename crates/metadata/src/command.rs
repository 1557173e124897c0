//! The closed set of commands that change cluster metadata; each is one raft log entry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A change to cluster metadata, proposed through raft and applied by
/// [`ClusterState::apply`](crate::ClusterState::apply) on every replica.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum MetadataCommand {
    /// Written once at bootstrap: fixes the cluster id.
    InitCluster {
        /// The cluster id reported to clients (Kafka style, 22 chars base64url).
        cluster_id: String,
    },
    /// Adds a broker, or replaces its endpoint if the node id is already known.
    RegisterBroker {
        /// Kafka node id.
        node_id: i32,
        /// Advertised host.
        host: String,
        /// Advertised port.
        port: i32,
        /// Rack, if configured.
        rack: Option<String>,
    },
    /// Creates a topic with the given partitions.
    CreateTopic {
        /// Topic name (validated by the broker before proposing).
        name: String,
        /// The topic's UUID, chosen by the proposer so that every replica agrees on it.
        topic_id: uuid::Uuid,
        /// One replica list per partition; leader = first.
        replicas: Vec<Vec<i32>>,
        /// Topic-level config overrides.
        configs: BTreeMap<String, String>,
    },
    /// Removes a topic and its id mapping.
    DeleteTopic {
        /// Topic name.
        name: String,
    },
    /// Appends partitions to a topic; existing partitions are untouched.
    CreatePartitions {
        /// Topic name.
        name: String,
        /// One replica list per appended partition; leader = first.
        new_replicas: Vec<Vec<i32>>,
    },
    /// Incremental config change (IncrementalAlterConfigs): set some keys, delete others.
    AlterTopicConfigs {
        /// Topic name.
        name: String,
        /// Keys to set; a key may not also appear in `delete`.
        set: BTreeMap<String, String>,
        /// Keys to remove (back to the default).
        delete: Vec<String>,
    },
    /// Legacy AlterConfigs semantics: the given map replaces all overrides.
    ReplaceTopicConfigs {
        /// Topic name.
        name: String,
        /// The complete new set of overrides.
        configs: BTreeMap<String, String>,
    },
    /// Stores ACLs (CreateAcls). Each is validated first; one that is already stored is left
    /// as it is, so the command is idempotent.
    CreateAcls {
        /// The ACLs to add.
        acls: Vec<crate::AclBinding>,
    },
    /// Removes exactly these ACLs (DeleteAcls resolves its filters against the state first, so
    /// the log records what was removed); ones no longer stored are skipped.
    DeleteAcls {
        /// The ACLs to remove.
        acls: Vec<crate::AclBinding>,
    },
    /// Sets the complete set of dynamic broker configs of one resource (AlterConfigs and
    /// IncrementalAlterConfigs on a BROKER resource): `""` is the cluster-wide default,
    /// `"<node id>"` one broker. An empty map removes the resource's entry.
    ReplaceBrokerConfigs {
        /// `""` (cluster default) or a broker's node id in decimal.
        resource: String,
        /// The complete new set of dynamic configs (Kafka names); the broker validates values.
        configs: BTreeMap<String, String>,
    },
    /// Sets the complete set of dynamic configs of one group (KIP-848's group configs:
    /// AlterConfigs and IncrementalAlterConfigs on a GROUP resource), whether or not the group
    /// exists. An empty map removes the group's entry.
    ReplaceGroupConfigs {
        /// The group id (not empty).
        group: String,
        /// The complete new set of configs (Kafka names); the broker validates values.
        configs: BTreeMap<String, String>,
    },
    /// Hands the block of producer ids `[first, first + count)` to a broker. `first` must be
    /// the state's next unallocated id, so two brokers racing for a block cannot both get it:
    /// the loser's command is rejected and it retries with the new next id.
    AllocateProducerIds {
        /// The broker taking the block.
        node_id: i32,
        /// First id of the block (must equal `ClusterState::next_producer_id`).
        first: i64,
        /// Number of ids in the block (positive).
        count: i64,
    },
    // SCRAM credentials (KIP-554)
    /// Sets the credential of `user` for `mechanism`, replacing any existing one.
    UpsertScramCredential {
        /// User name (non-empty; checked by the broker).
        user: String,
        /// The SCRAM mechanism.
        mechanism: crate::ScramMechanism,
        /// Salt, StoredKey, ServerKey and iterations (never the password).
        credential: crate::ScramCredential,
    },
    /// Removes the credential of `user` for `mechanism`; rejected if there is none.
    DeleteScramCredential {
        /// User name.
        user: String,
        /// The SCRAM mechanism.
        mechanism: crate::ScramMechanism,
    },
}
