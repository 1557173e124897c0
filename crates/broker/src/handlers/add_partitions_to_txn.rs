//! AddPartitionsToTxn: the partitions a transactional producer is about to write join its
//! transaction, so EndTxn knows where to write markers. v0–v3 carry one transaction (what
//! clients send); v4+ batch several and may only verify (`verify_only`), as brokers send.
//! Partitions that do not exist fail with UNKNOWN_TOPIC_OR_PARTITION and the others with
//! OPERATION_NOT_ATTEMPTED, as in Kafka: nothing is added unless all can be.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TransactionalId,
};

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::router::RequestContext;
use crate::time::now_ms;
use crate::txn_state::{self, BrokerTxnEnv};

/// Answers AddPartitionsToTxn.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    if ctx.version <= 3 {
        let topics = add(
            broker,
            ctx,
            &request.v3_and_below_transactional_id,
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
            &request.v3_and_below_topics,
            false,
        );
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics);
    }
    let results = request
        .transactions
        .iter()
        .map(|t| {
            let topics = add(
                broker,
                ctx,
                &t.transactional_id,
                t.producer_id.0,
                t.producer_epoch,
                &t.topics,
                t.verify_only,
            );
            AddPartitionsToTxnResult::default()
                .with_transactional_id(t.transactional_id.clone())
                .with_topic_results(topics)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

/// Adds (or with `verify_only` checks) one transaction's partitions; per-topic results.
fn add(
    broker: &Broker,
    ctx: &RequestContext,
    transactional_id: &TransactionalId,
    producer_id: i64,
    producer_epoch: i16,
    topics: &[AddPartitionsToTxnTopic],
    verify_only: bool,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let state = broker.metadata.state();
    let exists = |topic: &str, p: i32| {
        state
            .topic(topic)
            .is_some_and(|t| p >= 0 && (p as usize) < t.partitions.len())
    };
    let wanted: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p)))
        .collect();
    let version = ctx.version;
    // WRITE on the transactional id, then on every topic; a denied topic fails the request
    // (the others are not attempted), as in Kafka.
    let txn_denied = !broker.allows(
        ctx,
        AclOperation::Write,
        ResourceType::TransactionalId,
        &transactional_id.0,
    );
    let topic_denied =
        |topic: &str| !broker.allows(ctx, AclOperation::Write, ResourceType::Topic, topic);
    let any_topic_denied = topics.iter().any(|t| topic_denied(&t.name.0));
    let missing = wanted.iter().any(|(t, p)| !exists(t, *p));
    let outcome: Result<(), ResponseError> = if txn_denied {
        Err(ResponseError::TransactionalIdAuthorizationFailed)
    } else if any_topic_denied || missing {
        Err(ResponseError::OperationNotAttempted)
    } else if verify_only {
        verify(
            broker,
            &transactional_id.0,
            producer_id,
            producer_epoch,
            &wanted,
        )
    } else {
        broker.txns.add_partitions(
            &BrokerTxnEnv(broker),
            &transactional_id.0,
            producer_id,
            producer_epoch,
            &wanted,
            now_ms(),
        )
    };
    let code_for = |topic: &str, p: i32| -> i16 {
        if !txn_denied && any_topic_denied && topic_denied(topic) {
            return ResponseError::TopicAuthorizationFailed.code();
        }
        if missing && !exists(topic, p) {
            return ResponseError::UnknownTopicOrPartition.code();
        }
        outcome.map_or_else(|e| txn_state::for_version(e, version, 2).code(), |()| 0)
    };
    topics
        .iter()
        .map(|t| {
            let results = t
                .partitions
                .iter()
                .map(|p| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p)
                        .with_partition_error_code(code_for(&t.name.0, *p))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(results)
        })
        .collect()
}

/// `verify_only`: the partitions must already be in the producer's open transaction.
fn verify(
    broker: &Broker,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    wanted: &[(String, i32)],
) -> Result<(), ResponseError> {
    let m = broker
        .txns
        .describe(transactional_id)
        .ok_or(ResponseError::InvalidProducerIdMapping)?;
    if m.producer_id != producer_id {
        return Err(ResponseError::InvalidProducerIdMapping);
    }
    if m.producer_epoch != producer_epoch {
        return Err(ResponseError::ProducerFenced);
    }
    if wanted.iter().all(|p| m.partitions.contains(p)) {
        Ok(())
    } else {
        Err(ResponseError::InvalidTxnState)
    }
}
