//! The broker's shared state: settings, the metadata quorum handle, and the partitions this
//! broker leads.
//!
//! The partition registry is derived state: [`Broker::sync_partitions`] makes it match the
//! metadata state (open logs of new partitions, apply changed configs, delete logs of deleted
//! topics). Admin handlers call it after their command is applied; start-up calls it once.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use weir_group::{GroupConfig, GroupCoordinator, OFFSETS_TOPIC};
use weir_metadata::acl::CLUSTER_RESOURCE_NAME;
use weir_metadata::{AclOperation, ClusterState, MetadataStore, ResourceType, TopicInfo};
use weir_storage::StorageError;
use weir_txn::{TransactionCoordinator, TxnConfig, TRANSACTION_STATE_TOPIC};

use crate::authorizer::Authorizer;
use crate::config::BrokerConfig;
use crate::partition::{Partition, PartitionSettings};
use crate::producer_ids::ProducerIdAllocator;
use crate::router::RequestContext;
use crate::topic_config::{EffectiveConfig, TopicDefaults};

/// Partitions of one topic, indexed by partition number (`None`: not hosted here).
type TopicPartitions = Vec<Option<Arc<Partition>>>;

/// Everything a request handler can reach.
pub struct Broker {
    /// Resolved settings.
    pub config: BrokerConfig,
    /// The metadata quorum.
    pub metadata: MetadataStore,
    partitions: RwLock<HashMap<String, TopicPartitions>>,
    /// Serialises admin operations (create/delete/alter), so that two of them never interleave
    /// their check-then-apply steps or their partition syncs.
    pub admin_lock: tokio::sync::Mutex<()>,
    /// Producer ids for idempotent producers.
    pub producer_ids: ProducerIdAllocator,
    /// The group coordinator (consumer groups and committed offsets), over `__consumer_offsets`.
    pub groups: GroupCoordinator,
    /// The transaction coordinator (transactional ids and their transactions), over
    /// `__transaction_state`.
    pub txns: TransactionCoordinator,
    /// Decides what each request's principal may do (ACLs), when enabled.
    pub authorizer: Authorizer,
    logs_dir: PathBuf,
}

impl Broker {
    /// Assembles a broker over an opened metadata store and opens every partition log.
    pub fn new(config: BrokerConfig, metadata: MetadataStore) -> Result<Arc<Self>, StorageError> {
        let logs_dir = config.data_dir.join("logs");
        std::fs::create_dir_all(&logs_dir)?;
        // An existing __consumer_offsets keeps its partition count: group placement hashes onto
        // it, so changing it would move every group.
        let offsets_partitions = metadata
            .state()
            .topic(OFFSETS_TOPIC)
            .map_or(config.offsets_topic_partitions, |t| {
                t.partitions.len() as i32
            });
        let group_config = GroupConfig {
            consumer_session_timeout_ms: config.group_consumer_session_timeout_ms,
            consumer_heartbeat_interval_ms: config.group_consumer_heartbeat_interval_ms,
            initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
            offsets_retention_ms: config.offsets_retention_ms,
            offsets_retention_check_interval_ms: config.offsets_retention_check_interval_ms,
            ..GroupConfig::default()
        };
        let groups = GroupCoordinator::new(group_config, offsets_partitions);
        // Like __consumer_offsets, an existing __transaction_state keeps its partition count.
        let txn_partitions = metadata
            .state()
            .topic(TRANSACTION_STATE_TOPIC)
            .map_or(config.transaction_state_partitions, |t| {
                t.partitions.len() as i32
            });
        let txns = TransactionCoordinator::new(
            TxnConfig {
                max_timeout_ms: config.transaction_max_timeout_ms,
                id_expiration_ms: config.transactional_id_expiration_ms,
            },
            txn_partitions,
        );
        let authorizer = Authorizer::from_config(&config);
        let broker = Arc::new(Broker {
            authorizer,
            config,
            metadata,
            partitions: RwLock::new(HashMap::new()),
            admin_lock: tokio::sync::Mutex::new(()),
            producer_ids: ProducerIdAllocator::default(),
            groups,
            txns,
            logs_dir,
        });
        broker.sync_partitions()?;
        broker.remove_orphan_directories();
        Ok(broker)
    }

    /// Whether the request's principal may perform `operation` on `(resource_type, name)`;
    /// reads the ACLs only when the authorizer is on.
    pub fn allows(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        !self.authorizer.enabled()
            || self
                .authorizer
                .allows(&self.metadata.state(), ctx, operation, resource_type, name)
    }

    /// Whether the request's principal may perform `operation` on the cluster.
    pub fn allows_cluster(&self, ctx: &RequestContext, operation: AclOperation) -> bool {
        self.allows(ctx, operation, ResourceType::Cluster, CLUSTER_RESOURCE_NAME)
    }

