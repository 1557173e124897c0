//! One classic consumer group: its members, generation and state, and the transitions of
//! Kafka's classic rebalance protocol.
//!
//! ```text
//!            join                    all joined / rebalance timeout        leader's SyncGroup
//!   Empty ───────────▶ PreparingRebalance ──────────────────▶ CompletingRebalance ──────▶ Stable
//!     ▲                      ▲  │ nobody left                        │ member joins/leaves │
//!     └──────────────────────┼──┘                                    ▼                     │
//!                            └──────────────────────────────────────────────────────────────┘
//! ```
//!
//! Everything here is pure: a method takes the time as an argument, changes the group, and
//! reports what it decided in [`Effects`]: records for `__consumer_offsets`, and answers for
//! members whose JoinGroup or SyncGroup was waiting. Nothing here waits or does I/O.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use weir_protocol::kafka_protocol::error::ResponseError;

use crate::records::{GroupValue, LogRecord, OffsetValue, RecordKey, RecordValue, StoredMember};
use crate::types::{
    DescribedGroup, DescribedMember, JoinRequest, JoinResponse, JoinedMember, MemberRef, Now,
    SyncRequest, SyncResponse,
};

/// Kafka's group states (classic protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members; may still hold committed offsets.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Assigned and running.
    Stable,
    /// Being removed.
    Dead,
}

impl GroupState {
    /// The name Kafka uses in ListGroups and DescribeGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// What a state-machine step decided besides its direct answer.
#[derive(Debug, Default)]
pub struct Effects {
    /// Records to append to the group's `__consumer_offsets` partition, in order.
    pub records: Vec<LogRecord>,
    /// JoinGroup answers for members that were waiting, by member id.
    pub joins: Vec<(String, JoinResponse)>,
    /// SyncGroup answers for members that were waiting, by member id.
    pub syncs: Vec<(String, SyncResponse)>,
}

/// The direct answer of a JoinGroup or SyncGroup: now, or later through [`Effects`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    /// Answered now.
    Done(T),
    /// The member waits; its answer comes in a later [`Effects`] under this member id.
    Pending {
        /// The member id the answer will be keyed by.
        member_id: String,
    },
}

/// A member of a classic group.
#[derive(Debug, Clone)]
pub struct Member {
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Protocol type.
    pub protocol_type: String,
    /// Protocols with metadata, in the member's preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// Current assignment.
    pub assignment: Bytes,
    /// A JoinGroup of this member is waiting for the rebalance to complete.
    pub awaiting_join: bool,
    /// A SyncGroup of this member is waiting for the leader's assignment.
    pub awaiting_sync: bool,
    /// When the member is expired unless it heartbeats.
    pub heartbeat_deadline: Instant,
}

impl Member {
    fn metadata_for(&self, protocol: Option<&str>) -> Bytes {
        protocol
            .and_then(|p| self.protocols.iter().find(|(n, _)| n == p))
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn session(&self) -> Duration {
        Duration::from_millis(self.session_timeout_ms.max(0) as u64)
    }
}

/// One consumer group (classic protocol) and its committed offsets.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group id.
    pub id: String,
    /// Current state.
    pub state: GroupState,
    /// Protocol type of the members.
    pub protocol_type: Option<String>,
    /// Selected protocol (assignor).
    pub protocol: Option<String>,
    /// Generation, bumped by every completed join phase.
    pub generation: i32,
    /// Leader member id.
    pub leader: Option<String>,
    /// Members by id.
    pub members: BTreeMap<String, Member>,
    /// Static members: group.instance.id → member id.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the time they lapse.
    pub pending: HashMap<String, Instant>,
    /// When the current join phase ends even if not every member rejoined.
    pub rebalance_deadline: Option<Instant>,
    /// group.initial.rebalance.delay.ms, set by the shard from its config.
    pub initial_rebalance_delay: Duration,
    /// While the first join phase of a group that was empty waits for more members: (when the
    /// wait started, when it ends).
    pub initial_join_wait: Option<(Instant, Instant)>,
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<(String, i32), OffsetValue>,
    /// Wall-clock time of the last state change.
    pub state_timestamp: i64,
}

