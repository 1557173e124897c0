//! Topic configs under Kafka's names, with Kafka's defaults, and their translation into the
//! storage engine's `LogConfig` and the produce path's policy.
//!
//! A topic stores only the configs set on it (in the metadata quorum). The effective value of a
//! config is the topic's own, else the broker-level default of its synonym ([`TopicDefaults`]:
//! this broker's dynamic config, else the cluster-wide dynamic default, else the static
//! `--topic-config`/file value), else Kafka's.

use std::collections::BTreeMap;

use weir_storage::{FlushPolicy, LogConfig};

/// How a config's value is checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConfigKind {
    /// A signed 64-bit integer with a lower bound.
    Long(i64),
    /// An integer that fits i32, with a lower bound.
    Int(i32),
    /// An integer that fits i16, between two bounds (inclusive).
    Short(i16, i16),
    /// A number between two bounds (inclusive).
    Double(f64, f64),
    /// A ratio between 0 and 1.
    Ratio,
    /// true or false.
    Bool,
    /// One of a fixed set (cleanup.policy may list several, comma-separated).
    OneOf(&'static [&'static str]),
    /// A comma-separated list of the given values.
    ListOf(&'static [&'static str]),
    /// A comma-separated list of free-form items.
    List,
    /// Free text.
    Text,
    /// A secret (Kafka's PASSWORD type): stored, never described (DescribeConfigs answers
    /// null and `is_sensitive`).
    Password,
}

impl ConfigKind {
    /// The DescribeConfigs `config_type` code (KIP-569).
    pub fn type_code(self) -> i8 {
        match self {
            ConfigKind::Bool => 1,
            ConfigKind::Text | ConfigKind::OneOf(_) => 2,
            ConfigKind::Int(_) => 3,
            ConfigKind::Short(..) => 4,
            ConfigKind::Long(_) => 5,
            ConfigKind::Ratio | ConfigKind::Double(..) => 6,
            ConfigKind::ListOf(_) | ConfigKind::List => 7,
            ConfigKind::Password => 9,
        }
    }

    /// Whether APPEND and SUBTRACT apply (Kafka's LIST type).
    pub fn is_list(self) -> bool {
        matches!(self, ConfigKind::ListOf(_) | ConfigKind::List)
    }

    /// Whether values are secret (never described).
    pub fn is_sensitive(self) -> bool {
        self == ConfigKind::Password
    }
}

/// One known topic config.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    /// Kafka's name.
    pub name: &'static str,
    /// Kafka's default value.
    pub default: &'static str,
    /// How values are checked.
    pub kind: ConfigKind,
    /// The broker-level config Kafka reports as its synonym.
    pub broker_synonym: Option<&'static str>,
}

const LONG_MAX: &str = "9223372036854775807";

const fn def(
    name: &'static str,
    default: &'static str,
    kind: ConfigKind,
    broker_synonym: Option<&'static str>,
) -> ConfigDef {
    ConfigDef {
        name,
        default,
        kind,
        broker_synonym,
    }
}

