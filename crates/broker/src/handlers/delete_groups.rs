//! DeleteGroups: removes empty groups and their committed offsets (tombstones in
//! `__consumer_offsets`); NON_EMPTY_GROUP while members remain, GROUP_ID_NOT_FOUND for
//! unknown groups.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::offsets_topic::{self, BrokerOffsetsLog};
use crate::router::RequestContext;

/// Answers DeleteGroups.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let ready = offsets_topic::ensure(broker).await;
    let results = request
        .groups_names
        .into_iter()
        .map(|id| {
            let error = match ready {
                _ if !broker.allows(ctx, AclOperation::Delete, ResourceType::Group, &id.0) => {
                    Some(ResponseError::GroupAuthorizationFailed)
                }
                Err(e) => Some(e),
                Ok(()) => broker.groups.delete_group(&BrokerOffsetsLog(broker), &id.0),
            };
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(error.map_or(0, |e| e.code()))
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
