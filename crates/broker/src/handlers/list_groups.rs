//! ListGroups: every group this broker coordinates, with its protocol type, state (v4+, with a
//! states filter) and type (v5+: "classic" or "consumer", with a types filter).

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::offsets_topic::BrokerOffsetsLog;
use crate::router::RequestContext;

/// Answers ListGroups.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_string())
        .collect();
    let type_wanted = |group_type: &str| {
        ctx.version < 5
            || request.types_filter.is_empty()
            || request
                .types_filter
                .iter()
                .any(|t| t.eq_ignore_ascii_case(group_type))
    };
    let describe_all = broker.allows_cluster(ctx, AclOperation::Describe);
    let groups: Vec<_> = broker
        .groups
        .list(&BrokerOffsetsLog(broker), &states)
        .into_iter()
        .filter(|g| type_wanted(g.group_type))
        // DESCRIBE on the cluster lists every group; otherwise those the principal may
        // describe.
        .filter(|g| {
            describe_all
                || broker.allows(
                    ctx,
                    AclOperation::Describe,
                    ResourceType::Group,
                    &g.group_id,
                )
        })
        .collect();
    let groups = groups
        .into_iter()
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                .with_protocol_type(StrBytes::from_string(g.protocol_type));
            let listed = if ctx.version >= 4 {
                listed.with_group_state(StrBytes::from_static_str(g.state))
            } else {
                listed
            };
            if ctx.version >= 5 {
                listed.with_group_type(StrBytes::from_static_str(g.group_type))
            } else {
                listed
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
