//! OffsetDelete: removes a group's committed offsets (tombstones in `__consumer_offsets`);
//! refused per partition with GROUP_SUBSCRIBED_TO_TOPIC while a live member consumes the topic.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::offsets_topic::{self, BrokerOffsetsLog};
use crate::router::RequestContext;

/// Answers OffsetDelete.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    if !broker.allows(
        ctx,
        AclOperation::Delete,
        ResourceType::Group,
        &request.group_id.0,
    ) {
        return OffsetDeleteResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    if let Err(e) = offsets_topic::ensure(broker).await {
        return OffsetDeleteResponse::default().with_error_code(e.code());
    }
    let partitions: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.0.to_string(), p.partition_index))
        })
        .collect();
    let result =
        broker
            .groups
            .delete_offsets(&BrokerOffsetsLog(broker), &request.group_id.0, &partitions);
    let errors = match result {
        Err(e) => return OffsetDeleteResponse::default().with_error_code(e.code()),
        Ok(errors) => errors,
    };
    let mut errors = errors.into_iter();
    let topics = request
        .topics
        .iter()
        .map(|t| {
            OffsetDeleteResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let e = errors.next().flatten();
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(e.map_or(0, |e| e.code()))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
