//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT individual topic configs
//! (APPEND/SUBTRACT only for list configs such as cleanup.policy).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::admin::ApiError;
use weir_metadata::AclOperation;

use crate::authorizer::config_resource_denied;
use crate::broker::Broker;
use crate::handlers::alter_configs::{apply_topic_configs, static_broker_configs};
use crate::handlers::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::router::RequestContext;
use crate::topic_config::{self, ConfigKind, EffectiveConfig};

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// Answers IncrementalAlterConfigs.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let _admin = broker.admin_lock.lock().await;
    let mut responses = Vec::with_capacity(request.resources.len());
    for r in &request.resources {
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
                alter_topic(
                    broker,
                    r.resource_name.as_str(),
                    &r.configs,
                    request.validate_only,
                )
                .await
            }
            (RESOURCE_BROKER, None) => Err(static_broker_configs()),
            _ => Err(ApiError::new(
                ResponseError::InvalidRequest,
                "Unsupported resource type",
            )),
        };
        let base = AlterConfigsResourceResponse::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        responses.push(match outcome {
            Ok(()) => base,
            Err(e) => base
                .with_error_code(e.code.code())
                .with_error_message(Some(StrBytes::from_string(e.message))),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

async fn alter_topic(
    broker: &Broker,
    name: &str,
    ops: &[AlterableConfig],
    validate_only: bool,
) -> Result<(), ApiError> {
    let state = broker.metadata.state();
    let topic = state.topic(name).ok_or_else(|| {
        ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("Topic '{name}' does not exist."),
        )
    })?;
    let configs = apply_ops(&topic.configs, &broker.config.topic_defaults, ops)?;
    apply_topic_configs(broker, name, configs, validate_only).await
}

/// Applies the operations to a topic's own configs, validating every resulting value.
fn apply_ops(
    current: &BTreeMap<String, String>,
    broker_defaults: &BTreeMap<String, String>,
    ops: &[AlterableConfig],
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut configs = current.clone();
    for op in ops {
        let key = op.name.to_string();
        let def = topic_config::definition(&key).ok_or_else(|| {
            ApiError::new(
                ResponseError::InvalidConfig,
                format!("Unknown topic config name: {key}"),
            )
        })?;
        let value = op.value.as_ref().map(|v| v.to_string());
        let is_list = matches!(def.kind, ConfigKind::ListOf(_));
        match (op.config_operation, value) {
            (SET, Some(v)) => {
                topic_config::validate(&key, &v)?;
                configs.insert(key, v);
            }
            (SET, None) => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("Null value not supported for: {key}"),
                ))
            }
            (DELETE, _) => {
                configs.remove(&key);
            }
            (APPEND | SUBTRACT, _) if !is_list => {
                return Err(ApiError::new(
                    ResponseError::InvalidConfig,
                    format!("Config value append/subtract is not allowed for config key: {key}"),
                ))
            }
            (APPEND | SUBTRACT, Some(v)) => {
                let eff = EffectiveConfig::new(&configs, broker_defaults);
                let mut items: Vec<String> = eff
                    .get(def)
                    .0
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if op.config_operation == APPEND {
                        if !items.iter().any(|i| i == item) {
                            items.push(item.to_string());
                        }
                    } else {
                        items.retain(|i| i != item);
                    }
                }
                let joined = items.join(",");
                topic_config::validate(&key, &joined)?;
                configs.insert(key, joined);
            }
            (APPEND | SUBTRACT, None) => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("Null value not supported for: {key}"),
                ))
            }
            (other, _) => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("Unknown config operation {other}"),
                ))
            }
        }
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &'static str, operation: i8, value: Option<&'static str>) -> AlterableConfig {
        AlterableConfig::default()
            .with_name(StrBytes::from_static_str(name))
            .with_config_operation(operation)
            .with_value(value.map(StrBytes::from_static_str))
    }

    #[test]
    fn set_delete_append_subtract() {
        let none = BTreeMap::new();
        let c = apply_ops(
            &none,
            &none,
            &[
                op("retention.ms", SET, Some("5")),
                op("cleanup.policy", APPEND, Some("compact")),
            ],
        )
        .unwrap();
        assert_eq!(c.get("retention.ms").map(String::as_str), Some("5"));
        assert_eq!(
            c.get("cleanup.policy").map(String::as_str),
            Some("delete,compact")
        );
        let c = apply_ops(
            &c,
            &none,
            &[
                op("cleanup.policy", SUBTRACT, Some("delete")),
                op("retention.ms", DELETE, None),
            ],
        )
        .unwrap();
        assert_eq!(c.get("cleanup.policy").map(String::as_str), Some("compact"));
        assert!(!c.contains_key("retention.ms"));
    }

    #[test]
    fn invalid_operations_are_refused() {
        let none = BTreeMap::new();
        assert_eq!(
            apply_ops(&none, &none, &[op("retention.ms", APPEND, Some("1"))])
                .unwrap_err()
                .code,
            ResponseError::InvalidConfig
        );
        assert_eq!(
            apply_ops(&none, &none, &[op("bogus", SET, Some("1"))])
                .unwrap_err()
                .code,
            ResponseError::InvalidConfig
        );
        assert_eq!(
            apply_ops(&none, &none, &[op("retention.ms", SET, Some("x"))])
                .unwrap_err()
                .code,
            ResponseError::InvalidConfig
        );
    }
}
