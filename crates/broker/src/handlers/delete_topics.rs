//! DeleteTopics: by name (v0-5) or by name or id (v6+); the topic leaves the metadata state
//! and its partition logs are deleted.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;
use weir_metadata::{AclOperation, MetadataCommand, ResourceType};

use crate::admin::{self, ApiError};
use crate::broker::Broker;
use crate::handlers::metadata::is_internal;
use crate::router::RequestContext;

/// Answers DeleteTopics.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    // v0-5 list names; v6+ list (name or id) states.
    let mut wanted: Vec<(Option<String>, Uuid)> = request
        .topic_names
        .iter()
        .map(|n| (Some(n.0.to_string()), Uuid::nil()))
        .collect();
    wanted.extend(
        request
            .topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id)),
    );
    let _admin = broker.admin_lock.lock().await;
    let mut results = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let state = broker.metadata.state();
        let found = match &name {
            Some(n) => state.topic(n).ok_or_else(|| {
                ApiError::new(
                    ResponseError::UnknownTopicOrPartition,
                    "This server does not host this topic-partition.",
                )
            }),
            None => state.topic_by_id(&id).ok_or_else(|| {
                ApiError::new(
                    ResponseError::UnknownTopicId,
                    "This server does not host this topic ID.",
                )
            }),
        }
        .cloned();
        let outcome = match found {
            Err(e) => Err(e),
            Ok(topic)
                if !broker.allows(ctx, AclOperation::Delete, ResourceType::Topic, &topic.name) =>
            {
                Err(ApiError::new(
                    ResponseError::TopicAuthorizationFailed,
                    "Authorization failed.",
                ))
            }
            Ok(topic) if is_internal(&topic.name) => Err(ApiError::new(
                ResponseError::TopicDeletionDisabled,
                "Internal topics cannot be deleted",
            )),
            Ok(topic) => delete(broker, &topic.name).await.map(|()| topic),
        };
        let result = DeletableTopicResult::default()
            .with_name(name.clone().map(|n| TopicName(StrBytes::from_string(n))))
            .with_topic_id(id);
        results.push(match outcome {
            Ok(topic) => {
                tracing::info!(topic = %topic.name, "deleted topic");
                result
                    .with_name(Some(TopicName(StrBytes::from_string(topic.name))))
                    .with_topic_id(topic.id)
            }
            Err(e) => result
                .with_error_code(e.code.code())
                .with_error_message(Some(StrBytes::from_string(e.message))),
        });
    }
    DeleteTopicsResponse::default().with_responses(results)
}

async fn delete(broker: &Broker, name: &str) -> Result<(), ApiError> {
    broker
        .metadata
        .submit(MetadataCommand::DeleteTopic {
            name: name.to_string(),
        })
        .await??;
    admin::sync(broker)
}
