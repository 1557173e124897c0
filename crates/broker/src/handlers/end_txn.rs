//! EndTxn: commits or aborts a producer's transaction. The coordinator records the decision in
//! `__transaction_state`, writes a marker to every partition of the transaction and records
//! the completion before answering, so once a commit is acknowledged read_committed consumers
//! can read the whole transaction.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::router::RequestContext;
use crate::time::now_ms;
use crate::txn_state::{self, BrokerTxnEnv};

/// Answers EndTxn.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: EndTxnRequest,
) -> EndTxnResponse {
    let outcome = if broker.allows(
        ctx,
        AclOperation::Write,
        ResourceType::TransactionalId,
        &request.transactional_id.0,
    ) {
        broker.txns.end_txn(
            &BrokerTxnEnv(broker),
            &request.transactional_id.0,
            request.producer_id.0,
            request.producer_epoch,
            request.committed,
            now_ms(),
        )
    } else {
        Err(ResponseError::TransactionalIdAuthorizationFailed)
    };
    let code = outcome.map_or_else(|e| txn_state::for_version(e, ctx.version, 2).code(), |()| 0);
    EndTxnResponse::default()
        .with_error_code(code)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}
