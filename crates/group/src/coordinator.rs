//! The group coordinator: one [`Shard`] per `__consumer_offsets` partition behind its own lock,
//! the JoinGroup/SyncGroup requests waiting for a rebalance, the timer that expires sessions, and
//! the edge where records are appended to the log.
//!
//! A JoinGroup or SyncGroup that must wait registers a oneshot channel and awaits it outside the
//! lock; the shard step that completes the rebalance answers it. Records are appended while the
//! shard's lock is held, so the log holds them in the order the state machine decided them.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;
use weir_protocol::kafka_protocol::error::ResponseError;
use weir_protocol::record_batch::BatchIter;

use crate::consumer::{CgHeartbeat, CgHeartbeatResponse, ConsumerGroup};
use crate::group::{Effects, Reply};
use crate::records::{build_batch, build_transactional_batch, read_entries, LogRecord};
use crate::shard::Shard;
use crate::types::{
    CommitPartition, DescribedGroup, FetchedOffset, GroupConfig, JoinRequest, JoinResponse,
    ListedGroup, MemberRef, Now, SyncRequest, SyncResponse,
};

/// Why appending to `__consumer_offsets` failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot append to __consumer_offsets-{partition}: {reason}")]
pub struct AppendError {
    /// The partition.
    pub partition: i32,
    /// What went wrong.
    pub reason: String,
}

/// Where the coordinator's records go: the `__consumer_offsets` partitions. The broker
/// implements it over its partition logs; tests over a vector.
pub trait OffsetsLog: Send + Sync {
    /// Appends one record batch (v2, as built by [`build_batch`], or by
    /// [`build_transactional_batch`] for TxnOffsetCommit: transactional, with the producer's id
    /// and epoch and base sequence -1) to `partition`.
    fn append(&self, partition: i32, batch: Bytes) -> Result<(), AppendError>;
}

type Waiters<T> = HashMap<(String, String), oneshot::Sender<T>>;

struct ShardCell {
    shard: Shard,
    joins: Waiters<JoinResponse>,
    syncs: Waiters<SyncResponse>,
}

/// Kafka's placement of a group on a `__consumer_offsets` partition (see
/// [`weir_protocol::partition_for_key`]).
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    weir_protocol::partition_for_key(group_id, partitions)
}

/// The group coordinator for every group of this broker.
pub struct GroupCoordinator {
    shards: Vec<Mutex<ShardCell>>,
    wake: Notify,
    config: GroupConfig,
}

impl GroupCoordinator {
    /// A coordinator over `partitions` partitions of `__consumer_offsets`, with no groups yet.
    pub fn new(config: GroupConfig, partitions: i32) -> Self {
        let shards = (0..partitions.max(1))
            .map(|_| {
                Mutex::new(ShardCell {
                    shard: Shard::new(config.clone()),
                    joins: HashMap::new(),
                    syncs: HashMap::new(),
                })
            })
            .collect();
        GroupCoordinator {
            shards,
            wake: Notify::new(),
            config,
        }
    }

    /// Number of `__consumer_offsets` partitions.
    pub fn partitions(&self) -> i32 {
        self.shards.len() as i32
    }

