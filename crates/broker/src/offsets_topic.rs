//! The broker's side of the group coordinator: the internal compacted topic
//! `__consumer_offsets` that holds group metadata and committed offsets.
//!
//! - created on first use by a group API (as Kafka does), with `cleanup.policy=compact`,
//!   100 MiB segments (Kafka's offsets.topic.segment.bytes) and `--offsets-topic-partitions`
//!   partitions;
//! - [`BrokerOffsetsLog`] appends the coordinator's record batches to its partitions
//!   (`Partition::append_from_coordinator`: no sequence checks, open transactions tracked);
//! - [`recover`] replays every partition into the coordinator at start-up;
//! - [`spawn_timers`] runs the coordinator's session and rebalance timers.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::task::JoinHandle;
use weir_group::{AppendError, OffsetsLog, OFFSETS_TOPIC};

use crate::broker::Broker;
use crate::internal_topic;

/// Appends coordinator records to this broker's `__consumer_offsets` partitions.
pub struct BrokerOffsetsLog<'a>(pub &'a Broker);

impl OffsetsLog for BrokerOffsetsLog<'_> {
    fn append(&self, partition: i32, batch: Bytes) -> Result<(), AppendError> {
        let failed = |reason: String| AppendError { partition, reason };
        let p = self
            .0
            .partition(OFFSETS_TOPIC, partition)
            .ok_or_else(|| failed("partition not open on this broker".into()))?;
        p.append_from_coordinator(&batch)
            .map(|_| ())
            .map_err(|e| failed(e.to_string()))
    }
}

/// Makes sure `__consumer_offsets` exists (created on first use, like Kafka). Group APIs call
/// this first; it costs one metadata lookup once the topic exists.
pub async fn ensure(broker: &Broker) -> Result<(), ResponseError> {
    internal_topic::ensure(broker, OFFSETS_TOPIC, broker.groups.partitions()).await
}

/// Replays every `__consumer_offsets` partition this broker holds into the coordinator, so
/// groups and committed offsets survive a restart.
pub fn recover(broker: &Broker) -> Result<(), weir_storage::StorageError> {
    let reads = internal_topic::replay(
        broker,
        OFFSETS_TOPIC,
        broker.groups.partitions(),
        |index, batches| broker.groups.replay_batches(index, batches),
    )?;
    if reads > 0 {
        tracing::info!(
            groups = broker.groups.list(&BrokerOffsetsLog(broker), &[]).len(),
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
