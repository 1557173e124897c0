//! Dynamic broker configs (Kafka's KIP-226, as a KRaft broker does them): the configs that
//! AlterConfigs and IncrementalAlterConfigs may change on a BROKER resource at run time, their
//! validation, and how they combine with the static settings.
//!
//! Dynamic configs live in the metadata quorum (`ClusterState::broker_configs`) at two levels:
//! the resource `""` holds cluster-wide defaults, the resource `"<node id>"` one broker's own.
//! They survive restarts.
//!
//! Two groups of configs are dynamic:
//!
//! - **Topic-config defaults, which take effect.** The broker synonym of every topic config
//!   ([`TOPIC_CONFIGS`]' `broker_synonym`: `log.retention.ms`, `log.segment.bytes`,
//!   `log.cleanup.policy`, `message.max.bytes`, `min.insync.replicas`, `compression.type`,
//!   `log.roll.ms`, ...), with the kind of its topic config. The default of a topic config that a
//!   topic does not set itself is, highest first: this broker's dynamic value, the cluster-wide
//!   dynamic value, the static `--topic-config`/file value, Kafka's default
//!   ([`topic_defaults`]). Existing partitions pick a change up at once.
//! - **Stored only ([`STORED_ONLY`]).** The SASL and SSL listener configs Kafka updates per
//!   broker, and cluster-wide thread-pool, connection-limit, log-cleaner and metrics settings.
//!   Kafka accepts and stores them whether or not the subsystem is in use; Weir does the same
//!   but has no SASL, TLS, thread pools or connection limits to apply them to, so they have no
//!   effect (they are described back as set). Password-typed ones are described as sensitive,
//!   with a null value.
//!
//! Kafka's checks apply: a config that is not dynamic → INVALID_REQUEST ("Cannot update these
//! configs dynamically"); a per-broker-only config (the SASL/SSL listener configs) at the
//! cluster-default level → INVALID_REQUEST; a value of the wrong type or out of range →
//! INVALID_REQUEST, as a KRaft broker answers (KAFKA-13609); a resource that is neither `""`
//! nor this broker's id → INVALID_REQUEST. Unlike Kafka, which passes unknown (custom) names
//! through to plugins, Weir refuses names it does not know, since nothing could read them.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;

use crate::admin::ApiError;
use crate::topic_config::{self, ConfigDef, ConfigKind, TopicDefaults, TOPIC_CONFIGS};

/// One dynamically updatable broker config.
#[derive(Debug, Clone, Copy)]
pub struct BrokerConfigDef {
    /// Kafka's name.
    pub name: &'static str,
    /// How values are checked (and the DescribeConfigs type).
    pub kind: ConfigKind,
    /// Kafka's default, `None` where Kafka's is null.
    pub default: Option<&'static str>,
    /// Kafka's "per-broker" update mode: may only be set on a broker id, not at the
    /// cluster-default level.
    pub per_broker_only: bool,
    /// The topic config whose default this sets (it takes effect); `None` for stored-only
    /// configs.
    pub topic: Option<&'static ConfigDef>,
}

const fn stored(
    name: &'static str,
    kind: ConfigKind,
    default: Option<&'static str>,
    per_broker_only: bool,
) -> BrokerConfigDef {
    BrokerConfigDef {
        name,
        kind,
        default,
        per_broker_only,
        topic: None,
    }
}

const PER_BROKER: bool = true;
const CLUSTER_WIDE: bool = false;
const ANY_LONG: ConfigKind = ConfigKind::Long(i64::MIN);
const ANY_DOUBLE: ConfigKind = ConfigKind::Double(f64::MIN, f64::MAX);

