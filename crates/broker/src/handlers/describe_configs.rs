//! DescribeConfigs: a topic's effective configs (its own over the broker-level defaults over
//! Kafka's) with their sources, synonyms and types; a broker's static settings and dynamic
//! configs; the cluster-wide dynamic defaults (resource `""`); a group's configs (its own over
//! the broker's defaults).

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
use crate::broker_config::{self, Level};
use crate::group_config;
use crate::router::RequestContext;
use crate::topic_config::{ConfigKind, ConfigSource, EffectiveConfig, TOPIC_CONFIGS};

/// Kafka's resource type code for topics.
pub const RESOURCE_TOPIC: i8 = 2;
/// Kafka's resource type code for brokers.
pub const RESOURCE_BROKER: i8 = 4;
/// Kafka's resource type code for groups (KIP-848's group configs).
pub const RESOURCE_GROUP: i8 = 32;

/// One described config before it is put on the wire.
struct Entry {
    name: String,
    value: String,
    source: ConfigSource,
    kind: ConfigKind,
    read_only: bool,
    /// The value is a secret: described as null, with `is_sensitive`.
    sensitive: bool,
    /// Every level that sets the config, highest precedence first.
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
                (RESOURCE_GROUP, None) => group_entries(broker, r.resource_name.as_str()),
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
    let defaults = broker.topic_defaults_in(&state);
    let eff = EffectiveConfig::new(&topic.configs, &defaults);
    Ok(TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let (value, source) = eff.get(def);
            let mut synonyms = Vec::new();
            if let Some(v) = topic.configs.get(def.name) {
                synonyms.push((def.name.to_string(), v.clone(), ConfigSource::Topic));
            }
            let synonym = def.broker_synonym.unwrap_or(def.name);
            for (v, level) in defaults.levels(def.name) {
                synonyms.push((synonym.to_string(), v.to_string(), level));
            }
            synonyms.push((
                synonym.to_string(),
                def.default.to_string(),
                ConfigSource::Default,
            ));
            Entry {
                name: def.name.to_string(),
                value: value.to_string(),
                source,
                kind: def.kind,
                read_only: false,
                sensitive: false,
                synonyms,
            }
        })
        .collect())
}

/// A GROUP resource: every group config, the group's own value or the broker's default (a group
/// nobody has used or configured is described with the defaults, as Kafka does).
fn group_entries(broker: &Broker, name: &str) -> Result<Vec<Entry>, (ResponseError, String)> {
    group_config::check_resource(name).map_err(|e| (e.code, e.message))?;
    let state = broker.metadata.state();
    let own = state.group_configs.get(name);
    Ok(group_config::definitions(&broker.config)
        .into_iter()
        .map(|def| {
            let default = (def.name.to_string(), def.default, ConfigSource::Default);
            let set = own
                .and_then(|m| m.get(def.name))
                .map(|v| (def.name.to_string(), v.clone(), ConfigSource::Group));
            let (_, value, source) = set.clone().unwrap_or_else(|| default.clone());
            let synonyms = set.into_iter().chain([default]).collect();
            Entry {
                name: def.name.to_string(),
                value,
                source,
                kind: def.kind,
                read_only: false,
                sensitive: false,
                synonyms,
            }
        })
        .collect())
}

/// A BROKER resource: `""` lists the cluster-wide dynamic defaults (as Kafka does), this
/// broker's id its static settings and every dynamic config set for it.
fn broker_entries(broker: &Broker, name: &str) -> Result<Vec<Entry>, (ResponseError, String)> {
    let level = Level::parse(name, broker.config.node_id).map_err(|e| (e.code, e.message))?;
    let state = broker.metadata.state();
    let cluster_default = state.broker_configs.get("");
    let Level::Broker(node_id) = level else {
        return Ok(cluster_default
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                let kind = broker_config::definition(k).map_or(ConfigKind::Text, |d| d.kind);
                let source = ConfigSource::DynamicDefaultBroker;
                Entry {
                    name: k.clone(),
                    value: v.clone(),
                    source,
                    kind,
                    read_only: false,
                    sensitive: kind.is_sensitive(),
                    synonyms: vec![(k.clone(), v.clone(), source)],
                }
            })
            .collect());
    };
    let own = state.broker_configs.get(&node_id.to_string());
    let c = &broker.config;
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let mut put = |k: &str, v: String, kind| {
        entries.insert(
            k.to_string(),
            Entry {
                name: k.to_string(),
                synonyms: vec![(k.to_string(), v.clone(), ConfigSource::StaticBroker)],
                value: v,
                source: ConfigSource::StaticBroker,
                kind,
                read_only: true,
                sensitive: false,
            },
        );
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
    // Every dynamic config that takes effect (the topic-config defaults), and every other one
    // set at either level, with its synonyms: this broker's, the cluster default, the static
    // value, Kafka's default.
    let statics = &c.topic_defaults;
    let dynamic_names = TOPIC_CONFIGS.iter().filter_map(|d| d.broker_synonym).chain(
        own.into_iter()
            .chain(cluster_default)
            .flatten()
            .map(|(k, _)| k.as_str()),
    );
    for name in dynamic_names {
        let Some(def) = broker_config::definition(name) else {
            continue;
        };
        let mut synonyms = Vec::new();
        if let Some(v) = own.and_then(|m| m.get(name)) {
            synonyms.push((name.to_string(), v.clone(), ConfigSource::DynamicBroker));
        }
        if let Some(v) = cluster_default.and_then(|m| m.get(name)) {
            synonyms.push((
                name.to_string(),
                v.clone(),
                ConfigSource::DynamicDefaultBroker,
            ));
        }
        if let Some(v) = def.topic.and_then(|t| statics.get(t.name)) {
            synonyms.push((name.to_string(), v.clone(), ConfigSource::StaticBroker));
        }
        if let Some(v) = def.default {
            synonyms.push((name.to_string(), v.to_string(), ConfigSource::Default));
        }
        let Some((_, value, source)) = synonyms.first().cloned() else {
            continue;
        };
        entries.insert(
            name.to_string(),
            Entry {
                name: name.to_string(),
                value,
                source,
                kind: def.kind,
                read_only: false,
                sensitive: def.kind.is_sensitive(),
                synonyms,
            },
        );
    }
    Ok(entries.into_values().collect())
}

fn to_wire(e: Entry, version: i16, include_synonyms: bool) -> DescribeConfigsResourceResult {
    // A secret's value is never sent, in the entry or its synonyms.
    let shown = |v: String| (!e.sensitive).then(|| StrBytes::from_string(v));
    let synonyms = if include_synonyms {
        e.synonyms
            .into_iter()
            .map(|(name, value, source)| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_string(name))
                    .with_value(shown(value))
                    .with_source(source.code())
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut result = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(e.name))
        .with_value(shown(e.value))
        .with_is_sensitive(e.sensitive)
        .with_read_only(e.read_only)
        .with_config_source(e.source.code())
        .with_synonyms(synonyms);
    if version >= 3 {
        result = result.with_config_type(e.kind.type_code());
    }
    result
}
