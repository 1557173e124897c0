//! CreateAcls: stores ACL bindings in the metadata state, where every broker's authorizer
//! reads them. Needs the authorizer on and ALTER on the cluster.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::protocol::StrBytes;
use weir_metadata::{AclOperation, MetadataCommand};

use crate::acl_wire::{self, WireAcl, NO_AUTHORIZER};
use crate::admin::ApiError;
use crate::broker::Broker;
use crate::router::RequestContext;

/// Answers CreateAcls: one result per creation, in request order.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: CreateAclsRequest,
) -> CreateAclsResponse {
    let count = request.creations.len();
    let refuse_all = |e: ApiError| vec![Err(e); count];
    let results = if !broker.authorizer.enabled() {
        refuse_all(ApiError::new(
            ResponseError::SecurityDisabled,
            NO_AUTHORIZER,
        ))
    } else if !broker
        .authorizer
        .allows_cluster(&broker.metadata.state(), ctx, AclOperation::Alter)
    {
        refuse_all(ApiError::new(
            ResponseError::ClusterAuthorizationFailed,
            "Cluster authorization failed.",
        ))
    } else {
        create(broker, &request).await
    };
    CreateAclsResponse::default().with_results(
        results
            .into_iter()
            .map(|r| match r {
                Ok(()) => AclCreationResult::default(),
                Err(e) => AclCreationResult::default()
                    .with_error_code(e.code.code())
                    .with_error_message(Some(StrBytes::from_string(e.message))),
            })
            .collect(),
    )
}

async fn create(broker: &Broker, request: &CreateAclsRequest) -> Vec<Result<(), ApiError>> {
    let mut results = Vec::with_capacity(request.creations.len());
    let mut valid = Vec::new();
    for c in &request.creations {
        let wire = WireAcl {
            resource_type: c.resource_type,
            resource_name: Some(&c.resource_name),
            pattern_type: c.resource_pattern_type,
            principal: Some(&c.principal),
            host: Some(&c.host),
            operation: c.operation,
            permission: c.permission_type,
        };
        match acl_wire::binding(&wire) {
            Ok(acl) => {
                valid.push((results.len(), acl));
                results.push(Ok(()));
            }
            Err(e) => results.push(Err(e)),
        }
    }
    if valid.is_empty() {
        return results;
    }
    let acls = valid.iter().map(|(_, a)| a.clone()).collect();
    let outcome: Result<(), ApiError> = {
        let _admin = broker.admin_lock.lock().await;
        match broker
            .metadata
            .submit(MetadataCommand::CreateAcls { acls })
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(e.into()),
        }
    };
    match outcome {
        Ok(()) => {
            for (_, acl) in &valid {
                tracing::info!(?acl, "created ACL");
            }
        }
        Err(e) => {
            for (i, _) in &valid {
                results[*i] = Err(e.clone());
            }
        }
    }
    results
}
