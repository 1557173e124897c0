//! The groups of one `__consumer_offsets` partition (Kafka's GroupCoordinatorShard): every group
//! whose id hashes to that partition, with its committed offsets.
//!
//! Pure: each operation returns its answer and the records to append. Offsets follow "log, then
//! apply": [`Shard::commit`] only validates and builds records; they change the state through
//! [`Shard::replay`] once appended, the same code that rebuilds the state at start-up.
//! Membership follows "apply, then log": the group changes at once and its metadata record is a
//! snapshot that replay restores at start-up.
//!
//! Transactional offsets (TxnOffsetCommit) are written in a transactional batch of their
//! producer and stay *pending* for that producer id ([`Shard::replay_transactional`]): not
//! visible as committed, but reported as unstable to an OffsetFetch with `require_stable`. The
//! transaction's marker in the same partition ([`Shard::complete_transaction`]) commits them
//! (each unless a commit written after it already set that partition: the most recent record
//! wins, as in Kafka's OffsetMetadataManager) or drops them. Replay does the same from the log.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;
use weir_protocol::kafka_protocol::error::ResponseError;

use crate::consumer::{CgHeartbeat, CgHeartbeatResponse, ConsumerGroup};
use crate::group::{Effects, Group, GroupState, Reply};
use crate::records::{LogEntry, LogRecord, OffsetValue, RecordKey, RecordValue};
use crate::types::{
    CommitPartition, DescribedGroup, DescribedMember, FetchedOffset, GroupConfig, JoinRequest,
    JoinResponse, ListedGroup, MemberRef, Now, SyncRequest, SyncResponse,
};

/// The groups of one `__consumer_offsets` partition.
#[derive(Debug, Default)]
pub struct Shard {
    config: GroupConfig,
    groups: HashMap<String, Group>,
    /// Consumer groups (KIP-848). Their committed offsets live in `groups`, under an entry
    /// without protocol type, like those of a simple-commit group.
    consumers: HashMap<String, ConsumerGroup>,
    /// Transactional offsets waiting for their transaction's marker: producer id → group →
    /// (topic, partition) → offset.
    txn_offsets: HashMap<i64, PendingByGroup>,
    /// Numbers the transactional offsets in the order they were written to the log.
    txn_seq: u64,
}

/// One open transaction's offsets: group → (topic, partition) → offset.
type PendingByGroup = HashMap<String, BTreeMap<(String, i32), PendingOffset>>;

/// A transactional offset waiting for its transaction's marker.
#[derive(Debug, Clone)]
struct PendingOffset {
    value: OffsetValue,
    /// Its place among the shard's transactional offsets, in log order.
    seq: u64,
    /// A commit written after it (a plain OffsetCommit, or a later transactional offset whose
    /// transaction committed first) already set the partition: committing this transaction
    /// must not go back over it.
    superseded: bool,
}

/// A validated OffsetCommit: per-partition errors, and the records that apply the rest.
#[derive(Debug, Default)]
pub struct CommitPlan {
    /// (topic, partition, error) for every partition of the request.
    pub results: Vec<(String, i32, Option<ResponseError>)>,
    /// Offset records to append, then replay.
    pub records: Vec<LogRecord>,
}

impl Shard {
    /// An empty shard.
    pub fn new(config: GroupConfig) -> Self {
        Shard {
            config,
            groups: HashMap::new(),
            consumers: HashMap::new(),
            txn_offsets: HashMap::new(),
            txn_seq: 0,
        }
    }

    /// A consumer group, if known.
    pub fn consumer_group(&self, id: &str) -> Option<&ConsumerGroup> {
        self.consumers.get(id)
    }

    fn consumer_record(g: &ConsumerGroup) -> LogRecord {
        LogRecord {
            key: RecordKey::ConsumerGroup {
                group: g.id.clone(),
            },
            value: Some(RecordValue::ConsumerGroup(Box::new(g.clone()))),
        }
    }

    /// ConsumerGroupHeartbeat: the answer and the records to append (a snapshot of the group
    /// when it changed; applied already).
    pub fn consumer_heartbeat(
        &mut self,
        req: &CgHeartbeat,
        partitions: &dyn Fn(&str) -> Option<i32>,
        new_member_id: &dyn Fn() -> String,
        now: Now,
    ) -> (CgHeartbeatResponse, Vec<LogRecord>) {
        if !valid_group_id(&req.group_id) {
            return (
                CgHeartbeatResponse::error(ResponseError::InvalidRequest, "group id is empty"),
                Vec::new(),
            );
        }
        if let Some(g) = self.groups.get(&req.group_id) {
            if g.protocol_type.is_some() && !g.members.is_empty() {
                return (
                    CgHeartbeatResponse::error(
                        ResponseError::GroupIdNotFound,
                        "group is not a consumer group",
                    ),
                    Vec::new(),
                );
            }
        }
        if req.member_epoch != 0 && !self.consumers.contains_key(&req.group_id) {
            return (
                CgHeartbeatResponse::error(ResponseError::UnknownMemberId, "unknown member"),
                Vec::new(),
            );
        }
        let settings = self.config.consumer_settings().with(req.overrides);
        let g = self
            .consumers
            .entry(req.group_id.clone())
            .or_insert_with(|| ConsumerGroup::new(&req.group_id));
        let (resp, changed) = g.heartbeat(req, partitions, settings, new_member_id, now);
        let records = if changed {
            vec![Self::consumer_record(g)]
        } else {
            Vec::new()
        };
        if g.members.is_empty() && g.group_epoch == 0 {
            self.consumers.remove(&req.group_id);
        }
        (resp, records)
    }

    /// OffsetFetch v9 member check of a consumer group: `Err` when the member or its epoch is
    /// not current.
    pub fn validate_fetch(
        &self,
        group_id: &str,
        member_id: &str,
        epoch: i32,
    ) -> Result<(), ResponseError> {
        if member_id.is_empty() && epoch < 0 {
            return Ok(());
        }
        // Classic groups are not checked here (their fetches carry no member epoch).
        match self.consumers.get(group_id) {
            Some(g) => g.validate_epoch(member_id, epoch),
            None => Ok(()),
        }
    }

    /// A group, if known.
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    /// JoinGroup.
    pub fn join(&mut self, req: &JoinRequest, now: Now, fx: &mut Effects) -> Reply<JoinResponse> {
        if !valid_group_id(&req.group_id) {
            return Reply::Done(JoinResponse::error(
                ResponseError::InvalidGroupId,
                &req.member_id,
            ));
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return Reply::Done(JoinResponse::error(
                ResponseError::InvalidSessionTimeout,
                &req.member_id,
            ));
        }
        if let Some(cg) = self.consumers.get(&req.group_id) {
            if !cg.members.is_empty() {
                return Reply::Done(JoinResponse::error(
                    ResponseError::InconsistentGroupProtocol,
                    &req.member_id,
                ));
            }
            // An empty consumer group becomes a classic one.
            self.consumers.remove(&req.group_id);
            fx.records.push(LogRecord {
                key: RecordKey::ConsumerGroup {
                    group: req.group_id.clone(),
                },
                value: None,
            });
        }
        let group = self
            .groups
            .entry(req.group_id.clone())
            .or_insert_with(|| Group::new(&req.group_id));
        group.initial_rebalance_delay =
            Duration::from_millis(self.config.initial_rebalance_delay_ms);
        let reply = group.join(req, now, fx);
        self.forget_if_unused(&req.group_id);
        reply
    }