/// Every topic config Weir accepts, in Kafka's alphabetical order.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    def(
        "cleanup.policy",
        "delete",
        ConfigKind::ListOf(&["delete", "compact"]),
        Some("log.cleanup.policy"),
    ),
    def(
        "compression.type",
        "producer",
        ConfigKind::OneOf(&["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"]),
        Some("compression.type"),
    ),
    def(
        "delete.retention.ms",
        "86400000",
        ConfigKind::Long(0),
        Some("log.cleaner.delete.retention.ms"),
    ),
    def(
        "file.delete.delay.ms",
        "60000",
        ConfigKind::Long(0),
        Some("log.segment.delete.delay.ms"),
    ),
    def(
        "flush.messages",
        LONG_MAX,
        ConfigKind::Long(1),
        Some("log.flush.interval.messages"),
    ),
    def(
        "flush.ms",
        LONG_MAX,
        ConfigKind::Long(0),
        Some("log.flush.interval.ms"),
    ),
    def(
        "index.interval.bytes",
        "4096",
        ConfigKind::Int(0),
        Some("log.index.interval.bytes"),
    ),
    def(
        "max.compaction.lag.ms",
        LONG_MAX,
        ConfigKind::Long(1),
        Some("log.cleaner.max.compaction.lag.ms"),
    ),
    def(
        "max.message.bytes",
        "1048588",
        ConfigKind::Int(0),
        Some("message.max.bytes"),
    ),
    def(
        "message.timestamp.after.max.ms",
        "3600000",
        ConfigKind::Long(0),
        Some("log.message.timestamp.after.max.ms"),
    ),
    def(
        "message.timestamp.before.max.ms",
        LONG_MAX,
        ConfigKind::Long(0),
        Some("log.message.timestamp.before.max.ms"),
    ),
    def(
        "message.timestamp.type",
        "CreateTime",
        ConfigKind::OneOf(&["CreateTime", "LogAppendTime"]),
        Some("log.message.timestamp.type"),
    ),
    def(
        "min.cleanable.dirty.ratio",
        "0.5",
        ConfigKind::Ratio,
        Some("log.cleaner.min.cleanable.ratio"),
    ),
    def(
        "min.compaction.lag.ms",
        "0",
        ConfigKind::Long(0),
        Some("log.cleaner.min.compaction.lag.ms"),
    ),
    def(
        "min.insync.replicas",
        "1",
        ConfigKind::Int(1),
        Some("min.insync.replicas"),
    ),
    def(
        "preallocate",
        "false",
        ConfigKind::Bool,
        Some("log.preallocate"),
    ),
    def(
        "retention.bytes",
        "-1",
        ConfigKind::Long(-1),
        Some("log.retention.bytes"),
    ),
    def(
        "retention.ms",
        "604800000",
        ConfigKind::Long(-1),
        Some("log.retention.ms"),
    ),
    def(
        "segment.bytes",
        "1073741824",
        ConfigKind::Int(14),
        Some("log.segment.bytes"),
    ),
    def(
        "segment.index.bytes",
        "10485760",
        ConfigKind::Int(4),
        Some("log.index.size.max.bytes"),
    ),
    def(
        "segment.jitter.ms",
        "0",
        ConfigKind::Long(0),
        Some("log.roll.jitter.ms"),
    ),
    def(
        "segment.ms",
        "604800000",
        ConfigKind::Long(1),
        Some("log.roll.ms"),
    ),
    def(
        "unclean.leader.election.enable",
        "false",
        ConfigKind::Bool,
        Some("unclean.leader.election.enable"),
    ),
];

