//! AddOffsetsToTxn: a transactional producer will commit a consumer group's offsets in its
//! transaction (`send_offsets_to_transaction`), so the group's `__consumer_offsets` partition
//! joins the transaction and gets its marker at the end.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use weir_group::OFFSETS_TOPIC;

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::offsets_topic;
use crate::router::RequestContext;
use crate::time::now_ms;
use crate::txn_state::{self, BrokerTxnEnv};

/// Answers AddOffsetsToTxn.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let txn_denied = !broker.allows(
        ctx,
        AclOperation::Write,
        ResourceType::TransactionalId,
        &request.transactional_id.0,
    );
    let group_denied = !broker.allows(
        ctx,
        AclOperation::Read,
        ResourceType::Group,
        &request.group_id.0,
    );
    let outcome = match offsets_topic::ensure(broker).await {
        _ if txn_denied => Err(ResponseError::TransactionalIdAuthorizationFailed),
        _ if group_denied => Err(ResponseError::GroupAuthorizationFailed),
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
    let code = outcome.map_or_else(|e| txn_state::for_version(e, ctx.version, 2).code(), |()| 0);
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