    /// SyncGroup.
    pub fn sync(&mut self, req: &SyncRequest, now: Now, fx: &mut Effects) -> Reply<SyncResponse> {
        match self.groups.get_mut(&req.group_id) {
            Some(g) => g.sync(req, now, fx),
            None => Reply::Done(SyncResponse::error(ResponseError::UnknownMemberId)),
        }
    }

    /// Heartbeat.
    pub fn heartbeat(&mut self, group: &str, who: &MemberRef, now: Now) -> Option<ResponseError> {
        match self.groups.get_mut(group) {
            Some(g) => g.heartbeat(who, now),
            None => Some(ResponseError::UnknownMemberId),
        }
    }

    /// LeaveGroup, one answer per member.
    pub fn leave(
        &mut self,
        group: &str,
        members: &[MemberRef],
        now: Now,
        fx: &mut Effects,
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let g = self
            .groups
            .get_mut(group)
            .ok_or(ResponseError::UnknownMemberId)?;
        Ok(members.iter().map(|m| g.leave(m, now, fx)).collect())
    }

    /// Time passes for every group whose deadline came; returns each changed group's effects.
    pub fn tick(&mut self, now: Now) -> Vec<(String, Effects)> {
        let mut out = Vec::new();
        for g in self.groups.values_mut() {
            if g.next_deadline().is_some_and(|d| d <= now.instant) {
                let mut fx = Effects::default();
                g.tick(now, &mut fx);
                out.push((g.id.clone(), fx));
            }
        }
        let ids: Vec<String> = out.iter().map(|(id, _)| id.clone()).collect();
        for id in ids {
            self.forget_if_unused(&id);
        }
        for g in self.consumers.values_mut() {
            if g.next_deadline().is_some_and(|d| d <= now.instant) && g.expire(now) {
                let fx = Effects {
                    records: vec![Self::consumer_record(g)],
                    ..Default::default()
                };
                out.push((g.id.clone(), fx));
            }
        }
        out
    }

    /// The earliest deadline of any group.
    pub fn next_deadline(&self) -> Option<Instant> {
        let classic = self.groups.values().filter_map(Group::next_deadline).min();
        let consumer = self
            .consumers
            .values()
            .filter_map(ConsumerGroup::next_deadline)
            .min();
        classic.into_iter().chain(consumer).min()
    }

    /// Validates an OffsetCommit and builds its records (applied by [`Shard::replay`] after the
    /// append).
    pub fn commit(
        &mut self,
        group_id: &str,
        who: &MemberRef,
        partitions: &[CommitPartition],
        now: Now,
    ) -> CommitPlan {
        let consumer = self.consumers.get(group_id);
        let check = match self.groups.get_mut(group_id) {
            _ if !valid_group_id(group_id) => Err(ResponseError::InvalidGroupId),
            _ if consumer.is_some() => consumer.map_or(Ok(()), |g| {
                g.validate_epoch(&who.member_id, who.generation_id)
            }),
            Some(g) => {
                let r = g.validate_commit(who);
                if r.is_ok() && who.generation_id >= 0 {
                    // A commit is as good as a heartbeat (Kafka's classic coordinator).
                    g.heartbeat(who, now);
                }
                r
            }
            None if who.generation_id < 0 && who.member_id.is_empty() => Ok(()),
            None => Err(ResponseError::IllegalGeneration),
        };
        self.plan_commit(group_id, check, partitions, now)
    }

    /// Validates a TxnOffsetCommit and builds its records, to be appended as one transactional
    /// batch of the producer and then made pending by [`Shard::replay_transactional`]. The
    /// checks are OffsetCommit's (Kafka's `validateOffsetCommit` with `isTransactional`): a
    /// request without member id, instance id and generation is accepted (TxnOffsetCommit v0-v2
    /// carry none); otherwise member and generation (member epoch for a consumer group) must be
    /// current; a group that does not exist accepts generation -1 without member id.
    pub fn commit_transactional(
        &self,
        group_id: &str,
        who: &MemberRef,
        partitions: &[CommitPartition],
        now: Now,
    ) -> CommitPlan {
        let anonymous =
            who.generation_id < 0 && who.member_id.is_empty() && who.group_instance_id.is_none();
        let check = if !valid_group_id(group_id) {
            Err(ResponseError::InvalidGroupId)
        } else if let Some(cg) = self.consumers.get(group_id) {
            if anonymous || (who.generation_id < 0 && cg.members.is_empty()) {
                Ok(())
            } else {
                cg.validate_epoch(&who.member_id, who.generation_id)
            }
        } else if let Some(g) = self.groups.get(group_id) {
            g.validate_txn_commit(who)
        } else if who.generation_id < 0 && who.member_id.is_empty() {
            Ok(())
        } else {
            Err(ResponseError::IllegalGeneration)
        };
        self.plan_commit(group_id, check, partitions, now)
    }

    /// The per-partition answers and offset records of a commit whose group check gave `check`.
    fn plan_commit(
        &self,
        group_id: &str,
        check: Result<(), ResponseError>,
        partitions: &[CommitPartition],
        now: Now,
    ) -> CommitPlan {
        let mut plan = CommitPlan::default();
        for p in partitions {
            let error = match &check {
                Err(e) => Some(*e),
                Ok(()) => {
                    let metadata = p.metadata.clone().unwrap_or_default();
                    if metadata.len() > self.config.max_metadata_bytes {
                        Some(ResponseError::OffsetMetadataTooLarge)
                    } else {
                        plan.records.push(LogRecord {
                            key: RecordKey::Offset {
                                group: group_id.to_string(),
                                topic: p.topic.clone(),
                                partition: p.partition,
                            },
                            value: Some(RecordValue::Offset(OffsetValue {
                                offset: p.offset,
                                leader_epoch: p.leader_epoch,
                                metadata,
                                commit_timestamp: now.wall_ms,
                                expire_timestamp: p
                                    .retention_ms
                                    .map(|r| now.wall_ms.saturating_add(r)),
                            })),
                        });
                        None
                    }
                }
            };
            plan.results.push((p.topic.clone(), p.partition, error));
        }
        plan
    }

    /// Applies one entry of the log: an ordinary record at once, a transactional one as
    /// pending for its producer, a marker by committing or dropping the producer's pending
    /// offsets. Start-up replay goes through here; live traffic calls the same steps.
    pub fn replay_entry(&mut self, entry: &LogEntry, now: Now) {
        match entry {
            LogEntry::Record(record) => self.replay(record, now),
            LogEntry::Transactional {
                producer_id,
                record,
            } => self.replay_transactional(*producer_id, record, now),
            LogEntry::Marker {
                producer_id,
                commit,
            } => self.complete_transaction(*producer_id, *commit),
        }
    }

