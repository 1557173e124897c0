//! FindCoordinator: which broker coordinates a group (key type 0). The group's coordinator
//! leads the `__consumer_offsets` partition its id hashes to; `__consumer_offsets` is created
//! here on first use, as Kafka does. v4+ batches keys in `coordinator_keys`.
//!
//! A transactional id's coordinator (key type 1) leads the `__transaction_state` partition the
//! id hashes to; that topic is created here on first use too. Other key types (share groups)
//! are INVALID_REQUEST.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use weir_group::OFFSETS_TOPIC;
use weir_txn::TRANSACTION_STATE_TOPIC;

use weir_metadata::{AclOperation, ResourceType};

use crate::broker::Broker;
use crate::offsets_topic;
use crate::router::RequestContext;
use crate::txn_state;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// (node id, host, port) of the coordinator, or the error.
type Found = Result<(i32, String, i32), ResponseError>;

/// Answers FindCoordinator.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let keys = if ctx.version >= 4 {
        request.coordinator_keys.clone()
    } else {
        vec![request.key.clone()]
    };
    let mut found = Vec::with_capacity(keys.len());
    for key in &keys {
        // DESCRIBE on the group or transactional id, as in Kafka.
        let denied = match request.key_type {
            KEY_TYPE_GROUP => {
                (!broker.allows(ctx, AclOperation::Describe, ResourceType::Group, key))
                    .then_some(ResponseError::GroupAuthorizationFailed)
            }
            KEY_TYPE_TRANSACTION => (!broker.allows(
                ctx,
                AclOperation::Describe,
                ResourceType::TransactionalId,
                key,
            ))
            .then_some(ResponseError::TransactionalIdAuthorizationFailed),
            _ => None,
        };
        found.push(match denied {
            Some(e) => Err(e),
            None => lookup(broker, request.key_type, key).await,
        });
    }
    if ctx.version >= 4 {
        let coordinators = keys
            .into_iter()
            .zip(found)
            .map(|(key, f)| {
                let base = Coordinator::default().with_key(key);
                match f {
                    Ok((node, host, port)) => base
                        .with_node_id(BrokerId(node))
                        .with_host(StrBytes::from_string(host))
                        .with_port(port),
                    Err(e) => base
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(e.code())
                        .with_error_message(Some(StrBytes::from_static_str(message(e)))),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match found.into_iter().next() {
        Some(Ok((node, host, port))) => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(node))
            .with_host(StrBytes::from_string(host))
            .with_port(port),
        Some(Err(e)) => {
            let r = FindCoordinatorResponse::default()
                .with_error_code(e.code())
                .with_node_id(BrokerId(-1))
                .with_port(-1);
            if ctx.version >= 1 {
                r.with_error_message(Some(StrBytes::from_static_str(message(e))))
            } else {
                r
            }
        }
        None => FindCoordinatorResponse::default(),
    }
}

fn message(e: ResponseError) -> &'static str {
    match e {
        ResponseError::InvalidRequest => "Invalid coordinator key or key type",
        ResponseError::GroupAuthorizationFailed
        | ResponseError::TransactionalIdAuthorizationFailed => "Authorization failed.",
        _ => "The coordinator is not available.",
    }
}

async fn lookup(broker: &Broker, key_type: i8, key: &str) -> Found {
    let (topic, partition) = match key_type {
        KEY_TYPE_GROUP if !key.is_empty() => {
            offsets_topic::ensure(broker).await?;
            (OFFSETS_TOPIC, broker.groups.partition_for(key))
        }
        KEY_TYPE_TRANSACTION if !key.is_empty() => {
            txn_state::ensure(broker).await?;
            (TRANSACTION_STATE_TOPIC, broker.txns.partition_for(key))
        }
        _ => return Err(ResponseError::InvalidRequest),
    };
    let state = broker.metadata.state();
    let leader = state
        .topic(topic)
        .and_then(|t| t.partitions.get(partition as usize))
        .map(|p| p.leader)
        .ok_or(ResponseError::CoordinatorNotAvailable)?;
    let node = state
        .brokers
        .get(&leader)
        .ok_or(ResponseError::CoordinatorNotAvailable)?;
    Ok((leader, node.host.clone(), node.port))
}
