//! ListTransactions: the transactional ids this coordinator knows, filtered by state name,
//! producer id and (v1) how long the transaction has been open.

use std::sync::Arc;

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use weir_txn::TxnStatus;

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::router::RequestContext;
use crate::time::now_ms;

/// The state names a filter may use (Kafka's).
const STATES: [TxnStatus; 8] = [
    TxnStatus::Empty,
    TxnStatus::Ongoing,
    TxnStatus::PrepareCommit,
    TxnStatus::PrepareAbort,
    TxnStatus::CompleteCommit,
    TxnStatus::CompleteAbort,
    TxnStatus::Dead,
    TxnStatus::PrepareEpochFence,
];

/// Answers ListTransactions.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let states: Vec<String> = request
        .state_filters
        .iter()
        .map(|s| s.to_string())
        .collect();
    let unknown: Vec<StrBytes> = request
        .state_filters
        .iter()
        .filter(|s| !STATES.iter().any(|k| k.name() == s.as_str()))
        .cloned()
        .collect();
    let producer_ids: Vec<i64> = request.producer_id_filters.iter().map(|p| p.0).collect();
    let min_duration = if ctx.version >= 1 {
        request.duration_filter
    } else {
        -1
    };
    let listed = broker
        .txns
        .list(&states, &producer_ids, min_duration, now_ms())
        .into_iter()
        // Only the transactional ids the principal may describe, as in Kafka.
        .filter(|m| {
            broker.allows(
                ctx,
                AclOperation::Describe,
                ResourceType::TransactionalId,
                &m.transactional_id,
            )
        })
        .map(|m| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(m.transactional_id)))
                .with_producer_id(ProducerId(m.producer_id))
                .with_transaction_state(StrBytes::from_static_str(m.status.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(listed)
}