/// The dynamic broker configs Weir accepts and stores without applying them (see the module
/// doc), with Kafka's types, defaults and update modes.
pub const STORED_ONLY: &[BrokerConfigDef] = &[
    // SASL listener configs (per broker)
    stored(
        "sasl.enabled.mechanisms",
        ConfigKind::List,
        Some("GSSAPI"),
        PER_BROKER,
    ),
    stored("sasl.jaas.config", ConfigKind::Password, None, PER_BROKER),
    stored(
        "sasl.kerberos.kinit.cmd",
        ConfigKind::Text,
        Some("/usr/bin/kinit"),
        PER_BROKER,
    ),
    stored(
        "sasl.kerberos.min.time.before.relogin",
        ANY_LONG,
        Some("60000"),
        PER_BROKER,
    ),
    stored(
        "sasl.kerberos.principal.to.local.rules",
        ConfigKind::List,
        Some("DEFAULT"),
        PER_BROKER,
    ),
    stored(
        "sasl.kerberos.service.name",
        ConfigKind::Text,
        None,
        PER_BROKER,
    ),
    stored(
        "sasl.kerberos.ticket.renew.jitter",
        ANY_DOUBLE,
        Some("0.05"),
        PER_BROKER,
    ),
    stored(
        "sasl.kerberos.ticket.renew.window.factor",
        ANY_DOUBLE,
        Some("0.8"),
        PER_BROKER,
    ),
    stored(
        "sasl.login.refresh.buffer.seconds",
        ConfigKind::Short(0, 3600),
        Some("300"),
        PER_BROKER,
    ),
    stored(
        "sasl.login.refresh.min.period.seconds",
        ConfigKind::Short(0, 900),
        Some("60"),
        PER_BROKER,
    ),
    stored(
        "sasl.login.refresh.window.factor",
        ConfigKind::Double(0.5, 1.0),
        Some("0.8"),
        PER_BROKER,
    ),
    stored(
        "sasl.login.refresh.window.jitter",
        ConfigKind::Double(0.0, 0.25),
        Some("0.05"),
        PER_BROKER,
    ),
    stored(
        "sasl.mechanism.inter.broker.protocol",
        ConfigKind::Text,
        Some("GSSAPI"),
        PER_BROKER,
    ),
    // SSL listener configs (per broker)
    stored("ssl.cipher.suites", ConfigKind::List, Some(""), PER_BROKER),
    stored(
        "ssl.client.auth",
        ConfigKind::OneOf(&["required", "requested", "none"]),
        Some("none"),
        PER_BROKER,
    ),
    stored(
        "ssl.enabled.protocols",
        ConfigKind::List,
        Some("TLSv1.2,TLSv1.3"),
        PER_BROKER,
    ),
    stored(
        "ssl.endpoint.identification.algorithm",
        ConfigKind::Text,
        Some("https"),
        PER_BROKER,
    ),
    stored("ssl.key.password", ConfigKind::Password, None, PER_BROKER),
    stored(
        "ssl.keymanager.algorithm",
        ConfigKind::Text,
        Some("SunX509"),
        PER_BROKER,
    ),
    stored(
        "ssl.keystore.certificate.chain",
        ConfigKind::Password,
        None,
        PER_BROKER,
    ),
    stored("ssl.keystore.key", ConfigKind::Password, None, PER_BROKER),
    stored("ssl.keystore.location", ConfigKind::Text, None, PER_BROKER),
    stored(
        "ssl.keystore.password",
        ConfigKind::Password,
        None,
        PER_BROKER,
    ),
    stored(
        "ssl.keystore.type",
        ConfigKind::Text,
        Some("JKS"),
        PER_BROKER,
    ),
    stored(
        "ssl.protocol",
        ConfigKind::Text,
        Some("TLSv1.3"),
        PER_BROKER,
    ),
    stored("ssl.provider", ConfigKind::Text, None, PER_BROKER),
    stored(
        "ssl.secure.random.implementation",
        ConfigKind::Text,
        None,
        PER_BROKER,
    ),
    stored(
        "ssl.trustmanager.algorithm",
        ConfigKind::Text,
        Some("PKIX"),
        PER_BROKER,
    ),
    stored(
        "ssl.truststore.certificates",
        ConfigKind::Password,
        None,
        PER_BROKER,
    ),
    stored(
        "ssl.truststore.location",
        ConfigKind::Text,
        None,
        PER_BROKER,
    ),
    stored(
        "ssl.truststore.password",
        ConfigKind::Password,
        None,
        PER_BROKER,
    ),
    stored(
        "ssl.truststore.type",
        ConfigKind::Text,
        Some("JKS"),
        PER_BROKER,
    ),
    // Thread pools, connection limits, the log cleaner, metrics (cluster-wide)
    stored(
        "background.threads",
        ConfigKind::Int(1),
        Some("10"),
        CLUSTER_WIDE,
    ),
    stored(
        "num.io.threads",
        ConfigKind::Int(1),
        Some("8"),
        CLUSTER_WIDE,
    ),
    stored(
        "num.network.threads",
        ConfigKind::Int(1),
        Some("3"),
        CLUSTER_WIDE,
    ),
    stored(
        "num.replica.fetchers",
        ConfigKind::Int(1),
        Some("1"),
        CLUSTER_WIDE,
    ),
    stored(
        "num.recovery.threads.per.data.dir",
        ConfigKind::Int(1),
        Some("2"),
        CLUSTER_WIDE,
    ),
    stored(
        "max.connections",
        ConfigKind::Int(0),
        Some("2147483647"),
        CLUSTER_WIDE,
    ),
    stored(
        "max.connections.per.ip",
        ConfigKind::Int(0),
        Some("2147483647"),
        CLUSTER_WIDE,
    ),
    stored(
        "max.connections.per.ip.overrides",
        ConfigKind::Text,
        Some(""),
        CLUSTER_WIDE,
    ),
    stored(
        "max.connection.creation.rate",
        ConfigKind::Int(0),
        Some("2147483647"),
        CLUSTER_WIDE,
    ),
    stored(
        "log.cleaner.threads",
        ConfigKind::Int(0),
        Some("1"),
        CLUSTER_WIDE,
    ),
    stored(
        "log.cleaner.io.max.bytes.per.second",
        ANY_DOUBLE,
        Some("1.7976931348623157E308"),
        CLUSTER_WIDE,
    ),
    stored(
        "log.cleaner.dedupe.buffer.size",
        ANY_LONG,
        Some("134217728"),
        CLUSTER_WIDE,
    ),
    stored(
        "log.cleaner.io.buffer.size",
        ConfigKind::Int(0),
        Some("524288"),
        CLUSTER_WIDE,
    ),
    stored(
        "log.cleaner.io.buffer.load.factor",
        ANY_DOUBLE,
        Some("0.9"),
        CLUSTER_WIDE,
    ),
    stored(
        "log.cleaner.backoff.ms",
        ConfigKind::Long(0),
        Some("15000"),
        CLUSTER_WIDE,
    ),
    stored(
        "metric.reporters",
        ConfigKind::List,
        Some("org.apache.kafka.common.metrics.JmxReporter"),
        CLUSTER_WIDE,
    ),
];

