//! ConsumerGroupDescribe (KIP-848): consumer groups with their epochs, assignor, and every
//! member's subscription, current and target assignment. Unknown ids and classic groups get
//! GROUP_ID_NOT_FOUND, as in Kafka.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use weir_group::consumer::Assignment as Parts;
use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::router::RequestContext;

/// Answers ConsumerGroupDescribe.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let state = broker.metadata.state();
    let to_wire = |a: &Parts| {
        Assignment::default().with_topic_partitions(
            a.iter()
                .map(|(topic, ps)| {
                    TopicPartitions::default()
                        .with_topic_id(state.topic(topic).map(|t| t.id).unwrap_or_default())
                        .with_topic_name(TopicName(StrBytes::from_string(topic.clone())))
                        .with_partitions(ps.iter().copied().collect())
                })
                .collect(),
        )
    };
    let groups = request
        .group_ids
        .iter()
        .map(|id| {
            let authz = &broker.authorizer;
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
            let base = base.with_authorized_operations(authz.authorized_operations_if(
                request.include_authorized_operations,
                &state,
                ctx,
                ResourceType::Group,
                &id.0,
            ));
            let Some(g) = broker.groups.consumer_group(&id.0) else {
                let message = if broker.groups.is_classic(&id.0) {
                    "group is not a consumer group"
                } else {
                    "group does not exist"
                };
                return base
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(StrBytes::from_static_str(message)))
                    .with_group_state(StrBytes::from_static_str("Dead"));
            };
            let members = g
                .members
                .values()
                .map(|m| {
                    Member::default()
                        .with_member_id(StrBytes::from_string(m.member_id.clone()))
                        .with_instance_id(m.instance_id.clone().map(StrBytes::from_string))
                        .with_rack_id(m.rack_id.clone().map(StrBytes::from_string))
                        .with_member_epoch(m.member_epoch)
                        .with_client_id(StrBytes::from_string(m.client_id.clone()))
                        .with_client_host(StrBytes::from_string(m.client_host.clone()))
                        .with_subscribed_topic_names(
                            m.subscribed
                                .iter()
                                .map(|t| TopicName(StrBytes::from_string(t.clone())))
                                .collect(),
                        )
                        .with_assignment(to_wire(&m.assigned))
                        .with_target_assignment(to_wire(
                            g.target.get(&m.member_id).unwrap_or(&Parts::new()),
                        ))
                })
                .collect();
            base.with_group_state(StrBytes::from_static_str(g.state()))
                .with_group_epoch(g.group_epoch)
                .with_assignment_epoch(g.assignment_epoch)
                .with_assignor_name(StrBytes::from_string(g.assignor.clone()))
                .with_members(members)
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
