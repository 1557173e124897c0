//! Background work on every partition: retention (`log.retention.check.interval.ms`, for
//! `cleanup.policy` with `delete`), compaction (`log.cleaner.backoff.ms`, for `compact`),
//! idle-producer expiry (`producer.id.expiration.ms`) with producer-state snapshots, and
//! interval flushing (`--flush-policy interval-ms:N`).

use std::sync::Arc;
use std::time::Duration;

use weir_storage::FlushPolicy;

use crate::broker::Broker;
use crate::partition::Partition;
use crate::time::now_ms;

/// Runs until aborted.
pub async fn run(broker: Arc<Broker>) {
    let retention_every = Duration::from_millis(broker.config.retention_check_interval_ms);
    let cleaner_every = Duration::from_millis(broker.config.log_cleaner_backoff_ms);
    let flush_every = match broker.config.flush_policy {
        FlushPolicy::IntervalMs(ms) => Some(Duration::from_millis(ms.max(1))),
        _ => None,
    };
    let tick = [Some(retention_every), Some(cleaner_every), flush_every]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(retention_every);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_retention = tokio::time::Instant::now();
    let mut last_clean = tokio::time::Instant::now();
    loop {
        interval.tick().await;
        let partitions = broker.all_partitions();
        if flush_every.is_some() {
            for p in &partitions {
                if let Err(e) = p.flush_if_due() {
                    tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
                }
            }
        }
        if last_retention.elapsed() >= retention_every {
            last_retention = tokio::time::Instant::now();
            retention_pass(&partitions, broker.config.producer_id_expiration_ms);
        }
        if last_clean.elapsed() >= cleaner_every {
            last_clean = tokio::time::Instant::now();
            cleaner_pass(&partitions).await;
        }
    }
}

/// Expiry of idle producers and producer-state snapshots, then retention for partitions whose
/// cleanup.policy has `delete`.
fn retention_pass(partitions: &[Arc<Partition>], producer_expiration_ms: i64) {
    let now = now_ms();
    for p in partitions {
        let expired = p.expire_producers(now, producer_expiration_ms);
        if expired > 0 {
            tracing::debug!(topic = %p.topic, partition = p.index, expired, "forgot idle producers");
        }
        // Bounds what a start-up after a crash must read to rebuild producer state.
        if let Err(e) = p.snapshot_producers() {
            tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "producer snapshot failed");
        }
        if !p.settings().cleanup.delete {
            continue;
        }
        match p.enforce_retention(now) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(topic = %p.topic, partition = p.index, segments = n, "retention deleted segments")
            }
            Err(e) => {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "retention failed")
            }
        }
    }
}

/// One compaction pass over partitions whose cleanup.policy has `compact`.
async fn cleaner_pass(partitions: &[Arc<Partition>]) {
    for p in partitions {
        if !p.settings().cleanup.compact {
            continue;
        }
        match p.compact(now_ms()).await {
            Ok(Some(stats)) if stats.segments_cleaned > 0 => tracing::info!(
                topic = %p.topic,
                partition = p.index,
                segments = stats.segments_cleaned,
                records_removed = stats.records_removed,
                bytes_before = stats.bytes_before,
                bytes_after = stats.bytes_after,
                "compacted"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "compaction failed")
            }
        }
    }
}