    /// The partition `index` of `topic`, if this broker leads it.
    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let map = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        let idx = usize::try_from(index).ok()?;
        map.get(topic)?.get(idx)?.clone()
    }

    /// Every partition this broker leads.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        let map = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        map.values().flatten().flatten().cloned().collect()
    }

    /// The broker-level defaults of topic configs on this broker now: its dynamic broker
    /// configs, the cluster-wide dynamic defaults, then the static `--topic-config` values.
    pub fn topic_defaults(&self) -> TopicDefaults {
        self.topic_defaults_in(&self.metadata.state())
    }

    /// [`Broker::topic_defaults`] as of the given metadata state.
    pub fn topic_defaults_in(&self, state: &ClusterState) -> TopicDefaults {
        crate::broker_config::topic_defaults(
            &state.broker_configs,
            self.config.node_id,
            &self.config.topic_defaults,
        )
    }

    /// The settings a partition of `topic` runs with, given the broker-level defaults.
    pub fn partition_settings(
        &self,
        topic: &TopicInfo,
        index: usize,
        defaults: &TopicDefaults,
    ) -> PartitionSettings {
        let eff = EffectiveConfig::new(&topic.configs, defaults);
        PartitionSettings {
            leader_epoch: topic.partitions.get(index).map_or(0, |p| p.leader_epoch),
            policy: eff.produce_policy(),
            cleanup: eff.cleanup_policy(),
            log_config: eff.log_config(self.config.flush_policy),
        }
    }

    /// Names of the partition directories in the logs directory (none if it does not exist).
    fn log_dir_names(&self) -> Result<HashSet<OsString>, StorageError> {
        match std::fs::read_dir(&self.logs_dir) {
            Ok(entries) => entries
                .map(|e| Ok(e?.file_name()))
                .collect::<Result<_, std::io::Error>>()
                .map_err(StorageError::from),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashSet::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes the partition registry match the current metadata state.
    pub fn sync_partitions(&self) -> Result<(), StorageError> {
        let state = self.metadata.state();
        self.sync_with(&state)
    }

    fn sync_with(&self, state: &ClusterState) -> Result<(), StorageError> {
        let node = self.config.node_id;
        let defaults = self.topic_defaults_in(state);
        let mut removed: Vec<Arc<Partition>> = Vec::new();
        let mut to_open = Vec::new();
        {
            let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
            // Topics that are gone, or were recreated under a new id.
            map.retain(|name, parts| {
                let keep = state
                    .topic(name)
                    .is_some_and(|t| parts.iter().flatten().all(|p| p.topic_id == t.id));
                if !keep {
                    removed.extend(parts.drain(..).flatten());
                }
                keep
            });
            for topic in state.topics.values() {
                let parts = map.get(&topic.name);
                // Topic configs are the same for every partition: derive them once.
                let topic_settings = self.partition_settings(topic, 0, &defaults);
                for (i, info) in topic.partitions.iter().enumerate() {
                    let settings = PartitionSettings {
                        leader_epoch: info.leader_epoch,
                        ..topic_settings.clone()
                    };
                    if let Some(existing) = parts.and_then(|p| p.get(i)).and_then(Option::as_ref) {
                        existing.update_settings(settings);
                    } else if info.leader == node || info.replicas.contains(&node) {
                        to_open.push((topic.name.clone(), i, topic.id, settings));
                    }
                }
            }
        }
        // Opening logs touches the disk: done without the registry lock, so requests to
        // other partitions carry on meanwhile. Admin operations (the only callers besides
        // start-up) are serialised by the admin lock, so nobody opens the same partition twice.
        let mut opened = Vec::with_capacity(to_open.len());
        // One listing of the logs directory tells which partitions are new (no directory):
        // those open without touching the disk.
        let present = if to_open.is_empty() {
            HashSet::new()
        } else {
            self.log_dir_names()?
        };
        for (name, i, id, settings) in to_open {
            let dir_name = format!("{name}-{i}");
            let dir = self.logs_dir.join(&dir_name);
            let exists = present.contains(OsStr::new(&dir_name));
            let partition = Partition::open(dir, &name, i as i32, id, settings, exists)?;
            opened.push((name, i, Arc::new(partition)));
        }
        if !opened.is_empty() {
            let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
            for (name, i, partition) in opened {
                let parts = map.entry(name).or_default();
                if parts.len() <= i {
                    parts.resize(i + 1, None);
                }
                parts[i] = Some(partition);
            }
        }
        for partition in removed {
            let name = format!("{}-{}", partition.topic, partition.index);
            match Arc::try_unwrap(partition) {
                Ok(p) => {
                    if let Err(e) = p.delete_data() {
                        tracing::warn!(partition = %name, error = %e, "cannot delete partition data");
                    }
                }
                // A request still holds it: its files are unlinked when the last holder drops.
                Err(p) => {
                    let dir = self.logs_dir.join(&name);
                    // A write in flight must not create the directory again once it is gone.
                    p.retire();
                    drop(p);
                    if let Err(e) = std::fs::remove_dir_all(&dir) {
                        tracing::warn!(partition = %name, error = %e, "cannot delete partition data");
                    }
                }
            }
            tracing::info!(partition = %name, "deleted partition");
        }
        Ok(())
    }

    /// Deletes partition directories that no topic owns any more (a topic deleted while the
    /// broker was down before it removed the files).
    fn remove_orphan_directories(&self) {
        let Ok(entries) = std::fs::read_dir(&self.logs_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let owned = name
                .rsplit_once('-')
                .and_then(|(topic, idx)| Some((topic, idx.parse::<i32>().ok()?)))
                .is_some_and(|(topic, idx)| self.partition(topic, idx).is_some());
            if !owned {
                tracing::warn!(dir = %name, "removing partition directory no topic owns");
                if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                    tracing::warn!(dir = %name, error = %e, "cannot remove directory");
                }
            }
        }
    }

    /// Flushes every partition and snapshots its producer state (clean shutdown).
    pub fn flush_all(&self) {
        for p in self.all_partitions() {
            if let Err(e) = p.flush() {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
            }
            if let Err(e) = p.snapshot_producers() {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "producer snapshot failed");
            }
        }
    }
}
