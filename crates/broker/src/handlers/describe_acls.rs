//! DescribeAcls: the stored ACLs a filter selects, grouped by resource pattern. Needs the
//! authorizer on and DESCRIBE on the cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::protocol::StrBytes;
use weir_metadata::{AclBinding, AclOperation};

use crate::acl_wire::{self, text, WireAcl, NO_AUTHORIZER};
use crate::admin::ApiError;
use crate::broker::Broker;
use crate::router::RequestContext;

/// Answers DescribeAcls.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeAclsRequest,
) -> DescribeAclsResponse {
    match describe(broker, ctx, &request) {
        Ok(resources) => DescribeAclsResponse::default().with_resources(resources),
        Err(e) => DescribeAclsResponse::default()
            .with_error_code(e.code.code())
            .with_error_message(Some(StrBytes::from_string(e.message))),
    }
}

fn describe(
    broker: &Broker,
    ctx: &RequestContext,
    request: &DescribeAclsRequest,
) -> Result<Vec<DescribeAclsResource>, ApiError> {
    if !broker.authorizer.enabled() {
        return Err(ApiError::new(
            ResponseError::SecurityDisabled,
            NO_AUTHORIZER,
        ));
    }
    let state = broker.metadata.state();
    if !broker
        .authorizer
        .allows_cluster(&state, ctx, AclOperation::Describe)
    {
        return Err(ApiError::new(
            ResponseError::ClusterAuthorizationFailed,
            "Cluster authorization failed.",
        ));
    }
    let filter = acl_wire::filter(&WireAcl {
        resource_type: request.resource_type_filter,
        resource_name: request.resource_name_filter.as_ref(),
        pattern_type: request.pattern_type_filter,
        principal: request.principal_filter.as_ref(),
        host: request.host_filter.as_ref(),
        operation: request.operation,
        permission: request.permission_type,
    })?;
    Ok(group_by_resource(
        state.acls.iter().filter(|acl| filter.matches(acl)),
    ))
}

/// Kafka's response shape: one entry per resource pattern, with its ACLs.
fn group_by_resource<'a>(acls: impl Iterator<Item = &'a AclBinding>) -> Vec<DescribeAclsResource> {
    let mut resources: BTreeMap<(i8, &str, i8), Vec<AclDescription>> = BTreeMap::new();
    for acl in acls {
        resources
            .entry((
                acl.resource_type.code(),
                &acl.resource_name,
                acl.pattern_type.code(),
            ))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(text(&acl.principal))
                    .with_host(text(&acl.host))
                    .with_operation(acl.operation.code())
                    .with_permission_type(acl.permission.code()),
            );
    }
    resources
        .into_iter()
        .map(|((resource_type, name, pattern_type), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(text(name))
                .with_pattern_type(pattern_type)
                .with_acls(acls)
        })
        .collect()
}