/// Why a topic config cannot be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicConfigError {
    /// Not a topic config Kafka (or Weir) knows.
    #[error("unknown topic config name: {0}")]
    Unknown(String),
    /// The value does not fit the config's type or range.
    #[error("invalid value {value:?} for configuration {name}: {reason}")]
    InvalidValue {
        /// Config name.
        name: String,
        /// Offending value.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

/// Looks up a known config.
pub fn definition(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks that `name` is a known topic config and `value` a valid value for it.
pub fn validate(name: &str, value: &str) -> Result<(), TopicConfigError> {
    let def = definition(name).ok_or_else(|| TopicConfigError::Unknown(name.to_string()))?;
    check_value(name, value, def.kind)
}

/// Checks that `value` is a valid value of a config `name` of the given kind (topic and broker
/// configs alike).
pub fn check_value(name: &str, value: &str, kind: ConfigKind) -> Result<(), TopicConfigError> {
    let bad = |reason: &str| TopicConfigError::InvalidValue {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let value = value.trim();
    match kind {
        ConfigKind::Long(min) => {
            let v: i64 = value.parse().map_err(|_| bad("not a number"))?;
            if v < min {
                return Err(bad(&format!("must be at least {min}")));
            }
        }
        ConfigKind::Int(min) => {
            let v: i32 = value.parse().map_err(|_| bad("not a 32-bit number"))?;
            if v < min {
                return Err(bad(&format!("must be at least {min}")));
            }
        }
        ConfigKind::Short(min, max) => {
            let v: i16 = value.parse().map_err(|_| bad("not a 16-bit number"))?;
            if !(min..=max).contains(&v) {
                return Err(bad(&format!("must be between {min} and {max}")));
            }
        }
        ConfigKind::Ratio => {
            let v: f64 = value.parse().map_err(|_| bad("not a number"))?;
            if !(0.0..=1.0).contains(&v) {
                return Err(bad("must be between 0 and 1"));
            }
        }
        ConfigKind::Double(min, max) => {
            let v: f64 = value.parse().map_err(|_| bad("not a number"))?;
            if !(min..=max).contains(&v) {
                return Err(bad(&format!("must be between {min} and {max}")));
            }
        }
        ConfigKind::Bool => {
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                return Err(bad("must be true or false"));
            }
        }
        ConfigKind::OneOf(allowed) => {
            if !allowed.contains(&value) {
                return Err(bad(&format!("must be one of {}", allowed.join(", "))));
            }
        }
        ConfigKind::ListOf(allowed) => {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            if items.is_empty() || items.iter().any(|i| !allowed.contains(i)) {
                return Err(bad(&format!("must be a list of {}", allowed.join(", "))));
            }
        }
        ConfigKind::List | ConfigKind::Text | ConfigKind::Password => {}
    }
    Ok(())
}

/// Where an effective value came from (DescribeConfigs `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic.
    Topic,
    /// A dynamic config of this broker (AlterConfigs on the resource `"<node id>"`).
    DynamicBroker,
    /// A dynamic cluster-wide default (AlterConfigs on the resource `""`).
    DynamicDefaultBroker,
    /// The broker's static setting (flag, environment, file; `--topic-config` for topic
    /// defaults).
    StaticBroker,
    /// Kafka's default.
    Default,
    /// Set on a group (KIP-848's group configs).
    Group,
}

impl ConfigSource {
    /// Kafka's wire code for the source.
    pub fn code(self) -> i8 {
        match self {
            ConfigSource::Topic => 1,
            ConfigSource::DynamicBroker => 2,
            ConfigSource::DynamicDefaultBroker => 3,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
            ConfigSource::Group => 8,
        }
    }
}

/// The broker-level defaults of topic configs, keyed by topic config name (`retention.ms`,
/// not its broker synonym `log.retention.ms`), in Kafka's three layers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicDefaults {
    /// This broker's dynamic configs (DYNAMIC_BROKER_CONFIG).
    pub dynamic_broker: BTreeMap<String, String>,
    /// The cluster-wide dynamic defaults (DYNAMIC_DEFAULT_BROKER_CONFIG).
    pub dynamic_default: BTreeMap<String, String>,
    /// The static `--topic-config` / file values (STATIC_BROKER_CONFIG).
    pub static_broker: BTreeMap<String, String>,
}

impl TopicDefaults {
    /// Only static defaults (no dynamic broker configs).
    pub fn from_static(static_broker: BTreeMap<String, String>) -> Self {
        Self {
            static_broker,
            ..Self::default()
        }
    }

    /// Every layer that sets the topic config `name`, highest precedence first.
    pub fn levels(&self, name: &str) -> impl Iterator<Item = (&str, ConfigSource)> {
        // Looked up now, so the iterator borrows only `self`.
        [
            (self.dynamic_broker.get(name), ConfigSource::DynamicBroker),
            (
                self.dynamic_default.get(name),
                ConfigSource::DynamicDefaultBroker,
            ),
            (self.static_broker.get(name), ConfigSource::StaticBroker),
        ]
        .into_iter()
        .filter_map(|(value, source)| value.map(|v| (v.as_str(), source)))
    }

    /// The broker-level default of the topic config `name` and its layer, if any layer sets
    /// it.
    pub fn get(&self, name: &str) -> Option<(&str, ConfigSource)> {
        self.levels(name).next()
    }
}

/// The effective topic configs: the topic's own over the broker's defaults over Kafka's.
#[derive(Debug, Clone)]
pub struct EffectiveConfig<'a> {
    topic: &'a BTreeMap<String, String>,
    broker: &'a TopicDefaults,
}

