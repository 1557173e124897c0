//! ConsumerGroupHeartbeat (KIP-848): the one request of the consumer protocol. Translates topic
//! ids of owned partitions to names and the assignment back to ids; the group crate decides
//! everything else. Owned partitions of topics that no longer exist are dropped.

use std::sync::Arc;

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;
use weir_group::consumer::{Assignment as Owned, CgHeartbeat, CgHeartbeatResponse};

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::group_config;
use crate::offsets_topic::{self, BrokerOffsetsLog};
use crate::router::RequestContext;

/// Answers ConsumerGroupHeartbeat.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let group_denied = !broker.allows(
        ctx,
        AclOperation::Read,
        ResourceType::Group,
        &request.group_id.0,
    );
    let answer = match offsets_topic::ensure(broker).await {
        _ if group_denied => CgHeartbeatResponse::error(
            kafka_protocol::error::ResponseError::GroupAuthorizationFailed,
            "Group authorization failed.",
        ),
        Err(e) => CgHeartbeatResponse::error(e, "coordinator not available"),
        Ok(())
            if request.subscribed_topic_regex.is_some()
                && request.member_epoch == 0
                && request.subscribed_topic_names.is_none() =>
        {
            CgHeartbeatResponse::error(
                kafka_protocol::error::ResponseError::InvalidRequest,
                "regular expression subscriptions are not supported",
            )
        }
        Ok(()) => {
            let state = broker.metadata.state();
            let owned = request.topic_partitions.as_ref().map(|tps| {
                let mut owned = Owned::new();
                for tp in tps {
                    if let Some(t) = state.topic_by_id(&tp.topic_id) {
                        owned
                            .entry(t.name.clone())
                            .or_default()
                            .extend(tp.partitions.iter().copied());
                    }
                }
                owned
            });
            let req = CgHeartbeat {
                group_id: request.group_id.0.to_string(),
                member_id: request.member_id.to_string(),
                member_epoch: request.member_epoch,
                instance_id: request.instance_id.as_ref().map(|s| s.to_string()),
                rack_id: request.rack_id.as_ref().map(|s| s.to_string()),
                rebalance_timeout_ms: request.rebalance_timeout_ms,
                subscribed_topics: request
                    .subscribed_topic_names
                    .as_ref()
                    .map(|ts| ts.iter().map(|t| t.0.to_string()).collect()),
                server_assignor: request.server_assignor.as_ref().map(|s| s.to_string()),
                owned,
                client_id: ctx
                    .client_id
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                client_host: ctx.client_host.clone(),
                overrides: group_config::consumer_overrides(
                    state.group_configs.get(request.group_id.as_str()),
                ),
            };
            let partitions = |topic: &str| {
                state
                    .topic(topic)
                    .map(|t| i32::try_from(t.partitions.len()).unwrap_or(i32::MAX))
            };
            broker
                .groups
                .consumer_heartbeat(&BrokerOffsetsLog(broker), &req, &partitions)
        }
    };
    let state = broker.metadata.state();
    let assignment = answer.assignment.map(|a| {
        Assignment::default().with_topic_partitions(
            a.into_iter()
                .filter_map(|(topic, ps)| {
                    state.topic(&topic).map(|t| {
                        TopicPartitions::default()
                            .with_topic_id(t.id)
                            .with_partitions(ps.into_iter().collect())
                    })
                })
                .collect(),
        )
    });
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(answer.error.map_or(0, |e| e.code()))
        .with_error_message(answer.error_message.map(StrBytes::from_string))
        .with_member_id(
            (!answer.member_id.is_empty()).then(|| StrBytes::from_string(answer.member_id)),
        )
        .with_member_epoch(answer.member_epoch)
        .with_heartbeat_interval_ms(answer.heartbeat_interval_ms)
        .with_assignment(assignment)
}
