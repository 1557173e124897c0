//! DescribeCluster: the brokers, cluster id and controller, as the AdminClient's
//! describeCluster shows them.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;
use weir_metadata::acl::CLUSTER_RESOURCE_NAME;
use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::router::RequestContext;

/// Answers DescribeCluster.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let state = broker.metadata.state();
    let authz = &broker.authorizer;
    if !authz.allows_cluster(&state, ctx, AclOperation::Describe) {
        return DescribeClusterResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "Cluster authorization failed.",
            )));
    }
    let brokers = state
        .brokers
        .values()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.node_id))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(b.port)
                .with_rack(b.rack.clone().map(StrBytes::from_string))
        })
        .collect();
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(
            state.cluster_id.clone().unwrap_or_default(),
        ))
        .with_controller_id(BrokerId(
            broker
                .metadata
                .controller_id()
                .unwrap_or(broker.config.node_id),
        ))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(authz.authorized_operations_if(
            request.include_cluster_authorized_operations,
            &state,
            ctx,
            ResourceType::Cluster,
            CLUSTER_RESOURCE_NAME,
        ))
}
