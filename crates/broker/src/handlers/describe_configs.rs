//! DescribeConfigs: a topic's effective configs (its own over the broker's defaults over
//! Kafka's) with their sources, synonyms and types; and the broker's static settings.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use weir_metadata::AclOperation;

use crate::authorizer::config_resource_denied;
use crate::broker::Broker;
use crate::router::RequestContext;
use crate::topic_config::{ConfigKind, ConfigSource, EffectiveConfig, TOPIC_CONFIGS};

/// Kafka's resource type code for topics.
pub const RESOURCE_TOPIC: i8 = 2;
/// Kafka's resource type code for brokers.
pub const RESOURCE_BROKER: i8 = 4;

/// One described config before it is put on the wire.
struct Entry {
    name: String,
    value: String,
    source: ConfigSource,
    kind: ConfigKind,
    read_only: bool,
    synonyms: Vec<(String, String, ConfigSource)>,
}

/// Answers DescribeConfigs.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .iter()
        .map(|r| {
            let base = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let denied = config_resource_denied(
                broker,
                ctx,
                r.resource_type,
                r.resource_name.as_str(),
                AclOperation::DescribeConfigs,
            );
            let entries = match (r.resource_type, denied) {
                (_, Some(e)) => Err((e.code, e.message)),
                (RESOURCE_TOPIC, None) => topic_entries(broker, r.resource_name.as_str()),
                (RESOURCE_BROKER, None) => broker_entries(broker, r.resource_name.as_str()),
                _ => Err((
                    ResponseError::InvalidRequest,
                    "Unsupported resource type".to_string(),
                )),
            };
            match entries {
                Ok(entries) => {
                    let keys = r.configuration_keys.as_ref();
                    let configs = entries
                        .into_iter()
                        .filter(|e| keys.is_none_or(|k| k.iter().any(|k| k.as_str() == e.name)))
                        .map(|e| to_wire(e, ctx.version, request.include_synonyms))
                        .collect();
                    base.with_configs(configs)
                }
                Err((code, message)) => base
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn topic_entries(broker: &Broker, name: &str) -> Result<Vec<Entry>, (ResponseError, String)> {
    let state = broker.metadata.state();
    let topic = state.topic(name).ok_or_else(|| {
        (
            ResponseError::UnknownTopicOrPartition,
            format!("Topic '{name}' does not exist."),
        )
    })?;
    let defaults = &broker.config.topic_defaults;
    let eff = EffectiveConfig::new(&topic.configs, defaults);
    Ok(TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let (value, source) = eff.get(def);
            let mut synonyms = Vec::new();
            if let Some(v) = topic.configs.get(def.name) {
                synonyms.push((def.name.to_string(), v.clone(), ConfigSource::Topic));
            }
            let synonym = def.broker_synonym.unwrap_or(def.name).to_string();
            if let Some(v) = defaults.get(def.name) {
                synonyms.push((synonym.clone(), v.clone(), ConfigSource::StaticBroker));
            }
            synonyms.push((synonym, def.default.to_string(), ConfigSource::Default));
            Entry {
                name: def.name.to_string(),
                value: value.to_string(),
                source,
                kind: def.kind,
                read_only: false,
                synonyms,
            }
        })
        .collect())
}

fn broker_entries(broker: &Broker, name: &str) -> Result<Vec<Entry>, (ResponseError, String)> {
    if !name.is_empty() && name != broker.config.node_id.to_string() {
        return Err((
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {} but received {name}",
                broker.config.node_id
            ),
        ));
    }
    let c = &broker.config;
    let mut values: BTreeMap<String, (String, ConfigKind)> = BTreeMap::new();
    let mut put = |k: &str, v: String, kind| {
        values.insert(k.to_string(), (v, kind));
    };
    put("node.id", c.node_id.to_string(), ConfigKind::Int(0));
    put("broker.id", c.node_id.to_string(), ConfigKind::Int(0));
    put(
        "auto.create.topics.enable",
        c.auto_create_topics.to_string(),
        ConfigKind::Bool,
    );
    put(
        "num.partitions",
        c.num_partitions.to_string(),
        ConfigKind::Int(1),
    );
    put(
        "default.replication.factor",
        c.default_replication_factor.to_string(),
        ConfigKind::Int(1),
    );
    put(
        "socket.request.max.bytes",
        c.max_request_bytes.to_string(),
        ConfigKind::Int(1),
    );
    put(
        "log.retention.check.interval.ms",
        c.retention_check_interval_ms.to_string(),
        ConfigKind::Long(1),
    );
    put(
        "log.dirs",
        c.data_dir.join("logs").display().to_string(),
        ConfigKind::Text,
    );
    put(
        "advertised.listeners",
        format!("PLAINTEXT://{}:{}", c.advertised_host, c.advertised_port),
        ConfigKind::Text,
    );
    put(
        "listeners",
        format!("PLAINTEXT://{}", c.listen),
        ConfigKind::Text,
    );
    put("delete.topic.enable", "true".into(), ConfigKind::Bool);
    for def in TOPIC_CONFIGS {
        if let Some(syn) = def.broker_synonym {
            let v = c
                .topic_defaults
                .get(def.name)
                .cloned()
                .unwrap_or_else(|| def.default.to_string());
            put(syn, v, def.kind);
        }
    }
    Ok(values
        .into_iter()
        .map(|(name, (value, kind))| Entry {
            synonyms: vec![(name.clone(), value.clone(), ConfigSource::StaticBroker)],
            name,
            value,
            source: ConfigSource::StaticBroker,
            kind,
            read_only: true,
        })
        .collect())
}

fn to_wire(e: Entry, version: i16, include_synonyms: bool) -> DescribeConfigsResourceResult {
    let synonyms = if include_synonyms {
        e.synonyms
            .into_iter()
            .map(|(name, value, source)| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_string(name))
                    .with_value(Some(StrBytes::from_string(value)))
                    .with_source(source.code())
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut result = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(e.name))
        .with_value(Some(StrBytes::from_string(e.value)))
        .with_read_only(e.read_only)
        .with_config_source(e.source.code())
        .with_synonyms(synonyms);
    if version >= 3 {
        result = result.with_config_type(e.kind.type_code());
    }
    result
}