/// Looks up a dynamic broker config: a topic config's broker synonym, or a stored-only one.
pub fn definition(name: &str) -> Option<BrokerConfigDef> {
    if let Some(def) = TOPIC_CONFIGS
        .iter()
        .find(|d| d.broker_synonym == Some(name))
    {
        return Some(BrokerConfigDef {
            name: def.broker_synonym.unwrap_or(def.name),
            kind: def.kind,
            default: Some(def.default),
            per_broker_only: false,
            topic: Some(def),
        });
    }
    STORED_ONLY.iter().find(|d| d.name == name).copied()
}

/// Which dynamic configs a BROKER resource addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The resource `""`: cluster-wide defaults.
    ClusterDefault,
    /// The resource `"<node id>"`: one broker's own configs.
    Broker(i32),
}

impl Level {
    /// Resolves a BROKER resource name on the broker `node_id`: `""` or its own id, as a Kafka
    /// broker accepts (INVALID_REQUEST otherwise).
    pub fn parse(name: &str, node_id: i32) -> Result<Level, ApiError> {
        if name.is_empty() {
            return Ok(Level::ClusterDefault);
        }
        let id: i32 = name.parse().map_err(|_| {
            ApiError::new(
                ResponseError::InvalidRequest,
                format!("Node id must be an integer, but it is: {name}"),
            )
        })?;
        if id != node_id || id.to_string() != name {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!("Unexpected broker id, expected {node_id}, but received {name}"),
            ));
        }
        Ok(Level::Broker(id))
    }

    /// The resource name the level is stored under in the metadata state.
    pub fn resource(self) -> String {
        match self {
            Level::ClusterDefault => String::new(),
            Level::Broker(id) => id.to_string(),
        }
    }
}

fn invalid_request(message: String) -> ApiError {
    ApiError::new(ResponseError::InvalidRequest, message)
}

/// The kind of a dynamic broker config, for IncrementalAlterConfigs' operations; a name that
/// cannot be updated dynamically is INVALID_REQUEST.
pub fn kind_of(name: &str) -> Result<ConfigKind, ApiError> {
    definition(name).map(|d| d.kind).ok_or_else(|| {
        invalid_request(format!("Cannot update these configs dynamically: [{name}]"))
    })
}

