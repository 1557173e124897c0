//! AlterUserScramCredentials (KIP-554): upserts and deletes users' SCRAM credentials in the
//! metadata state, with Kafka's checks. As Kafka's controller does, an upsertion's salted
//! password is turned into StoredKey and ServerKey and then dropped; it is never stored.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use weir_metadata::{
    AclOperation, MetadataCommand, ScramCredential, ScramMechanism, MAX_SCRAM_ITERATIONS,
};

use crate::admin::ApiError;
use crate::broker::Broker;
use crate::router::RequestContext;

/// One alteration as the request states it.
enum Alteration<'a> {
    Delete { mechanism: i8 },
    Upsert(&'a ScramCredentialUpsertion),
}

/// Answers AlterUserScramCredentials: one result per distinct user.
///
/// A user named by more than one alteration (deletions and upsertions together) gets
/// DUPLICATE_RESOURCE and none of its alterations is applied. Otherwise each alteration is
/// checked (empty user name or out-of-range iterations, empty salt or salted password →
/// UNACCEPTABLE_CREDENTIAL; unknown mechanism → UNSUPPORTED_SASL_MECHANISM; deleting a
/// credential that does not exist → RESOURCE_NOT_FOUND) and applied through the metadata
/// quorum on its own. Without ALTER on the cluster (when the authorizer is on) every user gets
/// CLUSTER_AUTHORIZATION_FAILED, as in Kafka.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // Deletions first, then upsertions: the order Kafka's controller reads them in.
    let alterations: Vec<(&StrBytes, Alteration)> = request
        .deletions
        .iter()
        .map(|d| {
            (
                &d.name,
                Alteration::Delete {
                    mechanism: d.mechanism,
                },
            )
        })
        .chain(
            request
                .upsertions
                .iter()
                .map(|u| (&u.name, Alteration::Upsert(u))),
        )
        .collect();
    let mut times: HashMap<&str, usize> = HashMap::new();
    for (user, _) in &alterations {
        *times.entry(user.as_str()).or_default() += 1;
    }
    let authorized = broker.allows_cluster(ctx, AclOperation::Alter);
    let _admin = broker.admin_lock.lock().await;
    let mut results = Vec::with_capacity(times.len());
    for (user, alteration) in &alterations {
        // One result per distinct user, at its first mention.
        let Some(count) = times.remove(user.as_str()) else {
            continue;
        };
        let outcome = if !authorized {
            Err(ApiError::new(
                ResponseError::ClusterAuthorizationFailed,
                "Cluster authorization failed.",
            ))
        } else if count > 1 {
            Err(ApiError::new(
                ResponseError::DuplicateResource,
                "A user credential cannot be altered twice in the same request",
            ))
        } else {
            alter(broker, user.as_str(), alteration).await
        };
        let result = AlterUserScramCredentialsResult::default().with_user((*user).clone());
        results.push(match outcome {
            Ok(()) => result,
            Err(e) => result
                .with_error_code(e.code.code())
                .with_error_message(Some(StrBytes::from_string(e.message))),
        });
    }
    AlterUserScramCredentialsResponse::default().with_results(results)
}

/// Checks one alteration and applies it. The caller holds `broker.admin_lock`.
async fn alter(broker: &Broker, user: &str, alteration: &Alteration<'_>) -> Result<(), ApiError> {
    let command = match alteration {
        Alteration::Delete { mechanism } => {
            let mechanism = check_user_and_mechanism(user, *mechanism)?;
            let exists = broker
                .metadata
                .state()
                .scram_credentials
                .get(user)
                .is_some_and(|creds| creds.contains_key(&mechanism));
            if !exists {
                return Err(ApiError::new(
                    ResponseError::ResourceNotFound,
                    "Attempt to delete a user credential that does not exist",
                ));
            }
            MetadataCommand::DeleteScramCredential {
                user: user.to_string(),
                mechanism,
            }
        }
        Alteration::Upsert(u) => {
            let mechanism = check_upsertion(user, u)?;
            MetadataCommand::UpsertScramCredential {
                user: user.to_string(),
                mechanism,
                credential: ScramCredential::from_salted_password(
                    mechanism,
                    &u.salt,
                    &u.salted_password,
                    u.iterations,
                ),
            }
        }
    };
    broker.metadata.submit(command).await??;
    let verb = match alteration {
        Alteration::Delete { .. } => "deleted",
        Alteration::Upsert(_) => "upserted",
    };
    tracing::info!(user, "{verb} SCRAM credential");
    Ok(())
}