    /// The `__consumer_offsets` partition of a group.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        partition_for(group_id, self.partitions())
    }

    fn cell(&self, partition: i32) -> MutexGuard<'_, ShardCell> {
        let idx = usize::try_from(partition).unwrap_or(0) % self.shards.len();
        self.shards[idx]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Locks a shard and first applies every deadline of it that has passed by `now`, so a
    /// request sees the groups as they are at its arrival, however late the timer task runs:
    /// a session that lapsed before a DeleteGroups or Heartbeat is over for that request too.
    fn current_cell(
        &self,
        partition: i32,
        now: Now,
        log: &dyn OffsetsLog,
    ) -> MutexGuard<'_, ShardCell> {
        let mut cell = self.cell(partition);
        if cell.shard.next_deadline().is_some_and(|d| d <= now.instant) {
            for (group, fx) in cell.shard.tick(now) {
                self.finish(&mut cell, partition, &group, fx, log);
            }
        }
        cell
    }

    /// Replays stored batches of one partition (start-up recovery). A batch or record that
    /// does not decode is skipped with a warning; the rest still apply. Records of a
    /// transactional batch stay pending for its producer until that producer's marker (a
    /// control batch) commits or aborts them, as live; a transaction without its marker yet
    /// stays pending (its end calls [`GroupCoordinator::complete_transaction`]). Pending state
    /// carries over between calls, so the log may be replayed in several reads.
    pub fn replay_batches(&self, partition: i32, batches: Bytes) {
        let now = Now::current();
        let mut cell = self.cell(partition);
        for batch in BatchIter::new(&batches) {
            let view = match batch {
                Ok(view) => view,
                Err(e) => {
                    tracing::warn!(partition, error = %e, "unreadable __consumer_offsets batch; rest of the read skipped");
                    break;
                }
            };
            let records = match read_entries(batches.slice_ref(view.as_bytes())) {
                Ok(records) => records,
                Err(e) => {
                    tracing::warn!(partition, offset = view.base_offset(), error = %e, "undecodable __consumer_offsets batch skipped");
                    continue;
                }
            };
            for record in records {
                match record {
                    Ok(entry) => cell.shard.replay_entry(&entry, now),
                    Err(e) => {
                        tracing::warn!(partition, offset = view.base_offset(), error = %e, "undecodable __consumer_offsets record skipped")
                    }
                }
            }
        }
        drop(cell);
        self.wake.notify_one();
    }

    /// Appends records and answers waiting requests; called with the shard locked.
    fn finish(
        &self,
        cell: &mut ShardCell,
        partition: i32,
        group: &str,
        fx: Effects,
        log: &dyn OffsetsLog,
    ) {
        if !fx.records.is_empty() {
            if let Err(e) = append(log, partition, &fx.records) {
                tracing::error!(group, error = %e, "group state not persisted");
            }
        }
        for (member, response) in fx.joins {
            if let Some(tx) = cell.joins.remove(&(group.to_string(), member)) {
                let _ = tx.send(response);
            }
        }
        for (member, response) in fx.syncs {
            if let Some(tx) = cell.syncs.remove(&(group.to_string(), member)) {
                let _ = tx.send(response);
            }
        }
    }

    /// JoinGroup: answers when the join phase completes (or at once on errors).
    pub async fn join(&self, log: &dyn OffsetsLog, req: JoinRequest) -> JoinResponse {
        let partition = self.partition_for(&req.group_id);
        let waiter = {
            let now = Now::current();
            let mut cell = self.current_cell(partition, now, log);
            let mut fx = Effects::default();
            let reply = cell.shard.join(&req, now, &mut fx);
            let waiter = match reply {
                Reply::Done(r) => Err(r),
                Reply::Pending { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    cell.joins.insert((req.group_id.clone(), member_id), tx);
                    Ok(rx)
                }
            };
            self.finish(&mut cell, partition, &req.group_id, fx, log);
            waiter
        };
        self.wake.notify_one();
        match waiter {
            Err(done) => done,
            Ok(rx) => rx.await.unwrap_or_else(|_| {
                // Replaced by a newer JoinGroup of the same member.
                JoinResponse::error(ResponseError::RebalanceInProgress, &req.member_id)
            }),
        }
    }

    /// SyncGroup: answers when the leader's assignment arrives (or at once).
    pub async fn sync(&self, log: &dyn OffsetsLog, req: SyncRequest) -> SyncResponse {
        let partition = self.partition_for(&req.group_id);
        let waiter = {
            let now = Now::current();
            let mut cell = self.current_cell(partition, now, log);
            let mut fx = Effects::default();
            let reply = cell.shard.sync(&req, now, &mut fx);
            let waiter = match reply {
                Reply::Done(r) => Err(r),
                Reply::Pending { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    cell.syncs.insert((req.group_id.clone(), member_id), tx);
                    Ok(rx)
                }
            };
            self.finish(&mut cell, partition, &req.group_id, fx, log);
            waiter
        };
        self.wake.notify_one();
        match waiter {
            Err(done) => done,
            Ok(rx) => rx
                .await
                .unwrap_or_else(|_| SyncResponse::error(ResponseError::RebalanceInProgress)),
        }
    }

    /// ConsumerGroupHeartbeat (KIP-848). `partitions` gives the partition count of an existing
    /// topic. The group's snapshot is appended when it changed; an append failure answers
    /// COORDINATOR_NOT_AVAILABLE.
    pub fn consumer_heartbeat(
        &self,
        log: &dyn OffsetsLog,
        req: &CgHeartbeat,
        partitions: &dyn Fn(&str) -> Option<i32>,
    ) -> CgHeartbeatResponse {
        let partition = self.partition_for(&req.group_id);
        let now = Now::current();
        let mut cell = self.current_cell(partition, now, log);
        let new_id = || uuid::Uuid::new_v4().to_string();
        let (resp, records) = cell.shard.consumer_heartbeat(req, partitions, &new_id, now);
        if !records.is_empty() {
            if let Err(e) = append(log, partition, &records) {
                tracing::error!(group = %req.group_id, error = %e, "consumer group state not persisted");
                return CgHeartbeatResponse::error(
                    ResponseError::CoordinatorNotAvailable,
                    "group state not persisted",
                );
            }
        }
        drop(cell);
        self.wake.notify_one();
        resp
    }

    /// A consumer group's state (ConsumerGroupDescribe); `None` if there is none.
    pub fn consumer_group(&self, group: &str) -> Option<ConsumerGroup> {
        self.cell(self.partition_for(group))
            .shard
            .consumer_group(group)
            .cloned()
    }

    /// Whether a group id names a classic group (ConsumerGroupDescribe refuses those).
    pub fn is_classic(&self, group: &str) -> bool {
        self.cell(self.partition_for(group))
            .shard
            .group(group)
            .is_some_and(|g| g.protocol_type.is_some())
    }

    /// OffsetFetch v9 member check.
    pub fn validate_fetch(
        &self,
        group: &str,
        member_id: &str,
        epoch: i32,
    ) -> Result<(), ResponseError> {
        self.cell(self.partition_for(group))
            .shard
            .validate_fetch(group, member_id, epoch)
    }

    /// Heartbeat.
    pub fn heartbeat(
        &self,
        log: &dyn OffsetsLog,
        group: &str,
        who: &MemberRef,
    ) -> Option<ResponseError> {
        let partition = self.partition_for(group);
        let now = Now::current();
        let result = self
            .current_cell(partition, now, log)
            .shard
            .heartbeat(group, who, now);
        self.wake.notify_one();
        result
    }

    /// LeaveGroup: one answer per member, or a group-level error.
    pub fn leave(
        &self,
        log: &dyn OffsetsLog,
        group: &str,
        members: &[MemberRef],
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let partition = self.partition_for(group);
        let now = Now::current();
        let mut cell = self.current_cell(partition, now, log);
        let mut fx = Effects::default();
        let result = cell.shard.leave(group, members, now, &mut fx);
        self.finish(&mut cell, partition, group, fx, log);
        drop(cell);
        self.wake.notify_one();
        result
    }

    /// OffsetCommit: (topic, partition, error) per partition. Offsets are appended first and
    /// applied only once in the log.
    pub fn commit(
        &self,
        log: &dyn OffsetsLog,
        group: &str,
        who: &MemberRef,
        partitions: &[CommitPartition],
    ) -> Vec<(String, i32, Option<ResponseError>)> {
        let partition = self.partition_for(group);
        let now = Now::current();
        let mut cell = self.current_cell(partition, now, log);
        let mut plan = cell.shard.commit(group, who, partitions, now);
        if !plan.records.is_empty() {
            match append(log, partition, &plan.records) {
                Ok(()) => {
                    for r in &plan.records {
                        cell.shard.replay(r, now);
                    }
                }
                Err(e) => {
                    tracing::error!(group, error = %e, "offset commit not persisted");
                    for r in &mut plan.results {
                        if r.2.is_none() {
                            r.2 = Some(ResponseError::CoordinatorNotAvailable);
                        }
                    }
                }
            }
        }
        drop(cell);
        self.wake.notify_one();
        plan.results
    }

    /// TxnOffsetCommit: validates like OffsetCommit (group id; when `who` has a generation of
    /// 0 or more or a member id, the generation/member checks; for a group that does not exist,
    /// generation -1 and empty member id are accepted), then appends the offsets as ONE
    /// transactional batch of producer (`producer_id`, `producer_epoch`) to the group's
    /// partition and records them as pending for that producer: invisible to OffsetFetch until
    /// [`GroupCoordinator::complete_transaction`] commits them. Returns (topic, partition,
    /// error) per partition; an append failure answers COORDINATOR_NOT_AVAILABLE, a negative
    /// producer id INVALID_PRODUCER_ID_MAPPING.
    pub fn commit_transactional(
        &self,
        log: &dyn OffsetsLog,
        group: &str,
        who: &MemberRef,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[CommitPartition],
    ) -> Vec<(String, i32, Option<ResponseError>)> {
        if producer_id < 0 {
            return partitions
                .iter()
                .map(|p| {
                    (
                        p.topic.clone(),
                        p.partition,
                        Some(ResponseError::InvalidProducerIdMapping),
                    )
                })
                .collect();
        }
        let partition = self.partition_for(group);
        let now = Now::current();
        let mut cell = self.current_cell(partition, now, log);
        let mut plan = cell.shard.commit_transactional(group, who, partitions, now);
        if !plan.records.is_empty() {
            let appended =
                build_transactional_batch(&plan.records, now.wall_ms, producer_id, producer_epoch)
                    .map_err(|e| AppendError {
                        partition,
                        reason: e.to_string(),
                    })
                    .and_then(|batch| log.append(partition, batch));
            match appended {
                Ok(()) => {
                    for r in &plan.records {
                        cell.shard.replay_transactional(producer_id, r, now);
                    }
                }
                Err(e) => {
                    tracing::error!(group, producer_id, error = %e, "transactional offset commit not persisted");
                    for r in &mut plan.results {
                        if r.2.is_none() {
                            r.2 = Some(ResponseError::CoordinatorNotAvailable);
                        }
                    }
                }
            }
        }
        plan.results
    }

    /// The transaction of `producer_id` ended (its marker is already written to `partition` of
    /// __consumer_offsets): commit makes its pending offsets committed, abort drops them. A
    /// producer with nothing pending in that partition is no error (nothing happens).
    pub fn complete_transaction(&self, partition: i32, producer_id: i64, commit: bool) {
        self.cell(partition)
            .shard
            .complete_transaction(producer_id, commit);
    }

    /// OffsetFetch for one group. `require_stable` (OffsetFetch v7+): a partition with a
    /// pending transactional offset answers UNSTABLE_OFFSET_COMMIT in its `error`.
    pub fn fetch_offsets(
        &self,
        group: &str,
        wanted: Option<&[(String, Vec<i32>)]>,
        require_stable: bool,
    ) -> Vec<FetchedOffset> {
        self.cell(self.partition_for(group))
            .shard
            .fetch_offsets(group, wanted, require_stable)
    }

    /// OffsetDelete: per-partition errors, or a group-level error.
    pub fn delete_offsets(
        &self,
        log: &dyn OffsetsLog,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let partition = self.partition_for(group);
        let now = Now::current();
        let mut cell = self.current_cell(partition, now, log);
        let (errors, records) = cell.shard.delete_offsets(group, partitions)?;
        if !records.is_empty() {
            append(log, partition, &records).map_err(|e| {
                tracing::error!(group, error = %e, "offset deletion not persisted");
                ResponseError::CoordinatorNotAvailable
            })?;
            for r in &records {
                cell.shard.replay(r, now);
            }
        }
        Ok(errors)
    }

    /// ListGroups over every shard.
    pub fn list(&self, log: &dyn OffsetsLog, states: &[String]) -> Vec<ListedGroup> {
        let now = Now::current();
        let mut out = Vec::new();
        for p in 0..self.partitions() {
            out.extend(self.current_cell(p, now, log).shard.list(states));
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DescribeGroups for one group; `None` if unknown.
    pub fn describe(&self, log: &dyn OffsetsLog, group: &str) -> Option<DescribedGroup> {
        self.current_cell(self.partition_for(group), Now::current(), log)
            .shard
            .describe(group)
    }

    /// DeleteGroups for one group.
    pub fn delete_group(&self, log: &dyn OffsetsLog, group: &str) -> Option<ResponseError> {
        let partition = self.partition_for(group);
        let now = Now::current();
        let mut cell = self.current_cell(partition, now, log);
        let records = match cell.shard.delete_group(group) {
            Ok(r) => r,
            Err(e) => return Some(e),
        };
        if let Err(e) = append(log, partition, &records) {
            tracing::error!(group, error = %e, "group deletion not persisted");
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        for r in &records {
            cell.shard.replay(r, now);
        }
        None
    }

    /// Applies the passage of time to every shard whose deadline has come.
    pub fn tick(&self, log: &dyn OffsetsLog) {
        let now = Now::current();
        for p in 0..self.partitions() {
            drop(self.current_cell(p, now, log));
        }
    }

    /// Deletes expired committed offsets (and empty groups left without any) in every shard.
    pub fn expire_offsets(&self, log: &dyn OffsetsLog) {
        let now = Now::current();
        for p in 0..self.partitions() {
            let mut cell = self.cell(p);
            let tombstones = cell.shard.expired_offsets(now.wall_ms);
            if tombstones.is_empty() {
                continue;
            }
            if let Err(e) = append(log, p, &tombstones) {
                tracing::error!(error = %e, "expired offsets not deleted");
                continue;
            }
            tracing::info!(
                partition = p,
                records = tombstones.len(),
                "expired committed offsets"
            );
            for r in &tombstones {
                cell.shard.replay(r, now);
            }
        }
    }

    /// The earliest deadline of any group.
    pub fn next_deadline(&self) -> Option<Instant> {
        (0..self.partitions())
            .filter_map(|p| self.cell(p).shard.next_deadline())
            .min()
    }

    /// Drives session and rebalance timeouts forever: sleeps until the next deadline or until a
    /// request changed the deadlines, then ticks. Run it as a task; abort it to stop.
    /// Offset retention runs every `offsets_retention_check_interval_ms`.
    pub async fn run_timers(&self, log: &dyn OffsetsLog) {
        let period = std::time::Duration::from_millis(
            self.config.offsets_retention_check_interval_ms.max(1),
        );
        let mut retention = tokio::time::interval_at(Instant::now() + period, period);
        retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let notified = self.wake.notified();
            let far = Instant::now() + std::time::Duration::from_secs(3600);
            let deadline = self.next_deadline().unwrap_or(far);
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = notified => {}
                _ = retention.tick() => self.expire_offsets(log),
            }
            self.tick(log);
        }
    }
}

