//! Topic administration shared by CreateTopics and Metadata's auto-creation: name rules,
//! partition and replica planning, config validation, and the metadata command that creates it.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use weir_metadata::{ApplyError, ClusterState, MetadataCommand, TopicInfo};

use crate::broker::Broker;
use crate::topic_config::{self, TopicConfigError};

/// Longest legal topic name (Kafka's limit, from file-name length limits).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Upper bound on partitions per topic, so one request cannot exhaust file descriptors.
pub const MAX_PARTITIONS: i32 = 100_000;

/// A Kafka error code with a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The error code.
    pub code: ResponseError,
    /// Human-readable detail.
    pub message: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(code: ResponseError, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<TopicConfigError> for ApiError {
    fn from(e: TopicConfigError) -> Self {
        ApiError::new(ResponseError::InvalidConfig, e.to_string())
    }
}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        let code = match e {
            ApplyError::TopicAlreadyExists(_) => ResponseError::TopicAlreadyExists,
            ApplyError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
            ApplyError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            ApplyError::InvalidConfig(_) => ResponseError::InvalidConfig,
            ApplyError::StaleProducerIdBlock(_) => ResponseError::CoordinatorNotAvailable,
            ApplyError::InvalidAcl(_) => ResponseError::InvalidRequest,
            ApplyError::ScramCredentialNotFound { .. } => ResponseError::ResourceNotFound,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<weir_metadata::MetadataError> for ApiError {
    fn from(e: weir_metadata::MetadataError) -> Self {
        tracing::warn!(error = %e, "metadata quorum error");
        ApiError::new(ResponseError::RequestTimedOut, e.to_string())
    }
}

/// Checks Kafka's topic name rules.
pub fn validate_topic_name(name: &str) -> Result<(), ApiError> {
    let invalid = |why: String| Err(ApiError::new(ResponseError::InvalidTopicException, why));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LEN} characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid(format!(
            "Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Topic names that differ only in '.' versus '_' collide in metric names; Kafka refuses them.
fn collides(state: &ClusterState, name: &str) -> Option<String> {
    let norm = |s: &str| s.replace('.', "_");
    let wanted = norm(name);
    state
        .topics
        .keys()
        .find(|t| t.as_str() != name && norm(t) == wanted)
        .cloned()
}

/// A topic creation as a request states it.
#[derive(Debug, Clone)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Partition count, or -1 for the broker default.
    pub num_partitions: i32,
    /// Replication factor, or -1 for the broker default.
    pub replication_factor: i16,
    /// Manual assignment: partition index to replica list.
    pub assignments: Vec<(i32, Vec<i32>)>,
    /// Topic configs; `None` values are refused.
    pub configs: Vec<(String, Option<String>)>,
}

/// A validated topic creation, ready to become a metadata command.
#[derive(Debug, Clone)]
pub struct PlannedTopic {
    /// Replica list per partition.
    pub replicas: Vec<Vec<i32>>,
    /// Configs set on the topic.
    pub configs: BTreeMap<String, String>,
}

impl PlannedTopic {
    /// Partition count.
    pub fn num_partitions(&self) -> i32 {
        self.replicas.len() as i32
    }

    /// Replication factor (of the first partition, as Kafka reports it).
    pub fn replication_factor(&self) -> i16 {
        self.replicas.first().map_or(0, |r| r.len() as i16)
    }
}

/// Checks a topic creation against the rules and the cluster, and plans its replicas.
pub fn plan_topic(
    broker: &Broker,
    state: &ClusterState,
    topic: &NewTopic,
) -> Result<PlannedTopic, ApiError> {
    validate_topic_name(&topic.name)?;
    if state.topic(&topic.name).is_some() {
        return Err(ApiError::new(
            ResponseError::TopicAlreadyExists,
            format!("Topic '{}' already exists.", topic.name),
        ));
    }
    if let Some(other) = collides(state, &topic.name) {
        return Err(ApiError::new(
            ResponseError::InvalidTopicException,
            format!(
                "Topic '{}' collides with existing topic: {other}",
                topic.name
            ),
        ));
    }
    let mut configs = BTreeMap::new();
    for (name, value) in &topic.configs {
        let value = value.as_ref().ok_or_else(|| {
            ApiError::new(
                ResponseError::InvalidConfig,
                format!("Null value not supported for topic configs: {name}"),
            )
        })?;
        topic_config::validate(name, value)?;
        configs.insert(name.clone(), value.clone());
    }
    let brokers: Vec<i32> = state.brokers.keys().copied().collect();
    let replicas = if topic.assignments.is_empty() {
        let partitions = match topic.num_partitions {
            -1 => broker.config.num_partitions,
            n if n < 1 => {
                return Err(ApiError::new(
                    ResponseError::InvalidPartitions,
                    "Number of partitions was set to an invalid non-positive value.",
                ))
            }
            n => n,
        };
        if partitions > MAX_PARTITIONS {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!("Number of partitions {partitions} exceeds the limit of {MAX_PARTITIONS}."),
            ));
        }
        let factor = match topic.replication_factor {
            -1 => broker.config.default_replication_factor,
            n if n < 1 => {
                return Err(ApiError::new(
                    ResponseError::InvalidReplicationFactor,
                    "Replication factor must be larger than 0, or -1 to use the default value.",
                ))
            }
            n => n,
        };
        assign_replicas(&brokers, 0, partitions, factor)?
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
            ));
        }
        let mut by_index = BTreeMap::new();
        for (index, replicas) in &topic.assignments {
            validate_replica_list(&brokers, replicas)?;
            by_index.insert(*index, replicas.clone());
        }
        let contiguous = by_index.keys().copied().eq(0..by_index.len() as i32);
        if !contiguous {
            return Err(ApiError::new(
                ResponseError::InvalidReplicaAssignment,
                "Partitions should be a consecutive 0-based integer sequence",
            ));
        }
        by_index.into_values().collect()
    };
    Ok(PlannedTopic { replicas, configs })
}

