//! Produce: validate each partition's batch from its header, append it as the bytes the client
//! sent, and answer with the base offset (nothing at all for acks=0). From v13 on, topics are
//! named by topic id (an unknown id gets UNKNOWN_TOPIC_ID).
//!
//! On one node the high watermark reaches the batch as soon as it is appended (the ISR is this
//! broker alone), so acks=1 and acks=all complete at once; `min.insync.replicas` is still
//! enforced for acks=all.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use weir_metadata::{AclOperation, ResourceType};
use weir_protocol::record_batch::BatchError;
use weir_storage::StorageError;

use crate::broker::Broker;
use crate::partition::{AppendError, Appended, TimestampBounds};
use crate::router::RequestContext;
use crate::time::now_ms;

/// The first Produce version that names topics by id instead of by name.
const TOPIC_IDS_VERSION: i16 = 13;

/// Answers Produce; `None` when the client asked for no response (acks=0).
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    // A transactional producer needs WRITE on its transactional id for any of its writes.
    let txn_denied = request.transactional_id.as_ref().is_some_and(|id| {
        !broker.allows(ctx, AclOperation::Write, ResourceType::TransactionalId, id)
    });
    // v13+ names topics by id (KIP-516).
    let state = (ctx.version >= TOPIC_IDS_VERSION).then(|| broker.metadata.state());
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let name = match &state {
            Some(state) => state.topic_by_id(&topic.topic_id).map(|t| t.name.clone()),
            None => Some(topic.name.0.to_string()),
        };
        let name = name.as_deref();
        let topic_denied = name.is_some_and(|name| {
            !broker.allows(ctx, AclOperation::Write, ResourceType::Topic, name)
        });
        let partition_responses = topic
            .partition_data
            .into_iter()
            .map(|p| {
                let result = if txn_denied {
                    Err(ResponseError::TransactionalIdAuthorizationFailed.into())
                } else if name.is_none() {
                    Err(ResponseError::UnknownTopicId.into())
                } else if topic_denied {
                    Err(ResponseError::TopicAuthorizationFailed.into())
                } else if !matches!(acks, -1..=1) {
                    Err(ResponseError::InvalidRequiredAcks.into())
                } else {
                    append(broker, name.unwrap_or_default(), p.index, p.records, acks)
                };
                match result {
                    Ok(ok) => ok,
                    Err(failure) => failure.response(p.index, ctx.version),
                }
            })
            .collect();
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partition_responses),
        );
    }
    (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
}

/// Why a partition's records were not appended.
struct Failure {
    code: ResponseError,
    /// KIP-467 detail (v8+): a message and the rejected records' indexes.
    detail: Option<(String, Vec<(i32, String)>)>,
}

impl From<ResponseError> for Failure {
    fn from(code: ResponseError) -> Self {
        Failure { code, detail: None }
    }
}

impl Failure {
    fn response(self, index: i32, version: i16) -> PartitionProduceResponse {
        let base = PartitionProduceResponse::default()
            .with_index(index)
            .with_error_code(self.code.code())
            .with_base_offset(-1);
        match self.detail {
            // Record errors and the error message exist on the wire from v8 on.
            Some((message, errors)) if version >= 8 => base
                .with_error_message(Some(StrBytes::from_string(message)))
                .with_record_errors(
                    errors
                        .into_iter()
                        .map(|(i, why)| {
                            BatchIndexAndErrorMessage::default()
                                .with_batch_index(i)
                                .with_batch_index_error_message(Some(StrBytes::from_string(why)))
                        })
                        .collect(),
                ),
            _ => base,
        }
    }
}

fn append(
    broker: &Broker,
    topic: &str,
    index: i32,
    records: Option<Bytes>,
    acks: i16,
) -> Result<PartitionProduceResponse, Failure> {
    let partition = broker
        .partition(topic, index)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    let records = records
        .filter(|r| !r.is_empty())
        .ok_or(ResponseError::InvalidRecord)?;
    let settings = partition.settings();
    if records.len() > settings.policy.max_message_bytes {
        return Err(ResponseError::MessageTooLarge.into());
    }
    // The ISR is this broker alone until replication exists.
    let in_sync_replicas = 1;
    if acks == -1 && in_sync_replicas < settings.policy.min_insync_replicas {
        return Err(ResponseError::NotEnoughReplicas.into());
    }
    let now = now_ms();
    let policy = &settings.policy;
    let append_time = policy.log_append_time.then_some(now);
    let timestamps = (!policy.log_append_time).then(|| TimestampBounds {
        min: now.saturating_sub(policy.timestamp_before_max_ms),
        max: now.saturating_add(policy.timestamp_after_max_ms),
    });
    let appended = partition
        .append(&records, settings.leader_epoch, append_time, timestamps)
        .map_err(|e| match e {
            AppendError::Storage(e) => storage_error_code(topic, index, &e).into(),
            AppendError::Rejected(code) => code.into(),
            AppendError::InvalidRecords {
                message,
                record_errors,
            } => Failure {
                code: ResponseError::InvalidRecord,
                detail: Some((message, record_errors)),
            },
        })?;
    let (base_offset, log_append_time) = match appended {
        Appended::New(info) => (info.base_offset, info.log_append_time.unwrap_or(-1)),
        Appended::Duplicate { base_offset } => (base_offset, -1),
    };
    Ok(PartitionProduceResponse::default()
        .with_index(index)
        .with_base_offset(base_offset)
        .with_log_append_time_ms(log_append_time)
        .with_log_start_offset(partition.log_start_offset()))
}

/// Maps a storage failure on the produce path to its Kafka error code.
fn storage_error_code(topic: &str, index: i32, e: &StorageError) -> ResponseError {
    match e {
        StorageError::InvalidBatch(BatchError::UnsupportedMagic(_)) => ResponseError::InvalidRecord,
        StorageError::InvalidBatch(_) => ResponseError::CorruptMessage,
        other => {
            tracing::error!(topic, partition = index, error = %other, "append failed");
            ResponseError::KafkaStorageError
        }
    }
}
