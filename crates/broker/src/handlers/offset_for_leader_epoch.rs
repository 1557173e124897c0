//! OffsetForLeaderEpoch: the end offset of a leader epoch, so a consumer (or, later, a
//! follower) can detect and truncate a log that diverged after a leader change.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::router::RequestContext;

/// Answers OffsetForLeaderEpoch.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.topic.0.as_str();
            let denied = !broker.allows(ctx, AclOperation::Describe, ResourceType::Topic, name);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let base = EpochEndOffset::default().with_partition(p.partition);
                    if denied {
                        return base
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1);
                    }
                    let Some(partition) = broker.partition(name, p.partition) else {
                        return base
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1);
                    };
                    let current = partition.settings().leader_epoch;
                    if p.current_leader_epoch >= 0 && p.current_leader_epoch != current {
                        let code = if p.current_leader_epoch > current {
                            ResponseError::UnknownLeaderEpoch
                        } else {
                            ResponseError::FencedLeaderEpoch
                        };
                        return base
                            .with_error_code(code.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1);
                    }
                    let (epoch, end) = partition
                        .end_offset_for_epoch(p.leader_epoch)
                        .unwrap_or((-1, -1));
                    base.with_leader_epoch(epoch).with_end_offset(end)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
