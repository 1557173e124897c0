//! OffsetFetch: a group's committed offsets (v0-7 one group, v8+ several). A partition without
//! a committed offset gets offset -1. Offsets of open transactions (TxnOffsetCommit before the
//! marker) are not committed yet: with `require_stable` (v7+) a partition that has one answers
//! UNSTABLE_OFFSET_COMMIT (offset -1) in its partition error, and the client retries; without,
//! the last committed offset is returned. As in Kafka, the top-level (v2-7) and group-level
//! (v8+) error codes carry only group-wide errors, never this partition error. v9 carries a
//! consumer-group member's id and epoch: a member that is not current gets UNKNOWN_MEMBER_ID or
//! STALE_MEMBER_EPOCH.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use weir_group::types::FetchedOffset;

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::router::RequestContext;

/// Answers OffsetFetch.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = ctx.version;
    if version >= 8 {
        let groups = request
            .groups
            .iter()
            .map(|g| {
                let wanted: Option<Vec<(String, Vec<i32>)>> = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                if !broker.allows(
                    ctx,
                    AclOperation::Describe,
                    ResourceType::Group,
                    &g.group_id.0,
                ) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(ResponseError::GroupAuthorizationFailed.code());
                }
                // v9 (KIP-848): a member of a consumer group fetches with its current epoch.
                if version >= 9 {
                    let member = g
                        .member_id
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_default();
                    if let Err(e) =
                        broker
                            .groups
                            .validate_fetch(&g.group_id.0, &member, g.member_epoch)
                    {
                        return OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id.clone())
                            .with_error_code(e.code());
                    }
                }
                let offsets = authorized_topics(
                    broker,
                    ctx,
                    broker.groups.fetch_offsets(
                        &g.group_id.0,
                        wanted.as_deref(),
                        request.require_stable,
                    ),
                    wanted.is_some(),
                );
                let topics = group_by_topic(offsets)
                    .into_iter()
                    .map(|(topic, offsets)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(StrBytes::from_string(topic)))
                            .with_partitions(
                                offsets
                                    .into_iter()
                                    .map(|o| {
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(o.partition)
                                            .with_committed_offset(o.offset)
                                            .with_committed_leader_epoch(o.leader_epoch)
                                            .with_metadata(Some(StrBytes::from_string(o.metadata)))
                                            .with_error_code(o.error.map_or(0, |e| e.code()))
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted: Option<Vec<(String, Vec<i32>)>> = request.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    // require_stable exists from v7 (decoded as false before).
    let require_stable = version >= 7 && request.require_stable;
    if !broker.allows(
        ctx,
        AclOperation::Describe,
        ResourceType::Group,
        &request.group_id.0,
    ) {
        // v2+ carries a top-level error; v1 only per partition, so each asked one gets it.
        let code = ResponseError::GroupAuthorizationFailed.code();
        return OffsetFetchResponse::default()
            .with_error_code(code)
            .with_topics(
                request
                    .topics
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| {
                        OffsetFetchResponseTopic::default()
                            .with_partitions(
                                t.partition_indexes
                                    .iter()
                                    .map(|&p| {
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(-1)
                                            .with_error_code(code)
                                    })
                                    .collect(),
                            )
                            .with_name(t.name)
                    })
                    .collect(),
            );
    }
    let offsets = authorized_topics(
        broker,
        ctx,
        broker
            .groups
            .fetch_offsets(&request.group_id.0, wanted.as_deref(), require_stable),
        wanted.is_some(),
    );
    let topics = group_by_topic(offsets)
        .into_iter()
        .map(|(topic, offsets)| {
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic)))
                .with_partitions(
                    offsets
                        .into_iter()
                        .map(|o| {
                            let p = OffsetFetchResponsePartition::default()
                                .with_partition_index(o.partition)
                                .with_committed_offset(o.offset)
                                .with_metadata(Some(StrBytes::from_string(o.metadata)))
                                .with_error_code(o.error.map_or(0, |e| e.code()));
                            if version >= 5 {
                                p.with_committed_leader_epoch(o.leader_epoch)
                            } else {
                                p
                            }
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

/// Applies DESCRIBE on each topic: offsets of topics the principal may not describe are
/// answered TOPIC_AUTHORIZATION_FAILED when the client named them, and left out when it asked
/// for every topic.
fn authorized_topics(
    broker: &Broker,
    ctx: &RequestContext,
    offsets: Vec<FetchedOffset>,
    named: bool,
) -> Vec<FetchedOffset> {
    if !broker.authorizer.enabled() {
        return offsets;
    }
    offsets
        .into_iter()
        .filter_map(|mut o| {
            if broker.allows(ctx, AclOperation::Describe, ResourceType::Topic, &o.topic) {
                Some(o)
            } else if named {
                o.offset = -1;
                o.leader_epoch = -1;
                o.metadata.clear();
                o.error = Some(ResponseError::TopicAuthorizationFailed);
                Some(o)
            } else {
                None
            }
        })
        .collect()
}

/// Groups offsets by topic, keeping the order topics first appear in.
fn group_by_topic(offsets: Vec<FetchedOffset>) -> Vec<(String, Vec<FetchedOffset>)> {
    let mut out: Vec<(String, Vec<FetchedOffset>)> = Vec::new();
    for o in offsets {
        match out.iter_mut().find(|(t, _)| *t == o.topic) {
            Some((_, list)) => list.push(o),
            None => out.push((o.topic.clone(), vec![o])),
        }
    }
    out
}
