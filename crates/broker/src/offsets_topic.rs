//! The broker's side of the group coordinator: the internal compacted topic
//! `__consumer_offsets` that holds group metadata and committed offsets.
//!
//! - created on first use by a group API (as Kafka does), with `cleanup.policy=compact`,
//!   100 MiB segments (Kafka's offsets.topic.segment.bytes) and `--offsets-topic-partitions`
//!   partitions;
//! - [`BrokerOffsetsLog`] appends the coordinator's record batches to its partitions through the
//!   normal `Partition::append` path;
//! - [`recover`] replays every partition into the coordinator at start-up;
//! - [`spawn_timers`] runs the coordinator's session and rebalance timers.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::task::JoinHandle;
use weir_group::{AppendError, OffsetsLog, OFFSETS_TOPIC};

use crate::admin::{self, ApiError, PlannedTopic};
use crate::broker::Broker;

/// Bytes read per step when replaying `__consumer_offsets` at start-up.
const REPLAY_READ_BYTES: usize = 1 << 20;

/// Kafka's offsets.topic.replication.factor default; capped by the brokers registered.
const OFFSETS_REPLICATION_FACTOR: usize = 3;

/// Appends coordinator records to this broker's `__consumer_offsets` partitions.
pub struct BrokerOffsetsLog<'a>(pub &'a Broker);

impl OffsetsLog for BrokerOffsetsLog<'_> {
    fn append(&self, partition: i32, batch: Bytes) -> Result<(), AppendError> {
        let failed = |reason: String| AppendError { partition, reason };
        let p = self
            .0
            .partition(OFFSETS_TOPIC, partition)
            .ok_or_else(|| failed("partition not open on this broker".into()))?;
        let epoch = p.settings().leader_epoch;
        p.append(&batch, epoch, None, None)
            .map(|_| ())
            .map_err(|e| failed(e.to_string()))
    }
}

/// Makes sure `__consumer_offsets` exists (created on first use, like Kafka). Group APIs call
/// this first; it costs one metadata lookup once the topic exists.
pub async fn ensure(broker: &Broker) -> Result<(), ResponseError> {
    if let Some(topic) = broker.metadata.state().topic(OFFSETS_TOPIC) {
        // Visible in the metadata but not open yet: another request is creating it right now;
        // wait for it below.
        if broker.partition(OFFSETS_TOPIC, 0).is_some() {
            return placement_matches(broker, topic.partitions.len());
        }
    }
    let _admin = broker.admin_lock.lock().await;
    let state = broker.metadata.state();
    if let Some(topic) = state.topic(OFFSETS_TOPIC) {
        return placement_matches(broker, topic.partitions.len());
    }
    let brokers: Vec<i32> = state.brokers.keys().copied().collect();
    let factor = brokers.len().clamp(1, OFFSETS_REPLICATION_FACTOR) as i16;
    let replicas = admin::assign_replicas(&brokers, 0, broker.groups.partitions(), factor)
        .map_err(|e| unavailable(&e))?;
    let plan = PlannedTopic {
        replicas,
        configs: BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("compression.type".to_string(), "producer".to_string()),
            // offsets.topic.segment.bytes: smaller segments than user topics, so the cleaner
            // (which never touches the active segment) gets to compact them.
            ("segment.bytes".to_string(), "104857600".to_string()),
        ]),
    };
    admin::create_topic(broker, OFFSETS_TOPIC, &plan)
        .await
        .map_err(|e| unavailable(&e))?;
    tracing::info!(
        partitions = broker.groups.partitions(),
        "created internal topic {OFFSETS_TOPIC}"
    );
    Ok(())
}

/// Group placement hashes onto the partition count the coordinator started with; a
/// `__consumer_offsets` created by hand meanwhile with another count is used after a restart.
fn placement_matches(broker: &Broker, partitions: usize) -> Result<(), ResponseError> {
    if partitions == broker.groups.partitions() as usize {
        return Ok(());
    }
    tracing::error!(
        partitions,
        expected = broker.groups.partitions(),
        "{OFFSETS_TOPIC} has an unexpected partition count; restart the broker to use it"
    );
    Err(ResponseError::CoordinatorNotAvailable)
}

fn unavailable(e: &ApiError) -> ResponseError {
    tracing::error!(code = ?e.code, message = %e.message, "cannot create {OFFSETS_TOPIC}");
    ResponseError::CoordinatorNotAvailable
}

/// Replays every `__consumer_offsets` partition this broker holds into the coordinator, so
/// groups and committed offsets survive a restart.
pub fn recover(broker: &Broker) -> Result<(), weir_storage::StorageError> {
    let mut groups_read = 0usize;
    for index in 0..broker.groups.partitions() {
        let Some(partition) = broker.partition(OFFSETS_TOPIC, index) else {
            continue;
        };
        let end = partition.high_watermark();
        let mut offset = partition.log_start_offset();
        while offset < end {
            let read = partition.read(offset, REPLAY_READ_BYTES, true)?;
            if read.records.is_empty() {
                break;
            }
            let mut next = offset;
            for batch in weir_protocol::record_batch::BatchIter::new(&read.records) {
                match batch {
                    Ok(b) => next = b.last_offset() + 1,
                    Err(_) => break,
                }
            }
            broker.groups.replay_batches(index, read.records.clone());
            groups_read += 1;
            if next <= offset {
                break;
            }
            offset = next;
        }
    }
    if groups_read > 0 {
        tracing::info!(
            groups = broker.groups.list(&[]).len(),
            "recovered groups from {OFFSETS_TOPIC}"
        );
    }
    Ok(())
}

/// Starts the task that expires sessions and ends overdue rebalances.
pub fn spawn_timers(broker: Arc<Broker>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let log = BrokerOffsetsLog(&broker);
        broker.groups.run_timers(&log).await;
    })
}