    /// Applies one record of a transactional batch of `producer_id` (appended already): an
    /// offset becomes pending for that producer, replacing one it wrote before for the same
    /// partition. The group comes to exist (as a simple group) if it did not, as in Kafka.
    /// Other records are not written transactionally by Weir and apply at once.
    pub fn replay_transactional(&mut self, producer_id: i64, record: &LogRecord, now: Now) {
        match (&record.key, &record.value) {
            (
                RecordKey::Offset {
                    group,
                    topic,
                    partition,
                },
                Some(RecordValue::Offset(v)),
            ) => {
                self.groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new(group));
                self.txn_seq += 1;
                self.txn_offsets
                    .entry(producer_id)
                    .or_default()
                    .entry(group.clone())
                    .or_default()
                    .insert(
                        (topic.clone(), *partition),
                        PendingOffset {
                            value: v.clone(),
                            seq: self.txn_seq,
                            superseded: false,
                        },
                    );
            }
            _ => {
                tracing::warn!(
                    producer_id,
                    key = ?record.key,
                    "non-offset record in a transactional __consumer_offsets batch; applied at once"
                );
                self.replay(record, now);
            }
        }
    }

    /// The transaction of `producer_id` ended (its marker is in this partition): on commit its
    /// pending offsets become the committed ones, except where a commit written after them
    /// already set the partition; on abort they are dropped. Nothing pending: nothing to do.
    pub fn complete_transaction(&mut self, producer_id: i64, commit: bool) {
        let Some(pending) = self.txn_offsets.remove(&producer_id) else {
            return;
        };
        if !commit {
            return;
        }
        for (group, offsets) in pending {
            for ((topic, partition), p) in offsets {
                if p.superseded {
                    continue;
                }
                // Earlier offsets of other open transactions must not go back over this one.
                let key = (topic, partition);
                for other in self.txn_offsets.values_mut() {
                    if let Some(o) = other.get_mut(&group).and_then(|g| g.get_mut(&key)) {
                        if o.seq < p.seq {
                            o.superseded = true;
                        }
                    }
                }
                self.groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new(&group))
                    .offsets
                    .insert(key, p.value);
            }
        }
    }

    /// Whether an open transaction holds an offset of `group` for (`topic`, `partition`).
    pub fn has_pending_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        if self.txn_offsets.is_empty() {
            return false;
        }
        let key = (topic.to_string(), partition);
        self.txn_offsets
            .values()
            .any(|m| m.get(group).is_some_and(|g| g.contains_key(&key)))
    }

    /// Whether an open transaction holds any offset of `group`.
    pub fn has_pending_offsets(&self, group: &str) -> bool {
        self.txn_offsets.values().any(|m| m.contains_key(group))
    }

    /// The partitions of `group` that open transactions hold offsets for.
    fn pending_partitions(&self, group: &str) -> BTreeSet<(String, i32)> {
        self.txn_offsets
            .values()
            .filter_map(|m| m.get(group))
            .flat_map(|g| g.keys().cloned())
            .collect()
    }

    /// A plain commit of the partition was applied: the open transactions' offsets for it,
    /// all written before, must not override it when they commit.
    fn supersede_pending(&mut self, group: &str, topic: &str, partition: i32) {
        if self.txn_offsets.is_empty() {
            return;
        }
        let key = (topic.to_string(), partition);
        for m in self.txn_offsets.values_mut() {
            if let Some(p) = m.get_mut(group).and_then(|g| g.get_mut(&key)) {
                p.superseded = true;
            }
        }
    }

    /// A tombstone deleted the partition's offset: the open transactions' offsets for it go
    /// too (Kafka's OffsetMetadataManager does the same).
    fn drop_pending(&mut self, group: &str, topic: &str, partition: i32) {
        if self.txn_offsets.is_empty() {
            return;
        }
        let key = (topic.to_string(), partition);
        self.txn_offsets.retain(|_, m| {
            if let Some(g) = m.get_mut(group) {
                g.remove(&key);
                if g.is_empty() {
                    m.remove(group);
                }
            }
            !m.is_empty()
        });
    }

    /// Applies one stored record: the last record per key wins, a null value deletes.
    pub fn replay(&mut self, record: &LogRecord, now: Now) {
        let group_id = record.key.group();
        match (&record.key, &record.value) {
            (
                RecordKey::Offset {
                    topic, partition, ..
                },
                Some(RecordValue::Offset(v)),
            ) => {
                self.groups
                    .entry(group_id.to_string())
                    .or_insert_with(|| Group::new(group_id))
                    .offsets
                    .insert((topic.clone(), *partition), v.clone());
                self.supersede_pending(group_id, topic, *partition);
            }
            (
                RecordKey::Offset {
                    topic, partition, ..
                },
                None,
            ) => {
                if let Some(g) = self.groups.get_mut(group_id) {
                    g.offsets.remove(&(topic.clone(), *partition));
                }
                self.drop_pending(group_id, topic, *partition);
            }
            (RecordKey::Group { .. }, Some(RecordValue::Group(v))) => {
                self.groups
                    .entry(group_id.to_string())
                    .or_insert_with(|| Group::new(group_id))
                    .load(v, now);
            }
            (RecordKey::Group { .. }, None) => {
                self.groups.remove(group_id);
            }
            (RecordKey::ConsumerGroup { .. }, Some(RecordValue::ConsumerGroup(g))) => {
                let mut g = (**g).clone();
                g.restart_sessions(now, self.config.consumer_settings());
                self.consumers.insert(group_id.to_string(), g);
            }
            (RecordKey::ConsumerGroup { .. }, None) => {
                self.consumers.remove(group_id);
            }
            (key, Some(_)) => {
                tracing::warn!(
                    ?key,
                    "__consumer_offsets record with a mismatched value; skipped"
                );
            }
        }
    }

    /// Offset retention (Kafka's KIP-211 rules): the offsets of an empty group expire
    /// `offsets_retention_ms` after it became empty (after their commit, for groups that never
    /// had members); a live group's offsets expire only for topics it no longer subscribes to.
    /// An empty group left without offsets is deleted (as Kafka's group metadata cleanup does).
    /// An offset an open transaction is about to replace does not expire, and a group with
    /// such offsets is kept (as Kafka does).
    /// Returns the tombstones to append, then replay.
    pub fn expired_offsets(&self, now_wall_ms: i64) -> Vec<LogRecord> {
        let retention = self.config.offsets_retention_ms;
        let mut out = Vec::new();
        for g in self.groups.values() {
            let consumer = self.consumers.get(&g.id);
            let empty =
                g.state == GroupState::Empty && consumer.is_none_or(|c| c.members.is_empty());
            let subscribes = |topic: &str| {
                g.subscribes_to(topic) || consumer.is_some_and(|c| c.subscribes_to(topic))
            };
            let mut kept = 0;
            let pending = self.pending_partitions(&g.id);
            for ((topic, partition), v) in &g.offsets {
                if pending.contains(&(topic.clone(), *partition)) {
                    kept += 1;
                    continue;
                }
                let base = if empty && g.protocol_type.is_some() && g.state_timestamp >= 0 {
                    g.state_timestamp
                } else {
                    v.commit_timestamp
                };
                // An offset committed with its own retention (OffsetCommit v2-v4) expires at
                // its own time, under the same condition on the group.
                let expires_at = v
                    .expire_timestamp
                    .unwrap_or_else(|| base.saturating_add(retention));
                let expired = expires_at <= now_wall_ms && (empty || !subscribes(topic));
                if expired {
                    out.push(LogRecord {
                        key: RecordKey::Offset {
                            group: g.id.clone(),
                            topic: topic.clone(),
                            partition: *partition,
                        },
                        value: None,
                    });
                } else {
                    kept += 1;
                }
            }
            if empty && kept == 0 && g.pending.is_empty() && pending.is_empty() {
                out.push(LogRecord {
                    key: RecordKey::Group {
                        group: g.id.clone(),
                    },
                    value: None,
                });
                if consumer.is_some() {
                    out.push(LogRecord {
                        key: RecordKey::ConsumerGroup {
                            group: g.id.clone(),
                        },
                        value: None,
                    });
                }
            }
        }
        // Empty consumer groups that never committed anything go too.
        for c in self.consumers.values() {
            if c.members.is_empty() && !self.groups.contains_key(&c.id) {
                out.push(LogRecord {
                    key: RecordKey::ConsumerGroup {
                        group: c.id.clone(),
                    },
                    value: None,
                });
            }
        }
        out
    }

    /// OffsetFetch for one group: the requested partitions, or all the committed ones (`None`).
    /// Offsets of open transactions are not visible. With `require_stable` (OffsetFetch v7+), a
    /// partition an open transaction holds an offset for gets UNSTABLE_OFFSET_COMMIT (offset
    /// -1) instead, and the client retries (Kafka's OffsetMetadataManager).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        wanted: Option<&[(String, Vec<i32>)]>,
        require_stable: bool,
    ) -> Vec<FetchedOffset> {
        let group = self.groups.get(group_id);
        let found = |topic: &str, partition: i32| {
            if require_stable && self.has_pending_offset(group_id, topic, partition) {
                return FetchedOffset {
                    topic: topic.to_string(),
                    partition,
                    offset: -1,
                    leader_epoch: -1,
                    metadata: String::new(),
                    error: Some(ResponseError::UnstableOffsetCommit),
                };
            }
            let v = group.and_then(|g| g.offsets.get(&(topic.to_string(), partition)));
            FetchedOffset {
                topic: topic.to_string(),
                partition,
                offset: v.map_or(-1, |v| v.offset),
                leader_epoch: v.map_or(-1, |v| v.leader_epoch),
                metadata: v.map(|v| v.metadata.clone()).unwrap_or_default(),
                error: None,
            }
        };
        match wanted {
            Some(topics) => topics
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| (t, *p)))
                .map(|(t, p)| found(t, p))
                .collect(),
            None => group
                .map(|g| {
                    g.offsets
                        .keys()
                        .map(|(t, p)| found(t, *p))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        }
    }

    /// OffsetDelete: per-partition errors and the tombstones to append (then replay). The
    /// tombstone of a partition also drops the open transactions' offsets for it.
    #[allow(clippy::type_complexity)]
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<(Vec<Option<ResponseError>>, Vec<LogRecord>), ResponseError> {
        let g = self
            .groups
            .get(group_id)
            .filter(|g| g.state != GroupState::Dead)
            .ok_or(ResponseError::GroupIdNotFound)?;
        let mut records = Vec::new();
        let errors = partitions
            .iter()
            .map(|(topic, partition)| {
                let consumer = self.consumers.get(group_id);
                if g.subscribes_to(topic) || consumer.is_some_and(|c| c.subscribes_to(topic)) {
                    return Some(ResponseError::GroupSubscribedToTopic);
                }
                if g.offsets.contains_key(&(topic.clone(), *partition))
                    || self.has_pending_offset(group_id, topic, *partition)
                {
                    records.push(LogRecord {
                        key: RecordKey::Offset {
                            group: group_id.to_string(),
                            topic: topic.clone(),
                            partition: *partition,
                        },
                        value: None,
                    });
                }
                None
            })
            .collect();
        Ok((errors, records))
    }

    /// ListGroups, optionally only groups in the given states (Kafka's names, any case).
    pub fn list(&self, states: &[String]) -> Vec<ListedGroup> {
        let wanted =
            |state: &str| states.is_empty() || states.iter().any(|s| s.eq_ignore_ascii_case(state));
        let consumers = self
            .consumers
            .values()
            .filter(|g| wanted(g.state()))
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: "consumer".to_string(),
                state: g.state(),
                group_type: "consumer",
            });
        self.groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .filter(|g| !self.consumers.contains_key(&g.id))
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.name()))
            })
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.name(),
                group_type: "classic",
            })
            .chain(consumers)
            .collect()
    }

    /// DescribeGroups for one group; `None` if unknown.
    pub fn describe(&self, group_id: &str) -> Option<DescribedGroup> {
        if let Some(g) = self.consumers.get(group_id) {
            return Some(DescribedGroup {
                group_id: g.id.clone(),
                state: g.state(),
                protocol_type: "consumer".to_string(),
                protocol: g.assignor.clone(),
                members: g
                    .members
                    .values()
                    .map(|m| DescribedMember {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        metadata: bytes::Bytes::new(),
                        assignment: bytes::Bytes::new(),
                    })
                    .collect(),
            });
        }
        self.groups.get(group_id).map(Group::describe)
    }

    /// DeleteGroups for one group: only an empty group can go; returns its tombstones (its
    /// committed offsets, the offsets open transactions hold for it, the group), and the group
    /// is gone once they are replayed.
    pub fn delete_group(&self, group_id: &str) -> Result<Vec<LogRecord>, ResponseError> {
        let mut records = Vec::new();
        if let Some(cg) = self.consumers.get(group_id) {
            if !cg.members.is_empty() {
                return Err(ResponseError::NonEmptyGroup);
            }
            records.push(LogRecord {
                key: RecordKey::ConsumerGroup {
                    group: group_id.to_string(),
                },
                value: None,
            });
            if !self.groups.contains_key(group_id) {
                return Ok(records);
            }
        }
        let g = self
            .groups
            .get(group_id)
            .filter(|g| g.state != GroupState::Dead)
            .ok_or(ResponseError::GroupIdNotFound)?;
        if g.state != GroupState::Empty {
            return Err(ResponseError::NonEmptyGroup);
        }
        // Open transactions' offsets go too (Kafka's deleteAllOffsets): a tombstone drops them,
        // one per partition.
        let mut partitions: BTreeSet<(String, i32)> = g.offsets.keys().cloned().collect();
        partitions.extend(self.pending_partitions(group_id));
        records.extend(partitions.into_iter().map(|(topic, partition)| LogRecord {
            key: RecordKey::Offset {
                group: group_id.to_string(),
                topic,
                partition,
            },
            value: None,
        }));
        records.push(LogRecord {
            key: RecordKey::Group {
                group: group_id.to_string(),
            },
            value: None,
        });
        Ok(records)
    }

    /// A group created by a join that failed at once (bad protocol, MEMBER_ID_REQUIRED keeps
    /// it) and holding nothing is not kept.
    fn forget_if_unused(&mut self, group_id: &str) {
        let unused = self.groups.get(group_id).is_some_and(|g| {
            g.state == GroupState::Empty
                && g.members.is_empty()
                && g.pending.is_empty()
                && g.offsets.is_empty()
                && g.generation == 0
        }) && !self.has_pending_offsets(group_id);
        if unused {
            self.groups.remove(group_id);
        }
    }
}

