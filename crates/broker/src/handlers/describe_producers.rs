//! DescribeProducers: the idempotent and transactional producers writing to each asked
//! partition, from the partition's producer state (epoch, last sequence, last timestamp, the
//! start offset of an open transaction). Partitions not led here get
//! UNKNOWN_TOPIC_OR_PARTITION.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::router::RequestContext;

/// Answers DescribeProducers.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partition_indexes
                .iter()
                .map(|index| {
                    let base = PartitionResponse::default().with_partition_index(*index);
                    if !broker.allows(ctx, AclOperation::Read, ResourceType::Topic, &t.name.0) {
                        return base
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code());
                    }
                    let Some(p) = broker.partition(&t.name.0, *index) else {
                        return base.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let producers = p
                        .producer_summaries()
                        .into_iter()
                        .map(|s| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(s.producer_id))
                                .with_producer_epoch(i32::from(s.epoch))
                                .with_last_sequence(s.last_sequence)
                                .with_last_timestamp(s.last_timestamp)
                                .with_coordinator_epoch(s.coordinator_epoch)
                                .with_current_txn_start_offset(s.current_txn_start_offset)
                        })
                        .collect();
                    base.with_active_producers(producers)
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
