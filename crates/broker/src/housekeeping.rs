//! Background work on every partition: retention (`log.retention.check.interval.ms`) and
//! interval flushing (`--flush-policy interval-ms:N`).

use std::sync::Arc;
use std::time::Duration;

use weir_storage::FlushPolicy;

use crate::broker::Broker;
use crate::time::now_ms;

/// Runs until aborted.
pub async fn run(broker: Arc<Broker>) {
    let retention_every = Duration::from_millis(broker.config.retention_check_interval_ms);
    let flush_every = match broker.config.flush_policy {
        FlushPolicy::IntervalMs(ms) => Some(Duration::from_millis(ms.max(1))),
        _ => None,
    };
    let tick = flush_every.map_or(retention_every, |f| f.min(retention_every));
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_retention = tokio::time::Instant::now();
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
            let now = now_ms();
            for p in &partitions {
                // Bounds what a start-up after a crash must read to rebuild producer state.
                if let Err(e) = p.snapshot_producers() {
                    tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "producer snapshot failed");
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
    }
}
