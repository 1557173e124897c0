//! TxnOffsetCommit: a transactional producer commits a consumer group's offsets inside its
//! transaction (`send_offsets_to_transaction`). The offsets go to the group's
//! `__consumer_offsets` partition in a transactional batch and stay pending until the
//! transaction's marker: committed with it, dropped on abort.
//!
//! The producer must own its transactional id at this epoch and have added the group's
//! partition to its transaction (AddOffsetsToTxn) first, otherwise the offsets would never see
//! a marker. From v3 (KIP-447) the consumer's member id and generation are checked like an
//! OffsetCommit's.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use weir_group::types::{CommitPartition, MemberRef};
use weir_group::OFFSETS_TOPIC;

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::offsets_topic::{self, BrokerOffsetsLog};
use crate::router::RequestContext;
use crate::txn_state;

/// Answers TxnOffsetCommit.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let group = request.group_id.0.to_string();
    let state = broker.metadata.state();
    let exists = |topic: &str, partition: i32| {
        state
            .topic(topic)
            .is_some_and(|t| partition >= 0 && (partition as usize) < t.partitions.len())
    };
    let txn_denied = !broker.allows(
        ctx,
        AclOperation::Write,
        ResourceType::TransactionalId,
        &request.transactional_id.0,
    );
    let group_denied = !broker.allows(ctx, AclOperation::Read, ResourceType::Group, &group);
    let topic_denied =
        |topic: &str| !broker.allows(ctx, AclOperation::Read, ResourceType::Topic, topic);
    let check = match offsets_topic::ensure(broker).await {
        _ if txn_denied => Err(ResponseError::TransactionalIdAuthorizationFailed),
        _ if group_denied => Err(ResponseError::GroupAuthorizationFailed),
        Err(e) => Err(e),
        Ok(()) => in_transaction(broker, &request, &group),
    };
    let check = check.map_err(|e| txn_state::for_version(e, ctx.version, 3));
    let mut to_commit = Vec::new();
    for t in &request.topics {
        for p in &t.partitions {
            if check.is_ok() && exists(&t.name.0, p.partition_index) && !topic_denied(&t.name.0) {
                to_commit.push(CommitPartition {
                    topic: t.name.0.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if ctx.version >= 2 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    retention_ms: None,
                });
            }
        }
    }
    let who = if ctx.version >= 3 {
        MemberRef {
            member_id: request.member_id.to_string(),
            group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
            generation_id: request.generation_id,
        }
    } else {
        MemberRef {
            member_id: String::new(),
            group_instance_id: None,
            generation_id: -1,
        }
    };
    let mut committed = if to_commit.is_empty() {
        Vec::new()
    } else {
        broker.groups.commit_transactional(
            &BrokerOffsetsLog(broker),
            &group,
            &who,
            request.producer_id.0,
            request.producer_epoch,
            &to_commit,
        )
    }
    .into_iter();
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let error = match &check {
                        Err(e) => Some(*e),
                        Ok(()) if topic_denied(&t.name.0) => {
                            Some(ResponseError::TopicAuthorizationFailed)
                        }
                        Ok(()) if !exists(&t.name.0, p.partition_index) => {
                            Some(ResponseError::UnknownTopicOrPartition)
                        }
                        Ok(()) => committed.next().and_then(|r| r.2),
                    };
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error.map_or(0, |e| e.code()))
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// The producer owns the transactional id at this epoch and its open transaction includes the
/// group's `__consumer_offsets` partition.
fn in_transaction(
    broker: &Broker,
    request: &TxnOffsetCommitRequest,
    group: &str,
) -> Result<(), ResponseError> {
    let m = broker
        .txns
        .describe(&request.transactional_id.0)
        .ok_or(ResponseError::InvalidProducerIdMapping)?;
    if m.producer_id != request.producer_id.0 {
        return Err(ResponseError::InvalidProducerIdMapping);
    }
    if m.producer_epoch != request.producer_epoch {
        return Err(ResponseError::ProducerFenced);
    }
    let partition = (
        OFFSETS_TOPIC.to_string(),
        broker.groups.partition_for(group),
    );
    if m.status != weir_txn::TxnStatus::Ongoing || !m.partitions.contains(&partition) {
        return Err(ResponseError::InvalidTxnState);
    }
    Ok(())
}
