//! The replicated cluster state and its pure, deterministic `apply`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{AclBinding, ApplyError, MetadataCommand, ScramCredential, ScramMechanism};

/// Everything the metadata quorum knows about the cluster; the raft state machine's value.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ClusterState {
    /// Fixed by the first `InitCluster` command.
    pub cluster_id: Option<String>,
    /// Registered brokers by node id.
    pub brokers: BTreeMap<i32, BrokerInfo>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicInfo>,
    /// Reverse index for requests that address topics by id (Fetch v13+, DeleteTopics v6+).
    pub topic_names_by_id: BTreeMap<uuid::Uuid, String>,
    /// The first producer id not yet handed out; producer ids never repeat, across restarts
    /// and brokers.
    #[serde(default)]
    pub next_producer_id: i64,
    /// Access control lists (CreateAcls/DeleteAcls); enforced by brokers that run with an
    /// authorizer.
    #[serde(default)]
    pub acls: BTreeSet<AclBinding>,
    /// SCRAM credentials (KIP-554) by user, then mechanism: salt, StoredKey, ServerKey and
    /// iterations, never a password. A user without credentials has no entry.
    #[serde(default)]
    pub scram_credentials: BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>,
    /// Dynamic broker configs (Kafka's KIP-226) by resource: `""` holds the cluster-wide
    /// defaults, `"<node id>"` one broker's own. A resource without configs has no entry.
    #[serde(default)]
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Dynamic group configs (KIP-848: `consumer.session.timeout.ms`, ...) by group id. They
    /// exist independently of the group itself: a group without configs has no entry.
    #[serde(default)]
    pub group_configs: BTreeMap<String, BTreeMap<String, String>>,
}

/// A broker's registration: where clients reach it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BrokerInfo {
    /// Kafka node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, if configured.
    pub rack: Option<String>,
}

/// A topic: its stable id, its partitions and its config overrides.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Topic UUID (never reused for another topic while this one exists).
    pub id: uuid::Uuid,
    /// Partitions, indexed by partition number.
    pub partitions: Vec<PartitionInfo>,
    /// Topic-level config overrides (Kafka names); absent keys take the broker default.
    pub configs: BTreeMap<String, String>,
}

/// Leadership and replica placement of one partition.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PartitionInfo {
    /// Node id of the partition leader.
    pub leader: i32,
    /// Bumped on every leader change; starts at 0.
    pub leader_epoch: i32,
    /// Assigned replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
}

impl PartitionInfo {
    /// A fresh partition: leader = first replica, epoch 0, every replica in sync.
    fn new(replicas: &[i32]) -> Result<Self, ApplyError> {
        let Some(&leader) = replicas.first() else {
            return Err(ApplyError::InvalidPartitions(
                "a partition needs at least one replica".into(),
            ));
        };
        for (i, r) in replicas.iter().enumerate() {
            if replicas[..i].contains(r) {
                return Err(ApplyError::InvalidPartitions(format!(
                    "duplicate replica {r} in {replicas:?}"
                )));
            }
        }
        Ok(Self {
            leader,
            leader_epoch: 0,
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
        })
    }
}

