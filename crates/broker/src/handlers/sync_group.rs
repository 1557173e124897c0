//! SyncGroup (classic protocol): the leader hands in the assignment; every member gets its
//! part. A follower's SyncGroup waits for the leader's.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;
use weir_group::types::{SyncRequest, SyncResponse};

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::offsets_topic::{self, BrokerOffsetsLog};
use crate::router::RequestContext;

/// Answers SyncGroup.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    let group_denied = !broker.allows(
        ctx,
        AclOperation::Read,
        ResourceType::Group,
        &request.group_id.0,
    );
    let ensured = if group_denied {
        Err(ResponseError::GroupAuthorizationFailed)
    } else {
        offsets_topic::ensure(broker).await
    };
    let answer = match ensured {
        Err(e) => SyncResponse::error(e),
        Ok(()) => {
            let sync = SyncRequest {
                group_id: request.group_id.0.to_string(),
                generation_id: request.generation_id,
                member_id: request.member_id.to_string(),
                group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
                protocol_type: request.protocol_type.as_ref().map(|s| s.to_string()),
                protocol_name: request.protocol_name.as_ref().map(|s| s.to_string()),
                assignments: request
                    .assignments
                    .iter()
                    .map(|a| (a.member_id.to_string(), a.assignment.clone()))
                    .collect(),
            };
            broker.groups.sync(&BrokerOffsetsLog(broker), sync).await
        }
    };
    let response = SyncGroupResponse::default()
        .with_error_code(answer.error.map_or(0, |e| e.code()))
        .with_assignment(answer.assignment);
    if ctx.version >= 5 {
        response
            .with_protocol_type(answer.protocol_type.map(StrBytes::from_string))
            .with_protocol_name(answer.protocol_name.map(StrBytes::from_string))
    } else {
        response
    }
}
