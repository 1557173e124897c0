//! LeaveGroup (classic protocol): members leave at once instead of waiting for their session
//! to expire; v3+ names several members (by member id and/or group.instance.id).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use weir_group::types::MemberRef;

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::offsets_topic::{self, BrokerOffsetsLog};
use crate::router::RequestContext;

/// Answers LeaveGroup.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let members: Vec<MemberRef> = if ctx.version >= 3 {
        request
            .members
            .iter()
            .map(|m| MemberRef {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                generation_id: -1,
            })
            .collect()
    } else {
        vec![MemberRef {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
            generation_id: -1,
        }]
    };
    if !broker.allows(
        ctx,
        AclOperation::Read,
        ResourceType::Group,
        &request.group_id.0,
    ) {
        return LeaveGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    if let Err(e) = offsets_topic::ensure(broker).await {
        return LeaveGroupResponse::default().with_error_code(e.code());
    }
    let result = broker
        .groups
        .leave(&BrokerOffsetsLog(broker), &request.group_id.0, &members);
    match result {
        Err(e) => LeaveGroupResponse::default().with_error_code(e.code()),
        Ok(errors) if ctx.version >= 3 => {
            let responses = request
                .members
                .into_iter()
                .zip(errors)
                .map(|(m, e)| {
                    MemberResponse::default()
                        .with_member_id(m.member_id)
                        .with_group_instance_id(m.group_instance_id)
                        .with_error_code(e.map_or(0, |e| e.code()))
                })
                .collect();
            LeaveGroupResponse::default().with_members(responses)
        }
        Ok(errors) => LeaveGroupResponse::default()
            .with_error_code(errors.first().copied().flatten().map_or(0, |e| e.code())),
    }
}
