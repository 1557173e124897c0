//! One consumer group of the KIP-848 consumer protocol (ConsumerGroupHeartbeat), pure.
//!
//! The broker owns the assignment: every change of membership, subscription or subscribed-topic
//! metadata bumps the *group epoch*; the next heartbeat recomputes the *target assignment* with
//! the server-side assignor (`uniform` or `range`) at that epoch (the *assignment epoch*). Each
//! member then reconciles towards its target one heartbeat at a time:
//!
//! 1. partitions it holds that are no longer in its target are taken away first (the member
//!    keeps its epoch and they wait in `pending_revocation`) until a heartbeat's owned
//!    partitions show it let them go;
//! 2. it then moves to the assignment epoch and receives the target partitions that no other
//!    member still holds or is revoking; the rest follow on later heartbeats, once released.
//!
//! So a partition never has two owners. A member that does not release revoked partitions within
//! its rebalance timeout is removed (Kafka fences it). Members leave with epoch -1 (static members with -2,
//! keeping their assignment for a rejoin with the same instance id until the session expires),
//! or are removed when their session expires. The state is persisted as one snapshot record
//! per change (see [`crate::records`]).

use std::collections::{BTreeMap, BTreeSet};

use tokio::time::{Duration, Instant};
use weir_protocol::kafka_protocol::error::ResponseError;

use crate::types::Now;

/// Partitions per topic name.
pub type Assignment = BTreeMap<String, BTreeSet<i32>>;

/// The server-side assignors served, the first being the default.
pub const ASSIGNORS: &[&str] = &["uniform", "range"];

/// One member of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgMember {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub instance_id: Option<String>,
    /// Rack id.
    pub rack_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Subscribed topic names.
    pub subscribed: Vec<String>,
    /// Assignor the member asked for.
    pub server_assignor: Option<String>,
    /// Rebalance timeout in ms.
    pub rebalance_timeout_ms: i32,
    /// Current member epoch (-2 once a static member left).
    pub member_epoch: i32,
    /// The epoch before the last bump (a heartbeat with it is still accepted, Kafka's rule for
    /// lost responses).
    pub previous_member_epoch: i32,
    /// Partitions the member owns now.
    pub assigned: Assignment,
    /// Partitions the member must give up before it moves on.
    pub pending_revocation: Assignment,
    /// When its session ends without a heartbeat (not persisted; restarted on load).
    pub session_deadline: Instant,
    /// While partitions wait in `pending_revocation`: when the member is removed for not having
    /// released them within its rebalance timeout (not persisted; restarted on load).
    pub revocation_deadline: Option<Instant>,
}

/// A consumer group (KIP-848).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroup {
    /// Group id.
    pub id: String,
    /// Bumped on every change that calls for a new target assignment.
    pub group_epoch: i32,
    /// The group epoch the target assignment was computed at.
    pub assignment_epoch: i32,
    /// Assignor of the last target assignment.
    pub assignor: String,
    /// Members by id.
    pub members: BTreeMap<String, CgMember>,
    /// Target assignment per member.
    pub target: BTreeMap<String, Assignment>,
    /// Partition counts of the subscribed topics the group epoch reflects.
    pub topic_partitions: BTreeMap<String, i32>,
}

/// A ConsumerGroupHeartbeat, version independent (owned partitions by topic name).
#[derive(Debug, Clone, Default)]
pub struct CgHeartbeat {
    /// Group id.
    pub group_id: String,
    /// Member id (empty: the coordinator makes one).
    pub member_id: String,
    /// 0 to join, -1 to leave, -2 for a static member to leave, else the member's epoch.
    pub member_epoch: i32,
    /// Static id.
    pub instance_id: Option<String>,
    /// Rack id.
    pub rack_id: Option<String>,
    /// Rebalance timeout, -1 if unchanged.
    pub rebalance_timeout_ms: i32,
    /// Subscribed topics, `None` if unchanged.
    pub subscribed_topics: Option<Vec<String>>,
    /// Server assignor, `None` if unchanged.
    pub server_assignor: Option<String>,
    /// Owned partitions, `None` if unchanged.
    pub owned: Option<Assignment>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// The group's own settings (its dynamic group configs), over the coordinator's.
    pub overrides: CgOverrides,
}