impl ClusterState {
    /// Looks a topic up by name.
    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.get(name)
    }

    /// Looks a topic up by its UUID.
    pub fn topic_by_id(&self, id: &uuid::Uuid) -> Option<&TopicInfo> {
        self.topic_names_by_id
            .get(id)
            .and_then(|name| self.topics.get(name))
    }

    /// The pure, deterministic apply: the same command on the same state gives the same result
    /// on every replica, during live traffic and during recovery. A rejected command leaves the
    /// state unchanged.
    pub fn apply(&mut self, cmd: &MetadataCommand) -> Result<(), ApplyError> {
        match cmd {
            MetadataCommand::InitCluster { cluster_id } => self.init_cluster(cluster_id),
            MetadataCommand::RegisterBroker {
                node_id,
                host,
                port,
                rack,
            } => {
                self.brokers.insert(
                    *node_id,
                    BrokerInfo {
                        node_id: *node_id,
                        host: host.clone(),
                        port: *port,
                        rack: rack.clone(),
                    },
                );
                Ok(())
            }
            MetadataCommand::CreateTopic {
                name,
                topic_id,
                replicas,
                configs,
            } => self.create_topic(name, *topic_id, replicas, configs),
            MetadataCommand::DeleteTopic { name } => {
                let topic = self
                    .topics
                    .remove(name)
                    .ok_or_else(|| ApplyError::UnknownTopic(name.clone()))?;
                self.topic_names_by_id.remove(&topic.id);
                Ok(())
            }
            MetadataCommand::CreatePartitions { name, new_replicas } => {
                self.create_partitions(name, new_replicas)
            }
            MetadataCommand::AlterTopicConfigs { name, set, delete } => {
                self.alter_configs(name, set, delete)
            }
            MetadataCommand::CreateAcls { acls } => {
                if let Some(e) = acls.iter().find_map(|a| a.validate().err()) {
                    return Err(ApplyError::InvalidAcl(e.0));
                }
                self.acls.extend(acls.iter().cloned());
                Ok(())
            }
            MetadataCommand::DeleteAcls { acls } => {
                for acl in acls {
                    self.acls.remove(acl);
                }
                Ok(())
            }
            MetadataCommand::AllocateProducerIds { first, count, .. } => {
                if *first != self.next_producer_id || *count <= 0 {
                    return Err(ApplyError::StaleProducerIdBlock(*first));
                }
                self.next_producer_id = first.saturating_add(*count);
                Ok(())
            }
            MetadataCommand::UpsertScramCredential {
                user,
                mechanism,
                credential,
            } => {
                self.scram_credentials
                    .entry(user.clone())
                    .or_default()
                    .insert(*mechanism, credential.clone());
                Ok(())
            }
            MetadataCommand::DeleteScramCredential { user, mechanism } => {
                self.delete_scram_credential(user, *mechanism)
            }
            MetadataCommand::ReplaceBrokerConfigs { resource, configs } => {
                self.replace_broker_configs(resource, configs)
            }
            MetadataCommand::ReplaceGroupConfigs { group, configs } => {
                self.replace_group_configs(group, configs)
            }
            MetadataCommand::ReplaceTopicConfigs { name, configs } => {
                check_keys(configs.keys())?;
                let topic = self.topic_mut(name)?;
                topic.configs = configs.clone();
                Ok(())
            }
        }
    }

    fn init_cluster(&mut self, cluster_id: &str) -> Result<(), ApplyError> {
        match &self.cluster_id {
            None if cluster_id.is_empty() => Err(ApplyError::InvalidConfig(
                "cluster id must not be empty".into(),
            )),
            None => {
                self.cluster_id = Some(cluster_id.to_string());
                Ok(())
            }
            // Idempotent: re-proposing the same id is harmless.
            Some(existing) if existing == cluster_id => Ok(()),
            Some(existing) => Err(ApplyError::InvalidConfig(format!(
                "cluster id is already {existing}"
            ))),
        }
    }

    fn create_topic(
        &mut self,
        name: &str,
        topic_id: uuid::Uuid,
        replicas: &[Vec<i32>],
        configs: &BTreeMap<String, String>,
    ) -> Result<(), ApplyError> {
        if self.topics.contains_key(name) || self.topic_names_by_id.contains_key(&topic_id) {
            return Err(ApplyError::TopicAlreadyExists(name.to_string()));
        }
        if replicas.is_empty() {
            return Err(ApplyError::InvalidPartitions(
                "a topic needs at least one partition".into(),
            ));
        }
        check_keys(configs.keys())?;
        let partitions = replicas
            .iter()
            .map(|r| PartitionInfo::new(r))
            .collect::<Result<Vec<_>, _>>()?;
        self.topics.insert(
            name.to_string(),
            TopicInfo {
                name: name.to_string(),
                id: topic_id,
                partitions,
                configs: configs.clone(),
            },
        );
        self.topic_names_by_id.insert(topic_id, name.to_string());
        Ok(())
    }

    fn create_partitions(
        &mut self,
        name: &str,
        new_replicas: &[Vec<i32>],
    ) -> Result<(), ApplyError> {
        let topic = self.topic_mut(name)?;
        if new_replicas.is_empty() {
            return Err(ApplyError::InvalidPartitions(format!(
                "topic {name} already has {} partitions",
                topic.partitions.len()
            )));
        }
        let added = new_replicas
            .iter()
            .map(|r| PartitionInfo::new(r))
            .collect::<Result<Vec<_>, _>>()?;
        topic.partitions.extend(added);
        Ok(())
    }

    fn alter_configs(
        &mut self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<(), ApplyError> {
        check_keys(set.keys().chain(delete))?;
        if let Some(key) = delete.iter().find(|k| set.contains_key(*k)) {
            return Err(ApplyError::InvalidConfig(format!(
                "config {key} is both set and deleted"
            )));
        }
        let topic = self.topic_mut(name)?;
        for key in delete {
            topic.configs.remove(key);
        }
        for (k, v) in set {
            topic.configs.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    fn replace_broker_configs(
        &mut self,
        resource: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), ApplyError> {
        let canonical_id = resource
            .parse::<i32>()
            .is_ok_and(|id| id.to_string() == resource);
        if !resource.is_empty() && !canonical_id {
            return Err(ApplyError::InvalidConfig(format!(
                "broker config resource must be empty (cluster default) or a node id, not {resource:?}"
            )));
        }
        check_keys(configs.keys())?;
        if configs.is_empty() {
            self.broker_configs.remove(resource);
        } else {
            self.broker_configs
                .insert(resource.to_string(), configs.clone());
        }
        Ok(())
    }

    fn replace_group_configs(
        &mut self,
        group: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), ApplyError> {
        if group.is_empty() {
            return Err(ApplyError::InvalidConfig(
                "group config resource must name a group".to_string(),
            ));
        }
        check_keys(configs.keys())?;
        if configs.is_empty() {
            self.group_configs.remove(group);
        } else {
            self.group_configs
                .insert(group.to_string(), configs.clone());
        }
        Ok(())
    }

    fn delete_scram_credential(
        &mut self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Result<(), ApplyError> {
        let not_found = || ApplyError::ScramCredentialNotFound {
            user: user.to_string(),
            mechanism,
        };
        let creds = self.scram_credentials.get_mut(user).ok_or_else(not_found)?;
        creds.remove(&mechanism).ok_or_else(not_found)?;
        if creds.is_empty() {
            self.scram_credentials.remove(user);
        }
        Ok(())
    }

    fn topic_mut(&mut self, name: &str) -> Result<&mut TopicInfo, ApplyError> {
        self.topics
            .get_mut(name)
            .ok_or_else(|| ApplyError::UnknownTopic(name.to_string()))
    }
}

/// Config values are the broker's to validate (it knows Kafka's config definitions); the state
/// machine only refuses keys that can never be valid.
fn check_keys<'a>(mut keys: impl Iterator<Item = &'a String>) -> Result<(), ApplyError> {
    match keys.find(|k| k.is_empty()) {
        Some(_) => Err(ApplyError::InvalidConfig(
            "config name must not be empty".into(),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn create(name: &str, id: uuid::Uuid, replicas: Vec<Vec<i32>>) -> MetadataCommand {
        MetadataCommand::CreateTopic {
            name: name.into(),
            topic_id: id,
            replicas,
            configs: cfg(&[("retention.ms", "1000")]),
        }
    }

    #[test]
    fn create_topic_sets_leaders_epochs_isr_and_id_index() {
        let mut s = ClusterState::default();
        let id = uuid::Uuid::new_v4();
        s.apply(&create("t", id, vec![vec![1, 2], vec![2, 1]]))
            .unwrap();
        let t = s.topic("t").unwrap();
        assert_eq!(t.id, id);
        assert_eq!(t.partitions.len(), 2);
        assert_eq!(t.partitions[1].leader, 2);
        assert_eq!(t.partitions[1].leader_epoch, 0);
        assert_eq!(t.partitions[1].isr, vec![2, 1]);
        assert_eq!(t.configs, cfg(&[("retention.ms", "1000")]));
        assert_eq!(s.topic_by_id(&id).unwrap().name, "t");
    }

    #[test]
    fn create_topic_rejects_duplicate_name_or_id_without_change() {
        let mut s = ClusterState::default();
        let id = uuid::Uuid::new_v4();
        s.apply(&create("t", id, vec![vec![1]])).unwrap();
        let before = s.clone();
        assert_eq!(
            s.apply(&create("t", uuid::Uuid::new_v4(), vec![vec![1]])),
            Err(ApplyError::TopicAlreadyExists("t".into()))
        );
        assert_eq!(
            s.apply(&create("u", id, vec![vec![1]])),
            Err(ApplyError::TopicAlreadyExists("u".into()))
        );
        assert_eq!(s, before);
    }

    #[test]
    fn create_topic_rejects_bad_replica_lists() {
        let mut s = ClusterState::default();
        let id = uuid::Uuid::new_v4();
        for replicas in [vec![], vec![vec![]], vec![vec![1, 1]]] {
            assert!(matches!(
                s.apply(&create("t", id, replicas)),
                Err(ApplyError::InvalidPartitions(_))
            ));
        }
        assert_eq!(s, ClusterState::default());
    }

    #[test]
    fn delete_topic_removes_name_and_id() {
        let mut s = ClusterState::default();
        let id = uuid::Uuid::new_v4();
        s.apply(&create("t", id, vec![vec![1]])).unwrap();
        s.apply(&MetadataCommand::DeleteTopic { name: "t".into() })
            .unwrap();
        assert!(s.topic("t").is_none());
        assert!(s.topic_by_id(&id).is_none());
        assert_eq!(
            s.apply(&MetadataCommand::DeleteTopic { name: "t".into() }),
            Err(ApplyError::UnknownTopic("t".into()))
        );
    }

    #[test]
    fn create_partitions_appends_and_keeps_existing() {
        let mut s = ClusterState::default();
        s.apply(&create("t", uuid::Uuid::new_v4(), vec![vec![1, 2]]))
            .unwrap();
        s.topics.get_mut("t").unwrap().partitions[0].leader_epoch = 7;
        let cmd = MetadataCommand::CreatePartitions {
            name: "t".into(),
            new_replicas: vec![vec![2, 1], vec![1]],
        };
        s.apply(&cmd).unwrap();
        let p = &s.topic("t").unwrap().partitions;
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].leader_epoch, 7);
        assert_eq!(
            p[1],
            PartitionInfo {
                leader: 2,
                leader_epoch: 0,
                replicas: vec![2, 1],
                isr: vec![2, 1]
            }
        );
        let unknown = MetadataCommand::CreatePartitions {
            name: "nope".into(),
            new_replicas: vec![vec![1]],
        };
        assert_eq!(
            s.apply(&unknown),
            Err(ApplyError::UnknownTopic("nope".into()))
        );
        let none = MetadataCommand::CreatePartitions {
            name: "t".into(),
            new_replicas: vec![],
        };
        assert!(matches!(
            s.apply(&none),
            Err(ApplyError::InvalidPartitions(_))
        ));
    }

    #[test]
    fn alter_and_replace_configs() {
        let mut s = ClusterState::default();
        s.apply(&create("t", uuid::Uuid::new_v4(), vec![vec![1]]))
            .unwrap();
        s.apply(&MetadataCommand::AlterTopicConfigs {
            name: "t".into(),
            set: cfg(&[("cleanup.policy", "compact")]),
            delete: vec!["retention.ms".into(), "absent".into()],
        })
        .unwrap();
        assert_eq!(
            s.topic("t").unwrap().configs,
            cfg(&[("cleanup.policy", "compact")])
        );
        s.apply(&MetadataCommand::ReplaceTopicConfigs {
            name: "t".into(),
            configs: cfg(&[("segment.bytes", "1024")]),
        })
        .unwrap();
        assert_eq!(
            s.topic("t").unwrap().configs,
            cfg(&[("segment.bytes", "1024")])
        );
        let both = MetadataCommand::AlterTopicConfigs {
            name: "t".into(),
            set: cfg(&[("a", "1")]),
            delete: vec!["a".into()],
        };
        assert!(matches!(s.apply(&both), Err(ApplyError::InvalidConfig(_))));
        let unknown = MetadataCommand::ReplaceTopicConfigs {
            name: "x".into(),
            configs: BTreeMap::new(),
        };
        assert_eq!(s.apply(&unknown), Err(ApplyError::UnknownTopic("x".into())));
    }

    #[test]
    fn register_broker_upserts() {
        let mut s = ClusterState::default();
        let reg = |port| MetadataCommand::RegisterBroker {
            node_id: 1,
            host: "h".into(),
            port,
            rack: None,
        };
        s.apply(&reg(9092)).unwrap();
        s.apply(&reg(9093)).unwrap();
        assert_eq!(s.brokers.len(), 1);
        assert_eq!(s.brokers[&1].port, 9093);
    }

    #[test]
    fn init_cluster_is_fixed_once() {
        let mut s = ClusterState::default();
        let init = |id: &str| MetadataCommand::InitCluster {
            cluster_id: id.into(),
        };
        s.apply(&init("abc")).unwrap();
        s.apply(&init("abc")).unwrap();
        assert!(matches!(
            s.apply(&init("xyz")),
            Err(ApplyError::InvalidConfig(_))
        ));
        assert_eq!(s.cluster_id.as_deref(), Some("abc"));
    }
}

#[cfg(test)]
mod producer_id_tests {
    use super::*;

    #[test]
    fn producer_id_blocks_are_handed_out_once() {
        let mut s = ClusterState::default();
        let take = |first, count| MetadataCommand::AllocateProducerIds {
            node_id: 1,
            first,
            count,
        };
        assert_eq!(s.apply(&take(0, 1000)), Ok(()));
        assert_eq!(s.next_producer_id, 1000);
        assert_eq!(
            s.apply(&take(0, 1000)),
            Err(ApplyError::StaleProducerIdBlock(0))
        );
        assert_eq!(
            s.apply(&take(1000, 0)),
            Err(ApplyError::StaleProducerIdBlock(1000))
        );
        assert_eq!(s.apply(&take(1000, 1000)), Ok(()));
        assert_eq!(s.next_producer_id, 2000);
    }
}

#[cfg(test)]
mod acl_tests {
    use super::*;
    use crate::{AclOperation, PatternType, PermissionType, ResourceType};

    fn read_acl(topic: &str) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            pattern_type: PatternType::Literal,
            resource_name: topic.into(),
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: PermissionType::Allow,
        }
    }

    #[test]
    fn acls_are_added_idempotently_and_removed_exactly() {
        let mut s = ClusterState::default();
        let create = MetadataCommand::CreateAcls {
            acls: vec![read_acl("a"), read_acl("b")],
        };
        s.apply(&create).unwrap();
        s.apply(&create).unwrap();
        assert_eq!(s.acls.len(), 2);
        s.apply(&MetadataCommand::DeleteAcls {
            acls: vec![read_acl("a"), read_acl("gone")],
        })
        .unwrap();
        assert_eq!(s.acls.iter().collect::<Vec<_>>(), vec![&read_acl("b")]);
    }

    #[test]
    fn an_invalid_acl_rejects_the_whole_command() {
        let mut s = ClusterState::default();
        let mut bad = read_acl("x");
        bad.principal = "nocolon".into();
        let verdict = s.apply(&MetadataCommand::CreateAcls {
            acls: vec![read_acl("a"), bad],
        });
        assert!(matches!(verdict, Err(ApplyError::InvalidAcl(_))));
        assert!(s.acls.is_empty());
    }

    #[test]
    fn a_state_serialised_before_acls_existed_still_loads() {
        let mut json = serde_json::to_value(ClusterState::default()).unwrap();
        json.as_object_mut().unwrap().remove("acls");
        let s: ClusterState = serde_json::from_value(json).unwrap();
        assert!(s.acls.is_empty());
        let mut with = ClusterState::default();
        with.acls.insert(read_acl("t"));
        let back: ClusterState =
            serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
        assert_eq!(back, with);
    }
}

#[cfg(test)]
mod scram_tests {
    use super::*;

    fn cred(iterations: i32) -> ScramCredential {
        ScramCredential::from_salted_password(
            ScramMechanism::ScramSha256,
            b"salt",
            &[1u8; 32],
            iterations,
        )
    }

    fn upsert(user: &str, mechanism: ScramMechanism, iterations: i32) -> MetadataCommand {
        MetadataCommand::UpsertScramCredential {
            user: user.into(),
            mechanism,
            credential: cred(iterations),
        }
    }

    fn delete(user: &str, mechanism: ScramMechanism) -> MetadataCommand {
        MetadataCommand::DeleteScramCredential {
            user: user.into(),
            mechanism,
        }
    }

    #[test]
    fn upsert_adds_and_replaces_per_mechanism() {
        let mut s = ClusterState::default();
        s.apply(&upsert("alice", ScramMechanism::ScramSha256, 4096))
            .unwrap();
        s.apply(&upsert("alice", ScramMechanism::ScramSha512, 8192))
            .unwrap();
        s.apply(&upsert("alice", ScramMechanism::ScramSha256, 10000))
            .unwrap();
        let alice = &s.scram_credentials["alice"];
        assert_eq!(alice.len(), 2);
        assert_eq!(alice[&ScramMechanism::ScramSha256], cred(10000));
        assert_eq!(alice[&ScramMechanism::ScramSha512].iterations, 8192);
    }

    #[test]
    fn delete_removes_one_mechanism_then_the_user() {
        let mut s = ClusterState::default();
        s.apply(&upsert("bob", ScramMechanism::ScramSha256, 4096))
            .unwrap();
        s.apply(&upsert("bob", ScramMechanism::ScramSha512, 4096))
            .unwrap();
        s.apply(&delete("bob", ScramMechanism::ScramSha256))
            .unwrap();
        assert_eq!(
            s.scram_credentials["bob"].keys().collect::<Vec<_>>(),
            vec![&ScramMechanism::ScramSha512]
        );
        s.apply(&delete("bob", ScramMechanism::ScramSha512))
            .unwrap();
        assert!(s.scram_credentials.is_empty());
    }

    #[test]
    fn deleting_a_missing_credential_is_rejected_without_change() {
        let mut s = ClusterState::default();
        s.apply(&upsert("carol", ScramMechanism::ScramSha256, 4096))
            .unwrap();
        let before = s.clone();
        assert_eq!(
            s.apply(&delete("carol", ScramMechanism::ScramSha512)),
            Err(ApplyError::ScramCredentialNotFound {
                user: "carol".into(),
                mechanism: ScramMechanism::ScramSha512
            })
        );
        assert_eq!(
            s.apply(&delete("nobody", ScramMechanism::ScramSha256)),
            Err(ApplyError::ScramCredentialNotFound {
                user: "nobody".into(),
                mechanism: ScramMechanism::ScramSha256
            })
        );
        assert_eq!(s, before);
    }

    #[test]
    fn snapshots_without_credentials_load_and_credentials_round_trip() {
        let mut json = serde_json::to_value(ClusterState::default()).unwrap();
        json.as_object_mut().unwrap().remove("scram_credentials");
        let s: ClusterState = serde_json::from_value(json).unwrap();
        assert!(s.scram_credentials.is_empty());

        let mut with = ClusterState::default();
        with.apply(&upsert("dave", ScramMechanism::ScramSha512, 16384))
            .unwrap();
        with.apply(&upsert("dave", ScramMechanism::ScramSha256, 4096))
            .unwrap();
        let text = serde_json::to_string(&with).unwrap();
        assert!(text.contains("SCRAM-SHA-512"), "{text}");
        let back: ClusterState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, with);
    }

    #[test]
    fn commands_round_trip_through_json() {
        for cmd in [
            upsert("eve", ScramMechanism::ScramSha256, 4096),
            delete("eve", ScramMechanism::ScramSha512),
        ] {
            let back: MetadataCommand =
                serde_json::from_str(&serde_json::to_string(&cmd).unwrap()).unwrap();
            assert_eq!(back, cmd);
        }
    }
}

