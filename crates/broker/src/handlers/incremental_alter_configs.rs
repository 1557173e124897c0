//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT individual topic configs, dynamic
//! broker configs or group configs (APPEND/SUBTRACT only for list configs such as
//! cleanup.policy).

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
use crate::broker_config::{self, Level};
use crate::group_config;
use crate::handlers::alter_configs::{
    apply_broker_configs, apply_group_configs, apply_topic_configs,
};
use crate::handlers::describe_configs::{RESOURCE_BROKER, RESOURCE_GROUP, RESOURCE_TOPIC};
use crate::router::RequestContext;
use crate::topic_config::{self, ConfigKind};

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
            (RESOURCE_BROKER, None) => {
                alter_broker(
                    broker,
                    r.resource_name.as_str(),
                    &r.configs,
                    request.validate_only,
                )
                .await
            }
            (RESOURCE_GROUP, None) => {
                alter_group(
                    broker,
                    r.resource_name.as_str(),
                    &r.configs,
                    request.validate_only,
                )
                .await
            }
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
    let defaults = broker.topic_defaults_in(&state);
    let configs = apply_ops(
        &topic.configs,
        ops,
        topic_kind,
        |k, v| Ok(topic_config::validate(k, v)?),
        |k| {
            defaults.get(k).map_or_else(
                || {
                    topic_config::definition(k)
                        .map_or("", |d| d.default)
                        .to_string()
                },
                |(v, _)| v.to_string(),
            )
        },
    )?;
    apply_topic_configs(broker, name, configs, validate_only).await
}

fn topic_kind(key: &str) -> Result<ConfigKind, ApiError> {
    topic_config::definition(key)
        .map(|d| d.kind)
        .ok_or_else(|| {
            ApiError::new(
                ResponseError::InvalidConfig,
                format!("Unknown topic config name: {key}"),
            )
        })
}

/// Applies the operations to a BROKER resource's dynamic configs (`""` the cluster default,
/// `"<id>"` this broker), validates the resulting set and stores it.
async fn alter_broker(
    broker: &Broker,
    name: &str,
    ops: &[AlterableConfig],
    validate_only: bool,
) -> Result<(), ApiError> {
    let level = Level::parse(name, broker.config.node_id)?;
    if let Some(dup) = duplicate(ops.iter().map(|o| o.name.as_str())) {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("Error due to duplicate config keys: {dup}"),
        ));
    }
    let state = broker.metadata.state();
    let current = state
        .broker_configs
        .get(&level.resource())
        .cloned()
        .unwrap_or_default();
    let configs = apply_ops(
        &current,
        ops,
        broker_config::kind_of,
        broker_config::check_value,
        |k| {
            broker_config::inherited(
                level,
                k,
                &state.broker_configs,
                &broker.config.topic_defaults,
            )
        },
    )?;
    broker_config::validate(level, &configs)?;
    apply_broker_configs(broker, level, configs, validate_only).await
}

/// Applies the operations to one group's configs (the group need not exist), validates the
/// resulting set and stores it.
async fn alter_group(
    broker: &Broker,
    name: &str,
    ops: &[AlterableConfig],
    validate_only: bool,
) -> Result<(), ApiError> {
    group_config::check_resource(name)?;
    if let Some(dup) = duplicate(ops.iter().map(|o| o.name.as_str())) {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("Error due to duplicate config keys: {dup}"),
        ));
    }
    let config = &broker.config;
    let current = broker
        .metadata
        .state()
        .group_configs
        .get(name)
        .cloned()
        .unwrap_or_default();
    let defaults = group_config::definitions(config);
    let configs = apply_ops(
        &current,
        ops,
        |k| group_config::kind_of(config, k),
        |k, v| group_config::check_value(config, k, v),
        |k| {
            defaults
                .iter()
                .find(|d| d.name == k)
                .map(|d| d.default.clone())
                .unwrap_or_default()
        },
    )?;
    group_config::validate(config, &configs)?;
    apply_group_configs(broker, name, configs, validate_only).await
}

/// The first name that appears twice.
fn duplicate<'a>(names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = std::collections::BTreeSet::new();
    names.into_iter().find(|n| !seen.insert(*n))
}

