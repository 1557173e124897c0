//! The groups of one `__consumer_offsets` partition (Kafka's GroupCoordinatorShard): every group
//! whose id hashes to that partition, with its committed offsets.
//!
//! Pure: each operation returns its answer and the records to append. Offsets follow "log, then
//! apply": [`Shard::commit`] only validates and builds records; they change the state through
//! [`Shard::replay`] once appended, the same code that rebuilds the state at start-up.
//! Membership follows "apply, then log": the group changes at once and its metadata record is a
//! snapshot that replay restores at start-up.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;
use weir_protocol::kafka_protocol::error::ResponseError;

use crate::consumer::{CgHeartbeat, CgHeartbeatResponse, ConsumerGroup};
use crate::group::{Effects, Group, GroupState, Reply};
use crate::records::{LogRecord, OffsetValue, RecordKey, RecordValue};
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
        let settings = self.config.consumer_settings();
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
            for ((topic, partition), v) in &g.offsets {
                let base = if empty && g.protocol_type.is_some() && g.state_timestamp >= 0 {
                    g.state_timestamp
                } else {
                    v.commit_timestamp
                };
                let expired =
                    base.saturating_add(retention) <= now_wall_ms && (empty || !subscribes(topic));
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
            if empty && kept == 0 && g.pending.is_empty() {
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

    /// OffsetFetch for one group: the requested partitions, or all (`None`).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        wanted: Option<&[(String, Vec<i32>)]>,
    ) -> Vec<FetchedOffset> {
        let group = self.groups.get(group_id);
        let found = |topic: &str, partition: i32| {
            let v = group.and_then(|g| g.offsets.get(&(topic.to_string(), partition)));
            FetchedOffset {
                topic: topic.to_string(),
                partition,
                offset: v.map_or(-1, |v| v.offset),
                leader_epoch: v.map_or(-1, |v| v.leader_epoch),
                metadata: v.map(|v| v.metadata.clone()).unwrap_or_default(),
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

    /// OffsetDelete: per-partition errors and the tombstones to append (then replay).
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
                if g.offsets.contains_key(&(topic.clone(), *partition)) {
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

    /// DeleteGroups for one group: only an empty group can go; returns its tombstones, and the
    /// group is gone once they are replayed.
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
        records.extend(g.offsets.keys().map(|(topic, partition)| LogRecord {
            key: RecordKey::Offset {
                group: group_id.to_string(),
                topic: topic.clone(),
                partition: *partition,
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
        });
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
    use crate::records::{build_batch, read_batches};

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
            for r in read_batches(batch.clone()).unwrap() {
                shard.replay(&r.unwrap(), now());
            }
        }
        shard
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
        let got = recovered.fetch_offsets("g", None);
        assert_eq!(
            got.iter()
                .map(|o| (o.partition, o.offset))
                .collect::<Vec<_>>(),
            vec![(0, 9), (1, 3)]
        );
        assert_eq!(got[0].metadata, "m");
        assert_eq!(recovered.fetch_offsets("h", None).len(), 1);
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
        let got = recovered.fetch_offsets("g", None);
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
            shard.fetch_offsets("nope", Some(&[("t".into(), vec![0])]))[0].offset,
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
        assert_eq!(restored.fetch_offsets("cg", None)[0].offset, 7);
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
}