/// A group id must be non-empty and fit the `int16`-length strings of the stored records
/// (flexible request versions could carry longer ones).
fn valid_group_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= i16::MAX as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::CgOverrides;
    use crate::records::{build_batch, build_transactional_batch, read_batches, read_entries};

    fn now() -> Now {
        Now {
            instant: Instant::now(),
            wall_ms: 5,
        }
    }

    fn commit_req(topic: &str, partition: i32, offset: i64) -> CommitPartition {
        CommitPartition {
            topic: topic.into(),
            partition,
            offset,
            leader_epoch: -1,
            metadata: Some("m".into()),
            retention_ms: None,
        }
    }

    fn simple() -> MemberRef {
        MemberRef {
            member_id: String::new(),
            group_instance_id: None,
            generation_id: -1,
        }
    }

    /// Commits through the log: records → batch bytes → decode → replay, as live traffic does.
    fn commit_via_log(
        shard: &mut Shard,
        log: &mut Vec<bytes::Bytes>,
        group: &str,
        parts: &[CommitPartition],
    ) -> Vec<Option<ResponseError>> {
        let t = now();
        let plan = shard.commit(group, &simple(), parts, t);
        if !plan.records.is_empty() {
            log.push(build_batch(&plan.records, t.wall_ms).unwrap());
            for r in &plan.records {
                shard.replay(r, t);
            }
        }
        plan.results.into_iter().map(|(_, _, e)| e).collect()
    }

    fn recover(log: &[bytes::Bytes]) -> Shard {
        let mut shard = Shard::new(GroupConfig::default());
        for batch in log {
            for r in read_entries(batch.clone()).unwrap() {
                shard.replay_entry(&r.unwrap(), now());
            }
        }
        shard
    }

    /// Applies plain records as the coordinator does once they are appended.
    fn apply(shard: &mut Shard, log: &mut Vec<bytes::Bytes>, records: &[LogRecord]) {
        log.push(build_batch(records, 1).unwrap());
        for r in records {
            shard.replay(r, now());
        }
    }

    /// A TxnOffsetCommit through the log: one transactional batch, then pending.
    fn txn_commit_via_log(
        shard: &mut Shard,
        log: &mut Vec<bytes::Bytes>,
        producer_id: i64,
        group: &str,
        parts: &[CommitPartition],
    ) -> Vec<Option<ResponseError>> {
        let t = now();
        let plan = shard.commit_transactional(group, &simple(), parts, t);
        if !plan.records.is_empty() {
            log.push(build_transactional_batch(&plan.records, t.wall_ms, producer_id, 3).unwrap());
            for r in &plan.records {
                shard.replay_transactional(producer_id, r, t);
            }
        }
        plan.results.into_iter().map(|(_, _, e)| e).collect()
    }

    /// A transaction marker (control batch) as a transaction coordinator writes it.
    fn marker_batch(producer_id: i64, commit: bool) -> bytes::Bytes {
        let marker = if commit {
            weir_protocol::control::Marker::Commit
        } else {
            weir_protocol::control::Marker::Abort
        };
        bytes::Bytes::from(weir_protocol::control::build_marker_batch(
            producer_id,
            3,
            marker,
            0,
            0,
        ))
    }

    /// The transaction's marker is written, then the shard learns of it.
    fn end_via_log(shard: &mut Shard, log: &mut Vec<bytes::Bytes>, producer_id: i64, commit: bool) {
        log.push(marker_batch(producer_id, commit));
        shard.complete_transaction(producer_id, commit);
    }

    /// What OffsetFetch shows, stable or not, for t-0..2 and u-0, and for all partitions.
    fn view(shard: &Shard, group: &str) -> [Vec<FetchedOffset>; 4] {
        let wanted = [("t".to_string(), vec![0, 1, 2]), ("u".to_string(), vec![0])];
        [
            shard.fetch_offsets(group, Some(&wanted), false),
            shard.fetch_offsets(group, Some(&wanted), true),
            shard.fetch_offsets(group, None, false),
            shard.fetch_offsets(group, None, true),
        ]
    }

    fn offsets(fetched: &[FetchedOffset]) -> Vec<(i32, i64, Option<ResponseError>)> {
        fetched
            .iter()
            .map(|o| (o.partition, o.offset, o.error))
            .collect()
    }

    #[test]
    fn committed_offsets_recover_by_replay_last_write_wins() {
        let mut shard = Shard::new(GroupConfig::default());
        let mut log = Vec::new();
        commit_via_log(&mut shard, &mut log, "g", &[commit_req("t", 0, 5)]);
        commit_via_log(
            &mut shard,
            &mut log,
            "g",
            &[commit_req("t", 0, 9), commit_req("t", 1, 3)],
        );
        commit_via_log(&mut shard, &mut log, "h", &[commit_req("t", 0, 1)]);
        let recovered = recover(&log);
        let got = recovered.fetch_offsets("g", None, false);
        assert_eq!(
            got.iter()
                .map(|o| (o.partition, o.offset))
                .collect::<Vec<_>>(),
            vec![(0, 9), (1, 3)]
        );
        assert_eq!(got[0].metadata, "m");
        assert_eq!(recovered.fetch_offsets("h", None, false).len(), 1);
    }

    #[test]
    fn deleted_offsets_and_groups_stay_deleted_after_replay() {
        let mut shard = Shard::new(GroupConfig::default());
        let mut log = Vec::new();
        commit_via_log(
            &mut shard,
            &mut log,
            "g",
            &[commit_req("t", 0, 5), commit_req("u", 0, 7)],
        );
        commit_via_log(&mut shard, &mut log, "h", &[commit_req("t", 0, 1)]);
        let (errors, tombstones) = shard.delete_offsets("g", &[("t".into(), 0)]).unwrap();
        assert_eq!(errors, vec![None]);
        log.push(build_batch(&tombstones, 1).unwrap());
        for r in &tombstones {
            shard.replay(r, now());
        }
        let tombstones = shard.delete_group("h").unwrap();
        log.push(build_batch(&tombstones, 1).unwrap());
        for r in &tombstones {
            shard.replay(r, now());
        }
        let recovered = recover(&log);
        let got = recovered.fetch_offsets("g", None, false);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].topic.as_str(), got[0].offset), ("u", 7));
        assert!(recovered.describe("h").is_none());
        assert_eq!(
            recovered.delete_group("h"),
            Err(ResponseError::GroupIdNotFound)
        );
    }

    #[test]
    fn group_membership_recovers_by_replay() {
        let t = now();
        let mut shard = Shard::new(GroupConfig::default());
        let mut fx = Effects::default();
        let req = JoinRequest {
            group_id: "g".into(),
            client_id: "c".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), bytes::Bytes::from_static(b"x"))],
            ..Default::default()
        };
        let Reply::Pending { member_id } = shard.join(&req, t, &mut fx) else {
            panic!()
        };
        let sync = SyncRequest {
            group_id: "g".into(),
            generation_id: 1,
            member_id: member_id.clone(),
            assignments: vec![(member_id.clone(), bytes::Bytes::from_static(b"A"))],
            ..Default::default()
        };
        shard.sync(&sync, t, &mut fx);
        let log = vec![build_batch(&fx.records, 1).unwrap()];
        let mut recovered = recover(&log);
        let d = recovered.describe("g").unwrap();
        assert_eq!(d.state, "Stable");
        assert_eq!(d.members[0].assignment, bytes::Bytes::from_static(b"A"));
        assert_eq!(recovered.list(&["stable".into()]).len(), 1);
        assert_eq!(recovered.list(&["Empty".into()]).len(), 0);
        // The member may go on heartbeating with its generation after the restart.
        let who = MemberRef {
            member_id: member_id.clone(),
            group_instance_id: None,
            generation_id: 1,
        };
        assert_eq!(recovered.heartbeat("g", &who, now()), None);
        assert_eq!(
            recovered.delete_group("g"),
            Err(ResponseError::NonEmptyGroup)
        );
    }

    #[test]
    fn commit_checks() {
        let mut shard = Shard::new(GroupConfig::default());
        let t = now();
        let mut big = commit_req("t", 0, 1);
        big.metadata = Some("x".repeat(4097));
        let plan = shard.commit("g", &simple(), &[big, commit_req("t", 1, 1)], t);
        assert_eq!(
            plan.results.iter().map(|r| r.2).collect::<Vec<_>>(),
            vec![Some(ResponseError::OffsetMetadataTooLarge), None]
        );
        assert_eq!(plan.records.len(), 1);
        let member = MemberRef {
            member_id: "m".into(),
            group_instance_id: None,
            generation_id: 3,
        };
        let plan = shard.commit("nope", &member, &[commit_req("t", 0, 1)], t);
        assert_eq!(plan.results[0].2, Some(ResponseError::IllegalGeneration));
        assert!(plan.records.is_empty());
        assert_eq!(
            shard.fetch_offsets("nope", Some(&[("t".into(), vec![0])]), false)[0].offset,
            -1
        );
    }

    #[test]
    fn offsets_of_empty_groups_expire_after_the_retention() {
        let day = 24 * 60 * 60 * 1000;
        let mut shard = Shard::new(GroupConfig::default());
        let at = |wall_ms| Now {
            instant: Instant::now(),
            wall_ms,
        };
        let plan = shard.commit("simple", &simple(), &[commit_req("t", 0, 1)], at(0));
        for r in &plan.records {
            shard.replay(r, at(0));
        }
        let plan = shard.commit("simple", &simple(), &[commit_req("t", 1, 1)], at(3 * day));
        for r in &plan.records {
            shard.replay(r, at(3 * day));
        }
        assert!(shard.expired_offsets(7 * day - 1).is_empty());
        let expired = shard.expired_offsets(7 * day);
        assert_eq!(expired.len(), 1, "only partition 0 is old enough");
        for r in &expired {
            shard.replay(r, at(7 * day));
        }
        let all = shard.expired_offsets(10 * day);
        assert_eq!(all.len(), 2, "the last offset and then the group itself");
        assert!(matches!(all[1].key, RecordKey::Group { .. }) && all[1].value.is_none());
        for r in &all {
            shard.replay(r, at(10 * day));
        }
        assert!(shard.describe("simple").is_none());
    }

    #[test]
    fn an_offset_committed_with_its_own_retention_expires_at_its_own_time() {
        let hour = 60 * 60 * 1000;
        let mut shard = Shard::new(GroupConfig::default());
        let at = |wall_ms| Now {
            instant: Instant::now(),
            wall_ms,
        };
        let own = CommitPartition {
            retention_ms: Some(hour),
            ..commit_req("t", 0, 1)
        };
        let plan = shard.commit("simple", &simple(), &[own, commit_req("t", 1, 1)], at(0));
        for r in &plan.records {
            // Through the stored form, as after a restart.
            let bytes = r.value.as_ref().map(RecordValue::encode);
            let value = bytes.map(|b| RecordValue::decode(&r.key, &b).expect("decodes"));
            shard.replay(
                &LogRecord {
                    key: r.key.clone(),
                    value,
                },
                at(0),
            );
        }
        assert!(shard.expired_offsets(hour - 1).is_empty());
        let expired = shard.expired_offsets(hour);
        assert_eq!(
            expired.len(),
            1,
            "only the offset with its own hour-long retention"
        );
        assert!(
            matches!(&expired[0].key, RecordKey::Offset { partition: 0, .. }),
            "{:?}",
            expired[0].key
        );
    }

    #[test]
    fn bad_session_timeouts_are_refused() {
        let mut shard = Shard::new(GroupConfig::default());
        let req = JoinRequest {
            group_id: "g".into(),
            session_timeout_ms: 10,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), bytes::Bytes::new())],
            ..Default::default()
        };
        let r = shard.join(&req, now(), &mut Effects::default());
        assert_eq!(
            r,
            Reply::Done(JoinResponse::error(
                ResponseError::InvalidSessionTimeout,
                ""
            ))
        );
        assert!(shard.list(&[]).is_empty(), "a refused join leaves no group");
    }

    fn cg_join(shard: &mut Shard, group: &str, member: &str) -> CgHeartbeatResponse {
        let req = CgHeartbeat {
            group_id: group.into(),
            member_id: member.into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topics: Some(vec!["t".into()]),
            owned: Some(Default::default()),
            ..Default::default()
        };
        let parts = |t: &str| (t == "t").then_some(4);
        let (resp, records) = shard.consumer_heartbeat(&req, &parts, &|| "x".into(), now());
        assert_eq!(records.len(), 1, "a join is persisted");
        resp
    }

    #[test]
    fn a_groups_own_configs_set_its_heartbeat_interval_and_session_timeout() {
        let mut shard = Shard::new(GroupConfig::default());
        let req = CgHeartbeat {
            group_id: "cg".into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topics: Some(vec!["t".into()]),
            owned: Some(Default::default()),
            overrides: CgOverrides {
                session_timeout_ms: Some(50_000),
                heartbeat_interval_ms: Some(7_000),
            },
            ..Default::default()
        };
        let t0 = now();
        let (resp, _) = shard.consumer_heartbeat(&req, &|_| Some(1), &|| "m".into(), t0);
        assert_eq!(resp.error, None);
        assert_eq!(resp.heartbeat_interval_ms, 7_000);
        let deadline = shard
            .next_deadline()
            .expect("a member has a session deadline");
        assert_eq!(deadline - t0.instant, Duration::from_millis(50_000));

        // Without overrides the coordinator's settings apply again from the next heartbeat.
        let again = CgHeartbeat {
            member_id: resp.member_id.clone(),
            member_epoch: resp.member_epoch,
            rebalance_timeout_ms: -1,
            overrides: CgOverrides::default(),
            ..req
        };
        let (resp, _) = shard.consumer_heartbeat(&again, &|_| Some(1), &|| "m".into(), t0);
        assert_eq!(resp.error, None);
        assert_eq!(
            resp.heartbeat_interval_ms,
            GroupConfig::default().consumer_heartbeat_interval_ms
        );
    }

    #[test]
    fn consumer_groups_recover_by_replay_and_check_member_epochs() {
        let mut shard = Shard::new(GroupConfig::default());
        let mut log: Vec<LogRecord> = Vec::new();
        let a = cg_join(&mut shard, "cg", "a");
        assert_eq!(a.member_epoch, 1);
        log.push(Shard::consumer_record(&shard.consumers["cg"]));
        // A member commits with its epoch; a stale epoch or unknown member is refused.
        let who = |epoch| MemberRef {
            member_id: "a".into(),
            group_instance_id: None,
            generation_id: epoch,
        };
        let plan = shard.commit("cg", &who(1), &[commit_req("t", 0, 7)], now());
        assert_eq!(plan.results[0].2, None);
        log.extend(plan.records.iter().cloned());
        for r in &plan.records {
            shard.replay(r, now());
        }
        let stale = shard.commit("cg", &who(0), &[commit_req("t", 0, 8)], now());
        assert_eq!(stale.results[0].2, Some(ResponseError::StaleMemberEpoch));
        assert_eq!(
            shard
                .commit("cg", &simple(), &[commit_req("t", 0, 8)], now())
                .results[0]
                .2,
            Some(ResponseError::UnknownMemberId)
        );
        assert_eq!(
            shard.validate_fetch("cg", "a", 0),
            Err(ResponseError::StaleMemberEpoch)
        );
        assert_eq!(shard.validate_fetch("cg", "a", 1), Ok(()));

        // Through the log bytes and back: same members, epochs, assignment and offsets.
        let batch = build_batch(&log, 5).unwrap();
        let mut restored = Shard::new(GroupConfig::default());
        for r in read_batches(batch).unwrap() {
            restored.replay(&r.unwrap(), now());
        }
        let (before, after) = (&shard.consumers["cg"], &restored.consumers["cg"]);
        assert_eq!(after.group_epoch, before.group_epoch);
        assert_eq!(after.members["a"].assigned, before.members["a"].assigned);
        assert_eq!(after.target, before.target);
        assert_eq!(restored.fetch_offsets("cg", None, false)[0].offset, 7);
        let listed = restored.list(&[]);
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].group_type, listed[0].state),
            ("consumer", "Stable")
        );

        // A live consumer group cannot be deleted; once empty, it can, and stays deleted.
        assert_eq!(
            restored.delete_group("cg"),
            Err(ResponseError::NonEmptyGroup)
        );
        let later = Now {
            instant: Instant::now() + std::time::Duration::from_secs(60),
            wall_ms: 6,
        };
        let expired = restored.tick(later);
        assert_eq!(expired.len(), 1, "the silent member expired");
        assert!(
            restored.expired_offsets(6).is_empty(),
            "an empty group's offsets are kept for the retention time"
        );
        let tombstones = restored.delete_group("cg").unwrap();
        for r in &tombstones {
            restored.replay(r, now());
        }
        assert!(restored.list(&[]).is_empty());
    }

    #[test]
    fn classic_and_consumer_groups_cannot_share_an_id() {
        let mut shard = Shard::new(GroupConfig::default());
        cg_join(&mut shard, "cg", "a");
        let join = JoinRequest {
            group_id: "cg".into(),
            member_id: "m".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), bytes::Bytes::new())],
            ..Default::default()
        };
        let mut fx = Effects::default();
        match shard.join(&join, now(), &mut fx) {
            Reply::Done(r) => assert_eq!(r.error, Some(ResponseError::InconsistentGroupProtocol)),
            Reply::Pending { .. } => panic!("must be refused"),
        }
        // And a consumer-protocol member cannot join a live classic group.
        let join = JoinRequest {
            group_id: "classic".into(),
            member_id: String::new(),
            require_known_member_id: false,
            ..join
        };
        let mut fx = Effects::default();
        let _ = shard.join(&join, now(), &mut fx);
        assert!(!shard.groups["classic"].members.is_empty());
        let req = CgHeartbeat {
            group_id: "classic".into(),
            member_epoch: 0,
            subscribed_topics: Some(vec!["t".into()]),
            ..Default::default()
        };
        let (resp, records) = shard.consumer_heartbeat(&req, &|_| Some(1), &|| "x".into(), now());
        assert_eq!(resp.error, Some(ResponseError::GroupIdNotFound));
        assert!(records.is_empty());
    }

    #[test]
    fn transactional_offsets_are_pending_until_their_commit_marker() {
        let unstable = Some(ResponseError::UnstableOffsetCommit);
        let mut shard = Shard::new(GroupConfig::default());
        let mut log = Vec::new();
        commit_via_log(&mut shard, &mut log, "g", &[commit_req("t", 0, 5)]);
        let errors = txn_commit_via_log(
            &mut shard,
            &mut log,
            7,
            "g",
            &[commit_req("t", 0, 10), commit_req("t", 1, 3)],
        );
        assert_eq!(errors, vec![None, None]);
        assert!(shard.has_pending_offsets("g"));
        let [plain, stable, all, all_stable] = view(&shard, "g");
        // Not visible as committed...
        assert_eq!(
            offsets(&plain),
            vec![(0, 5, None), (1, -1, None), (2, -1, None), (0, -1, None)]
        );
        // ...and unstable for a fetch that requires stable offsets.
        assert_eq!(
            offsets(&stable),
            vec![
                (0, -1, unstable),
                (1, -1, unstable),
                (2, -1, None),
                (0, -1, None)
            ]
        );
        assert_eq!(stable[0].metadata, "");
        // All partitions: the committed ones only.
        assert_eq!(offsets(&all), vec![(0, 5, None)]);
        assert_eq!(offsets(&all_stable), vec![(0, -1, unstable)]);
        // Replay of the transactional batch without its marker: the same, still pending.
        assert_eq!(view(&recover(&log), "g"), view(&shard, "g"));

        end_via_log(&mut shard, &mut log, 7, true);
        assert!(!shard.has_pending_offsets("g"));
        let [plain, stable, ..] = view(&shard, "g");
        assert_eq!(
            offsets(&plain),
            vec![(0, 10, None), (1, 3, None), (2, -1, None), (0, -1, None)]
        );
        assert_eq!(plain, stable);
        assert_eq!(plain[0].metadata, "m");
        // Replay of batch + marker equals live.
        let recovered = recover(&log);
        assert_eq!(view(&recovered, "g"), view(&shard, "g"));
        assert!(!recovered.has_pending_offsets("g"));
    }

    #[test]
    fn aborted_transactional_offsets_are_dropped() {
        let mut shard = Shard::new(GroupConfig::default());
        let mut log = Vec::new();
        commit_via_log(&mut shard, &mut log, "g", &[commit_req("t", 0, 5)]);
        txn_commit_via_log(&mut shard, &mut log, 7, "g", &[commit_req("t", 0, 10)]);
        // Another producer's transaction of another group in the same shard is not touched.
        txn_commit_via_log(&mut shard, &mut log, 8, "h", &[commit_req("t", 0, 1)]);
        end_via_log(&mut shard, &mut log, 7, false);
        let [plain, stable, ..] = view(&shard, "g");
        assert_eq!(plain, stable);
        assert_eq!(offsets(&plain)[0], (0, 5, None));
        assert!(shard.has_pending_offset("h", "t", 0));
        // A marker of a producer with nothing pending changes nothing.
        end_via_log(&mut shard, &mut log, 7, true);
        assert_eq!(
            offsets(&shard.fetch_offsets("g", None, true)),
            vec![(0, 5, None)]
        );
        let recovered = recover(&log);
        assert_eq!(view(&recovered, "g"), view(&shard, "g"));
        assert_eq!(view(&recovered, "h"), view(&shard, "h"));
        assert!(recovered.has_pending_offset("h", "t", 0));
    }

    #[test]
    fn a_pending_transaction_survives_replay_and_completes_afterwards() {
        let mut log = Vec::new();
        let mut shard = Shard::new(GroupConfig::default());
        txn_commit_via_log(&mut shard, &mut log, 7, "g", &[commit_req("t", 0, 10)]);
        // The log may be replayed in several reads: the pending state carries over.
        let mut recovered = recover(&log);
        assert!(recovered.has_pending_offset("g", "t", 0));
        assert!(
            recovered.describe("g").is_some(),
            "a pending offset makes a group"
        );
        assert_eq!(
            offsets(&recovered.fetch_offsets("g", Some(&[("t".into(), vec![0])]), true)),
            vec![(0, -1, Some(ResponseError::UnstableOffsetCommit))]
        );
        for r in read_entries(marker_batch(7, true)).unwrap() {
            recovered.replay_entry(&r.unwrap(), now());
        }
        assert_eq!(
            offsets(&recovered.fetch_offsets("g", None, true)),
            vec![(0, 10, None)]
        );
    }

    #[test]
    fn the_most_recent_record_wins_when_plain_and_transactional_commits_mix() {
        let mut shard = Shard::new(GroupConfig::default());
        let mut log = Vec::new();
        // A plain commit written after the transactional offset is not overridden by the
        // transaction's commit (Kafka keeps the most recent record's offset).
        txn_commit_via_log(&mut shard, &mut log, 1, "g", &[commit_req("t", 0, 10)]);
        commit_via_log(&mut shard, &mut log, "g", &[commit_req("t", 0, 20)]);
        end_via_log(&mut shard, &mut log, 1, true);
        assert_eq!(
            offsets(&shard.fetch_offsets("g", None, true)),
            vec![(0, 20, None)]
        );
        // Two transactions: the later-written offset wins whichever commits first.
        txn_commit_via_log(&mut shard, &mut log, 1, "g", &[commit_req("t", 1, 10)]);
        txn_commit_via_log(&mut shard, &mut log, 2, "g", &[commit_req("t", 1, 30)]);
        txn_commit_via_log(&mut shard, &mut log, 3, "g", &[commit_req("t", 2, 40)]);
        txn_commit_via_log(&mut shard, &mut log, 4, "g", &[commit_req("t", 2, 50)]);
        end_via_log(&mut shard, &mut log, 2, true);
        end_via_log(&mut shard, &mut log, 1, true);
        end_via_log(&mut shard, &mut log, 3, true);
        end_via_log(&mut shard, &mut log, 4, true);
        // A transaction writing the same partition twice commits its last offset.
        txn_commit_via_log(&mut shard, &mut log, 5, "g", &[commit_req("u", 0, 1)]);
        txn_commit_via_log(&mut shard, &mut log, 5, "g", &[commit_req("u", 0, 2)]);
        end_via_log(&mut shard, &mut log, 5, true);
        assert_eq!(
            offsets(&shard.fetch_offsets("g", None, true)),
            vec![(0, 20, None), (1, 30, None), (2, 50, None), (0, 2, None)]
        );
        assert_eq!(view(&recover(&log), "g"), view(&shard, "g"));
    }

    #[test]
    fn pending_offsets_are_kept_by_expiry_and_dropped_by_deletions() {
        let day = 24 * 60 * 60 * 1000;
        let mut shard = Shard::new(GroupConfig::default());
        let mut log = Vec::new();
        commit_via_log(
            &mut shard,
            &mut log,
            "g",
            &[commit_req("t", 0, 1), commit_req("t", 1, 1)],
        );
        txn_commit_via_log(
            &mut shard,
            &mut log,
            7,
            "g",
            &[commit_req("t", 0, 2), commit_req("t", 2, 2)],
        );
        // Long after: t-1 expires, t-0 is kept for the open transaction, and so is the group.
        let expired = shard.expired_offsets(100 * day);
        assert_eq!(
            expired.iter().map(|r| r.key.clone()).collect::<Vec<_>>(),
            vec![RecordKey::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 1
            }]
        );
        apply(&mut shard, &mut log, &expired);
        // A group holding only a pending offset is not expired either.
        txn_commit_via_log(&mut shard, &mut log, 8, "p", &[commit_req("t", 0, 2)]);
        assert!(shard.expired_offsets(100 * day).is_empty());
        assert!(shard.describe("p").is_some());

        // OffsetDelete of a partition only pending drops the pending offset.
        let (errors, tombstones) = shard.delete_offsets("p", &[("t".into(), 0)]).unwrap();
        assert_eq!((errors, tombstones.len()), (vec![None], 1));
        apply(&mut shard, &mut log, &tombstones);
        assert!(!shard.has_pending_offsets("p"));

        // DeleteGroups takes the committed offsets, the pending ones, and the group.
        let tombstones = shard.delete_group("g").unwrap();
        assert_eq!(
            tombstones.len(),
            3,
            "t-0, t-2 and the group: {tombstones:?}"
        );
        apply(&mut shard, &mut log, &tombstones);
        assert!(shard.describe("g").is_none());
        assert!(!shard.has_pending_offsets("g"));
        // The transaction's commit afterwards brings nothing back.
        end_via_log(&mut shard, &mut log, 7, true);
        end_via_log(&mut shard, &mut log, 8, true);
        assert!(shard.describe("g").is_none());
        assert!(shard.fetch_offsets("p", None, false).is_empty());
        let recovered = recover(&log);
        assert!(recovered.describe("g").is_none());
        assert_eq!(view(&recovered, "p"), view(&shard, "p"));
    }

    #[test]
    fn transactional_commit_checks() {
        let t = now();
        let mut shard = Shard::new(GroupConfig::default());
        let mut fx = Effects::default();
        let req = JoinRequest {
            group_id: "g".into(),
            client_id: "c".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), bytes::Bytes::from_static(b"x"))],
            ..Default::default()
        };
        let Reply::Pending { member_id } = shard.join(&req, t, &mut fx) else {
            panic!()
        };
        // Completing the rebalance: a plain commit is refused, a transactional one is not.
        let member = |generation_id| MemberRef {
            member_id: member_id.clone(),
            group_instance_id: None,
            generation_id,
        };
        let parts = [commit_req("t", 0, 1)];
        assert_eq!(
            shard.commit("g", &member(1), &parts, t).results[0].2,
            Some(ResponseError::RebalanceInProgress)
        );
        let plan = shard.commit_transactional("g", &member(1), &parts, t);
        assert_eq!((plan.results[0].2, plan.records.len()), (None, 1));
        // Without member id and generation (TxnOffsetCommit v0-v2): accepted on a live group.
        assert!(shard.commit("g", &simple(), &parts, t).results[0]
            .2
            .is_some());
        assert_eq!(
            shard
                .commit_transactional("g", &simple(), &parts, t)
                .results[0]
                .2,
            None
        );
        // A stale generation or unknown member is refused.
        assert_eq!(
            shard
                .commit_transactional("g", &member(0), &parts, t)
                .results[0]
                .2,
            Some(ResponseError::IllegalGeneration)
        );
        let stranger = MemberRef {
            member_id: "x".into(),
            group_instance_id: None,
            generation_id: 1,
        };
        let plan = shard.commit_transactional("g", &stranger, &parts, t);
        assert_eq!(plan.results[0].2, Some(ResponseError::UnknownMemberId));
        assert!(plan.records.is_empty());
        // A group that does not exist: only generation -1 without member id.
        assert_eq!(
            shard
                .commit_transactional("new", &stranger, &parts, t)
                .results[0]
                .2,
            Some(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            shard
                .commit_transactional("new", &simple(), &parts, t)
                .results[0]
                .2,
            None
        );
        assert_eq!(
            shard.commit_transactional("", &simple(), &parts, t).results[0].2,
            Some(ResponseError::InvalidGroupId)
        );
        let mut big = commit_req("t", 1, 1);
        big.metadata = Some("x".repeat(4097));
        let plan = shard.commit_transactional("new", &simple(), &[big], t);
        assert_eq!(
            plan.results[0].2,
            Some(ResponseError::OffsetMetadataTooLarge)
        );
        // A consumer group (KIP-848): the member epoch is checked.
        cg_join(&mut shard, "cg", "a");
        let cg_member = |epoch| MemberRef {
            member_id: "a".into(),
            group_instance_id: None,
            generation_id: epoch,
        };
        assert_eq!(
            shard
                .commit_transactional("cg", &cg_member(0), &parts, t)
                .results[0]
                .2,
            Some(ResponseError::StaleMemberEpoch)
        );
        assert_eq!(
            shard
                .commit_transactional("cg", &cg_member(1), &parts, t)
                .results[0]
                .2,
            None
        );
        assert_eq!(
            shard
                .commit_transactional("cg", &simple(), &parts, t)
                .results[0]
                .2,
            None
        );
    }
}