impl<'a> EffectiveConfig<'a> {
    /// Layers a topic's own configs over the broker's defaults.
    pub fn new(topic: &'a BTreeMap<String, String>, broker: &'a TopicDefaults) -> Self {
        Self { topic, broker }
    }

    /// The effective value of a known config and where it came from.
    pub fn get(&self, def: &ConfigDef) -> (&'a str, ConfigSource) {
        if let Some(v) = self.topic.get(def.name) {
            (v.as_str(), ConfigSource::Topic)
        } else if let Some(found) = self.broker.get(def.name) {
            found
        } else {
            (def.default, ConfigSource::Default)
        }
    }

    fn value(&self, name: &str) -> &'a str {
        definition(name).map(|d| self.get(d).0).unwrap_or("")
    }

    fn long(&self, name: &str, fallback: i64) -> i64 {
        self.value(name).trim().parse().unwrap_or(fallback)
    }

    /// The storage engine's view of these configs.
    pub fn log_config(&self, flush: FlushPolicy) -> LogConfig {
        let defaults = LogConfig::default();
        LogConfig {
            segment_bytes: self
                .long("segment.bytes", defaults.segment_bytes as i64)
                .max(14) as u64,
            segment_ms: self.long("segment.ms", defaults.segment_ms),
            retention_ms: self.long("retention.ms", defaults.retention_ms),
            retention_bytes: self.long("retention.bytes", defaults.retention_bytes),
            index_interval_bytes: self
                .long("index.interval.bytes", defaults.index_interval_bytes as i64)
                .max(0) as u64,
            flush,
        }
    }

    /// The cleanup view of these configs.
    pub fn cleanup_policy(&self) -> CleanupPolicy {
        let policy = self.value("cleanup.policy");
        let has = |p: &str| policy.split(',').any(|i| i.trim() == p);
        CleanupPolicy {
            delete: has("delete"),
            compact: has("compact"),
            delete_retention_ms: self.long("delete.retention.ms", 86_400_000).max(0),
        }
    }

    /// The produce path's view of these configs.
    pub fn produce_policy(&self) -> ProducePolicy {
        ProducePolicy {
            max_message_bytes: self.long("max.message.bytes", 1_048_588).max(0) as usize,
            log_append_time: self.value("message.timestamp.type") == "LogAppendTime",
            min_insync_replicas: self.long("min.insync.replicas", 1).max(1) as usize,
            timestamp_before_max_ms: self
                .long("message.timestamp.before.max.ms", i64::MAX)
                .max(0),
            timestamp_after_max_ms: self
                .long("message.timestamp.after.max.ms", 3_600_000)
                .max(0),
        }
    }
}

/// How old data leaves a partition: `cleanup.policy` and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// `delete` is in cleanup.policy: retention by time and size applies.
    pub delete: bool,
    /// `compact` is in cleanup.policy: the cleaner keeps the latest record per key, and
    /// records without a key are refused.
    pub compact: bool,
    /// delete.retention.ms: how long tombstones stay readable after compaction.
    pub delete_retention_ms: i64,
}

