//! OffsetCommit: stores a group's consumed positions in `__consumer_offsets`. Members of a
//! classic group are checked for member id and generation; generation -1 without a member id is
//! a simple commit (assign()-only consumers, admin tools), allowed while the group is empty.
//! Partitions that do not exist get UNKNOWN_TOPIC_OR_PARTITION, as in Kafka. For a consumer
//! group (KIP-848, v9) the generation field is the member epoch: a member that is not current
//! gets UNKNOWN_MEMBER_ID or STALE_MEMBER_EPOCH.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use weir_group::types::{CommitPartition, MemberRef};

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::offsets_topic::{self, BrokerOffsetsLog};
use crate::router::RequestContext;

/// Answers OffsetCommit.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group = request.group_id.0.to_string();
    let who = MemberRef {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        generation_id: request.generation_id_or_member_epoch,
    };
    let state = broker.metadata.state();
    let authz = &broker.authorizer;
    // READ on the group, then READ on each topic, as in Kafka.
    let group_denied = !authz.allows(&state, ctx, AclOperation::Read, ResourceType::Group, &group);
    let exists = |topic: &str, partition: i32| {
        state
            .topic(topic)
            .is_some_and(|t| partition >= 0 && (partition as usize) < t.partitions.len())
    };
    // (topic, partition, error) in request order; None = to be committed.
    let mut results: Vec<(String, i32, Option<ResponseError>)> = Vec::new();
    let mut to_commit = Vec::new();
    // v2-v4 may give the offsets their own retention (-1: the broker's offsets retention).
    let retention_ms = (2..=4)
        .contains(&ctx.version)
        .then_some(request.retention_time_ms)
        .filter(|&r| r != -1);
    for t in &request.topics {
        let topic = t.name.0.to_string();
        let topic_denied =
            !authz.allows(&state, ctx, AclOperation::Read, ResourceType::Topic, &topic);
        for p in &t.partitions {
            if group_denied || topic_denied {
                let code = if group_denied {
                    ResponseError::GroupAuthorizationFailed
                } else {
                    ResponseError::TopicAuthorizationFailed
                };
                results.push((topic.clone(), p.partition_index, Some(code)));
            } else if exists(&topic, p.partition_index) {
                to_commit.push(CommitPartition {
                    topic: topic.clone(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if ctx.version >= 6 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    retention_ms,
                });
                results.push((topic.clone(), p.partition_index, None));
            } else {
                results.push((
                    topic.clone(),
                    p.partition_index,
                    Some(ResponseError::UnknownTopicOrPartition),
                ));
            }
        }
    }
    if !to_commit.is_empty() {
        let committed = match offsets_topic::ensure(broker).await {
            Err(e) => to_commit
                .iter()
                .map(|c| (c.topic.clone(), c.partition, Some(e)))
                .collect(),
            Ok(()) => broker
                .groups
                .commit(&BrokerOffsetsLog(broker), &group, &who, &to_commit),
        };
        let mut committed = committed.into_iter();
        for r in results.iter_mut().filter(|r| r.2.is_none()) {
            if let Some((_, _, e)) = committed.next() {
                r.2 = e;
            }
        }
    }
    let mut results = results.into_iter();
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let error = results.next().and_then(|r| r.2);
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error.map_or(0, |e| e.code()))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
