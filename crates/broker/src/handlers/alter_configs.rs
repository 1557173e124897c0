//! AlterConfigs (the legacy, non-incremental API): replaces every config set on a topic, every
//! dynamic config of a BROKER resource (`""` the cluster default, `"<id>"` this broker), or
//! every config of a group, with the given set.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use weir_metadata::MetadataCommand;

use crate::admin::{self, ApiError};
use weir_metadata::AclOperation;

use crate::authorizer::config_resource_denied;
use crate::broker::Broker;
use crate::broker_config::{self, Level};
use crate::group_config;
use crate::handlers::describe_configs::{RESOURCE_BROKER, RESOURCE_GROUP, RESOURCE_TOPIC};
use crate::router::RequestContext;
use crate::topic_config;

/// Answers AlterConfigs.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let _admin = broker.admin_lock.lock().await;
    let mut responses = Vec::with_capacity(request.resources.len());
    for r in &request.resources {
        let configs: Vec<(String, Option<String>)> = r
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
            .collect();
        let denied = config_resource_denied(
            broker,
            ctx,
            r.resource_type,
            r.resource_name.as_str(),
            AclOperation::AlterConfigs,
        );
        let outcome = match (r.resource_type, denied) {
            (_, Some(e)) => Err(e),
            (RESOURCE_TOPIC, None) => {
                replace_topic_configs(
                    broker,
                    r.resource_name.as_str(),
                    &configs,
                    request.validate_only,
                )
                .await
            }
            (RESOURCE_BROKER, None) => {
                replace_broker_configs(
                    broker,
                    r.resource_name.as_str(),
                    &configs,
                    request.validate_only,
                )
                .await
            }
            (RESOURCE_GROUP, None) => {
                replace_group_configs(
                    broker,
                    r.resource_name.as_str(),
                    &configs,
                    request.validate_only,
                )
                .await
            }
            _ => Err(ApiError::new(
                ResponseError::InvalidRequest,
                "Unsupported resource type",
            )),
        };
        responses.push(resource_response(
            r.resource_type,
            r.resource_name.clone(),
            outcome,
        ));
    }
    AlterConfigsResponse::default().with_responses(responses)
}

/// The per-resource answer shared by AlterConfigs and IncrementalAlterConfigs.
pub fn resource_response(
    resource_type: i8,
    resource_name: StrBytes,
    outcome: Result<(), ApiError>,
) -> AlterConfigsResourceResponse {
    let base = AlterConfigsResourceResponse::default()
        .with_resource_type(resource_type)
        .with_resource_name(resource_name);
    match outcome {
        Ok(()) => base,
        Err(e) => base
            .with_error_code(e.code.code())
            .with_error_message(Some(StrBytes::from_string(e.message))),
    }
}

async fn replace_topic_configs(
    broker: &Broker,
    name: &str,
    configs: &[(String, Option<String>)],
    validate_only: bool,
) -> Result<(), ApiError> {
    if broker.metadata.state().topic(name).is_none() {
        return Err(ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("Topic '{name}' does not exist."),
        ));
    }
    let mut new = BTreeMap::new();
    for (k, v) in configs {
        if let Some(v) = v {
            topic_config::validate(k, v)?;
            new.insert(k.clone(), v.clone());
        }
    }
    apply_topic_configs(broker, name, new, validate_only).await
}

/// Replaces a topic's own configs through the metadata quorum and refreshes its partitions.
pub async fn apply_topic_configs(
    broker: &Broker,
    name: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), ApiError> {
    if validate_only {
        return Ok(());
    }
    broker
        .metadata
        .submit(MetadataCommand::ReplaceTopicConfigs {
            name: name.to_string(),
            configs,
        })
        .await??;
    tracing::info!(topic = name, "altered topic configs");
    admin::sync(broker)
}

async fn replace_broker_configs(
    broker: &Broker,
    name: &str,
    configs: &[(String, Option<String>)],
    validate_only: bool,
) -> Result<(), ApiError> {
    let level = Level::parse(name, broker.config.node_id)?;
    let new = complete_set(configs)?;
    broker_config::validate(level, &new)?;
    apply_broker_configs(broker, level, new, validate_only).await
}

async fn replace_group_configs(
    broker: &Broker,
    name: &str,
    configs: &[(String, Option<String>)],
    validate_only: bool,
) -> Result<(), ApiError> {
    group_config::check_resource(name)?;
    let new = complete_set(configs)?;
    group_config::validate(&broker.config, &new)?;
    apply_group_configs(broker, name, new, validate_only).await
}

/// The new complete set of a BROKER or GROUP resource's configs: null values and names given
/// twice are INVALID_REQUEST.
fn complete_set(
    configs: &[(String, Option<String>)],
) -> Result<BTreeMap<String, String>, ApiError> {
    let nulls: Vec<&str> = configs
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("Null value not supported for : {}", nulls.join(", ")),
        ));
    }
    let mut new = BTreeMap::new();
    for (k, v) in configs {
        if let Some(v) = v {
            if new.insert(k.clone(), v.clone()).is_some() {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("Error due to duplicate config keys: {k}"),
                ));
            }
        }
    }
    Ok(new)
}

/// Replaces one group's configs through the metadata quorum; the group coordinator reads them
/// on the group's next heartbeat.
pub async fn apply_group_configs(
    broker: &Broker,
    group: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), ApiError> {
    if validate_only {
        return Ok(());
    }
    let names: Vec<String> = configs.keys().cloned().collect();
    broker
        .metadata
        .submit(MetadataCommand::ReplaceGroupConfigs {
            group: group.to_string(),
            configs,
        })
        .await??;
    tracing::info!(group, configs = ?names, "altered group configs");
    Ok(())
}

/// Replaces the dynamic configs of one BROKER resource level through the metadata quorum,
/// then re-applies the topic-config defaults to every open partition.
pub async fn apply_broker_configs(
    broker: &Broker,
    level: Level,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), ApiError> {
    if validate_only {
        return Ok(());
    }
    let resource = level.resource();
    // Names only: values may be secrets.
    let names: Vec<String> = configs.keys().cloned().collect();
    broker
        .metadata
        .submit(MetadataCommand::ReplaceBrokerConfigs {
            resource: resource.clone(),
            configs,
        })
        .await??;
    tracing::info!(resource = %resource, configs = ?names, "altered dynamic broker configs");
    admin::sync(broker)
}