/// Checks one value of a dynamic broker config (INVALID_REQUEST, as a KRaft broker answers).
pub fn check_value(name: &str, value: &str) -> Result<(), ApiError> {
    let kind = kind_of(name)?;
    topic_config::check_value(name, value, kind).map_err(|e| invalid_request(e.to_string()))
}

/// Checks a complete new set of dynamic configs for one level, in Kafka's order: names that
/// are not dynamic, then values, then per-broker-only configs at the cluster-default level.
pub fn validate(level: Level, configs: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let not_dynamic: Vec<&str> = configs
        .keys()
        .filter(|k| definition(k).is_none())
        .map(String::as_str)
        .collect();
    if !not_dynamic.is_empty() {
        return Err(invalid_request(format!(
            "Cannot update these configs dynamically: [{}]",
            not_dynamic.join(", ")
        )));
    }
    for (k, v) in configs {
        check_value(k, v)?;
    }
    if level == Level::ClusterDefault {
        let per_broker: Vec<&str> = configs
            .keys()
            .filter(|k| definition(k).is_some_and(|d| d.per_broker_only))
            .map(String::as_str)
            .collect();
        if !per_broker.is_empty() {
            return Err(invalid_request(format!(
                "Cannot update these configs at default cluster level, broker id must be specified: [{}]",
                per_broker.join(", ")
            )));
        }
    }
    Ok(())
}

/// The broker-level defaults of topic configs on broker `node_id`: its own dynamic values, the
/// cluster-wide dynamic defaults and the static `--topic-config` values (keyed by topic config
/// name).
pub fn topic_defaults(
    dynamic: &BTreeMap<String, BTreeMap<String, String>>,
    node_id: i32,
    static_defaults: &BTreeMap<String, String>,
) -> TopicDefaults {
    let as_topic_configs = |resource: &str| -> BTreeMap<String, String> {
        let Some(configs) = dynamic.get(resource) else {
            return BTreeMap::new();
        };
        TOPIC_CONFIGS
            .iter()
            .filter_map(|def| {
                let v = configs.get(def.broker_synonym?)?;
                Some((def.name.to_string(), v.clone()))
            })
            .collect()
    };
    TopicDefaults {
        dynamic_broker: as_topic_configs(&node_id.to_string()),
        dynamic_default: as_topic_configs(""),
        static_broker: static_defaults.clone(),
    }
}

