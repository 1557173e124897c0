//! DeleteRecords: raise a partition's log start offset (the low watermark); whole segments
//! below it are deleted. Offset -1 means "up to the high watermark".

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use weir_storage::StorageError;

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::router::RequestContext;

/// Answers DeleteRecords.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.as_str();
            let denied = !broker.allows(ctx, AclOperation::Delete, ResourceType::Topic, name);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let base = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index);
                    let outcome = if denied {
                        Err(ResponseError::TopicAuthorizationFailed)
                    } else {
                        delete(broker, name, p.partition_index, p.offset)
                    };
                    match outcome {
                        Ok(low) => base.with_low_watermark(low),
                        Err(code) => base.with_error_code(code.code()).with_low_watermark(-1),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

fn delete(broker: &Broker, topic: &str, index: i32, offset: i64) -> Result<i64, ResponseError> {
    let partition = broker
        .partition(topic, index)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    let hw = partition.high_watermark();
    let target = if offset == -1 { hw } else { offset };
    if target < 0 || target > hw {
        return Err(ResponseError::OffsetOutOfRange);
    }
    match partition.delete_records_before(target) {
        Ok(low) => Ok(low),
        Err(StorageError::OffsetOutOfRange { .. }) => Err(ResponseError::OffsetOutOfRange),
        Err(e) => {
            tracing::error!(topic, partition = index, error = %e, "delete records failed");
            Err(ResponseError::KafkaStorageError)
        }
    }
}
