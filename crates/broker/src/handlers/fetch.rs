//! Fetch: serve stored batches as they are, bounded by the high watermark, `max_bytes` and
//! `partition_max_bytes` (with KIP-74's "at least one batch" rule so a batch larger than the
//! limits never blocks a consumer), and long-poll until `min_bytes` arrived or `max_wait_ms`
//! passed, woken by appends rather than by polling.
//!
//! `isolation_level = 1` (read_committed) reads only below the last stable offset and lists
//! the aborted transactions among the records returned, so the client drops their records.
//!
//! Reads of 64 KiB and more are not read into memory: their record data is a region of the
//! segment file, which the response carries as a placeholder (see
//! `weir_protocol::file_region`) and the connection sends with `sendfile`.
//!
//! Fetch sessions (KIP-227) are not kept: every response carries session id 0, which tells the
//! client to send full fetch requests, exactly as a Kafka broker with no free session slots does.

use std::sync::Arc;
use std::time::Duration;

use futures::future::select_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;
use weir_metadata::{AclOperation, ResourceType};
use weir_protocol::file_region::FileRegions;
use weir_storage::{FetchRecords, StorageError};

use crate::broker::Broker;
use crate::partition::Partition;
use crate::router::RequestContext;

/// First version whose topics are named by id.
const TOPIC_IDS_VERSION: i16 = 13;

/// Answers Fetch, waiting up to `max_wait_ms` for `min_bytes`: the response, and the file
/// regions its placeholders stand for.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: FetchRequest,
) -> (FetchResponse, FileRegions) {
    if request.session_id != 0 {
        let response = FetchResponse::default()
            .with_error_code(ResponseError::FetchSessionIdNotFound.code())
            .with_session_id(0);
        return (response, FileRegions::default());
    }
    let max_wait = Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let deadline = tokio::time::Instant::now() + max_wait;
    let min_bytes = request.min_bytes.max(0) as usize;
    loop {
        let mut watchers = Vec::new();
        let (response, regions, bytes, has_error) = collect(broker, ctx, &request, &mut watchers);
        let expired = tokio::time::Instant::now() >= deadline;
        if bytes >= min_bytes.max(1) || has_error || expired || watchers.is_empty() {
            return (response, regions);
        }
        // Wait for any partition's high watermark to move, or for the deadline.
        let changes = select_all(watchers.iter_mut().map(|w| Box::pin(w.changed())));
        if tokio::time::timeout_at(deadline, changes).await.is_err() {
            let mut unused = Vec::new();
            let (response, regions, _, _) = collect(broker, ctx, &request, &mut unused);
            return (response, regions);
        }
    }
}

/// Reads every requested partition once. Returns the response, the file regions its
/// placeholders stand for, the record bytes in it, whether any partition failed, and a
/// high-watermark watcher per partition read (subscribed before reading, so no append between
/// the read and the wait is missed).
fn collect(
    broker: &Broker,
    ctx: &RequestContext,
    request: &FetchRequest,
    watchers: &mut Vec<watch::Receiver<i64>>,
) -> (FetchResponse, FileRegions, usize, bool) {
    let version = ctx.version;
    let state = broker.metadata.state();
    let mut remaining = request.max_bytes.max(0) as usize;
    let mut total = 0usize;
    let mut has_error = false;
    let mut regions = FileRegions::default();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name: Option<String> = if version >= TOPIC_IDS_VERSION {
            state.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.topic.0.to_string())
        };
        let denied = name.as_deref().is_some_and(|n| {
            !broker
                .authorizer
                .allows(&state, ctx, AclOperation::Read, ResourceType::Topic, n)
        });
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let data = match &name {
                None => error_partition(p.partition, ResponseError::UnknownTopicId),
                Some(_) if denied => {
                    error_partition(p.partition, ResponseError::TopicAuthorizationFailed)
                }
                Some(name) => match broker.partition(name, p.partition) {
                    None => error_partition(p.partition, ResponseError::UnknownTopicOrPartition),
                    Some(partition) => {
                        let mut watcher = partition.watch_high_watermark();
                        watcher.borrow_and_update();
                        watchers.push(watcher);
                        // KIP-74: the first batch of the response is returned whole even when
                        // it exceeds the limits.
                        let min_one = total == 0;
                        let limit = (p.partition_max_bytes.max(0) as usize).min(remaining);
                        let committed = request.isolation_level == 1;
                        let data =
                            read_partition(&partition, p, limit, min_one, committed, &mut regions);
                        let n = data.records.as_ref().map_or(0, |r| r.len());
                        total += n;
                        remaining = remaining.saturating_sub(n);
                        data
                    }
                },
            };
            has_error |= data.error_code != 0;
            partitions.push(data);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(
                    name.map_or_else(TopicName::default, |n| TopicName(StrBytes::from_string(n))),
                )
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    let response = FetchResponse::default()
        .with_session_id(0)
        .with_responses(topics);
    (response, regions, total, has_error)
}

/// One partition's answer, up to `limit` bytes (`min_one`: KIP-74's first whole batch). Record
/// data left in a segment file gets a placeholder from `regions`.
fn read_partition(
    partition: &Partition,
    p: &FetchPartition,
    limit: usize,
    min_one: bool,
    read_committed: bool,
    regions: &mut FileRegions,
) -> PartitionData {
    let epoch = partition.settings().leader_epoch;
    if p.current_leader_epoch >= 0 && p.current_leader_epoch != epoch {
        let code = if p.current_leader_epoch > epoch {
            ResponseError::UnknownLeaderEpoch
        } else {
            ResponseError::FencedLeaderEpoch
        };
        return error_partition(p.partition, code);
    }
    let hw = partition.high_watermark();
    let base = PartitionData::default()
        .with_partition_index(p.partition)
        .with_high_watermark(hw)
        .with_last_stable_offset(partition.last_stable_offset())
        .with_aborted_transactions(None);
    if limit == 0 && !min_one {
        return base
            .with_log_start_offset(partition.log_start_offset())
            .with_records(Some(Default::default()));
    }
    let read = partition
        .read_for_fetch(p.fetch_offset, limit, min_one, read_committed)
        .and_then(|(read, committed)| {
            let records = match read.records {
                FetchRecords::Bytes(bytes) => bytes,
                FetchRecords::File(region) => match regions.placeholder(region) {
                    Ok(placeholder) => placeholder,
                    Err(region) => region.read_all()?,
                },
            };
            Ok((records, read.log_start_offset, committed))
        });
    match read {
        Ok((records, log_start_offset, committed)) => {
            let base = match committed {
                Some((lso, aborted)) => {
                    let aborted = aborted
                        .into_iter()
                        .map(|a| {
                            AbortedTransaction::default()
                                .with_producer_id(ProducerId(a.producer_id))
                                .with_first_offset(a.first_offset)
                        })
                        .collect();
                    base.with_last_stable_offset(lso)
                        .with_aborted_transactions(Some(aborted))
                }
                None => base,
            };
            base.with_log_start_offset(log_start_offset)
                .with_records(Some(records))
        }
        Err(StorageError::OffsetOutOfRange { log_start, .. }) => base
            .with_error_code(ResponseError::OffsetOutOfRange.code())
            .with_log_start_offset(log_start)
            .with_records(Some(Default::default())),
        Err(e) => {
            tracing::error!(topic = %partition.topic, partition = p.partition, error = %e, "fetch read failed");
            error_partition(p.partition, ResponseError::KafkaStorageError)
        }
    }
}

fn error_partition(index: i32, code: ResponseError) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(code.code())
        .with_high_watermark(-1)
        .with_records(Some(Default::default()))
        .with_aborted_transactions(None)
}