/// The value a dynamic config has beneath `level` (what it falls back to when the level does
/// not set it): the cluster-wide dynamic default (below a broker), the static value (topic
/// defaults only), Kafka's default, else empty. APPEND and SUBTRACT start from it.
pub fn inherited(
    level: Level,
    name: &str,
    dynamic: &BTreeMap<String, BTreeMap<String, String>>,
    static_defaults: &BTreeMap<String, String>,
) -> String {
    let Some(def) = definition(name) else {
        return String::new();
    };
    if let Level::Broker(_) = level {
        if let Some(v) = dynamic.get("").and_then(|c| c.get(name)) {
            return v.clone();
        }
    }
    if let Some(v) = def.topic.and_then(|t| static_defaults.get(t.name)) {
        return v.clone();
    }
    def.default.unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_topic_synonym_and_stored_config_is_dynamic() {
        for def in TOPIC_CONFIGS {
            let syn = def.broker_synonym.unwrap();
            let d = definition(syn).unwrap();
            assert_eq!(d.topic.map(|t| t.name), Some(def.name));
            assert!(!d.per_broker_only);
        }
        for d in STORED_ONLY {
            assert!(d.topic.is_none());
            assert!(
                TOPIC_CONFIGS
                    .iter()
                    .all(|t| t.broker_synonym != Some(d.name)),
                "{} is listed twice",
                d.name
            );
            if let Some(default) = d.default {
                topic_config::check_value(d.name, default, d.kind)
                    .unwrap_or_else(|e| panic!("{}: {e}", d.name));
            }
            let listener = d.name.starts_with("sasl.") || d.name.starts_with("ssl.");
            assert_eq!(d.per_broker_only, listener, "{}", d.name);
        }
        assert!(definition("log.dirs").is_none());
        assert!(
            definition("retention.ms").is_none(),
            "topic names are not broker configs"
        );
        let sensitive: Vec<&str> = STORED_ONLY
            .iter()
            .filter(|d| d.kind.is_sensitive())
            .map(|d| d.name)
            .collect();
        for name in [
            "sasl.jaas.config",
            "ssl.key.password",
            "ssl.keystore.password",
            "ssl.truststore.password",
            "ssl.keystore.key",
        ] {
            assert!(sensitive.contains(&name), "{name}");
        }
    }

    #[test]
    fn resource_names_are_the_default_or_this_broker() {
        assert_eq!(Level::parse("", 1).unwrap(), Level::ClusterDefault);
        assert_eq!(Level::parse("1", 1).unwrap(), Level::Broker(1));
        assert_eq!(Level::Broker(1).resource(), "1");
        assert_eq!(Level::ClusterDefault.resource(), "");
        for bad in ["2", "x", "+1", "01", " 1"] {
            let e = Level::parse(bad, 1).unwrap_err();
            assert_eq!(e.code, ResponseError::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn validation_follows_kafkas_rules() {
        let ok = map(&[
            ("log.retention.ms", "1000"),
            ("background.threads", "4"),
            ("log.cleanup.policy", "compact,delete"),
        ]);
        assert!(validate(Level::ClusterDefault, &ok).is_ok());
        assert!(validate(Level::Broker(1), &ok).is_ok());

        let e = validate(
            Level::Broker(1),
            &map(&[("log.dirs", "/x"), ("bogus", "1")]),
        )
        .unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidRequest);
        assert!(
            e.message
                .starts_with("Cannot update these configs dynamically: [bogus, log.dirs]"),
            "{}",
            e.message
        );

        for (k, v) in [
            ("log.retention.ms", "soon"),
            ("message.max.bytes", "-1"),
            ("log.cleanup.policy", "shred"),
            ("sasl.login.refresh.window.factor", "0.2"),
            ("ssl.client.auth", "maybe"),
            ("background.threads", "0"),
        ] {
            let e = validate(Level::Broker(1), &map(&[(k, v)])).unwrap_err();
            assert_eq!(e.code, ResponseError::InvalidRequest, "{k}={v}");
        }

        let per_broker = map(&[("sasl.kerberos.min.time.before.relogin", "58000")]);
        assert!(validate(Level::Broker(1), &per_broker).is_ok());
        let e = validate(Level::ClusterDefault, &per_broker).unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidRequest);
        assert!(
            e.message.contains("broker id must be specified"),
            "{}",
            e.message
        );
    }

    #[test]
    fn topic_defaults_layer_dynamic_over_static_by_topic_name() {
        let dynamic = BTreeMap::from([
            (
                String::new(),
                map(&[("log.retention.ms", "20"), ("log.segment.bytes", "2048")]),
            ),
            (
                "1".to_string(),
                map(&[("log.retention.ms", "10"), ("background.threads", "3")]),
            ),
            ("2".to_string(), map(&[("log.retention.ms", "99")])),
        ]);
        let static_defaults = map(&[("retention.ms", "30"), ("cleanup.policy", "compact")]);
        let d = topic_defaults(&dynamic, 1, &static_defaults);
        assert_eq!(d.dynamic_broker, map(&[("retention.ms", "10")]));
        assert_eq!(
            d.dynamic_default,
            map(&[("retention.ms", "20"), ("segment.bytes", "2048")])
        );
        assert_eq!(d.static_broker, static_defaults);
        assert_eq!(
            d.get("retention.ms"),
            Some(("10", topic_config::ConfigSource::DynamicBroker))
        );
        assert_eq!(
            d.get("segment.bytes"),
            Some(("2048", topic_config::ConfigSource::DynamicDefaultBroker))
        );

        assert_eq!(
            inherited(
                Level::Broker(1),
                "log.segment.bytes",
                &dynamic,
                &static_defaults
            ),
            "2048"
        );
        assert_eq!(
            inherited(
                Level::ClusterDefault,
                "log.retention.ms",
                &dynamic,
                &static_defaults
            ),
            "30"
        );
        assert_eq!(
            inherited(
                Level::Broker(1),
                "log.cleanup.policy",
                &dynamic,
                &static_defaults
            ),
            "compact"
        );
        assert_eq!(
            inherited(
                Level::Broker(1),
                "sasl.enabled.mechanisms",
                &dynamic,
                &static_defaults
            ),
            "GSSAPI"
        );
    }
}