/// Applies the operations to a resource's own configs (a topic's, or one level of dynamic
/// broker configs). `kind_of` looks a name up (refusing unknown ones), `check` validates each
/// value set, and `inherited` is the value beneath the resource that APPEND and SUBTRACT
/// start from when the resource does not set the config itself.
fn apply_ops(
    current: &BTreeMap<String, String>,
    ops: &[AlterableConfig],
    kind_of: impl Fn(&str) -> Result<ConfigKind, ApiError>,
    check: impl Fn(&str, &str) -> Result<(), ApiError>,
    inherited: impl Fn(&str) -> String,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut configs = current.clone();
    for op in ops {
        let key = op.name.to_string();
        let kind = kind_of(&key)?;
        let value = op.value.as_ref().map(|v| v.to_string());
        match (op.config_operation, value) {
            (SET, Some(v)) => {
                check(&key, &v)?;
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
            (APPEND | SUBTRACT, _) if !kind.is_list() => {
                return Err(ApiError::new(
                    ResponseError::InvalidConfig,
                    format!("Config value append/subtract is not allowed for config key: {key}"),
                ))
            }
            (APPEND | SUBTRACT, Some(v)) => {
                let base = configs
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| inherited(&key));
                let mut items: Vec<String> = base
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
                check(&key, &joined)?;
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

    fn topic_ops(
        current: &BTreeMap<String, String>,
        ops: &[AlterableConfig],
    ) -> Result<BTreeMap<String, String>, ApiError> {
        apply_ops(
            current,
            ops,
            topic_kind,
            |k, v| Ok(topic_config::validate(k, v)?),
            |k| {
                topic_config::definition(k)
                    .map_or("", |d| d.default)
                    .to_string()
            },
        )
    }

    #[test]
    fn set_delete_append_subtract() {
        let none = BTreeMap::new();
        let c = topic_ops(
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
        let c = topic_ops(
            &c,
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
            topic_ops(&none, &[op("retention.ms", APPEND, Some("1"))])
                .unwrap_err()
                .code,
            ResponseError::InvalidConfig
        );
        assert_eq!(
            topic_ops(&none, &[op("bogus", SET, Some("1"))])
                .unwrap_err()
                .code,
            ResponseError::InvalidConfig
        );
        assert_eq!(
            topic_ops(&none, &[op("retention.ms", SET, Some("x"))])
                .unwrap_err()
                .code,
            ResponseError::InvalidConfig
        );
    }

    fn broker_ops(
        current: &BTreeMap<String, String>,
        ops: &[AlterableConfig],
    ) -> Result<BTreeMap<String, String>, ApiError> {
        let dynamic = BTreeMap::new();
        let statics = BTreeMap::new();
        apply_ops(
            current,
            ops,
            broker_config::kind_of,
            broker_config::check_value,
            |k| broker_config::inherited(Level::Broker(1), k, &dynamic, &statics),
        )
    }

    #[test]
    fn broker_ops_use_broker_names_and_kinds() {
        let none = BTreeMap::new();
        // librdkafka 0081's helper: SET a thread count and APPEND to the cleanup policy.
        let c = broker_ops(
            &none,
            &[
                op("background.threads", SET, Some("9")),
                op("log.cleanup.policy", APPEND, Some("compact")),
            ],
        )
        .unwrap();
        assert_eq!(c.get("background.threads").map(String::as_str), Some("9"));
        assert_eq!(
            c.get("log.cleanup.policy").map(String::as_str),
            Some("delete,compact")
        );
        let c = broker_ops(
            &c,
            &[
                op("background.threads", DELETE, Some("")),
                op("log.cleanup.policy", SUBTRACT, Some("compact")),
            ],
        )
        .unwrap();
        assert_eq!(
            c.get("log.cleanup.policy").map(String::as_str),
            Some("delete")
        );
        assert!(!c.contains_key("background.threads"));
        let c = broker_ops(
            &none,
            &[op("sasl.enabled.mechanisms", APPEND, Some("PLAIN"))],
        )
        .unwrap();
        assert_eq!(
            c.get("sasl.enabled.mechanisms").map(String::as_str),
            Some("GSSAPI,PLAIN")
        );

        for (ops, code) in [
            (
                vec![op("log.dirs", SET, Some("/x"))],
                ResponseError::InvalidRequest,
            ),
            (
                vec![op("retention.ms", SET, Some("1"))],
                ResponseError::InvalidRequest,
            ),
            (
                vec![op("log.retention.ms", SET, Some("x"))],
                ResponseError::InvalidRequest,
            ),
            (
                vec![op("log.retention.ms", APPEND, Some("1"))],
                ResponseError::InvalidConfig,
            ),
            (
                vec![op("num.io.threads", SET, None)],
                ResponseError::InvalidRequest,
            ),
        ] {
            assert_eq!(broker_ops(&none, &ops).unwrap_err().code, code, "{ops:?}");
        }
    }

    #[test]
    fn duplicates_are_found() {
        assert_eq!(duplicate(["a", "b", "a"].into_iter()), Some("a"));
        assert_eq!(duplicate(["a", "b"].into_iter()), None);
    }
}
