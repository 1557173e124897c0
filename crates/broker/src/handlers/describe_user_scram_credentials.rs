//! DescribeUserScramCredentials (KIP-554): the mechanisms and iteration counts of users' SCRAM
//! credentials, read from the metadata state. Secrets (salt, keys) are never returned.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use weir_metadata::{AclOperation, ScramCredential, ScramMechanism};

use crate::broker::Broker;
use crate::router::RequestContext;

/// Answers DescribeUserScramCredentials.
///
/// No users (null or empty list) describes every user that has a credential. A listed user
/// without credentials gets RESOURCE_NOT_FOUND, a user listed more than once one
/// DUPLICATE_RESOURCE result. The request-level error is NONE, or CLUSTER_AUTHORIZATION_FAILED
/// when the authorizer denies DESCRIBE on the cluster (as Kafka requires).
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !broker.allows_cluster(ctx, AclOperation::Describe) {
        let code = ResponseError::ClusterAuthorizationFailed;
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(code.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "Cluster authorization failed.",
            )));
    }
    let state = broker.metadata.state();
    let all = &state.scram_credentials;
    let wanted: Vec<&StrBytes> = request.users.iter().flatten().map(|u| &u.name).collect();
    let results = if wanted.is_empty() {
        all.iter()
            .map(|(user, creds)| described(StrBytes::from_string(user.clone()), creds))
            .collect()
    } else {
        let mut times: HashMap<&str, usize> = HashMap::new();
        for name in &wanted {
            *times.entry(name.as_str()).or_default() += 1;
        }
        let mut results = Vec::with_capacity(times.len());
        for name in wanted {
            // One result per distinct user, at its first mention.
            let Some(count) = times.remove(name.as_str()) else {
                continue;
            };
            results.push(if count > 1 {
                failed(
                    name.clone(),
                    ResponseError::DuplicateResource,
                    format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {name}"
                    ),
                )
            } else if let Some(creds) = all.get(name.as_str()) {
                described(name.clone(), creds)
            } else {
                failed(
                    name.clone(),
                    ResponseError::ResourceNotFound,
                    format!("Attempt to describe a user credential that does not exist: {name}"),
                )
            });
        }
        results
    };
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

fn described(
    user: StrBytes,
    creds: &BTreeMap<ScramMechanism, ScramCredential>,
) -> DescribeUserScramCredentialsResult {
    DescribeUserScramCredentialsResult::default()
        .with_user(user)
        .with_credential_infos(
            creds
                .iter()
                .map(|(mechanism, cred)| {
                    CredentialInfo::default()
                        .with_mechanism(mechanism.type_code())
                        .with_iterations(cred.iterations)
                })
                .collect(),
        )
}

fn failed(
    user: StrBytes,
    code: ResponseError,
    message: String,
) -> DescribeUserScramCredentialsResult {
    DescribeUserScramCredentialsResult::default()
        .with_user(user)
        .with_error_code(code.code())
        .with_error_message(Some(StrBytes::from_string(message)))
}