/// Checks one manual replica list: non-empty, no duplicates, every broker known.
pub fn validate_replica_list(brokers: &[i32], replicas: &[i32]) -> Result<(), ApiError> {
    let unique: BTreeSet<i32> = replicas.iter().copied().collect();
    if replicas.is_empty() || unique.len() != replicas.len() {
        return Err(ApiError::new(
            ResponseError::InvalidReplicaAssignment,
            "Replica assignment must be a non-empty list of distinct broker ids",
        ));
    }
    if let Some(unknown) = replicas.iter().find(|r| !brokers.contains(r)) {
        return Err(ApiError::new(
            ResponseError::InvalidReplicaAssignment,
            format!("Unknown broker {unknown} in replica assignment"),
        ));
    }
    Ok(())
}

/// Round-robin replica placement over the registered brokers, starting at partition `first`.
pub fn assign_replicas(
    brokers: &[i32],
    first: i32,
    count: i32,
    factor: i16,
) -> Result<Vec<Vec<i32>>, ApiError> {
    let factor = factor.max(0) as usize;
    if factor > brokers.len() {
        return Err(ApiError::new(
            ResponseError::InvalidReplicationFactor,
            format!(
                "Unable to replicate the partition {factor} time(s): The target replication factor of {factor} cannot be reached because only {} broker(s) are registered.",
                brokers.len()
            ),
        ));
    }
    Ok((first..first + count)
        .map(|p| {
            (0..factor)
                .map(|r| brokers[(p as usize + r) % brokers.len()])
                .collect()
        })
        .collect())
}

/// Creates a planned topic through the metadata quorum and opens its partitions. The caller
/// holds `broker.admin_lock`.
pub async fn create_topic(
    broker: &Broker,
    name: &str,
    plan: &PlannedTopic,
) -> Result<TopicInfo, ApiError> {
    let topic_id = uuid::Uuid::new_v4();
    broker
        .metadata
        .submit(MetadataCommand::CreateTopic {
            name: name.to_string(),
            topic_id,
            replicas: plan.replicas.clone(),
            configs: plan.configs.clone(),
        })
        .await??;
    sync(broker)?;
    broker.metadata.state().topic(name).cloned().ok_or_else(|| {
        ApiError::new(
            ResponseError::UnknownServerError,
            "topic vanished after creation",
        )
    })
}

/// Brings the partition registry in line with metadata, mapping failures to an API error.
pub fn sync(broker: &Broker) -> Result<(), ApiError> {
    broker.sync_partitions().map_err(|e| {
        tracing::error!(error = %e, "cannot open partition logs");
        ApiError::new(ResponseError::KafkaStorageError, e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_x-2").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("has space").is_err());
        assert!(validate_topic_name("ü").is_err());
        assert!(validate_topic_name(&"a".repeat(250)).is_err());
        assert!(validate_topic_name(&"a".repeat(249)).is_ok());
    }

    #[test]
    fn replicas_are_spread_round_robin() {
        let r = assign_replicas(&[1, 2, 3], 0, 3, 2).unwrap();
        assert_eq!(r, vec![vec![1, 2], vec![2, 3], vec![3, 1]]);
        let err = assign_replicas(&[1], 0, 1, 3).unwrap_err();
        assert_eq!(err.code, ResponseError::InvalidReplicationFactor);
    }
}