/// What Produce needs to know about a partition's topic configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducePolicy {
    /// max.message.bytes: the largest batch accepted.
    pub max_message_bytes: usize,
    /// message.timestamp.type=LogAppendTime
    pub log_append_time: bool,
    /// min.insync.replicas, enforced for acks=all.
    pub min_insync_replicas: usize,
    /// message.timestamp.before.max.ms: how far in the past a CreateTime timestamp may be.
    pub timestamp_before_max_ms: i64,
    /// message.timestamp.after.max.ms: how far in the future a CreateTime timestamp may be.
    pub timestamp_after_max_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_values() {
        for d in TOPIC_CONFIGS {
            validate(d.name, d.default).unwrap_or_else(|e| panic!("{}: {e}", d.name));
        }
    }

    #[test]
    fn validation_rejects_bad_values() {
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("retention.ms", "abc").is_err());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "shred").is_err());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(validate("no.such", "1").is_err());
    }

    #[test]
    fn topic_overrides_broker_overrides_kafka() {
        let topic = BTreeMap::from([("retention.ms".to_string(), "10".to_string())]);
        let broker = TopicDefaults::from_static(BTreeMap::from([
            ("retention.ms".to_string(), "20".to_string()),
            ("segment.bytes".to_string(), "1000".to_string()),
        ]));
        let eff = EffectiveConfig::new(&topic, &broker);
        let log = eff.log_config(FlushPolicy::OsCache);
        assert_eq!(log.retention_ms, 10);
        assert_eq!(log.segment_bytes, 1000);
        assert_eq!(log.retention_bytes, -1);
        let def = definition("retention.ms").unwrap();
        assert_eq!(eff.get(def), ("10", ConfigSource::Topic));
    }

    #[test]
    fn cleanup_policy_lists_are_read() {
        let none = BTreeMap::new();
        let no_defaults = TopicDefaults::default();
        let both = BTreeMap::from([("cleanup.policy".to_string(), "compact,delete".to_string())]);
        let compact = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
        let p = EffectiveConfig::new(&none, &no_defaults).cleanup_policy();
        assert!(p.delete && !p.compact);
        assert_eq!(p.delete_retention_ms, 86_400_000);
        let p = EffectiveConfig::new(&both, &no_defaults).cleanup_policy();
        assert!(p.delete && p.compact);
        let p = EffectiveConfig::new(&compact, &no_defaults).cleanup_policy();
        assert!(!p.delete && p.compact);
    }

    #[test]
    fn dynamic_layers_take_precedence_over_static_defaults() {
        let none = BTreeMap::new();
        let retention = definition("retention.ms").unwrap();
        let mut d = TopicDefaults::from_static(BTreeMap::from([(
            "retention.ms".to_string(),
            "30".to_string(),
        )]));
        assert_eq!(
            EffectiveConfig::new(&none, &d).get(retention),
            ("30", ConfigSource::StaticBroker)
        );
        d.dynamic_default
            .insert("retention.ms".to_string(), "20".to_string());
        assert_eq!(
            EffectiveConfig::new(&none, &d).get(retention),
            ("20", ConfigSource::DynamicDefaultBroker)
        );
        d.dynamic_broker
            .insert("retention.ms".to_string(), "10".to_string());
        let eff = EffectiveConfig::new(&none, &d);
        assert_eq!(eff.get(retention), ("10", ConfigSource::DynamicBroker));
        assert_eq!(eff.log_config(FlushPolicy::OsCache).retention_ms, 10);
        let levels: Vec<_> = d.levels("retention.ms").map(|(_, s)| s.code()).collect();
        assert_eq!(levels, vec![2, 3, 4]);
        assert_eq!(
            EffectiveConfig::new(&none, &d).get(definition("segment.ms").unwrap()),
            ("604800000", ConfigSource::Default)
        );
    }

    #[test]
    fn broker_kinds_are_checked() {
        assert!(check_value("x", "300", ConfigKind::Short(0, 3600)).is_ok());
        assert!(check_value("x", "3601", ConfigKind::Short(0, 3600)).is_err());
        assert!(check_value("x", "0.5", ConfigKind::Double(0.5, 1.0)).is_ok());
        assert!(check_value("x", "0.4", ConfigKind::Double(0.5, 1.0)).is_err());
        assert!(check_value("x", "NaN", ConfigKind::Double(f64::MIN, f64::MAX)).is_err());
        assert!(check_value("x", "a,b", ConfigKind::List).is_ok());
        assert!(check_value("x", "anything", ConfigKind::Password).is_ok());
        assert!(ConfigKind::Password.is_sensitive() && !ConfigKind::Text.is_sensitive());
        assert!(ConfigKind::List.is_list() && !ConfigKind::Text.is_list());
        assert_eq!(ConfigKind::Password.type_code(), 9);
        assert_eq!(ConfigKind::Short(0, 1).type_code(), 4);
    }
}
