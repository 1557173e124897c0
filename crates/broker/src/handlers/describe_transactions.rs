//! DescribeTransactions: the state of each asked transactional id: its producer id and epoch,
//! state, timeout, start time and the partitions of its open transaction.
//! An unknown id gets TRANSACTIONAL_ID_NOT_FOUND.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::router::RequestContext;

/// Answers DescribeTransactions.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .iter()
        .map(|id| {
            let base = TransactionState::default().with_transactional_id(id.clone());
            if !broker.allows(
                ctx,
                AclOperation::Describe,
                ResourceType::TransactionalId,
                &id.0,
            ) {
                return base
                    .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .with_transaction_start_time_ms(-1);
            }
            let Some(m) = broker.txns.describe(&id.0) else {
                return base
                    .with_error_code(ResponseError::TransactionalIdNotFound.code())
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .with_transaction_start_time_ms(-1);
            };
            let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (topic, partition) in &m.partitions {
                topics.entry(topic.as_str()).or_default().push(*partition);
            }
            let topics = topics
                .into_iter()
                .map(|(t, ps)| {
                    TopicData::default()
                        .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partitions(ps)
                })
                .collect();
            base.with_transaction_state(StrBytes::from_static_str(m.status.name()))
                .with_transaction_timeout_ms(m.timeout_ms)
                .with_transaction_start_time_ms(m.start_ms)
                .with_producer_id(ProducerId(m.producer_id))
                .with_producer_epoch(m.producer_epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
