//! The broker's side of the transaction coordinator: the internal compacted topic
//! `__transaction_state`, the markers written to data partitions, recovery and the timer.
//!
//! - [`BrokerTxnEnv`] appends the coordinator's records to `__transaction_state` and writes
//!   commit/abort markers to the partitions of a transaction (`Partition::append_marker`);
//!   a marker on a `__consumer_offsets` partition also tells the group coordinator to apply or
//!   drop the transaction's offsets;
//! - [`ensure`] creates the topic on first use (FindCoordinator for a transactional id, as
//!   Kafka does), with `--transaction-state-partitions` partitions;
//! - [`recover`] replays the topic at start-up; transactions found prepared get their markers
//!   written by the first timer tick, open ones are aborted when their timeout passes;
//! - [`spawn_timer`] runs that tick every `--transaction-timeout-check-interval-ms`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::task::JoinHandle;
use weir_group::OFFSETS_TOPIC;
use weir_protocol::control::Marker;
use weir_txn::{EnvError, TxnEnv, TRANSACTION_STATE_TOPIC};

use crate::broker::Broker;
use crate::internal_topic;
use crate::time::now_ms;

/// The coordinator epoch markers carry: the `__transaction_state` partition's leader epoch in
/// Kafka; one node never changes coordinator.
const COORDINATOR_EPOCH: i32 = 0;

/// The transaction coordinator's view of the broker.
pub struct BrokerTxnEnv<'a>(pub &'a Broker);

impl TxnEnv for BrokerTxnEnv<'_> {
    fn append(&self, partition: i32, batch: Bytes) -> Result<(), EnvError> {
        let p = self
            .0
            .partition(TRANSACTION_STATE_TOPIC, partition)
            .ok_or_else(|| {
                EnvError(format!(
                    "{TRANSACTION_STATE_TOPIC}-{partition} is not open on this broker"
                ))
            })?;
        p.append_from_coordinator(&batch)
            .map(|_| ())
            .map_err(|e| EnvError(e.to_string()))
    }

    fn write_markers(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        partitions: &BTreeSet<(String, i32)>,
    ) -> Result<(), EnvError> {
        let marker = if commit {
            Marker::Commit
        } else {
            Marker::Abort
        };
        let now = now_ms();
        for (topic, index) in partitions {
            let Some(p) = self.0.partition(topic, *index) else {
                // The topic was deleted meanwhile: nothing to mark (Kafka skips it too).
                tracing::debug!(
                    topic,
                    partition = index,
                    "no marker for a partition that is gone"
                );
                continue;
            };
            p.append_marker(producer_id, producer_epoch, marker, COORDINATOR_EPOCH, now)
                .map_err(|e| EnvError(format!("marker for {topic}-{index}: {e}")))?;
            if topic == OFFSETS_TOPIC {
                self.0
                    .groups
                    .complete_transaction(*index, producer_id, commit);
            }
        }
        Ok(())
    }
}

/// Makes sure `__transaction_state` exists (created on first use).
pub async fn ensure(broker: &Broker) -> Result<(), ResponseError> {
    internal_topic::ensure(broker, TRANSACTION_STATE_TOPIC, broker.txns.partitions()).await
}

/// Replays every `__transaction_state` partition this broker holds into the coordinator.
pub fn recover(broker: &Broker) -> Result<(), weir_storage::StorageError> {
    let reads = internal_topic::replay(
        broker,
        TRANSACTION_STATE_TOPIC,
        broker.txns.partitions(),
        |index, batches| broker.txns.replay_batches(index, &batches),
    )?;
    if reads > 0 {
        let ids = broker.txns.list(&[], &[], -1, now_ms()).len();
        tracing::info!(
            transactional_ids = ids,
            "recovered transactions from {TRANSACTION_STATE_TOPIC}"
        );
        // Finish what the log says was decided before the restart, now rather than at the
        // first tick.
        broker.txns.tick(&BrokerTxnEnv(broker), now_ms());
    }
    Ok(())
}

/// Starts the task that aborts timed-out transactions and finishes prepared ones.
pub fn spawn_timer(broker: Arc<Broker>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let period = Duration::from_millis(broker.config.transaction_timeout_check_interval_ms);
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let b = broker.clone();
            // Markers may fsync (flush policy every-append): off the async workers.
            let _ = tokio::task::spawn_blocking(move || {
                b.txns.tick(&BrokerTxnEnv(&b), now_ms());
            })
            .await;
        }
    })
}

/// KIP-588: PRODUCER_FENCED exists from `fenced_since` on in each transactional API; older
/// versions get INVALID_PRODUCER_EPOCH, which their clients also treat as fatal.
pub fn for_version(error: ResponseError, version: i16, fenced_since: i16) -> ResponseError {
    match error {
        ResponseError::ProducerFenced if version < fenced_since => {
            ResponseError::InvalidProducerEpoch
        }
        other => other,
    }
}