/// The answer to a ConsumerGroupHeartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgHeartbeatResponse {
    /// Error, if any.
    pub error: Option<ResponseError>,
    /// Human-readable error.
    pub error_message: Option<String>,
    /// Member id.
    pub member_id: String,
    /// Member epoch.
    pub member_epoch: i32,
    /// Heartbeat interval.
    pub heartbeat_interval_ms: i32,
    /// The member's assignment, when it must (re)learn it.
    pub assignment: Option<Assignment>,
}

impl CgHeartbeatResponse {
    /// An error answer.
    pub fn error(error: ResponseError, message: &str) -> Self {
        CgHeartbeatResponse {
            error: Some(error),
            error_message: Some(message.to_string()),
            ..Default::default()
        }
    }
}

/// Settings of the consumer protocol.
#[derive(Debug, Clone, Copy)]
pub struct CgSettings {
    /// group.consumer.session.timeout.ms
    pub session_timeout_ms: i32,
    /// group.consumer.heartbeat.interval.ms
    pub heartbeat_interval_ms: i32,
}

impl CgSettings {
    /// These settings with a group's own values in place of the defaults it overrides.
    pub fn with(self, overrides: CgOverrides) -> CgSettings {
        CgSettings {
            session_timeout_ms: overrides
                .session_timeout_ms
                .unwrap_or(self.session_timeout_ms),
            heartbeat_interval_ms: overrides
                .heartbeat_interval_ms
                .unwrap_or(self.heartbeat_interval_ms),
        }
    }
}

/// One group's own consumer-protocol settings (Kafka's dynamic group configs
/// `consumer.session.timeout.ms` and `consumer.heartbeat.interval.ms`); `None` keeps the
/// coordinator's setting. The broker reads them from the metadata state and passes them with
/// every heartbeat, so a change applies from the group's next heartbeat on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgOverrides {
    /// consumer.session.timeout.ms
    pub session_timeout_ms: Option<i32>,
    /// consumer.heartbeat.interval.ms
    pub heartbeat_interval_ms: Option<i32>,
}

fn intersects(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .any(|(t, ps)| b.get(t).is_some_and(|qs| !ps.is_disjoint(qs)))
}

fn minus(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (t, ps) in a {
        let left: BTreeSet<i32> = match b.get(t) {
            Some(qs) => ps.difference(qs).copied().collect(),
            None => ps.clone(),
        };
        if !left.is_empty() {
            out.insert(t.clone(), left);
        }
    }
    out
}

fn and(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (t, ps) in a {
        if let Some(qs) = b.get(t) {
            let both: BTreeSet<i32> = ps.intersection(qs).copied().collect();
            if !both.is_empty() {
                out.insert(t.clone(), both);
            }
        }
    }
    out
}

fn count(a: &Assignment) -> usize {
    a.values().map(BTreeSet::len).sum()
}