fn append(log: &dyn OffsetsLog, partition: i32, records: &[LogRecord]) -> Result<(), AppendError> {
    let batch = build_batch(records, Now::current().wall_ms).map_err(|e| AppendError {
        partition,
        reason: e.to_string(),
    })?;
    log.append(partition, batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::CgHeartbeat;
    use std::sync::Arc;
    use std::time::Duration;

    #[derive(Default)]
    struct MemLog(Mutex<Vec<(i32, Bytes)>>);

    impl OffsetsLog for MemLog {
        fn append(&self, partition: i32, batch: Bytes) -> Result<(), AppendError> {
            self.0.lock().unwrap().push((partition, batch));
            Ok(())
        }
    }

    fn join_req(group: &str, member: &str) -> JoinRequest {
        JoinRequest {
            group_id: group.into(),
            member_id: member.into(),
            client_id: "c".into(),
            session_timeout_ms: 6_000,
            rebalance_timeout_ms: 60_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"m"))],
            require_known_member_id: true,
            ..Default::default()
        }
    }

    /// A valid batch whose record has a key of an unknown version.
    fn build_junk_batch() -> Bytes {
        use weir_protocol::kafka_protocol::records::{
            Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        };
        let record = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: 0,
            key: Some(Bytes::from_static(b"\x00\x09junk")),
            value: Some(Bytes::from_static(b"junk")),
            headers: Default::default(),
        };
        let mut buf = bytes::BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &[record],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.freeze()
    }

    #[test]
    fn placement_matches_kafka() {
        // Java: Utils.abs("my-group".hashCode()) % 50 == 12; "" hashes to 0.
        assert_eq!(partition_for("", 50), 0);
        assert_eq!(partition_for("my-group", 50), 12);
        assert!((0..50).contains(&partition_for("\u{1F600}group", 50)));
    }

    /// Runs the coordinator's timer task, as the broker does; abort the handle to stop it.
    fn spawn_timers(c: &Arc<GroupCoordinator>, log: &Arc<MemLog>) -> tokio::task::JoinHandle<()> {
        let (c, log) = (c.clone(), log.clone());
        tokio::spawn(async move { c.run_timers(&*log).await })
    }

    async fn join_twice(c: &GroupCoordinator, log: &dyn OffsetsLog, group: &str) -> JoinResponse {
        let first = c.join(log, join_req(group, "")).await;
        assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
        c.join(log, join_req(group, &first.member_id)).await
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_join_is_answered_and_a_silent_member_expires() {
        let c = Arc::new(GroupCoordinator::new(GroupConfig::default(), 3));
        let log = Arc::new(MemLog::default());
        let timers = spawn_timers(&c, &log);
        let a = join_twice(&c, &*log, "g").await;
        assert_eq!(a.error, None);
        assert_eq!(a.generation_id, 1);
        let sync = SyncRequest {
            group_id: "g".into(),
            generation_id: 1,
            member_id: a.member_id.clone(),
            assignments: vec![(a.member_id.clone(), Bytes::from_static(b"A"))],
            ..Default::default()
        };
        assert_eq!(
            c.sync(&*log, sync).await.assignment,
            Bytes::from_static(b"A")
        );

        // b joins: it waits until a rejoins (a learns it from its heartbeat).
        let b_join = {
            let (c, log) = (c.clone(), log.clone());
            tokio::spawn(async move { join_twice(&c, &*log, "g").await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let who_a = MemberRef {
            member_id: a.member_id.clone(),
            group_instance_id: None,
            generation_id: 1,
        };
        assert_eq!(
            c.heartbeat(&*log, "g", &who_a),
            Some(ResponseError::RebalanceInProgress)
        );
        let a2 = c.join(&*log, join_req("g", &a.member_id)).await;
        let b = b_join.await.unwrap();
        assert_eq!((a2.generation_id, b.generation_id), (2, 2));
        assert_eq!(a2.members.len(), 2);

        // Nobody syncs or heartbeats any more: both expire after the session timeout and the
        // group ends up empty, without anyone calling in.
        tokio::time::sleep(Duration::from_secs(7)).await;
        let d = c.describe(&*log, "g").unwrap();
        assert_eq!(d.state, "Empty");
        timers.abort();
        // Stable at generation 1, then Empty: both recorded.
        assert!(log.0.lock().unwrap().len() >= 2);
        let p = c.partition_for("g");
        assert!(log.0.lock().unwrap().iter().all(|(part, _)| *part == p));
    }

    /// librdkafka's 0081 closes static members (their last contact is the OffsetCommit of
    /// close) and sends DeleteGroups once the session has passed: the request must find the
    /// group empty even when the timer task has not run yet.
    #[tokio::test(start_paused = true)]
    async fn requests_see_sessions_that_lapsed_before_the_timer_ran() {
        let c = Arc::new(GroupCoordinator::new(GroupConfig::default(), 3));
        let log = Arc::new(MemLog::default());
        let timers = spawn_timers(&c, &log);
        let static_join = |member: &str| JoinRequest {
            group_instance_id: Some("i0".into()),
            ..join_req("g", member)
        };
        let mut joined = c.join(&*log, static_join("")).await;
        if joined.error == Some(ResponseError::MemberIdRequired) {
            joined = c.join(&*log, static_join(&joined.member_id)).await;
        }
        assert_eq!(joined.error, None);
        let sync = SyncRequest {
            group_id: "g".into(),
            generation_id: joined.generation_id,
            member_id: joined.member_id.clone(),
            group_instance_id: Some("i0".into()),
            assignments: vec![(joined.member_id.clone(), Bytes::from_static(b"A"))],
            ..Default::default()
        };
        assert_eq!(c.sync(&*log, sync).await.error, None);
        // From here on only requests move the group: no timer task.
        timers.abort();

        let who = MemberRef {
            member_id: joined.member_id.clone(),
            group_instance_id: Some("i0".into()),
            generation_id: joined.generation_id,
        };
        let offset = CommitPartition {
            topic: "t".into(),
            partition: 0,
            offset: 100,
            leader_epoch: -1,
            metadata: None,
            retention_ms: None,
        };
        let committed = c.commit(&*log, "g", &who, &[offset]);
        assert_eq!(committed[0].2, None);
        let session = Duration::from_millis(join_req("g", "").session_timeout_ms as u64);

        tokio::time::advance(session - Duration::from_millis(1)).await;
        assert_eq!(
            c.delete_group(&*log, "g"),
            Some(ResponseError::NonEmptyGroup),
            "the commit kept the session alive"
        );
        tokio::time::advance(Duration::from_millis(2)).await;
        assert_eq!(c.describe(&*log, "g").map(|d| d.state), Some("Empty"));
        assert_eq!(
            c.heartbeat(&*log, "g", &who),
            Some(ResponseError::UnknownMemberId)
        );
        assert_eq!(c.delete_group(&*log, "g"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn state_recovers_from_the_appended_batches() {
        let c = GroupCoordinator::new(GroupConfig::default(), 3);
        let log = MemLog::default();
        let simple = MemberRef {
            member_id: String::new(),
            group_instance_id: None,
            generation_id: -1,
        };
        let parts = [CommitPartition {
            topic: "t".into(),
            partition: 0,
            offset: 42,
            leader_epoch: -1,
            metadata: None,
            retention_ms: None,
        }];
        assert_eq!(c.commit(&log, "g", &simple, &parts)[0].2, None);
        let a = join_twice(&c, &log, "other").await;
        assert_eq!(a.error, None);

        let restarted = GroupCoordinator::new(GroupConfig::default(), 3);
        for (p, batch) in log.0.lock().unwrap().iter() {
            // A batch of undecodable records in front is skipped; the real one still applies.
            let junk = build_junk_batch();
            let mut both = bytes::BytesMut::from(&junk[..]);
            both.extend_from_slice(batch);
            restarted.replay_batches(*p, both.freeze());
        }
        let got = restarted.fetch_offsets("g", None, false);
        assert_eq!(got[0].offset, 42);
        assert_eq!(
            restarted.list(&log, &[]).len(),
            1,
            "a join phase alone is not persisted"
        );
        assert_eq!(restarted.delete_group(&log, "g"), None);
        assert_eq!(
            restarted.delete_group(&log, "g"),
            Some(ResponseError::GroupIdNotFound)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_consumer_member_expires_and_the_other_takes_its_partitions() {
        let config = GroupConfig {
            consumer_session_timeout_ms: 6_000,
            consumer_heartbeat_interval_ms: 500,
            ..GroupConfig::default()
        };
        let c = Arc::new(GroupCoordinator::new(config, 3));
        let log = Arc::new(MemLog::default());
        let timers = spawn_timers(&c, &log);
        let parts = |t: &str| (t == "t").then_some(4);
        let join = |member: &str| CgHeartbeat {
            group_id: "cg".into(),
            member_id: member.into(),
            member_epoch: 0,
            subscribed_topics: Some(vec!["t".into()]),
            owned: Some(Default::default()),
            ..Default::default()
        };
        let a = c.consumer_heartbeat(&*log, &join("a"), &parts);
        assert_eq!(a.heartbeat_interval_ms, 500);
        let owned_a = a.assignment.unwrap();
        let b = c.consumer_heartbeat(&*log, &join("b"), &parts);
        // a revokes half, then b gets it.
        let hb = |member: &str, epoch, owned: &crate::consumer::Assignment| CgHeartbeat {
            group_id: "cg".into(),
            member_id: member.into(),
            member_epoch: epoch,
            owned: Some(owned.clone()),
            ..Default::default()
        };
        let kept = c
            .consumer_heartbeat(&*log, &hb("a", a.member_epoch, &owned_a), &parts)
            .assignment
            .unwrap();
        let a2 = c.consumer_heartbeat(&*log, &hb("a", a.member_epoch, &kept), &parts);
        assert_eq!(a2.member_epoch, b.member_epoch);
        // a keeps heartbeating, b goes silent and expires after 6 s.
        for _ in 0..16 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            c.consumer_heartbeat(&*log, &hb("a", a2.member_epoch, &kept), &parts);
        }
        let g = c.consumer_group("cg").unwrap();
        assert_eq!(g.members.len(), 1);
        assert_eq!(g.members["a"].assigned["t"].len(), 4);
        assert_eq!(g.state(), "Stable");
        timers.abort();
    }

    /// A transaction marker (control batch) of the producer.
    fn marker(producer_id: i64, producer_epoch: i16, commit: bool) -> Bytes {
        let marker = if commit {
            weir_protocol::control::Marker::Commit
        } else {
            weir_protocol::control::Marker::Abort
        };
        Bytes::from(weir_protocol::control::build_marker_batch(
            producer_id,
            producer_epoch,
            marker,
            0,
            0,
        ))
    }

    #[test]
    fn transactional_commits_append_one_transactional_batch_and_wait_for_the_marker() {
        let c = GroupCoordinator::new(GroupConfig::default(), 3);
        let log = MemLog::default();
        let simple = MemberRef {
            member_id: String::new(),
            group_instance_id: None,
            generation_id: -1,
        };
        let part = |partition, offset| CommitPartition {
            topic: "t".into(),
            partition,
            offset,
            leader_epoch: 4,
            metadata: Some("md".into()),
            retention_ms: None,
        };
        let results =
            c.commit_transactional(&log, "g", &simple, 1000, 5, &[part(0, 10), part(1, 11)]);
        assert_eq!(
            results,
            vec![("t".to_string(), 0, None), ("t".to_string(), 1, None)]
        );
        let p = c.partition_for("g");
        {
            let appended = log.0.lock().unwrap();
            assert_eq!(appended.len(), 1);
            assert_eq!(appended[0].0, p);
            let views: Vec<_> = BatchIter::new(&appended[0].1).map(Result::unwrap).collect();
            assert_eq!(views.len(), 1, "one batch");
            let v = &views[0];
            assert!(v.is_transactional() && !v.is_control());
            assert_eq!(v.attributes() & 0x10, 0x10);
            assert_eq!((v.producer_id(), v.producer_epoch()), (1000, 5));
            assert_eq!(v.base_sequence(), -1);
            assert_eq!(v.record_count(), 2);
        }
        let wanted = [("t".to_string(), vec![0, 1])];
        let shown = |c: &GroupCoordinator, stable| {
            c.fetch_offsets("g", Some(&wanted), stable)
                .into_iter()
                .map(|o| (o.offset, o.error))
                .collect::<Vec<_>>()
        };
        let unstable = Some(ResponseError::UnstableOffsetCommit);
        assert_eq!(shown(&c, false), vec![(-1, None), (-1, None)]);
        assert_eq!(shown(&c, true), vec![(-1, unstable), (-1, unstable)]);

        // Replay of the log without the marker: still pending.
        let restarted = GroupCoordinator::new(GroupConfig::default(), 3);
        for (p, batch) in log.0.lock().unwrap().iter() {
            restarted.replay_batches(*p, batch.clone());
        }
        assert_eq!(
            shown(&restarted, true),
            vec![(-1, unstable), (-1, unstable)]
        );

        // The marker is written (by the transaction coordinator), then the group coordinator
        // learns of it.
        log.append(p, marker(1000, 5, true)).unwrap();
        c.complete_transaction(p, 1000, true);
        assert_eq!(shown(&c, true), vec![(10, None), (11, None)]);
        let got = c.fetch_offsets("g", None, true);
        assert_eq!((got[0].leader_epoch, got[0].metadata.as_str()), (4, "md"));
        // A restart replays batch and marker to the same state.
        let restarted = GroupCoordinator::new(GroupConfig::default(), 3);
        let mut all = bytes::BytesMut::new();
        for (_, batch) in log.0.lock().unwrap().iter() {
            all.extend_from_slice(batch);
        }
        restarted.replay_batches(p, all.freeze());
        assert_eq!(shown(&restarted, true), vec![(10, None), (11, None)]);

        // Refusals: a member check that fails, and a bad producer id, append nothing.
        let stale = MemberRef {
            member_id: "m".into(),
            group_instance_id: None,
            generation_id: 3,
        };
        let before = log.0.lock().unwrap().len();
        assert_eq!(
            c.commit_transactional(&log, "other", &stale, 1, 0, &[part(0, 1)])[0].2,
            Some(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            c.commit_transactional(&log, "g", &simple, -1, 0, &[part(0, 1)])[0].2,
            Some(ResponseError::InvalidProducerIdMapping)
        );
        assert_eq!(log.0.lock().unwrap().len(), before);
        // An aborted transaction leaves the committed offsets as they were.
        c.commit_transactional(&log, "g", &simple, 1001, 0, &[part(0, 99)]);
        assert_eq!(shown(&c, true)[0], (-1, unstable));
        c.complete_transaction(p, 1001, false);
        assert_eq!(shown(&c, true), vec![(10, None), (11, None)]);
    }
}