#[cfg(test)]
mod broker_config_tests {
    use super::*;

    fn replace(resource: &str, pairs: &[(&str, &str)]) -> MetadataCommand {
        MetadataCommand::ReplaceBrokerConfigs {
            resource: resource.into(),
            configs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn broker_configs_are_replaced_per_resource_and_removed_when_empty() {
        let mut s = ClusterState::default();
        s.apply(&replace("", &[("log.retention.ms", "1000")]))
            .unwrap();
        s.apply(&replace(
            "1",
            &[("log.retention.ms", "2000"), ("background.threads", "4")],
        ))
        .unwrap();
        s.apply(&replace("1", &[("background.threads", "5")]))
            .unwrap();
        assert_eq!(s.broker_configs.len(), 2);
        assert_eq!(s.broker_configs[""]["log.retention.ms"], "1000");
        assert_eq!(
            s.broker_configs["1"].iter().collect::<Vec<_>>(),
            vec![(&"background.threads".to_string(), &"5".to_string())]
        );
        s.apply(&replace("", &[])).unwrap();
        assert!(!s.broker_configs.contains_key(""));
        assert!(s.broker_configs.contains_key("1"));
    }

    #[test]
    fn bad_resources_and_empty_keys_are_rejected_without_change() {
        let mut s = ClusterState::default();
        s.apply(&replace("1", &[("a", "1")])).unwrap();
        let before = s.clone();
        for cmd in [
            replace("broker-1", &[("a", "2")]),
            replace(" ", &[("a", "2")]),
            replace("+1", &[("a", "2")]),
            replace("1", &[("", "2")]),
        ] {
            assert!(
                matches!(s.apply(&cmd), Err(ApplyError::InvalidConfig(_))),
                "{cmd:?}"
            );
        }
        assert_eq!(s, before);
    }

    #[test]
    fn a_state_serialised_before_broker_configs_existed_still_loads() {
        let mut json = serde_json::to_value(ClusterState::default()).unwrap();
        json.as_object_mut().unwrap().remove("broker_configs");
        let s: ClusterState = serde_json::from_value(json).unwrap();
        assert!(s.broker_configs.is_empty());

        let mut with = ClusterState::default();
        with.apply(&replace("", &[("log.segment.bytes", "1048576")]))
            .unwrap();
        let back: ClusterState =
            serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
        assert_eq!(back, with);
        let cmd = replace("7", &[("sasl.kerberos.min.time.before.relogin", "58000")]);
        let back: MetadataCommand =
            serde_json::from_str(&serde_json::to_string(&cmd).unwrap()).unwrap();
        assert_eq!(back, cmd);
    }
}

#[cfg(test)]
mod group_config_tests {
    use super::*;

    fn replace(group: &str, pairs: &[(&str, &str)]) -> MetadataCommand {
        MetadataCommand::ReplaceGroupConfigs {
            group: group.into(),
            configs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn group_configs_are_replaced_per_group_and_removed_when_empty() {
        let mut s = ClusterState::default();
        s.apply(&replace("g1", &[("consumer.session.timeout.ms", "50000")]))
            .unwrap();
        s.apply(&replace(
            "g2",
            &[("consumer.heartbeat.interval.ms", "6000")],
        ))
        .unwrap();
        s.apply(&replace(
            "g1",
            &[("consumer.heartbeat.interval.ms", "7000")],
        ))
        .unwrap();
        assert_eq!(s.group_configs.len(), 2);
        assert_eq!(
            s.group_configs["g1"].iter().collect::<Vec<_>>(),
            vec![(
                &"consumer.heartbeat.interval.ms".to_string(),
                &"7000".to_string()
            )]
        );
        s.apply(&replace("g1", &[])).unwrap();
        assert!(!s.group_configs.contains_key("g1"));
        assert!(s.group_configs.contains_key("g2"));
    }

    #[test]
    fn an_empty_group_id_or_key_is_rejected_without_change() {
        let mut s = ClusterState::default();
        s.apply(&replace("g", &[("a", "1")])).unwrap();
        let before = s.clone();
        for cmd in [replace("", &[("a", "2")]), replace("g", &[("", "2")])] {
            assert!(
                matches!(s.apply(&cmd), Err(ApplyError::InvalidConfig(_))),
                "{cmd:?}"
            );
        }
        assert_eq!(s, before);
    }

    #[test]
    fn a_state_serialised_before_group_configs_existed_still_loads() {
        let mut json = serde_json::to_value(ClusterState::default()).unwrap();
        json.as_object_mut().unwrap().remove("group_configs");
        let s: ClusterState = serde_json::from_value(json).unwrap();
        assert!(s.group_configs.is_empty());
        let mut with = ClusterState::default();
        with.apply(&replace("g", &[("consumer.session.timeout.ms", "50000")]))
            .unwrap();
        let back: ClusterState =
            serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
        assert_eq!(back, with);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn name() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from)
    }

    fn replicas() -> impl Strategy<Value = Vec<Vec<i32>>> {
        prop::collection::vec(prop::collection::vec(1i32..4, 0..3), 0..3)
    }

    fn configs() -> impl Strategy<Value = BTreeMap<String, String>> {
        prop::collection::btree_map(
            prop::sample::select(vec!["retention.ms", "cleanup.policy"]).prop_map(String::from),
            "[0-9]{1,3}",
            0..3,
        )
    }

    /// Topic commands over a few names and ids, so that they collide often.
    fn command() -> impl Strategy<Value = MetadataCommand> {
        prop_oneof![
            (name(), 0u128..3, replicas(), configs()).prop_map(|(name, id, replicas, configs)| {
                MetadataCommand::CreateTopic {
                    name,
                    topic_id: uuid::Uuid::from_u128(id + 1),
                    replicas,
                    configs,
                }
            }),
            name().prop_map(|name| MetadataCommand::DeleteTopic { name }),
            (name(), replicas()).prop_map(|(name, new_replicas)| {
                MetadataCommand::CreatePartitions { name, new_replicas }
            }),
            (
                name(),
                configs(),
                prop::collection::vec("retention.ms|segment.ms", 0..2)
            )
                .prop_map(|(name, set, delete)| MetadataCommand::AlterTopicConfigs {
                    name,
                    set,
                    delete
                }),
            (name(), configs())
                .prop_map(|(name, configs)| MetadataCommand::ReplaceTopicConfigs { name, configs }),
        ]
    }

    proptest! {
        /// Whatever topic commands arrive: a refused one changes nothing, the id index always
        /// matches the topics, and the state survives its snapshot encoding unchanged.
        #[test]
        fn topic_commands_keep_the_state_consistent(
            commands in prop::collection::vec(command(), 1..30),
        ) {
            let mut state = ClusterState::default();
            for cmd in &commands {
                let before = state.clone();
                if state.apply(cmd).is_err() {
                    prop_assert_eq!(&state, &before, "a refused {:?} changed the state", cmd);
                }
                prop_assert_eq!(state.topic_names_by_id.len(), state.topics.len());
                for (name, topic) in &state.topics {
                    prop_assert_eq!(&topic.name, name);
                    prop_assert_eq!(state.topic_by_id(&topic.id).map(|t| &t.name), Some(name));
                    prop_assert!(!topic.partitions.is_empty());
                    for p in &topic.partitions {
                        prop_assert_eq!(Some(&p.leader), p.replicas.first());
                    }
                }
            }
            let encoded = serde_json::to_vec(&state).expect("encodes");
            let decoded: ClusterState = serde_json::from_slice(&encoded).expect("decodes");
            prop_assert_eq!(decoded, state);
        }
    }
}