/// Kafka's checks shared by deletions and upsertions.
fn check_user_and_mechanism(user: &str, mechanism: i8) -> Result<ScramMechanism, ApiError> {
    if user.is_empty() {
        return Err(ApiError::new(
            ResponseError::UnacceptableCredential,
            "Username must not be empty",
        ));
    }
    ScramMechanism::from_type(mechanism).ok_or_else(|| {
        ApiError::new(
            ResponseError::UnsupportedSaslMechanism,
            format!("Unknown SCRAM mechanism {mechanism}"),
        )
    })
}

/// Checks an upsertion: user, mechanism, iteration range, non-empty salt and salted password.
fn check_upsertion(user: &str, u: &ScramCredentialUpsertion) -> Result<ScramMechanism, ApiError> {
    let mechanism = check_user_and_mechanism(user, u.mechanism)?;
    let unacceptable = |message: String| {
        Err(ApiError::new(
            ResponseError::UnacceptableCredential,
            message,
        ))
    };
    let min = mechanism.min_iterations();
    if u.iterations < min {
        return unacceptable(format!(
            "Too few iterations: {} (at least {min} for {})",
            u.iterations,
            mechanism.name()
        ));
    }
    if u.iterations > MAX_SCRAM_ITERATIONS {
        return unacceptable(format!(
            "Too many iterations: {} (at most {MAX_SCRAM_ITERATIONS})",
            u.iterations
        ));
    }
    if u.salt.is_empty() {
        return unacceptable("Salt must not be empty".into());
    }
    if u.salted_password.is_empty() {
        return unacceptable("Salted password must not be empty".into());
    }
    Ok(mechanism)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn upsertion(mechanism: i8, iterations: i32, salt: &'static [u8]) -> ScramCredentialUpsertion {
        ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_static_str("u"))
            .with_mechanism(mechanism)
            .with_iterations(iterations)
            .with_salt(Bytes::from_static(salt))
            .with_salted_password(Bytes::from_static(&[1; 32]))
    }

    #[test]
    fn upsertions_are_checked_like_kafka() {
        let code = |r: Result<ScramMechanism, ApiError>| r.err().map(|e| e.code);
        assert_eq!(
            check_upsertion("u", &upsertion(1, 4096, b"s")).ok(),
            Some(ScramMechanism::ScramSha256)
        );
        assert_eq!(
            check_upsertion("u", &upsertion(2, 16384, b"s")).ok(),
            Some(ScramMechanism::ScramSha512)
        );
        let unacceptable = Some(ResponseError::UnacceptableCredential);
        assert_eq!(
            code(check_upsertion("u", &upsertion(1, 4095, b"s"))),
            unacceptable
        );
        assert_eq!(
            code(check_upsertion("u", &upsertion(2, 16385, b"s"))),
            unacceptable
        );
        assert_eq!(
            code(check_upsertion("u", &upsertion(1, 4096, b""))),
            unacceptable
        );
        assert_eq!(
            code(check_upsertion("", &upsertion(1, 4096, b"s"))),
            unacceptable
        );
        let no_password = upsertion(1, 4096, b"s").with_salted_password(Bytes::new());
        assert_eq!(code(check_upsertion("u", &no_password)), unacceptable);
        for mechanism in [0, 3, -1] {
            assert_eq!(
                code(check_upsertion("u", &upsertion(mechanism, 4096, b"s"))),
                Some(ResponseError::UnsupportedSaslMechanism)
            );
        }
    }
}
