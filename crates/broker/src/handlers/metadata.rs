//! Metadata: brokers, controller, cluster id, and topics with their ids, partitions, leaders,
//! leader epochs and replicas. Unknown topics are auto-created when both the broker
//! (`auto.create.topics.enable`) and the request (v4+) allow it.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;
use weir_metadata::acl::CLUSTER_RESOURCE_NAME;
use weir_metadata::{AclOperation, ResourceType, TopicInfo};

use crate::admin::{self, NewTopic};
use crate::broker::Broker;
use crate::router::RequestContext;

/// Whether a topic is one of Kafka's internal topics.
pub fn is_internal(name: &str) -> bool {
    name == "__consumer_offsets" || name == "__transaction_state"
}

/// Answers Metadata.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: MetadataRequest,
) -> MetadataResponse {
    // v0: an empty list means all topics; v1+: null means all topics.
    let requested = match request.topics {
        None => None,
        Some(t) if t.is_empty() && ctx.version == 0 => None,
        Some(t) => Some(t),
    };
    let allow_create =
        broker.config.auto_create_topics && (ctx.version < 4 || request.allow_auto_topic_creation);

    let authz = &broker.authorizer;
    let mut topics = Vec::new();
    match requested {
        None => {
            let state = broker.metadata.state();
            // Topics the principal may not describe are left out of an "all topics" answer.
            topics.extend(
                state
                    .topics
                    .values()
                    .filter(|t| {
                        authz.allows(
                            &state,
                            ctx,
                            AclOperation::Describe,
                            ResourceType::Topic,
                            &t.name,
                        )
                    })
                    .map(topic_response),
            );
        }
        Some(wanted) => {
            for t in wanted {
                let response = match t.name {
                    Some(name) => by_name(broker, ctx, name.0.as_str(), allow_create).await,
                    None => by_id(broker, ctx, t.topic_id),
                };
                topics.push(response);
            }
        }
    }
    if ctx.version >= 8 && request.include_topic_authorized_operations {
        let state = broker.metadata.state();
        for t in topics.iter_mut().filter(|t| t.error_code == 0) {
            if let Some(name) = &t.name {
                t.topic_authorized_operations =
                    authz.authorized_operations(&state, ctx, ResourceType::Topic, name.0.as_str());
            }
        }
    }

    let state = broker.metadata.state();
    let brokers = state
        .brokers
        .values()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(b.port)
                .with_rack(b.rack.clone().map(StrBytes::from_string))
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(state.cluster_id.clone().map(StrBytes::from_string))
        .with_controller_id(BrokerId(
            broker
                .metadata
                .controller_id()
                .unwrap_or(broker.config.node_id),
        ))
        .with_cluster_authorized_operations(authz.authorized_operations_if(
            (8..=10).contains(&ctx.version) && request.include_cluster_authorized_operations,
            &state,
            ctx,
            ResourceType::Cluster,
            CLUSTER_RESOURCE_NAME,
        ))
        .with_topics(topics)
}

async fn by_name(
    broker: &Broker,
    ctx: &RequestContext,
    name: &str,
    allow_create: bool,
) -> MetadataResponseTopic {
    let state = broker.metadata.state();
    let authz = &broker.authorizer;
    if !authz.allows(
        &state,
        ctx,
        AclOperation::Describe,
        ResourceType::Topic,
        name,
    ) {
        return error_topic(
            Some(name),
            Uuid::nil(),
            ResponseError::TopicAuthorizationFailed,
        );
    }
    if let Some(topic) = state.topic(name) {
        return topic_response(topic);
    }
    if let Err(e) = admin::validate_topic_name(name) {
        return error_topic(Some(name), Uuid::nil(), e.code);
    }
    // Internal topics are created by their coordinators, never by a Metadata request.
    if !allow_create || is_internal(name) {
        return error_topic(
            Some(name),
            Uuid::nil(),
            ResponseError::UnknownTopicOrPartition,
        );
    }
    // Auto-creation needs CREATE on the cluster or on the topic, as CreateTopics does.
    if !authz.allows_cluster(&state, ctx, AclOperation::Create)
        && !authz.allows(&state, ctx, AclOperation::Create, ResourceType::Topic, name)
    {
        return error_topic(
            Some(name),
            Uuid::nil(),
            ResponseError::TopicAuthorizationFailed,
        );
    }
    match auto_create(broker, name).await {
        Ok(topic) => topic_response(&topic),
        Err(e) => {
            tracing::info!(topic = name, error = %e.message, "auto-creation failed");
            let code = match e.code {
                ResponseError::InvalidTopicException => e.code,
                _ => ResponseError::UnknownTopicOrPartition,
            };
            error_topic(Some(name), Uuid::nil(), code)
        }
    }
}

async fn auto_create(broker: &Broker, name: &str) -> Result<TopicInfo, admin::ApiError> {
    let _admin = broker.admin_lock.lock().await;
    let state = broker.metadata.state();
    if let Some(topic) = state.topic(name) {
        return Ok(topic.clone());
    }
    let plan = admin::plan_topic(
        broker,
        &state,
        &NewTopic {
            name: name.to_string(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: Vec::new(),
            configs: Vec::new(),
        },
    )?;
    let topic = admin::create_topic(broker, name, &plan).await?;
    tracing::info!(
        topic = name,
        partitions = plan.num_partitions(),
        "auto-created topic"
    );
    Ok(topic)
}

fn by_id(broker: &Broker, ctx: &RequestContext, id: Uuid) -> MetadataResponseTopic {
    let state = broker.metadata.state();
    match state.topic_by_id(&id) {
        Some(topic)
            if !broker.authorizer.allows(
                &state,
                ctx,
                AclOperation::Describe,
                ResourceType::Topic,
                &topic.name,
            ) =>
        {
            error_topic(None, id, ResponseError::TopicAuthorizationFailed)
        }
        Some(topic) => topic_response(topic),
        None => error_topic(None, id, ResponseError::UnknownTopicId),
    }
}

fn error_topic(name: Option<&str>, id: Uuid, code: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n.to_string()))))
        .with_topic_id(id)
        .with_error_code(code.code())
}

/// The Metadata view of one topic.
pub fn topic_response(topic: &TopicInfo) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .enumerate()
        .map(|(i, p)| {
            MetadataResponsePartition::default()
                .with_partition_index(i as i32)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().copied().map(BrokerId).collect())
                .with_isr_nodes(p.isr.iter().copied().map(BrokerId).collect())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(is_internal(&topic.name))
        .with_partitions(partitions)
}
