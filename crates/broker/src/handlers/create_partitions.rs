//! CreatePartitions: grow a topic's partition count (never shrink), with optional manual
//! assignments for the new partitions.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;
use weir_metadata::MetadataCommand;

use crate::admin::{self, ApiError, MAX_PARTITIONS};
use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::router::RequestContext;

/// Answers CreatePartitions.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut names = HashSet::new();
    let duplicates: HashSet<String> = request
        .topics
        .iter()
        .filter(|t| !names.insert(t.name.0.to_string()))
        .map(|t| t.name.0.to_string())
        .collect();
    let _admin = broker.admin_lock.lock().await;
    let mut results = Vec::with_capacity(request.topics.len());
    for t in &request.topics {
        let outcome = if duplicates.contains(t.name.0.as_str()) {
            Err(ApiError::new(
                ResponseError::InvalidRequest,
                "Duplicate topic in request.",
            ))
        } else if !broker.allows(
            ctx,
            AclOperation::Alter,
            ResourceType::Topic,
            t.name.0.as_str(),
        ) {
            Err(ApiError::new(
                ResponseError::TopicAuthorizationFailed,
                "Authorization failed.",
            ))
        } else {
            grow(broker, t, request.validate_only).await
        };
        let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        results.push(match outcome {
            Ok(()) => result,
            Err(e) => result
                .with_error_code(e.code.code())
                .with_error_message(Some(StrBytes::from_string(e.message))),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}

async fn grow(
    broker: &Broker,
    t: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), ApiError> {
    let name = t.name.0.as_str();
    let state = broker.metadata.state();
    let topic = state.topic(name).ok_or_else(|| {
        ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("The topic '{name}' does not exist."),
        )
    })?;
    let current = topic.partitions.len() as i32;
    if t.count < current {
        return Err(ApiError::new(
            ResponseError::InvalidPartitions,
            format!(
                "Topic currently has {current} partitions, which is higher than the requested {}.",
                t.count
            ),
        ));
    }
    if t.count == current {
        return Err(ApiError::new(
            ResponseError::InvalidPartitions,
            format!("Topic already has {current} partitions."),
        ));
    }
    if t.count > MAX_PARTITIONS {
        return Err(ApiError::new(
            ResponseError::InvalidPartitions,
            format!(
                "Number of partitions {} exceeds the limit of {MAX_PARTITIONS}.",
                t.count
            ),
        ));
    }
    let brokers: Vec<i32> = state.brokers.keys().copied().collect();
    let added = t.count - current;
    let new_replicas = match &t.assignments {
        Some(assignments) => {
            if assignments.len() as i32 != added {
                return Err(ApiError::new(
                    ResponseError::InvalidReplicaAssignment,
                    format!("Increasing the number of partitions by {added} but {} assignments provided.", assignments.len()),
                ));
            }
            let lists: Vec<Vec<i32>> = assignments
                .iter()
                .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                .collect();
            for l in &lists {
                admin::validate_replica_list(&brokers, l)?;
            }
            lists
        }
        None => {
            let factor = topic.partitions.first().map_or(1, |p| p.replicas.len()) as i16;
            admin::assign_replicas(&brokers, current, added, factor)?
        }
    };
    if validate_only {
        return Ok(());
    }
    broker
        .metadata
        .submit(MetadataCommand::CreatePartitions {
            name: name.to_string(),
            new_replicas,
        })
        .await??;
    tracing::info!(topic = name, partitions = t.count, "grew topic");
    admin::sync(broker)
}
