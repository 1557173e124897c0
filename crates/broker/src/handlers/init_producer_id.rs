//! InitProducerId: a producer id and epoch for an idempotent producer (a fresh id from the
//! block the metadata quorum gave this broker, epoch 0), or for a transactional producer (from
//! the transaction coordinator: the transactional id's producer id with its epoch bumped, which
//! fences the producer's previous incarnation and aborts its open transaction).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use weir_txn::{InitError, InitRequest};

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::router::RequestContext;
use crate::time::now_ms;
use crate::txn_state::{self, BrokerTxnEnv};

/// An idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic
/// (Kafka 3+).
fn may_write_idempotently(broker: &Broker, ctx: &RequestContext) -> bool {
    if !broker.authorizer.enabled() || broker.allows_cluster(ctx, AclOperation::IdempotentWrite) {
        return true;
    }
    let state = broker.metadata.state();
    state.topics.keys().any(|t| {
        broker
            .authorizer
            .allows(&state, ctx, AclOperation::Write, ResourceType::Topic, t)
    })
}

/// Answers InitProducerId.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let failed = |code: ResponseError| {
        let code = txn_state::for_version(code, ctx.version, 4);
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    let granted = |(id, epoch): (i64, i16)| {
        InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch)
    };
    let transactional_id = match &request.transactional_id {
        None if !may_write_idempotently(broker, ctx) => {
            return failed(ResponseError::ClusterAuthorizationFailed)
        }
        Some(id) if !broker.allows(ctx, AclOperation::Write, ResourceType::TransactionalId, id) => {
            return failed(ResponseError::TransactionalIdAuthorizationFailed)
        }
        None => {
            return match allocate(broker).await {
                Ok(id) => granted((id, 0)),
                Err(code) => failed(code),
            }
        }
        Some(id) if id.is_empty() => return failed(ResponseError::InvalidRequest),
        Some(id) => id.0.to_string(),
    };
    if let Err(code) = txn_state::ensure(broker).await {
        return failed(code);
    }
    let req = InitRequest {
        transactional_id,
        timeout_ms: request.transaction_timeout_ms,
        // KIP-360 (v3+): the id and epoch the producer had, so a stale one is fenced.
        expected: if ctx.version >= 3 {
            (request.producer_id.0, request.producer_epoch)
        } else {
            (-1, -1)
        },
    };
    let mut fresh = None;
    loop {
        match broker
            .txns
            .init_producer_id(&BrokerTxnEnv(broker), &req, fresh, now_ms())
        {
            Ok(granted_id) => return granted(granted_id),
            Err(InitError::NeedProducerId) if fresh.is_none() => match allocate(broker).await {
                Ok(id) => fresh = Some(id),
                Err(code) => return failed(code),
            },
            Err(InitError::NeedProducerId) => {
                return failed(ResponseError::CoordinatorNotAvailable)
            }
            Err(InitError::Failed(code)) => return failed(code),
        }
    }
}

/// A producer id nobody was given before.
async fn allocate(broker: &Broker) -> Result<i64, ResponseError> {
    broker
        .producer_ids
        .next(&broker.metadata, broker.config.node_id)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot allocate a producer id");
            ResponseError::CoordinatorNotAvailable
        })
}