/// Kafka's member ids: the client id, a dash and a UUID. The client id part is shortened so
/// the id always fits the stored records' `int16`-length strings.
fn member_id_for(client_id: &str) -> String {
    let prefix: String = client_id.chars().take(255).collect();
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

impl Group {
    /// A new, empty group.
    pub fn new(id: &str) -> Self {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            protocol_type: None,
            protocol: None,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending: HashMap::new(),
            rebalance_deadline: None,
            initial_rebalance_delay: Duration::ZERO,
            initial_join_wait: None,
            offsets: BTreeMap::new(),
            state_timestamp: -1,
        }
    }

    fn set_state(&mut self, state: GroupState, now: Now) {
        self.state = state;
        self.state_timestamp = now.wall_ms;
    }

    /// The group's membership as a `__consumer_offsets` record.
    pub fn metadata_record(&self) -> LogRecord {
        LogRecord {
            key: RecordKey::Group {
                group: self.id.clone(),
            },
            value: Some(RecordValue::Group(GroupValue {
                protocol_type: self.protocol_type.clone().unwrap_or_default(),
                generation: self.generation,
                protocol: self.protocol.clone(),
                leader: self.leader.clone(),
                current_state_timestamp: self.state_timestamp,
                members: self
                    .members
                    .values()
                    .map(|m| StoredMember {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        rebalance_timeout_ms: m.rebalance_timeout_ms,
                        session_timeout_ms: m.session_timeout_ms,
                        subscription: m.metadata_for(self.protocol.as_deref()),
                        assignment: m.assignment.clone(),
                    })
                    .collect(),
            })),
        }
    }

    /// Restores membership from a stored record (replay at start-up). Members get a fresh
    /// session from `now`: if their clients are gone, they expire and the group rebalances.
    pub fn load(&mut self, value: &GroupValue, now: Now) {
        self.protocol_type = Some(value.protocol_type.clone()).filter(|s| !s.is_empty());
        self.generation = value.generation;
        self.protocol = value.protocol.clone();
        self.leader = value.leader.clone();
        self.state_timestamp = value.current_state_timestamp;
        self.members.clear();
        self.static_members.clear();
        self.pending.clear();
        self.rebalance_deadline = None;
        for m in &value.members {
            let member = Member {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                session_timeout_ms: m.session_timeout_ms,
                protocol_type: value.protocol_type.clone(),
                protocols: value
                    .protocol
                    .iter()
                    .map(|p| (p.clone(), m.subscription.clone()))
                    .collect(),
                assignment: m.assignment.clone(),
                awaiting_join: false,
                awaiting_sync: false,
                heartbeat_deadline: now.instant
                    + Duration::from_millis(m.session_timeout_ms.max(0) as u64),
            };
            if let Some(iid) = &m.group_instance_id {
                self.static_members.insert(iid.clone(), m.member_id.clone());
            }
            self.members.insert(m.member_id.clone(), member);
        }
        self.state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
    }

    /// Protocols every member supports, in the first member's order.
    fn candidate_protocols(&self) -> Vec<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let rest: Vec<&Member> = members.collect();
        first
            .protocols
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| rest.iter().all(|m| m.protocols.iter().any(|(p, _)| p == n)))
            .collect()
    }

    /// Whether a member with this protocol type and these protocols may join.
    fn supports(&self, req: &JoinRequest) -> bool {
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return false;
        }
        let others: Vec<&Member> = self
            .members
            .values()
            .filter(|m| m.member_id != req.member_id)
            .collect();
        if others.is_empty() {
            return true;
        }
        if self
            .protocol_type
            .as_deref()
            .is_some_and(|t| t != req.protocol_type)
        {
            return false;
        }
        req.protocols.iter().any(|(name, _)| {
            others
                .iter()
                .all(|m| m.protocols.iter().any(|(p, _)| p == name))
        })
    }

    /// Picks the protocol supported by all members that most members prefer.
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: Vec<(String, usize)> = candidates.iter().map(|c| (c.clone(), 0)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(p, _)| candidates.contains(p)) {
                if let Some(v) = votes.iter_mut().find(|(c, _)| c == name) {
                    v.1 += 1;
                }
            }
        }
        let best = votes.iter().map(|(_, n)| *n).max()?;
        votes.into_iter().find(|(_, n)| *n == best).map(|(c, _)| c)
    }

    /// JoinGroup.
    pub fn join(&mut self, req: &JoinRequest, now: Now, fx: &mut Effects) -> Reply<JoinResponse> {
        let fail = |e| Reply::Done(JoinResponse::error(e, &req.member_id));
        if self.state == GroupState::Dead {
            return fail(ResponseError::CoordinatorNotAvailable);
        }
        if !self.supports(req) {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        if req.member_id.is_empty() {
            return self.join_new(req, now, fx);
        }
        if self.pending.remove(&req.member_id).is_some() {
            return self.add_member(req, req.member_id.clone(), now, fx);
        }
        let Some(member) = self.members.get(&req.member_id) else {
            return fail(ResponseError::UnknownMemberId);
        };
        if member.group_instance_id != req.group_instance_id {
            return fail(ResponseError::FencedInstanceId);
        }
        let unchanged = member.protocols == req.protocols;
        let is_leader = self.leader.as_deref() == Some(req.member_id.as_str());
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member(req, now);
                self.try_complete_join(now, fx);
                Reply::Pending {
                    member_id: req.member_id.clone(),
                }
            }
            GroupState::CompletingRebalance if unchanged => {
                // A retried JoinGroup: answer with what the join phase decided.
                Reply::Done(self.join_response(&req.member_id))
            }
            GroupState::Stable if unchanged && !is_leader => {
                Reply::Done(self.join_response(&req.member_id))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member(req, now);
                self.prepare_rebalance(now, fx);
                self.try_complete_join(now, fx);
                Reply::Pending {
                    member_id: req.member_id.clone(),
                }
            }
            GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
        }
    }

    fn join_new(&mut self, req: &JoinRequest, now: Now, fx: &mut Effects) -> Reply<JoinResponse> {
        if let Some(iid) = &req.group_instance_id {
            if let Some(old_id) = self.static_members.get(iid).cloned() {
                return self.replace_static_member(req, &old_id, now, fx);
            }
            let id = member_id_for(&req.client_id);
            return self.add_member(req, id, now, fx);
        }
        let id = member_id_for(&req.client_id);
        if req.require_known_member_id {
            let lapse = now.instant + Duration::from_millis(req.session_timeout_ms.max(0) as u64);
            self.pending.insert(id.clone(), lapse);
            return Reply::Done(JoinResponse::error(ResponseError::MemberIdRequired, &id));
        }
        self.add_member(req, id, now, fx)
    }

    /// A static member came back with a new process: it takes over its old member id's place
    /// and assignment; a client still using the old id is fenced.
    fn replace_static_member(
        &mut self,
        req: &JoinRequest,
        old_id: &str,
        now: Now,
        fx: &mut Effects,
    ) -> Reply<JoinResponse> {
        let new_id = member_id_for(&req.client_id);
        let Some(mut member) = self.members.remove(old_id) else {
            return self.add_member(req, new_id, now, fx);
        };
        if member.awaiting_join {
            fx.joins.push((
                old_id.to_string(),
                JoinResponse::error(ResponseError::FencedInstanceId, old_id),
            ));
        }
        if member.awaiting_sync {
            fx.syncs.push((
                old_id.to_string(),
                SyncResponse::error(ResponseError::FencedInstanceId),
            ));
        }
        let was_leader = self.leader.as_deref() == Some(old_id);
        member.member_id = new_id.clone();
        member.awaiting_join = false;
        member.awaiting_sync = false;
        self.members.insert(new_id.clone(), member);
        if let Some(iid) = &req.group_instance_id {
            self.static_members.insert(iid.clone(), new_id.clone());
        }
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        let join = JoinRequest {
            member_id: new_id.clone(),
            ..req.clone()
        };
        self.update_member(&join, now);
        if self.state == GroupState::Stable && self.select_protocol() == self.protocol {
            // Kafka's static-member rejoin: no rebalance, the old assignment stays, also when
            // the member was the leader. The answer names the old leader id, so the new
            // incarnation acts as a follower and does not compute an assignment that a
            // stable group would never hand out (Kafka does the same before KIP-814).
            if let Some(m) = self.members.get_mut(&new_id) {
                m.awaiting_join = false;
            }
            fx.records.push(self.metadata_record());
            let mut reply = self.join_response(&new_id);
            if was_leader {
                reply.leader = old_id.to_string();
                reply.members.clear();
            }
            return Reply::Done(reply);
        }
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now, fx);
        }
        self.try_complete_join(now, fx);
        Reply::Pending { member_id: new_id }
    }

    fn add_member(
        &mut self,
        req: &JoinRequest,
        id: String,
        now: Now,
        fx: &mut Effects,
    ) -> Reply<JoinResponse> {
        let member = Member {
            member_id: id.clone(),
            group_instance_id: req.group_instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            session_timeout_ms: req.session_timeout_ms,
            protocol_type: req.protocol_type.clone(),
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: true,
            awaiting_sync: false,
            heartbeat_deadline: now.instant
                + Duration::from_millis(req.session_timeout_ms.max(0) as u64),
        };
        if let Some(iid) = &req.group_instance_id {
            self.static_members.insert(iid.clone(), id.clone());
        }
        self.members.insert(id.clone(), member);
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now, fx);
        } else if let Some((started, _)) = self.initial_join_wait {
            // Kafka's InitialDelayedJoin: each newcomer extends the wait, up to the rebalance
            // timeout counted from when the wait began.
            let cap = started + self.max_rebalance_timeout();
            self.initial_join_wait = Some((
                started,
                (now.instant + self.initial_rebalance_delay).min(cap),
            ));
        }
        self.try_complete_join(now, fx);
        Reply::Pending { member_id: id }
    }

    fn update_member(&mut self, req: &JoinRequest, now: Now) {
        if let Some(m) = self.members.get_mut(&req.member_id) {
            m.protocols = req.protocols.clone();
            m.protocol_type = req.protocol_type.clone();
            m.session_timeout_ms = req.session_timeout_ms;
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            m.client_id = req.client_id.clone();
            m.client_host = req.client_host.clone();
            m.awaiting_join = true;
            m.heartbeat_deadline = now.instant + m.session();
        }
    }

    fn join_response(&self, member_id: &str) -> JoinResponse {
        let is_leader = self.leader.as_deref() == Some(member_id);
        JoinResponse {
            error: None,
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members: if is_leader {
                self.members
                    .values()
                    .map(|m| JoinedMember {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        metadata: m.metadata_for(self.protocol.as_deref()),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Starts a join phase: members must rejoin (they learn it from Heartbeat or SyncGroup).
    fn prepare_rebalance(&mut self, now: Now, fx: &mut Effects) {
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
                if m.awaiting_sync {
                    m.awaiting_sync = false;
                    // Its session restarts when it is answered (Kafka does the same).
                    m.heartbeat_deadline = now.instant + m.session();
                    fx.syncs.push((
                        m.member_id.clone(),
                        SyncResponse::error(ResponseError::RebalanceInProgress),
                    ));
                }
            }
        }
        if self.state == GroupState::Empty && !self.initial_rebalance_delay.is_zero() {
            let wait = self
                .initial_rebalance_delay
                .min(self.max_rebalance_timeout());
            self.initial_join_wait = Some((now.instant, now.instant + wait));
        }
        self.rebalance_deadline = Some(now.instant + self.max_rebalance_timeout());
        self.set_state(GroupState::PreparingRebalance, now);
    }

    fn max_rebalance_timeout(&self) -> Duration {
        let ms = self
            .members
            .values()
            .map(|m| m.rebalance_timeout_ms.max(0))
            .max()
            .unwrap_or(0);
        Duration::from_millis(ms as u64)
    }

    fn try_complete_join(&mut self, now: Now, fx: &mut Effects) {
        let waiting = self
            .initial_join_wait
            .is_some_and(|(_, until)| until > now.instant);
        if self.state == GroupState::PreparingRebalance
            && !waiting
            && self.pending.is_empty()
            && self.members.values().all(|m| m.awaiting_join)
        {
            self.complete_join(now, fx);
        }
    }

    /// Ends the join phase: members that did not rejoin are dropped, the generation advances,
    /// a protocol and a leader are chosen, and every waiting JoinGroup is answered.
    fn complete_join(&mut self, now: Now, fx: &mut Effects) {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join)
            .map(|m| m.member_id.clone())
            .collect();
        for id in gone {
            self.drop_member(&id, fx);
        }
        self.rebalance_deadline = None;
        self.initial_join_wait = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.set_state(GroupState::Empty, now);
            fx.records.push(self.metadata_record());
            return;
        }
        self.protocol = self.select_protocol();
        self.protocol_type = self
            .members
            .values()
            .next()
            .map(|m| m.protocol_type.clone());
        let leader_ok = self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l));
        if !leader_ok {
            self.leader = self.members.keys().next().cloned();
        }
        self.set_state(GroupState::CompletingRebalance, now);
        // Members that do not send SyncGroup within the rebalance timeout are removed.
        self.rebalance_deadline = Some(now.instant + self.max_rebalance_timeout());
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let response = self.join_response(&id);
            if let Some(m) = self.members.get_mut(&id) {
                m.awaiting_join = false;
                m.heartbeat_deadline = now.instant + m.session();
            }
            fx.joins.push((id, response));
        }
    }

    /// Removes a member without starting a rebalance; answers its waiting requests.
    fn drop_member(&mut self, id: &str, fx: &mut Effects) {
        if let Some(m) = self.members.remove(id) {
            if let Some(iid) = &m.group_instance_id {
                if self.static_members.get(iid).map(String::as_str) == Some(id) {
                    self.static_members.remove(iid);
                }
            }
            if m.awaiting_join {
                fx.joins.push((
                    id.to_string(),
                    JoinResponse::error(ResponseError::UnknownMemberId, id),
                ));
            }
            if m.awaiting_sync {
                fx.syncs.push((
                    id.to_string(),
                    SyncResponse::error(ResponseError::UnknownMemberId),
                ));
            }
        }
    }

    /// Removes a member (left or expired) and rebalances the rest.
    fn remove_member(&mut self, id: &str, now: Now, fx: &mut Effects) {
        self.drop_member(id, fx);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, fx);
                self.try_complete_join(now, fx);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, fx),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Checks that `who` is the current incarnation of a member of this generation.
    fn check_member(&self, who: &MemberRef) -> Result<(), ResponseError> {
        let member = self
            .members
            .get(&who.member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if who.group_instance_id.is_some() && member.group_instance_id != who.group_instance_id {
            return Err(ResponseError::FencedInstanceId);
        }
        if who.generation_id != self.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(())
    }

    /// Fencing of a static member's stale incarnation: its instance id now maps to another
    /// member id.
    fn fenced(&self, who: &MemberRef) -> bool {
        who.group_instance_id
            .as_ref()
            .and_then(|iid| self.static_members.get(iid))
            .is_some_and(|current| *current != who.member_id)
    }

    /// SyncGroup.
    pub fn sync(&mut self, req: &SyncRequest, now: Now, fx: &mut Effects) -> Reply<SyncResponse> {
        let who = MemberRef {
            member_id: req.member_id.clone(),
            group_instance_id: req.group_instance_id.clone(),
            generation_id: req.generation_id,
        };
        let fail = |e| Reply::Done(SyncResponse::error(e));
        if self.state == GroupState::Dead {
            return fail(ResponseError::CoordinatorNotAvailable);
        }
        if self.fenced(&who) {
            return fail(ResponseError::FencedInstanceId);
        }
        if let Err(e) = self.check_member(&who) {
            return fail(e);
        }
        let mismatched = |asked: &Option<String>, have: &Option<String>| {
            asked.as_ref().is_some_and(|a| Some(a) != have.as_ref())
        };
        if mismatched(&req.protocol_type, &self.protocol_type)
            || mismatched(&req.protocol_name, &self.protocol)
        {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => fail(ResponseError::RebalanceInProgress),
            GroupState::Stable => Reply::Done(self.sync_response(&req.member_id)),
            GroupState::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(&req.member_id) {
                    m.awaiting_sync = true;
                    m.heartbeat_deadline = now.instant + m.session();
                }
                if self.leader.as_deref() == Some(req.member_id.as_str()) {
                    for m in self.members.values_mut() {
                        m.assignment = req
                            .assignments
                            .iter()
                            .find(|(id, _)| *id == m.member_id)
                            .map(|(_, a)| a.clone())
                            .unwrap_or_default();
                    }
                    self.set_state(GroupState::Stable, now);
                    self.rebalance_deadline = None;
                    fx.records.push(self.metadata_record());
                    let ids: Vec<String> = self
                        .members
                        .values()
                        .filter(|m| m.awaiting_sync)
                        .map(|m| m.member_id.clone())
                        .collect();
                    for id in ids {
                        let response = self.sync_response(&id);
                        if let Some(m) = self.members.get_mut(&id) {
                            m.awaiting_sync = false;
                            m.heartbeat_deadline = now.instant + m.session();
                        }
                        fx.syncs.push((id, response));
                    }
                }
                Reply::Pending {
                    member_id: req.member_id.clone(),
                }
            }
        }
    }

    fn sync_response(&self, member_id: &str) -> SyncResponse {
        SyncResponse {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    /// Heartbeat: keeps the member's session alive and tells it about a rebalance.
    pub fn heartbeat(&mut self, who: &MemberRef, now: Now) -> Option<ResponseError> {
        if self.state == GroupState::Dead {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        if self.fenced(who) {
            return Some(ResponseError::FencedInstanceId);
        }
        if let Err(e) = self.check_member(who) {
            return Some(e);
        }
        if let Some(m) = self.members.get_mut(&who.member_id) {
            m.heartbeat_deadline = now.instant + m.session();
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => Some(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => Some(ResponseError::RebalanceInProgress),
            GroupState::CompletingRebalance | GroupState::Stable => None,
        }
    }

    /// LeaveGroup for one member (by member id, or by static id with an optional member id).
    pub fn leave(&mut self, who: &MemberRef, now: Now, fx: &mut Effects) -> Option<ResponseError> {
        let id = match &who.group_instance_id {
            Some(iid) => match self.static_members.get(iid) {
                None => return Some(ResponseError::UnknownMemberId),
                Some(current) if !who.member_id.is_empty() && *current != who.member_id => {
                    return Some(ResponseError::FencedInstanceId)
                }
                Some(current) => current.clone(),
            },
            None => who.member_id.clone(),
        };
        if self.pending.remove(&id).is_some() {
            self.try_complete_join(now, fx);
            return None;
        }
        if !self.members.contains_key(&id) {
            return Some(ResponseError::UnknownMemberId);
        }
        self.remove_member(&id, now, fx);
        None
    }

    /// Applies the passage of time: expires members whose session lapsed, forgets unused
    /// pending member ids, and ends a join phase whose rebalance timeout passed.
    pub fn tick(&mut self, now: Now, fx: &mut Effects) {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && !m.awaiting_sync && m.heartbeat_deadline <= now.instant)
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member session expired");
            self.remove_member(&id, now, fx);
        }
        let before = self.pending.len();
        self.pending.retain(|_, lapse| *lapse > now.instant);
        let wait_over = self
            .initial_join_wait
            .is_some_and(|(_, until)| until <= now.instant);
        if self.pending.len() != before || wait_over {
            self.try_complete_join(now, fx);
        }
        let overdue = self.rebalance_deadline.is_some_and(|d| d <= now.instant);
        if overdue && self.state == GroupState::PreparingRebalance {
            self.complete_join(now, fx);
        } else if overdue && self.state == GroupState::CompletingRebalance {
            let unsynced: Vec<String> = self
                .members
                .values()
                .filter(|m| !m.awaiting_sync)
                .map(|m| m.member_id.clone())
                .collect();
            tracing::info!(group = %self.id, members = ?unsynced, "no SyncGroup within the rebalance timeout");
            for id in unsynced {
                self.drop_member(&id, fx);
            }
            self.prepare_rebalance(now, fx);
            self.try_complete_join(now, fx);
        }
    }

    /// The earliest time [`Group::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let members = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && !m.awaiting_sync)
            .map(|m| m.heartbeat_deadline);
        members
            .chain(self.pending.values().copied())
            .chain(self.rebalance_deadline)
            .chain(self.initial_join_wait.map(|(_, until)| until))
            .min()
    }

    /// Checks an OffsetCommit's member and generation (Kafka's rules for classic groups):
    /// generation -1 without a member id is a simple (non-group) commit, allowed while the
    /// group is Empty.
    pub fn validate_commit(&self, who: &MemberRef) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if who.generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if self.fenced(who) {
            return Err(ResponseError::FencedInstanceId);
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        self.check_member(who)
    }

    /// TxnOffsetCommit check (Kafka's `validateOffsetCommit` with `isTransactional`): like
    /// [`Group::validate_commit`], except that a commit without member id, instance id and
    /// generation (TxnOffsetCommit v0-v2 carry none) is accepted whatever the state, and a
    /// rebalance in progress does not refuse it.
    pub fn validate_txn_commit(&self, who: &MemberRef) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if who.generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if who.generation_id < 0 && who.member_id.is_empty() && who.group_instance_id.is_none() {
            return Ok(());
        }
        if self.fenced(who) {
            return Err(ResponseError::FencedInstanceId);
        }
        self.check_member(who)
    }

    /// Whether any member subscribes to `topic` (consumer protocol), as OffsetDelete checks.
    /// A subscription that does not parse counts as subscribed.
    pub fn subscribes_to(&self, topic: &str) -> bool {
        if self.state == GroupState::Empty || self.protocol_type.as_deref() != Some("consumer") {
            return false;
        }
        self.members.values().any(|m| {
            let metadata = m.metadata_for(self.protocol.as_deref());
            crate::subscription::topics(&metadata).is_none_or(|ts| ts.iter().any(|t| t == topic))
        })
    }

    /// DescribeGroups.
    pub fn describe(&self) -> DescribedGroup {
        let full = self.state == GroupState::Stable;
        DescribedGroup {
            group_id: self.id.clone(),
            state: self.state.name(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol: if full {
                self.protocol.clone().unwrap_or_default()
            } else {
                String::new()
            },
            members: self
                .members
                .values()
                .map(|m| DescribedMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if full {
                        m.metadata_for(self.protocol.as_deref())
                    } else {
                        Bytes::new()
                    },
                    assignment: if full {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Now {
        Now {
            instant: Instant::now(),
            wall_ms: 1000,
        }
    }

    fn later(t: Now, ms: u64) -> Now {
        Now {
            instant: t.instant + Duration::from_millis(ms),
            wall_ms: t.wall_ms + ms as i64,
        }
    }

    fn join_req(member_id: &str, protocols: &[&str]) -> JoinRequest {
        JoinRequest {
            group_id: "g".into(),
            member_id: member_id.into(),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
                .collect(),
            require_known_member_id: true,
            ..Default::default()
        }
    }

    /// First join with MEMBER_ID_REQUIRED, then the real join; returns the member id.
    fn join_member(g: &mut Group, t: Now, fx: &mut Effects) -> String {
        let Reply::Done(r) = g.join(&join_req("", &["range"]), t, fx) else {
            panic!("first join must answer at once");
        };
        assert_eq!(r.error, Some(ResponseError::MemberIdRequired));
        match g.join(&join_req(&r.member_id, &["range"]), t, fx) {
            Reply::Pending { member_id } => member_id,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn who(member_id: &str, generation_id: i32) -> MemberRef {
        MemberRef {
            member_id: member_id.into(),
            group_instance_id: None,
            generation_id,
        }
    }

    fn sync_req(member: &str, generation: i32, assignments: &[(&str, &str)]) -> SyncRequest {
        SyncRequest {
            group_id: "g".into(),
            generation_id: generation,
            member_id: member.into(),
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
                .collect(),
            ..Default::default()
        }
    }

    /// A group with one stable member "a" (leader) at generation 1.
    fn stable_single() -> (Group, String, Now) {
        let t = now();
        let mut g = Group::new("g");
        let mut fx = Effects::default();
        let a = join_member(&mut g, t, &mut fx);
        assert_eq!(fx.joins.len(), 1);
        assert_eq!(fx.joins[0].1.leader, a);
        assert_eq!(fx.joins[0].1.generation_id, 1);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let mut fx = Effects::default();
        let r = g.sync(&sync_req(&a, 1, &[(&a, "A")]), t, &mut fx);
        assert!(matches!(r, Reply::Pending { .. }));
        assert_eq!(fx.syncs[0].1.assignment, Bytes::from("A"));
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(fx.records.len(), 1, "stable group is recorded");
        (g, a, t)
    }

    /// group.initial.rebalance.delay.ms: members that join an empty group within the delay
    /// (each join extending it) share the first generation.
    #[test]
    fn initial_rebalance_delay_gathers_members_into_one_generation() {
        let t = now();
        let mut g = Group::new("g");
        g.initial_rebalance_delay = Duration::from_millis(3000);
        let mut fx = Effects::default();
        let a = join_member(&mut g, t, &mut fx);
        assert!(fx.joins.is_empty(), "the first join waits for the delay");
        let t1 = later(t, 2000);
        let b = join_member(&mut g, t1, &mut fx);
        g.tick(later(t, 3500), &mut fx);
        assert!(fx.joins.is_empty(), "b's join extended the wait to t+5000");
        assert_eq!(g.next_deadline(), Some(later(t1, 3000).instant));
        g.tick(later(t1, 3000), &mut fx);
        assert_eq!(fx.joins.len(), 2);
        assert!(fx.joins.iter().all(|(_, r)| r.generation_id == 1));
        let ids: Vec<&String> = fx.joins.iter().map(|(id, _)| id).collect();
        assert!(ids.contains(&&a) && ids.contains(&&b));
    }

    #[test]
    fn first_join_requires_a_member_id_then_completes() {
        let (g, a, _) = stable_single();
        assert_eq!(g.leader.as_deref(), Some(a.as_str()));
        assert_eq!(g.protocol.as_deref(), Some("range"));
    }

    #[test]
    fn second_member_triggers_rebalance_and_heartbeat_reports_it() {
        let (mut g, a, t) = stable_single();
        let mut fx = Effects::default();
        let b = join_member(&mut g, t, &mut fx);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert!(fx.joins.is_empty(), "waits for a to rejoin");
        assert_eq!(
            g.heartbeat(&who(&a, 1), t),
            Some(ResponseError::RebalanceInProgress)
        );
        let r = g.join(&join_req(&a, &["range"]), t, &mut fx);
        assert!(matches!(r, Reply::Pending { .. }));
        assert_eq!(fx.joins.len(), 2);
        assert_eq!(g.generation, 2);
        let leader_view = fx.joins.iter().find(|(id, _)| *id == a).unwrap();
        assert_eq!(leader_view.1.members.len(), 2, "leader sees every member");
        let other_view = fx.joins.iter().find(|(id, _)| *id == b).unwrap();
        assert!(other_view.1.members.is_empty());
        // b syncs first and waits; the leader's sync answers both.
        let mut fx = Effects::default();
        assert!(matches!(
            g.sync(&sync_req(&b, 2, &[]), t, &mut fx),
            Reply::Pending { .. }
        ));
        assert!(fx.syncs.is_empty());
        g.sync(&sync_req(&a, 2, &[(&a, "A"), (&b, "B")]), t, &mut fx);
        assert_eq!(fx.syncs.len(), 2);
        let b_sync = fx.syncs.iter().find(|(id, _)| *id == b).unwrap();
        assert_eq!(b_sync.1.assignment, Bytes::from("B"));
        assert_eq!(g.state, GroupState::Stable);
    }

    #[test]
    fn generation_fencing_and_unknown_members() {
        let (mut g, a, t) = stable_single();
        assert_eq!(
            g.heartbeat(&who(&a, 0), t),
            Some(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            g.heartbeat(&who("nobody", 1), t),
            Some(ResponseError::UnknownMemberId)
        );
        assert_eq!(g.heartbeat(&who(&a, 1), t), None);
        let mut fx = Effects::default();
        assert_eq!(
            g.sync(&sync_req(&a, 7, &[]), t, &mut fx),
            Reply::Done(SyncResponse::error(ResponseError::IllegalGeneration))
        );
        assert_eq!(
            g.validate_commit(&who(&a, 0)),
            Err(ResponseError::IllegalGeneration)
        );
        assert_eq!(g.validate_commit(&who(&a, 1)), Ok(()));
        assert_eq!(
            g.validate_commit(&who("", -1)),
            Err(ResponseError::UnknownMemberId),
            "simple commits only into an empty group"
        );
    }

    #[test]
    fn leave_rebalances_to_empty() {
        let (mut g, a, t) = stable_single();
        let mut fx = Effects::default();
        assert_eq!(g.leave(&who(&a, -1), t, &mut fx), None);
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(g.generation, 2);
        assert_eq!(fx.records.len(), 1);
        assert_eq!(
            g.leave(&who(&a, -1), t, &mut fx),
            Some(ResponseError::UnknownMemberId)
        );
        assert_eq!(g.validate_commit(&who("", -1)), Ok(()));
    }

    #[test]
    fn silent_member_expires_and_others_rebalance() {
        let (mut g, a, t) = stable_single();
        let mut fx = Effects::default();
        let b = join_member(&mut g, t, &mut fx);
        g.join(&join_req(&a, &["range"]), t, &mut fx);
        g.sync(&sync_req(&b, 2, &[]), t, &mut fx);
        g.sync(&sync_req(&a, 2, &[(&a, "A"), (&b, "B")]), t, &mut fx);
        assert_eq!(g.state, GroupState::Stable);
        // a keeps heartbeating, b falls silent.
        let t1 = later(t, 6_000);
        assert_eq!(g.heartbeat(&who(&a, 2), t1), None);
        let t2 = later(t, 10_001);
        assert!(g.next_deadline().is_some_and(|d| d <= t2.instant));
        let mut fx = Effects::default();
        g.tick(t2, &mut fx);
        assert!(!g.members.contains_key(&b));
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(
            g.heartbeat(&who(&a, 2), t2),
            Some(ResponseError::RebalanceInProgress)
        );
        g.join(&join_req(&a, &["range"]), t2, &mut fx);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        assert_eq!(g.generation, 3);
    }

    #[test]
    fn rebalance_timeout_drops_members_that_do_not_rejoin() {
        let (mut g, a, t) = stable_single();
        let mut fx = Effects::default();
        let b = join_member(&mut g, t, &mut fx);
        // a keeps heartbeating but never rejoins.
        let mut now = t;
        for _ in 0..4 {
            now = later(now, 8_000);
            g.heartbeat(&who(&a, 1), now);
            g.tick(now, &mut fx);
        }
        assert!(!g.members.contains_key(&a));
        assert_eq!(g.leader.as_deref(), Some(b.as_str()));
        assert!(fx.joins.iter().any(|(id, r)| *id == b && r.error.is_none()));
    }

    #[test]
    fn members_that_never_sync_are_removed_after_the_rebalance_timeout() {
        let (mut g, a, t) = stable_single();
        let mut fx = Effects::default();
        let b = join_member(&mut g, t, &mut fx);
        g.join(&join_req(&a, &["range"]), t, &mut fx);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        // b syncs and waits; the leader a heartbeats but never syncs.
        g.sync(&sync_req(&b, 2, &[]), t, &mut fx);
        let mut now = t;
        let mut fx = Effects::default();
        for _ in 0..4 {
            now = later(now, 8_000);
            g.heartbeat(&who(&a, 2), now);
            g.tick(now, &mut fx);
        }
        assert!(
            !g.members.contains_key(&a),
            "the leader that never synced is gone"
        );
        assert!(fx
            .syncs
            .iter()
            .any(|(id, r)| *id == b && r.error == Some(ResponseError::RebalanceInProgress)));
        assert_eq!(g.state, GroupState::PreparingRebalance);
        // b's session restarted when it was answered: it has time to rejoin.
        assert!(g.members[&b].heartbeat_deadline > now.instant);
    }

    #[test]
    fn protocol_selection_needs_common_support() {
        let (mut g, a, t) = stable_single();
        let mut fx = Effects::default();
        let r = g.join(&join_req("", &["roundrobin"]), t, &mut fx);
        assert_eq!(
            r,
            Reply::Done(JoinResponse::error(
                ResponseError::InconsistentGroupProtocol,
                ""
            ))
        );
        let r = g.join(&join_req("", &["cooperative-sticky", "range"]), t, &mut fx);
        let Reply::Done(first) = r else { panic!() };
        g.join(
            &join_req(&first.member_id, &["cooperative-sticky", "range"]),
            t,
            &mut fx,
        );
        g.join(&join_req(&a, &["range"]), t, &mut fx);
        assert_eq!(g.protocol.as_deref(), Some("range"));
    }

    #[test]
    fn static_member_rejoin_fences_the_old_incarnation() {
        let t = now();
        let mut g = Group::new("g");
        let mut fx = Effects::default();
        let mut req = join_req("", &["range"]);
        req.group_instance_id = Some("i1".into());
        let Reply::Pending { member_id: old } = g.join(&req, t, &mut fx) else {
            panic!("static members skip MEMBER_ID_REQUIRED")
        };
        let mut sync = sync_req(&old, 1, &[(&old, "A")]);
        sync.group_instance_id = Some("i1".into());
        g.sync(&sync, t, &mut fx);
        assert_eq!(g.state, GroupState::Stable);
        // Same instance restarts (unknown member id): replaces the old id.
        let r = g.join(&req, t, &mut fx);
        let new = match r {
            Reply::Pending { member_id } => member_id,
            Reply::Done(r) => r.member_id,
        };
        assert_ne!(new, old);
        let stale = MemberRef {
            member_id: old.clone(),
            group_instance_id: Some("i1".into()),
            generation_id: 1,
        };
        assert_eq!(
            g.heartbeat(&stale, t),
            Some(ResponseError::FencedInstanceId)
        );
        let mut fx = Effects::default();
        assert_eq!(
            g.leave(&stale, t, &mut fx),
            Some(ResponseError::FencedInstanceId)
        );
        // Leaving by instance id alone works.
        let by_instance = MemberRef {
            member_id: String::new(),
            group_instance_id: Some("i1".into()),
            generation_id: -1,
        };
        assert_eq!(g.leave(&by_instance, t, &mut fx), None);
        assert!(g.members.is_empty());
    }

    #[test]
    fn static_follower_rejoin_keeps_assignment_without_rebalance() {
        let (mut g, a, t) = stable_single();
        let mut fx = Effects::default();
        let mut req = join_req("", &["range"]);
        req.group_instance_id = Some("s".into());
        let Reply::Pending { member_id: s } = g.join(&req, t, &mut fx) else {
            panic!()
        };
        g.join(&join_req(&a, &["range"]), t, &mut fx);
        let gen = g.generation;
        g.sync(&sync_req(&a, gen, &[(&a, "A"), (&s, "S")]), t, &mut fx);
        assert_eq!(g.state, GroupState::Stable);
        let r = g.join(&req, t, &mut fx);
        let Reply::Done(r) = r else {
            panic!("no rebalance expected")
        };
        assert_eq!(r.generation_id, gen);
        assert_eq!(g.state, GroupState::Stable);
        let mut sync = sync_req(&r.member_id, gen, &[]);
        sync.group_instance_id = Some("s".into());
        let Reply::Done(s2) = g.sync(&sync, t, &mut fx) else {
            panic!()
        };
        assert_eq!(s2.assignment, Bytes::from("S"));
    }

    #[test]
    fn static_leader_rejoin_keeps_assignment_and_names_the_old_leader() {
        let t = now();
        let mut g = Group::new("g");
        let mut fx = Effects::default();
        let mut leader_req = join_req("", &["range"]);
        leader_req.group_instance_id = Some("lead".into());
        let Reply::Pending { member_id: l } = g.join(&leader_req, t, &mut fx) else {
            panic!("static members skip MEMBER_ID_REQUIRED")
        };
        let mut follower_req = join_req("", &["range"]);
        follower_req.group_instance_id = Some("follow".into());
        let Reply::Pending { member_id: f } = g.join(&follower_req, t, &mut fx) else {
            panic!()
        };
        let mut rejoin = leader_req.clone();
        rejoin.member_id = l.clone();
        g.join(&rejoin, t, &mut fx);
        assert_eq!(g.leader.as_deref(), Some(l.as_str()));
        let gen = g.generation;
        let mut sync = sync_req(&l, gen, &[(&l, "L"), (&f, "F")]);
        sync.group_instance_id = Some("lead".into());
        g.sync(&sync, t, &mut fx);
        assert_eq!(g.state, GroupState::Stable);

        // The leader's process restarts: same instance id, no member id.
        let Reply::Done(r) = g.join(&leader_req, t, &mut fx) else {
            panic!("a static leader's rejoin must not rebalance a stable group")
        };
        assert_eq!(r.generation_id, gen);
        assert_ne!(r.member_id, l);
        assert_eq!(r.leader, l, "the answer names the old leader id");
        assert!(r.members.is_empty(), "the new incarnation must not assign");
        assert_eq!(g.state, GroupState::Stable);
        let mut sync = sync_req(&r.member_id, gen, &[]);
        sync.group_instance_id = Some("lead".into());
        let Reply::Done(s) = g.sync(&sync, t, &mut fx) else {
            panic!()
        };
        assert_eq!(s.assignment, Bytes::from("L"));

        // A rejoin with a protocol no other member supports is refused; the group stays.
        let mut changed = follower_req.clone();
        changed.protocols = vec![("roundrobin".into(), Bytes::new())];
        assert_eq!(
            match g.join(&changed, t, &mut fx) {
                Reply::Done(r) => r.error,
                Reply::Pending { .. } => None,
            },
            Some(ResponseError::InconsistentGroupProtocol)
        );
    }

    #[test]
    fn load_restores_a_stable_group() {
        let (g, a, t) = stable_single();
        let record = g.metadata_record();
        let Some(RecordValue::Group(value)) = record.value else {
            panic!()
        };
        let mut loaded = Group::new("g");
        loaded.load(&value, t);
        assert_eq!(loaded.state, GroupState::Stable);
        assert_eq!(loaded.generation, 1);
        assert_eq!(loaded.heartbeat(&who(&a, 1), t), None);
        let mut fx = Effects::default();
        let Reply::Done(s) = loaded.sync(&sync_req(&a, 1, &[]), t, &mut fx) else {
            panic!()
        };
        assert_eq!(s.assignment, Bytes::from("A"));
    }
}
