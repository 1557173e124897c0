//! DescribeGroups: state, protocol and members of each group (member metadata and assignments
//! only while Stable, as Kafka). An unknown group is described as "Dead": with no error up to
//! v5, with GROUP_ID_NOT_FOUND from v6 on (KIP-1043), as Kafka answers.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;
use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::offsets_topic::BrokerOffsetsLog;
use crate::router::RequestContext;

/// Answers DescribeGroups.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let state = broker.metadata.state();
    let authz = &broker.authorizer;
    let groups = request
        .groups
        .into_iter()
        .map(|id| {
            let base = DescribedGroup::default().with_group_id(id.clone());
            if !authz.allows(
                &state,
                ctx,
                AclOperation::Describe,
                ResourceType::Group,
                &id.0,
            ) {
                return base.with_error_code(ResponseError::GroupAuthorizationFailed.code());
            }
            let base = if ctx.version >= 3 {
                base.with_authorized_operations(authz.authorized_operations_if(
                    request.include_authorized_operations,
                    &state,
                    ctx,
                    ResourceType::Group,
                    &id.0,
                ))
            } else {
                base
            };
            let Some(g) = broker.groups.describe(&BrokerOffsetsLog(broker), &id.0) else {
                let dead = base.with_group_state(StrBytes::from_static_str("Dead"));
                return if ctx.version >= 6 {
                    dead.with_error_code(ResponseError::GroupIdNotFound.code())
                        .with_error_message(Some(StrBytes::from_string(format!(
                            "Group {} not found.",
                            id.0
                        ))))
                } else {
                    dead
                };
            };
            let members = g
                .members
                .into_iter()
                .map(|m| {
                    let member = DescribedGroupMember::default()
                        .with_member_id(StrBytes::from_string(m.member_id))
                        .with_client_id(StrBytes::from_string(m.client_id))
                        .with_client_host(StrBytes::from_string(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment);
                    if ctx.version >= 4 {
                        member
                            .with_group_instance_id(m.group_instance_id.map(StrBytes::from_string))
                    } else {
                        member
                    }
                })
                .collect();
            base.with_group_state(StrBytes::from_static_str(g.state))
                .with_protocol_type(StrBytes::from_string(g.protocol_type))
                .with_protocol_data(StrBytes::from_string(g.protocol))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
