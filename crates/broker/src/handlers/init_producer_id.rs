//! InitProducerId for idempotent producers: a fresh producer id with epoch 0.
//!
//! Transactional producers (a transactional id) need a transaction coordinator, which Weir
//! does not have yet: FindCoordinator for a transactional id answers COORDINATOR_NOT_AVAILABLE,
//! and an InitProducerId with a transactional id gets UNSUPPORTED_VERSION.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::Broker;
use crate::router::RequestContext;

/// Answers InitProducerId.
pub async fn handle(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let failed = |code: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if request.transactional_id.is_some() {
        return failed(ResponseError::UnsupportedVersion);
    }
    match broker
        .producer_ids
        .next(&broker.metadata, broker.config.node_id)
        .await
    {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::warn!(error = %e, "cannot allocate a producer id");
            failed(ResponseError::CoordinatorNotAvailable)
        }
    }
}
