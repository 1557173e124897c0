//! The internal compacted topics coordinators keep their state in (`__consumer_offsets`,
//! `__transaction_state`): created on first use, as Kafka does, and read back whole at start-up.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use crate::admin::{self, ApiError, PlannedTopic};
use crate::broker::Broker;

/// Bytes read per step when replaying an internal topic at start-up.
const REPLAY_READ_BYTES: usize = 1 << 20;

/// Kafka's default replication factor of internal topics; capped by the brokers registered.
const REPLICATION_FACTOR: usize = 3;

/// Makes sure internal topic `name` exists with `partitions` partitions (created on first use).
/// Costs one metadata lookup once the topic exists. A topic found with another partition count
/// is refused: keys are placed by hashing onto the count the coordinator started with.
pub async fn ensure(broker: &Broker, name: &str, partitions: i32) -> Result<(), ResponseError> {
    if let Some(topic) = broker.metadata.state().topic(name) {
        // Visible in the metadata but not open yet: another request is creating it right now;
        // wait for it below.
        if broker.partition(name, 0).is_some() {
            return placement_matches(name, topic.partitions.len(), partitions);
        }
    }
    let _admin = broker.admin_lock.lock().await;
    let state = broker.metadata.state();
    if let Some(topic) = state.topic(name) {
        return placement_matches(name, topic.partitions.len(), partitions);
    }
    let brokers: Vec<i32> = state.brokers.keys().copied().collect();
    let factor = brokers.len().clamp(1, REPLICATION_FACTOR) as i16;
    let unavailable = |e: &ApiError| {
        tracing::error!(code = ?e.code, message = %e.message, "cannot create {name}");
        ResponseError::CoordinatorNotAvailable
    };
    let replicas =
        admin::assign_replicas(&brokers, 0, partitions, factor).map_err(|e| unavailable(&e))?;
    let plan = PlannedTopic {
        replicas,
        configs: BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("compression.type".to_string(), "producer".to_string()),
            // Smaller segments than user topics (Kafka's offsets.topic.segment.bytes and
            // transaction.state.log.segment.bytes), so the cleaner, which never touches the
            // active segment, gets to compact them.
            ("segment.bytes".to_string(), "104857600".to_string()),
        ]),
    };
    admin::create_topic(broker, name, &plan)
        .await
        .map_err(|e| unavailable(&e))?;
    tracing::info!(partitions, "created internal topic {name}");
    Ok(())
}

fn placement_matches(name: &str, found: usize, expected: i32) -> Result<(), ResponseError> {
    if found == expected as usize {
        return Ok(());
    }
    tracing::error!(
        partitions = found,
        expected,
        "{name} has an unexpected partition count; restart the broker to use it"
    );
    Err(ResponseError::CoordinatorNotAvailable)
}

/// Hands every stored batch of the internal topic's partitions this broker holds to `apply`
/// (partition index, whole batches), in offset order. Returns how many reads were applied.
pub fn replay(
    broker: &Broker,
    name: &str,
    partitions: i32,
    mut apply: impl FnMut(i32, Bytes),
) -> Result<usize, weir_storage::StorageError> {
    let mut reads = 0usize;
    for index in 0..partitions {
        let Some(partition) = broker.partition(name, index) else {
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
            apply(index, read.records.clone());
            reads += 1;
            if next <= offset {
                break;
            }
            offset = next;
        }
    }
    Ok(reads)
}
