//! DeleteAcls: removes the stored ACLs each filter selects and reports them per filter.
//! Needs the authorizer on and ALTER on the cluster.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use kafka_protocol::protocol::StrBytes;
use weir_metadata::{AclBinding, AclOperation, MetadataCommand};

use crate::acl_wire::{self, text, WireAcl, NO_AUTHORIZER};
use crate::admin::ApiError;
use crate::broker::Broker;
use crate::router::RequestContext;

/// Answers DeleteAcls: one result per filter, in request order.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let count = request.filters.len();
    let results = if !broker.authorizer.enabled() {
        vec![
            Err(ApiError::new(
                ResponseError::SecurityDisabled,
                NO_AUTHORIZER
            ));
            count
        ]
    } else if !broker
        .authorizer
        .allows_cluster(&broker.metadata.state(), ctx, AclOperation::Alter)
    {
        vec![
            Err(ApiError::new(
                ResponseError::ClusterAuthorizationFailed,
                "Cluster authorization failed.",
            ));
            count
        ]
    } else {
        delete(broker, &request).await
    };
    DeleteAclsResponse::default().with_filter_results(
        results
            .into_iter()
            .map(|r| match r {
                Ok(acls) => DeleteAclsFilterResult::default()
                    .with_matching_acls(acls.iter().map(matching).collect()),
                Err(e) => DeleteAclsFilterResult::default()
                    .with_error_code(e.code.code())
                    .with_error_message(Some(StrBytes::from_string(e.message))),
            })
            .collect(),
    )
}

async fn delete(
    broker: &Broker,
    request: &DeleteAclsRequest,
) -> Vec<Result<Vec<AclBinding>, ApiError>> {
    // Resolve every filter against one state under the admin lock, then remove the union of
    // what they selected with one command, so the log records exactly what went away.
    let _admin = broker.admin_lock.lock().await;
    let state = broker.metadata.state();
    let mut results: Vec<Result<Vec<AclBinding>, ApiError>> = request
        .filters
        .iter()
        .map(|f| {
            let filter = acl_wire::filter(&WireAcl {
                resource_type: f.resource_type_filter,
                resource_name: f.resource_name_filter.as_ref(),
                pattern_type: f.pattern_type_filter,
                principal: f.principal_filter.as_ref(),
                host: f.host_filter.as_ref(),
                operation: f.operation,
                permission: f.permission_type,
            })?;
            Ok(state
                .acls
                .iter()
                .filter(|acl| filter.matches(acl))
                .cloned()
                .collect())
        })
        .collect();
    let doomed: BTreeSet<AclBinding> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .flatten()
        .cloned()
        .collect();
    if doomed.is_empty() {
        return results;
    }
    let outcome = match broker
        .metadata
        .submit(MetadataCommand::DeleteAcls {
            acls: doomed.iter().cloned().collect(),
        })
        .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ApiError::from(e)),
        Err(e) => Err(ApiError::from(e)),
    };
    match outcome {
        Ok(()) => {
            for acl in &doomed {
                tracing::info!(?acl, "deleted ACL");
            }
        }
        Err(e) => {
            for r in results.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(e.clone());
            }
        }
    }
    results
}

fn matching(acl: &AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(acl.resource_type.code())
        .with_resource_name(text(&acl.resource_name))
        .with_pattern_type(acl.pattern_type.code())
        .with_principal(text(&acl.principal))
        .with_host(text(&acl.host))
        .with_operation(acl.operation.code())
        .with_permission_type(acl.permission.code())
}
