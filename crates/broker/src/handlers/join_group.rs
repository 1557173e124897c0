//! JoinGroup (classic protocol): the first phase of a rebalance. The answer waits until every
//! member has rejoined or the rebalance timeout passed; only this connection waits (Kafka also
//! answers a connection's requests one at a time).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;
use weir_group::types::{JoinRequest, JoinResponse};

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::offsets_topic::{self, BrokerOffsetsLog};
use crate::router::RequestContext;

/// Answers JoinGroup.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let member_id = request.member_id.to_string();
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
        Err(e) => JoinResponse::error(e, &member_id),
        Ok(()) => {
            let join = JoinRequest {
                group_id: request.group_id.0.to_string(),
                member_id,
                group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
                client_id: ctx
                    .client_id
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                client_host: ctx.client_host.clone(),
                session_timeout_ms: request.session_timeout_ms,
                // v0 has no rebalance timeout: Kafka uses the session timeout.
                rebalance_timeout_ms: if ctx.version >= 1 {
                    request.rebalance_timeout_ms
                } else {
                    request.session_timeout_ms
                },
                protocol_type: request.protocol_type.to_string(),
                protocols: request
                    .protocols
                    .iter()
                    .map(|p| (p.name.to_string(), p.metadata.clone()))
                    .collect(),
                require_known_member_id: ctx.version >= 4,
            };
            broker.groups.join(&BrokerOffsetsLog(broker), join).await
        }
    };
    to_wire(answer, ctx.version)
}

fn to_wire(r: JoinResponse, version: i16) -> JoinGroupResponse {
    let members = r
        .members
        .into_iter()
        .map(|m| {
            let member = JoinGroupResponseMember::default()
                .with_member_id(StrBytes::from_string(m.member_id))
                .with_metadata(m.metadata);
            if version >= 5 {
                member.with_group_instance_id(m.group_instance_id.map(StrBytes::from_string))
            } else {
                member
            }
        })
        .collect();
    let response = JoinGroupResponse::default()
        .with_error_code(r.error.map_or(0, |e| e.code()))
        .with_generation_id(r.generation_id)
        .with_leader(StrBytes::from_string(r.leader))
        .with_member_id(StrBytes::from_string(r.member_id))
        .with_members(members);
    if version >= 7 {
        response
            .with_protocol_type(r.protocol_type.map(StrBytes::from_string))
            .with_protocol_name(r.protocol_name.map(StrBytes::from_string))
    } else {
        // Not nullable before v7.
        response.with_protocol_name(Some(StrBytes::from_string(
            r.protocol_name.unwrap_or_default(),
        )))
    }
}