/// Computes a target assignment: `members` are (member id, subscribed topics), `partitions`
/// the partition count of each existing topic, `previous` the last target (for stickiness).
pub fn assign(
    assignor: &str,
    members: &[(String, Vec<String>)],
    partitions: &BTreeMap<String, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|(m, _)| (m.clone(), Assignment::new()))
        .collect();
    let subscribers = |topic: &str| -> Vec<&String> {
        members
            .iter()
            .filter(|(_, subs)| subs.iter().any(|s| s == topic))
            .map(|(m, _)| m)
            .collect()
    };
    if assignor == "range" {
        for (topic, &n) in partitions {
            let subs = subscribers(topic);
            if subs.is_empty() || n <= 0 {
                continue;
            }
            let per = n as usize / subs.len();
            let extra = n as usize % subs.len();
            let mut next = 0i32;
            for (i, m) in subs.iter().enumerate() {
                let take = per + usize::from(i < extra);
                let set: BTreeSet<i32> = (next..next + take as i32).collect();
                next += take as i32;
                if !set.is_empty() {
                    if let Some(a) = out.get_mut(*m) {
                        a.insert(topic.clone(), set);
                    }
                }
            }
        }
        return out;
    }
    // uniform: balanced by count over all subscribed partitions, sticky to the previous target
    // up to each member's fair share.
    let all: Vec<(String, i32)> = partitions
        .iter()
        .filter(|(t, _)| !subscribers(t).is_empty())
        .flat_map(|(t, &n)| (0..n.max(0)).map(move |p| (t.clone(), p)))
        .collect();
    let eligible = |m: &str, topic: &str| {
        members
            .iter()
            .any(|(id, subs)| id == m && subs.iter().any(|s| s == topic))
    };
    let share = |m: &str| -> usize {
        let mut total = 0f64;
        for (t, &n) in partitions {
            if eligible(m, t) {
                total += f64::from(n.max(0)) / subscribers(t).len() as f64;
            }
        }
        (total.floor() as usize).max(1)
    };
    let shares: BTreeMap<String, usize> =
        members.iter().map(|(m, _)| (m.clone(), share(m))).collect();
    let mut counts: BTreeMap<String, usize> = members.iter().map(|(m, _)| (m.clone(), 0)).collect();
    let mut left = Vec::new();
    for (t, p) in all {
        let owner = previous
            .iter()
            .find(|(_, a)| a.get(&t).is_some_and(|ps| ps.contains(&p)))
            .map(|(m, _)| m.clone());
        match owner {
            Some(m)
                if eligible(&m, &t)
                    && counts.get(&m).copied().unwrap_or(usize::MAX)
                        < shares.get(&m).copied().unwrap_or(0) =>
            {
                *counts.entry(m.clone()).or_default() += 1;
                out.entry(m).or_default().entry(t).or_default().insert(p);
            }
            _ => left.push((t, p)),
        }
    }
    for (t, p) in left {
        let best = counts
            .iter()
            .filter(|(m, _)| eligible(m, &t))
            .min_by_key(|(m, c)| (**c, (*m).clone()))
            .map(|(m, _)| m.clone());
        if let Some(m) = best {
            *counts.entry(m.clone()).or_default() += 1;
            out.entry(m).or_default().entry(t).or_default().insert(p);
        }
    }
    out
}

impl ConsumerGroup {
    /// A new, empty group.
    pub fn new(id: &str) -> Self {
        ConsumerGroup {
            id: id.to_string(),
            group_epoch: 0,
            assignment_epoch: 0,
            assignor: ASSIGNORS[0].to_string(),
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            topic_partitions: BTreeMap::new(),
        }
    }

    /// Kafka's state name: Empty, Assigning (target behind the group epoch), Reconciling
    /// (some member not yet at its target), Stable.
    pub fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.assignment_epoch < self.group_epoch {
            "Assigning"
        } else if self.members.values().any(|m| {
            m.member_epoch != self.assignment_epoch
                || !m.pending_revocation.is_empty()
                || self
                    .target
                    .get(&m.member_id)
                    .is_some_and(|t| *t != m.assigned)
        }) {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// Whether any member subscribes to `topic`.
    pub fn subscribes_to(&self, topic: &str) -> bool {
        self.members
            .values()
            .any(|m| m.subscribed.iter().any(|s| s == topic))
    }

    /// The earliest session or revocation deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.members
            .values()
            .flat_map(|m| std::iter::once(m.session_deadline).chain(m.revocation_deadline))
            .min()
    }

