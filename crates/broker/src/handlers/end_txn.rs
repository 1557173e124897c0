//! EndTxn: commits or aborts a producer's transaction. The coordinator records the decision in
//! `__transaction_state`, writes a marker to every partition of the transaction and records
//! the completion before answering, so once a commit is acknowledged read_committed consumers
//! can read the whole transaction.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use crate::broker::Broker;
use crate::router::RequestContext;
use crate::time::now_ms;
use crate::txn_state::BrokerTxnEnv;

/// Answers EndTxn.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: EndTxnRequest,
) -> EndTxnResponse {
    let outcome = broker.txns.end_txn(
        &BrokerTxnEnv(broker),
        &request.transactional_id.0,
        request.producer_id.0,
        request.producer_epoch,
        request.committed,
        now_ms(),
    );
    let code = match outcome {
        Ok(()) => 0,
        // KIP-588: versions before 2 know INVALID_PRODUCER_EPOCH, not PRODUCER_FENCED.
        Err(ResponseError::ProducerFenced) if ctx.version < 2 => {
            ResponseError::InvalidProducerEpoch.code()
        }
        Err(e) => e.code(),
    };
    EndTxnResponse::default()
        .with_error_code(code)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}
