//! AddOffsetsToTxn: a transactional producer will commit a consumer group's offsets in its
//! transaction (`send_offsets_to_transaction`), so the group's `__consumer_offsets` partition
//! joins the transaction and gets its marker at the end.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use weir_group::OFFSETS_TOPIC;

use crate::broker::Broker;
use crate::offsets_topic;
use crate::router::RequestContext;
use crate::time::now_ms;
use crate::txn_state::BrokerTxnEnv;

/// Answers AddOffsetsToTxn.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let outcome = match offsets_topic::ensure(broker).await {
        Err(e) => Err(e),
        Ok(()) => {
            let partition = broker.groups.partition_for(&request.group_id.0);
            broker.txns.add_partitions(
                &BrokerTxnEnv(broker),
                &request.transactional_id.0,
                request.producer_id.0,
                request.producer_epoch,
                &[(OFFSETS_TOPIC.to_string(), partition)],
                now_ms(),
            )
        }
    };
    let code = match outcome {
        Ok(()) => 0,
        // KIP-588: versions before 2 know INVALID_PRODUCER_EPOCH, not PRODUCER_FENCED.
        Err(ResponseError::ProducerFenced) if ctx.version < 2 => {
            ResponseError::InvalidProducerEpoch.code()
        }
        Err(e) => e.code(),
    };
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
