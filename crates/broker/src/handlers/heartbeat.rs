//! Heartbeat (classic protocol): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it
//! to rejoin.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use weir_group::types::MemberRef;

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::offsets_topic::BrokerOffsetsLog;
use crate::router::RequestContext;

/// Answers Heartbeat.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    if !broker.allows(
        ctx,
        AclOperation::Read,
        ResourceType::Group,
        &request.group_id.0,
    ) {
        return HeartbeatResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let who = MemberRef {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        generation_id: request.generation_id,
    };
    let error = broker
        .groups
        .heartbeat(&BrokerOffsetsLog(broker), &request.group_id.0, &who);
    HeartbeatResponse::default().with_error_code(error.map_or(0, |e| e.code()))
}