    /// Removes members whose session expired, or who did not release revoked partitions within
    /// their rebalance timeout (Kafka fences those); true if any was.
    pub fn expire(&mut self, now: Now) -> bool {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.session_deadline <= now.instant
                    || m.revocation_deadline.is_some_and(|d| d <= now.instant)
            })
            .map(|m| m.member_id.clone())
            .collect();
        for id in &expired {
            self.remove_member(id);
        }
        !expired.is_empty()
    }

    fn remove_member(&mut self, id: &str) {
        if self.members.remove(id).is_some() {
            self.target.remove(id);
            self.group_epoch += 1;
        }
    }

    /// OffsetCommit/OffsetFetch check of a member's epoch (`member_id` empty and epoch -1: an
    /// admin commit, allowed only while the group is empty).
    pub fn validate_epoch(&self, member_id: &str, epoch: i32) -> Result<(), ResponseError> {
        if member_id.is_empty() && epoch < 0 {
            return if self.members.is_empty() {
                Ok(())
            } else {
                Err(ResponseError::UnknownMemberId)
            };
        }
        let m = self
            .members
            .get(member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if epoch != m.member_epoch {
            return Err(ResponseError::StaleMemberEpoch);
        }
        Ok(())
    }

    /// One ConsumerGroupHeartbeat. `partitions` tells the partition count of an existing
    /// topic. Returns the answer and whether the group changed (so must be persisted).
    pub fn heartbeat(
        &mut self,
        req: &CgHeartbeat,
        partitions: &dyn Fn(&str) -> Option<i32>,
        settings: CgSettings,
        new_member_id: &dyn Fn() -> String,
        now: Now,
    ) -> (CgHeartbeatResponse, bool) {
        let session =
            Duration::from_millis(u64::try_from(settings.session_timeout_ms).unwrap_or(45_000));
        let mut changed = false;
        let mut bump = false;
        if let Some(a) = &req.server_assignor {
            if !ASSIGNORS.contains(&a.as_str()) {
                return (
                    CgHeartbeatResponse::error(
                        ResponseError::UnsupportedAssignor,
                        &format!("assignor {a} is not supported"),
                    ),
                    false,
                );
            }
        }
        // Leaving.
        if req.member_epoch < 0 {
            let id = if req.member_epoch == -2 {
                req.instance_id
                    .as_ref()
                    .and_then(|i| {
                        self.members
                            .values()
                            .find(|m| m.instance_id.as_ref() == Some(i))
                            .map(|m| m.member_id.clone())
                    })
                    .unwrap_or_else(|| req.member_id.clone())
            } else {
                req.member_id.clone()
            };
            if !self.members.contains_key(&id) {
                return (
                    CgHeartbeatResponse::error(ResponseError::UnknownMemberId, "unknown member"),
                    false,
                );
            }
            if req.member_epoch == -2 && req.instance_id.is_some() {
                if let Some(m) = self.members.get_mut(&id) {
                    m.member_epoch = -2;
                    m.session_deadline = now.instant + session;
                }
            } else {
                self.remove_member(&id);
            }
            let resp = CgHeartbeatResponse {
                member_id: id,
                member_epoch: req.member_epoch,
                heartbeat_interval_ms: settings.heartbeat_interval_ms,
                ..Default::default()
            };
            return (resp, true);
        }
        // Identify the member.
        let member_id = if req.member_epoch == 0 {
            let id = if req.member_id.is_empty() {
                new_member_id()
            } else {
                req.member_id.clone()
            };
            // A static member replacing its departed (or crashed) predecessor takes over its
            // assignment.
            if let Some(instance) = &req.instance_id {
                let old = self
                    .members
                    .values()
                    .find(|m| m.instance_id.as_ref() == Some(instance) && m.member_id != id)
                    .cloned();
                if let Some(old) = old {
                    if old.member_epoch != -2 {
                        return (
                            CgHeartbeatResponse::error(
                                ResponseError::UnreleasedInstanceId,
                                "instance id in use",
                            ),
                            false,
                        );
                    }
                    self.members.remove(&old.member_id);
                    let target = self.target.remove(&old.member_id);
                    let mut m = old;
                    m.member_id = id.clone();
                    m.member_epoch = 0;
                    self.members.insert(id.clone(), m);
                    if let Some(t) = target {
                        self.target.insert(id.clone(), t);
                    }
                    changed = true;
                }
            }
            match self.members.get_mut(&id) {
                Some(m) => {
                    // Rejoin with epoch 0: start over from nothing owned.
                    if m.member_epoch != 0 || !m.assigned.is_empty() {
                        m.assigned.clear();
                        m.pending_revocation.clear();
                        m.previous_member_epoch = m.member_epoch;
                        m.member_epoch = 0;
                        changed = true;
                    }
                }
                None => {
                    self.members.insert(
                        id.clone(),
                        CgMember {
                            member_id: id.clone(),
                            instance_id: req.instance_id.clone(),
                            rack_id: req.rack_id.clone(),
                            client_id: req.client_id.clone(),
                            client_host: req.client_host.clone(),
                            subscribed: Vec::new(),
                            server_assignor: None,
                            // Kafka's consumers send max.poll.interval.ms; its default otherwise.
                            rebalance_timeout_ms: if req.rebalance_timeout_ms > 0 {
                                req.rebalance_timeout_ms
                            } else {
                                300_000
                            },
                            member_epoch: 0,
                            previous_member_epoch: -1,
                            assigned: Assignment::new(),
                            pending_revocation: Assignment::new(),
                            session_deadline: now.instant + session,
                            revocation_deadline: None,
                        },
                    );
                    bump = true;
                    changed = true;
                }
            }
            id
        } else {
            let Some(m) = self.members.get(&req.member_id) else {
                return (
                    CgHeartbeatResponse::error(ResponseError::UnknownMemberId, "unknown member"),
                    false,
                );
            };
            let lost_response = req.member_epoch == m.previous_member_epoch
                && req
                    .owned
                    .as_ref()
                    .is_some_and(|o| minus(o, &m.assigned).is_empty());
            if req.member_epoch != m.member_epoch && !lost_response {
                return (
                    CgHeartbeatResponse::error(
                        ResponseError::FencedMemberEpoch,
                        "member epoch is fenced",
                    ),
                    false,
                );
            }
            req.member_id.clone()
        };
        // Update the member's subscription.
        let Some(m) = self.members.get_mut(&member_id) else {
            return (
                CgHeartbeatResponse::error(ResponseError::UnknownMemberId, "unknown member"),
                false,
            );
        };
        m.session_deadline = now.instant + session;
        if let Some(topics) = &req.subscribed_topics {
            let mut topics = topics.clone();
            topics.sort();
            topics.dedup();
            if topics != m.subscribed {
                m.subscribed = topics;
                bump = true;
                changed = true;
            }
        }
        if req.server_assignor.is_some() && req.server_assignor != m.server_assignor {
            m.server_assignor = req.server_assignor.clone();
            bump = true;
            changed = true;
        }
        if req.rebalance_timeout_ms > 0 && req.rebalance_timeout_ms != m.rebalance_timeout_ms {
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            changed = true;
        }
        if req.rack_id.is_some() && req.rack_id != m.rack_id {
            m.rack_id = req.rack_id.clone();
            changed = true;
        }
        // Subscribed topics created, deleted or grown bump the group epoch too.
        let topics: BTreeSet<&String> = self
            .members
            .values()
            .flat_map(|m| m.subscribed.iter())
            .collect();
        let metadata: BTreeMap<String, i32> = topics
            .into_iter()
            .filter_map(|t| partitions(t).map(|n| (t.clone(), n)))
            .collect();
        if metadata != self.topic_partitions {
            self.topic_partitions = metadata;
            bump = true;
            changed = true;
        }
        if bump {
            self.group_epoch += 1;
        }
        // A new target assignment when the group epoch moved on.
        if self.assignment_epoch < self.group_epoch {
            self.compute_target();
            changed = true;
        }
        let before = self.members.get(&member_id).cloned();
        self.reconcile(&member_id, req.owned.as_ref(), now);
        let Some(after) = self.members.get(&member_id) else {
            return (
                CgHeartbeatResponse::error(ResponseError::UnknownMemberId, "unknown member"),
                false,
            );
        };
        let member_changed = before.as_ref() != Some(after);
        changed |= member_changed;
        let full = req.subscribed_topics.is_some() && req.owned.is_some();
        let send = req.member_epoch == 0
            || full
            || before.as_ref().is_none_or(|b| {
                b.assigned != after.assigned || b.member_epoch != after.member_epoch
            });
        let resp = CgHeartbeatResponse {
            error: None,
            error_message: None,
            member_id: member_id.clone(),
            member_epoch: after.member_epoch,
            heartbeat_interval_ms: settings.heartbeat_interval_ms,
            assignment: send.then(|| after.assigned.clone()),
        };
        (resp, changed)
    }

    fn compute_target(&mut self) {
        // The assignor most members asked for, else the default.
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = &m.server_assignor {
                *votes.entry(a.as_str()).or_default() += 1;
            }
        }
        let assignor = votes
            .iter()
            .max_by_key(|(a, n)| {
                (
                    **n,
                    std::cmp::Reverse(ASSIGNORS.iter().position(|x| x == *a)),
                )
            })
            .map_or(ASSIGNORS[0], |(a, _)| *a)
            .to_string();
        let members: Vec<(String, Vec<String>)> = self
            .members
            .values()
            .map(|m| (m.member_id.clone(), m.subscribed.clone()))
            .collect();
        self.target = assign(&assignor, &members, &self.topic_partitions, &self.target);
        self.assignor = assignor;
        self.assignment_epoch = self.group_epoch;
    }

    /// Moves one member towards its target (see the module documentation).
    fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now: Now) {
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        // What other members hold or are still giving up.
        let mut taken = Assignment::new();
        for (id, m) in &self.members {
            if id != member_id {
                for a in [&m.assigned, &m.pending_revocation] {
                    for (t, ps) in a {
                        taken.entry(t.clone()).or_default().extend(ps);
                    }
                }
            }
        }
        let assignment_epoch = self.assignment_epoch;
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        if m.member_epoch == -2 {
            return;
        }
        if !m.pending_revocation.is_empty() {
            match owned {
                Some(o) if !intersects(o, &m.pending_revocation) => {
                    m.pending_revocation.clear();
                    m.revocation_deadline = None;
                }
                _ => return,
            }
        }
        let revoke = minus(&m.assigned, &target);
        if !revoke.is_empty() {
            m.assigned = and(&m.assigned, &target);
            m.pending_revocation = revoke;
            let timeout = u64::try_from(m.rebalance_timeout_ms).unwrap_or(0).max(1000);
            m.revocation_deadline = Some(now.instant + Duration::from_millis(timeout));
            return;
        }
        let free = minus(&target, &taken);
        let mut next = m.assigned.clone();
        for (t, ps) in free {
            next.entry(t).or_default().extend(ps);
        }
        if next != m.assigned || m.member_epoch != assignment_epoch {
            if m.member_epoch != assignment_epoch {
                m.previous_member_epoch = m.member_epoch;
                m.member_epoch = assignment_epoch;
            }
            m.assigned = next;
        }
    }

    /// The total partitions assigned, for tests and describe.
    pub fn assigned_count(&self) -> usize {
        self.members.values().map(|m| count(&m.assigned)).sum()
    }

    /// Restores session deadlines after a replay.
    pub fn restart_sessions(&mut self, now: Now, settings: CgSettings) {
        let session =
            Duration::from_millis(u64::try_from(settings.session_timeout_ms).unwrap_or(45_000));
        for m in self.members.values_mut() {
            m.session_deadline = now.instant + session;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: CgSettings = CgSettings {
        session_timeout_ms: 10_000,
        heartbeat_interval_ms: 1_000,
    };

    fn now() -> Now {
        Now {
            instant: Instant::now(),
            wall_ms: 1,
        }
    }

    fn parts(t: &str) -> Option<i32> {
        match t {
            "t" => Some(6),
            _ => None,
        }
    }

    fn join(g: &mut ConsumerGroup, id: &str) -> CgHeartbeatResponse {
        let req = CgHeartbeat {
            group_id: g.id.clone(),
            member_id: id.into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topics: Some(vec!["t".into()]),
            owned: Some(Assignment::new()),
            ..Default::default()
        };
        g.heartbeat(&req, &parts, S, &|| "gen".into(), now()).0
    }

    fn hb(g: &mut ConsumerGroup, id: &str, epoch: i32, owned: &Assignment) -> CgHeartbeatResponse {
        let req = CgHeartbeat {
            group_id: g.id.clone(),
            member_id: id.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: -1,
            owned: Some(owned.clone()),
            ..Default::default()
        };
        g.heartbeat(&req, &parts, S, &|| "gen".into(), now()).0
    }

    fn set(ps: &[i32]) -> Assignment {
        let mut a = Assignment::new();
        a.insert("t".into(), ps.iter().copied().collect());
        a
    }

    #[test]
    fn join_gets_everything_then_revocation_precedes_reassignment() {
        let mut g = ConsumerGroup::new("g");
        let a = join(&mut g, "a");
        assert_eq!(a.error, None);
        assert_eq!(a.member_epoch, 1);
        assert_eq!(a.assignment, Some(set(&[0, 1, 2, 3, 4, 5])));
        assert_eq!(g.state(), "Stable");

        // b joins: epoch 2, but a still owns everything, so b gets nothing yet.
        let b = join(&mut g, "b");
        assert_eq!(b.member_epoch, 2);
        assert_eq!(b.assignment, Some(Assignment::new()));
        assert_eq!(g.state(), "Reconciling");

        // a is told to give up half; keeps its epoch until it does.
        let a = hb(&mut g, "a", 1, &set(&[0, 1, 2, 3, 4, 5]));
        assert_eq!(a.member_epoch, 1);
        let kept = a.assignment.unwrap();
        assert_eq!(count(&kept), 3);
        // b still gets nothing while a has not acknowledged.
        let b = hb(&mut g, "b", 2, &Assignment::new());
        assert_eq!(b.assignment, None);
        assert_eq!(g.members["b"].assigned, Assignment::new());
        // a acknowledges: moves to epoch 2; then b receives the released partitions.
        let a = hb(&mut g, "a", 1, &kept);
        assert_eq!(a.member_epoch, 2);
        let b = hb(&mut g, "b", 2, &Assignment::new());
        let got = b.assignment.unwrap();
        assert_eq!(count(&got), 3);
        assert!(!intersects(&got, &kept));
        assert_eq!(g.state(), "Stable");
    }

    #[test]
    fn fencing_unknown_members_and_bad_assignors() {
        let mut g = ConsumerGroup::new("g");
        join(&mut g, "a");
        assert_eq!(
            hb(&mut g, "a", 7, &Assignment::new()).error,
            Some(ResponseError::FencedMemberEpoch)
        );
        assert_eq!(
            hb(&mut g, "zz", 1, &Assignment::new()).error,
            Some(ResponseError::UnknownMemberId)
        );
        let req = CgHeartbeat {
            member_id: "c".into(),
            server_assignor: Some("nope".into()),
            ..Default::default()
        };
        let r = g.heartbeat(&req, &parts, S, &|| "x".into(), now()).0;
        assert_eq!(r.error, Some(ResponseError::UnsupportedAssignor));
        assert_eq!(g.validate_epoch("a", 1), Ok(()));
        assert_eq!(
            g.validate_epoch("a", 0),
            Err(ResponseError::StaleMemberEpoch)
        );
        assert_eq!(
            g.validate_epoch("", -1),
            Err(ResponseError::UnknownMemberId)
        );
    }

    #[test]
    fn leave_and_expiry_free_partitions_for_the_others() {
        let mut g = ConsumerGroup::new("g");
        join(&mut g, "a");
        join(&mut g, "b");
        let a = hb(&mut g, "a", 1, &set(&[0, 1, 2, 3, 4, 5]))
            .assignment
            .unwrap();
        hb(&mut g, "a", 1, &a);
        hb(&mut g, "b", 2, &Assignment::new());
        assert_eq!(g.assigned_count(), 6);
        // b leaves: a gets all six at the next heartbeat.
        let r = hb(&mut g, "b", -1, &Assignment::new());
        assert_eq!(r.member_epoch, -1);
        let a2 = hb(&mut g, "a", 2, &a);
        assert_eq!(a2.assignment, Some(set(&[0, 1, 2, 3, 4, 5])));
        // a silent member expires.
        let later = Now {
            instant: Instant::now() + Duration::from_secs(11),
            wall_ms: 2,
        };
        assert!(g.expire(later));
        assert_eq!(g.state(), "Empty");
        assert_eq!(g.validate_epoch("", -1), Ok(()));
    }

    #[test]
    fn rejoin_with_epoch_zero_and_static_leave() {
        let mut g = ConsumerGroup::new("g");
        let req = CgHeartbeat {
            member_id: "".into(),
            member_epoch: 0,
            instance_id: Some("i".into()),
            subscribed_topics: Some(vec!["t".into()]),
            ..Default::default()
        };
        let r = g.heartbeat(&req, &parts, S, &|| "m1".into(), now()).0;
        assert_eq!(r.member_id, "m1");
        // Static leave keeps the assignment for the same instance.
        let leave = CgHeartbeat {
            member_id: "m1".into(),
            member_epoch: -2,
            instance_id: Some("i".into()),
            ..Default::default()
        };
        assert_eq!(
            g.heartbeat(&leave, &parts, S, &|| "x".into(), now())
                .0
                .error,
            None
        );
        assert_eq!(g.members["m1"].member_epoch, -2);
        let r = g.heartbeat(&req, &parts, S, &|| "m2".into(), now()).0;
        assert_eq!(r.member_id, "m2");
        assert!(g.members.contains_key("m2") && !g.members.contains_key("m1"));
        assert_eq!(r.assignment.map(|a| count(&a)), Some(6));
        // Rejoin with epoch 0: starts over.
        let again = hb(&mut g, "m2", 0, &Assignment::new());
        assert_eq!(again.error, None);
    }

    #[test]
    fn assignors_cover_every_partition_once() {
        let members = vec![
            ("a".to_string(), vec!["t".to_string()]),
            ("b".to_string(), vec!["t".to_string()]),
            ("c".to_string(), vec!["t".to_string()]),
        ];
        let mut ps = BTreeMap::new();
        ps.insert("t".to_string(), 7);
        for name in ASSIGNORS {
            let out = assign(name, &members, &ps, &BTreeMap::new());
            let mut all: Vec<i32> = out.values().flat_map(|a| a["t"].iter().copied()).collect();
            all.sort();
            assert_eq!(all, (0..7).collect::<Vec<_>>(), "{name}");
            assert!(out.values().all(|a| (2..=3).contains(&count(a))), "{name}");
        }
        // Sticky: with a fourth member, the others keep part of what they had.
        let before = assign("uniform", &members, &ps, &BTreeMap::new());
        let mut four = members.clone();
        four.push(("d".to_string(), vec!["t".to_string()]));
        let after = assign("uniform", &four, &ps, &before);
        for m in ["a", "b", "c"] {
            assert!(count(&and(&after[m], &before[m])) >= 1);
        }
        assert!(after.values().all(|a| (1..=2).contains(&count(a))));
    }

    #[test]
    fn a_member_that_never_revokes_is_removed_after_its_rebalance_timeout() {
        let mut g = ConsumerGroup::new("g");
        join(&mut g, "a");
        join(&mut g, "b");
        // a is asked to revoke (rebalance timeout 30 s) but keeps claiming everything.
        let all = set(&[0, 1, 2, 3, 4, 5]);
        hb(&mut g, "a", 1, &all);
        assert!(g.members["a"].revocation_deadline.is_some());
        let later = Now {
            instant: Instant::now() + Duration::from_secs(31),
            wall_ms: 2,
        };
        let keep_alive = CgHeartbeat {
            member_id: "b".into(),
            member_epoch: 2,
            owned: Some(Assignment::new()),
            ..Default::default()
        };
        g.heartbeat(&keep_alive, &parts, S, &|| "x".into(), later);
        assert!(g.expire(later));
        assert!(!g.members.contains_key("a"));
        let b = g.heartbeat(&keep_alive, &parts, S, &|| "x".into(), later).0;
        assert_eq!(b.assignment.map(|a| count(&a)), Some(6));
        assert_eq!(
            hb(&mut g, "a", 1, &all).error,
            Some(ResponseError::UnknownMemberId)
        );
    }

    #[test]
    fn partition_growth_bumps_the_epoch() {
        let mut g = ConsumerGroup::new("g");
        join(&mut g, "a");
        let epoch = g.group_epoch;
        let req = CgHeartbeat {
            member_id: "a".into(),
            member_epoch: 1,
            owned: Some(set(&[0, 1, 2, 3, 4, 5])),
            ..Default::default()
        };
        let grown = |t: &str| (t == "t").then_some(8);
        let r = g.heartbeat(&req, &grown, S, &|| "x".into(), now()).0;
        assert_eq!(g.group_epoch, epoch + 1);
        assert_eq!(r.assignment.map(|a| count(&a)), Some(8));
    }
}
