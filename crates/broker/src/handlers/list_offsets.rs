//! ListOffsets: offsets by timestamp, with Kafka's special timestamps: -1 latest (the high
//! watermark, or the last stable offset for read_committed), -2 earliest (log start), -3 the
//! record with the largest timestamp, -4 earliest local (the same as earliest without tiered
//! storage), -5 latest tiered (none: -1).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::router::RequestContext;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// Answers ListOffsets.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.as_str();
            let denied = !broker.allows(ctx, AclOperation::Describe, ResourceType::Topic, name);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let base = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    if denied {
                        return base
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                            .with_timestamp(-1)
                            .with_offset(-1);
                    }
                    match lookup(
                        broker,
                        name,
                        p.partition_index,
                        p.current_leader_epoch,
                        p.timestamp,
                        request.isolation_level == 1,
                    ) {
                        Ok((timestamp, offset, epoch)) => base
                            .with_timestamp(timestamp)
                            .with_offset(offset)
                            // The leader epoch exists on the wire from v4 on.
                            .with_leader_epoch(if ctx.version >= 4 { epoch } else { -1 }),
                        Err(code) => base
                            .with_error_code(code.code())
                            .with_timestamp(-1)
                            .with_offset(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// (timestamp, offset, leader epoch) for one partition.
fn lookup(
    broker: &Broker,
    topic: &str,
    index: i32,
    current_leader_epoch: i32,
    timestamp: i64,
    read_committed: bool,
) -> Result<(i64, i64, i32), ResponseError> {
    let partition = broker
        .partition(topic, index)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    let epoch = partition.settings().leader_epoch;
    if current_leader_epoch >= 0 && current_leader_epoch != epoch {
        return Err(if current_leader_epoch > epoch {
            ResponseError::UnknownLeaderEpoch
        } else {
            ResponseError::FencedLeaderEpoch
        });
    }
    let storage = |e: weir_storage::StorageError| {
        tracing::error!(topic, partition = index, error = %e, "offset lookup failed");
        ResponseError::KafkaStorageError
    };
    // What the caller may read: up to the last stable offset for read_committed.
    let fetchable = if read_committed {
        partition.last_stable_offset()
    } else {
        partition.high_watermark()
    };
    Ok(match timestamp {
        LATEST => (-1, fetchable, epoch),
        EARLIEST | EARLIEST_LOCAL => (-1, partition.log_start_offset(), epoch),
        LATEST_TIERED => (-1, -1, -1),
        MAX_TIMESTAMP => match partition.max_timestamp().map_err(storage)? {
            Some((ts, offset)) => (ts, offset, epoch),
            None => (-1, -1, -1),
        },
        ts if ts < 0 => return Err(ResponseError::InvalidRequest),
        ts => match partition.offset_for_timestamp(ts).map_err(storage)? {
            Some((offset, found_ts)) if offset < fetchable => (found_ts, offset, epoch),
            _ => (-1, -1, -1),
        },
    })
}
