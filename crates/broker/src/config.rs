//! Broker settings: flags, environment variables and an optional TOML file, in that order of
//! precedence, over built-in defaults.
//!
//! `weir` with no arguments must start a working single-node broker on 127.0.0.1:9092 with its
//! data in `./weir-data`, so every setting has a default. `--listen` and `--data-dir` (and
//! `WEIR_LISTEN`, `WEIR_DATA_DIR`) are a fixed contract that scripts rely on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;
use weir_storage::FlushPolicy;

use crate::topic_config::{self, TopicConfigError};

/// Command-line flags and environment variables. Every field is optional here so that a value
/// from the config file can sit between the flag and the default.
#[derive(Debug, Parser, Default)]
#[command(
    name = "weir",
    version,
    about = "Weir: a Kafka wire-protocol compatible broker"
)]
pub struct Args {
    /// TOML config file; flags and environment variables override its values.
    #[arg(long, env = "WEIR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address the Kafka listener binds to [default: 127.0.0.1:9092].
    #[arg(long, env = "WEIR_LISTEN")]
    pub listen: Option<String>,
    /// Address advertised to clients in Metadata (host:port) [default: the listen address].
    #[arg(long, env = "WEIR_ADVERTISED_LISTENER")]
    pub advertised_listener: Option<String>,
    /// This broker's node id [default: 1].
    #[arg(long, env = "WEIR_NODE_ID")]
    pub node_id: Option<i32>,
    /// Directory for partition logs and metadata [default: ./weir-data].
    #[arg(long, env = "WEIR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log filter, as for RUST_LOG (e.g. info, debug, weir_broker=trace) [default: info].
    #[arg(long, env = "WEIR_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Create topics on first use by Metadata requests (auto.create.topics.enable) [default: true].
    #[arg(long, env = "WEIR_AUTO_CREATE_TOPICS")]
    pub auto_create_topics: Option<bool>,
    /// Partitions of an auto-created topic, or of CreateTopics with -1 (num.partitions) [default: 1].
    #[arg(long, env = "WEIR_NUM_PARTITIONS")]
    pub num_partitions: Option<i32>,
    /// Replication factor used when a request gives -1 (default.replication.factor) [default: 1].
    #[arg(long, env = "WEIR_DEFAULT_REPLICATION_FACTOR")]
    pub default_replication_factor: Option<i16>,
    /// When partition logs are fsynced: `os-cache` (acknowledged writes survive a killed
    /// process, not a power loss), `every-append` (survive power loss; one fsync per append) or
    /// `interval-ms:N` (fsync at most N ms after a write) [default: os-cache].
    #[arg(long, env = "WEIR_FLUSH_POLICY")]
    pub flush_policy: Option<String>,
    /// Largest request frame accepted, in bytes (socket.request.max.bytes) [default: 104857600].
    #[arg(long, env = "WEIR_MAX_REQUEST_BYTES")]
    pub max_request_bytes: Option<usize>,
    /// How often retention runs, in ms (log.retention.check.interval.ms) [default: 300000].
    #[arg(long, env = "WEIR_RETENTION_CHECK_INTERVAL_MS")]
    pub retention_check_interval_ms: Option<u64>,
    /// How often the log cleaner looks for compacted topics to clean, in ms
    /// (log.cleaner.backoff.ms) [default: 15000].
    #[arg(long, env = "WEIR_LOG_CLEANER_BACKOFF_MS")]
    pub log_cleaner_backoff_ms: Option<u64>,
    /// Partitions of the internal `__consumer_offsets` topic when it is first created
    /// (offsets.topic.num.partitions) [default: 50].
    #[arg(long, env = "WEIR_OFFSETS_TOPIC_PARTITIONS")]
    pub offsets_topic_partitions: Option<i32>,
    /// Session timeout of consumer-protocol (KIP-848) group members, in ms
    /// (group.consumer.session.timeout.ms) [default: 45000].
    #[arg(long, env = "WEIR_GROUP_CONSUMER_SESSION_TIMEOUT_MS")]
    pub group_consumer_session_timeout_ms: Option<i32>,
    /// Heartbeat interval the coordinator gives consumer-protocol (KIP-848) members, in ms
    /// (group.consumer.heartbeat.interval.ms) [default: 5000].
    #[arg(long, env = "WEIR_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS")]
    pub group_consumer_heartbeat_interval_ms: Option<i32>,
    /// How long the first rebalance of an empty classic group waits for more members, in ms
    /// (group.initial.rebalance.delay.ms) [default: 3000].
    #[arg(long, env = "WEIR_GROUP_INITIAL_REBALANCE_DELAY_MS")]
    pub group_initial_rebalance_delay_ms: Option<u64>,
    /// How long committed offsets of an empty group (or of a topic a live group no longer
    /// consumes) are kept, in minutes (offsets.retention.minutes) [default: 10080, 7 days].
    #[arg(long, env = "WEIR_OFFSETS_RETENTION_MINUTES")]
    pub offsets_retention_minutes: Option<u32>,
    /// How often expired committed offsets are deleted, in ms
    /// (offsets.retention.check.interval.ms) [default: 600000].
    #[arg(long, env = "WEIR_OFFSETS_RETENTION_CHECK_INTERVAL_MS")]
    pub offsets_retention_check_interval_ms: Option<u64>,
    /// Partitions of the internal `__transaction_state` topic when it is first created
    /// (transaction.state.log.num.partitions) [default: 50].
    #[arg(long, env = "WEIR_TRANSACTION_STATE_PARTITIONS")]
    pub transaction_state_partitions: Option<i32>,
    /// Largest transaction.timeout.ms a transactional producer may ask for
    /// (transaction.max.timeout.ms) [default: 900000].
    #[arg(long, env = "WEIR_TRANSACTION_MAX_TIMEOUT_MS")]
    pub transaction_max_timeout_ms: Option<i32>,
    /// How often transactions past their timeout are aborted, in ms
    /// (transaction.abort.timed.out.transaction.cleanup.interval.ms) [default: 10000].
    #[arg(long, env = "WEIR_TRANSACTION_TIMEOUT_CHECK_INTERVAL_MS")]
    pub transaction_timeout_check_interval_ms: Option<u64>,
    /// How long an idle transactional id is kept, in ms (transactional.id.expiration.ms)
    /// [default: 604800000, 7 days].
    #[arg(long, env = "WEIR_TRANSACTIONAL_ID_EXPIRATION_MS")]
    pub transactional_id_expiration_ms: Option<i64>,
    /// How long the state of an idle idempotent producer is kept per partition, in ms
    /// (producer.id.expiration.ms; checked at each retention pass) [default: 86400000].
    #[arg(long, env = "WEIR_PRODUCER_ID_EXPIRATION_MS")]
    pub producer_id_expiration_ms: Option<i64>,
    /// Enforce ACLs (as Kafka with `authorizer.class.name` set): every request is checked
    /// against the stored ACLs for its principal (`User:ANONYMOUS` on this plaintext listener)
    /// and host, and the ACL admin APIs are served. Off: everything is allowed and the ACL APIs
    /// answer SECURITY_DISABLED [default: false].
    #[arg(long, env = "WEIR_AUTHORIZER")]
    pub authorizer: Option<bool>,
    /// With the authorizer: allow an operation on a resource that no ACL applies to
    /// (allow.everyone.if.no.acl.found) [default: false].
    #[arg(long, env = "WEIR_ALLOW_EVERYONE_IF_NO_ACL_FOUND")]
    pub allow_everyone_if_no_acl_found: Option<bool>,
    /// With the authorizer: principals allowed everything, separated by `;` (super.users),
    /// e.g. `User:admin;User:ANONYMOUS`.
    #[arg(long, env = "WEIR_SUPER_USERS")]
    pub super_users: Option<String>,
    /// Default topic config, as Kafka's name=value (e.g. retention.ms=3600000); repeatable.
    /// Environment: WEIR_TOPIC_CONFIG with comma-separated pairs.
    #[arg(
        long = "topic-config",
        env = "WEIR_TOPIC_CONFIG",
        value_delimiter = ','
    )]
    pub topic_config: Vec<String>,
}

/// The config file's shape: the same settings as the flags, with `topic_defaults` as a table of
/// Kafka topic config names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    listen: Option<String>,
    advertised_listener: Option<String>,
    node_id: Option<i32>,
    data_dir: Option<PathBuf>,
    log_level: Option<String>,
    auto_create_topics: Option<bool>,
    num_partitions: Option<i32>,
    default_replication_factor: Option<i16>,
    flush_policy: Option<String>,
    max_request_bytes: Option<usize>,
    retention_check_interval_ms: Option<u64>,
    log_cleaner_backoff_ms: Option<u64>,
    offsets_topic_partitions: Option<i32>,
    group_consumer_session_timeout_ms: Option<i32>,
    group_consumer_heartbeat_interval_ms: Option<i32>,
    group_initial_rebalance_delay_ms: Option<u64>,
    offsets_retention_minutes: Option<u32>,
    offsets_retention_check_interval_ms: Option<u64>,
    transaction_state_partitions: Option<i32>,
    transaction_max_timeout_ms: Option<i32>,
    transaction_timeout_check_interval_ms: Option<u64>,
    transactional_id_expiration_ms: Option<i64>,
    producer_id_expiration_ms: Option<i64>,
    authorizer: Option<bool>,
    allow_everyone_if_no_acl_found: Option<bool>,
    super_users: Option<String>,
    #[serde(default)]
    topic_defaults: BTreeMap<String, toml::Value>,
}

/// Splits `super.users` (`User:a;User:b`) into principals, each of the form `Type:name`.
fn parse_super_users(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(p.to_string()),
            _ => Err(ConfigError::Invalid {
                name: "super-users",
                reason: format!("`{p}` is not a principal of the form User:name"),
            }),
        })
        .collect()
}

/// Why the settings could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File that failed.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// File that failed.
        path: PathBuf,
        /// Underlying error.
        source: toml::de::Error,
    },
    /// A setting has a value that cannot be used.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// Setting name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A default topic config is unknown or invalid.
    #[error(transparent)]
    TopicConfig(#[from] TopicConfigError),
}

/// The resolved broker settings.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Address to bind.
    pub listen: String,
    /// Host advertised in Metadata.
    pub advertised_host: String,
    /// Port advertised in Metadata.
    pub advertised_port: i32,
    /// This broker's node id.
    pub node_id: i32,
    /// Root of all on-disk state.
    pub data_dir: PathBuf,
    /// Log filter.
    pub log_level: String,
    /// auto.create.topics.enable
    pub auto_create_topics: bool,
    /// num.partitions
    pub num_partitions: i32,
    /// default.replication.factor
    pub default_replication_factor: i16,
    /// When partition logs are fsynced.
    pub flush_policy: FlushPolicy,
    /// socket.request.max.bytes
    pub max_request_bytes: usize,
    /// log.retention.check.interval.ms
    pub retention_check_interval_ms: u64,
    /// log.cleaner.backoff.ms
    pub log_cleaner_backoff_ms: u64,
    /// Broker-level defaults for topic configs (Kafka names), validated.
    pub topic_defaults: BTreeMap<String, String>,
    /// offsets.topic.num.partitions: partitions of `__consumer_offsets` when created.
    pub offsets_topic_partitions: i32,
    /// group.consumer.session.timeout.ms
    pub group_consumer_session_timeout_ms: i32,
    /// group.consumer.heartbeat.interval.ms
    pub group_consumer_heartbeat_interval_ms: i32,
    /// group.initial.rebalance.delay.ms
    pub group_initial_rebalance_delay_ms: u64,
    /// offsets.retention.minutes, in ms.
    pub offsets_retention_ms: i64,
    /// offsets.retention.check.interval.ms
    pub offsets_retention_check_interval_ms: u64,
    /// transaction.state.log.num.partitions: partitions of `__transaction_state` when created.
    pub transaction_state_partitions: i32,
    /// transaction.max.timeout.ms
    pub transaction_max_timeout_ms: i32,
    /// transaction.abort.timed.out.transaction.cleanup.interval.ms
    pub transaction_timeout_check_interval_ms: u64,
    /// transactional.id.expiration.ms
    pub transactional_id_expiration_ms: i64,
    /// producer.id.expiration.ms
    pub producer_id_expiration_ms: i64,
    /// Whether ACLs are enforced (Kafka: an authorizer is configured).
    pub authorizer: bool,
    /// allow.everyone.if.no.acl.found
    pub allow_everyone_if_no_acl_found: bool,
    /// super.users, as principals (`User:name`).
    pub super_users: Vec<String>,
}

impl BrokerConfig {
    /// Merges flags/environment over the config file (if any) over the defaults.
    pub fn resolve(args: Args) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:9092".to_string());
        let advertised = args
            .advertised_listener
            .or(file.advertised_listener)
            .unwrap_or_else(|| listen.clone());
        let (advertised_host, advertised_port) = split_host_port(&advertised).ok_or_else(|| {
            invalid(
                "advertised-listener",
                format!("{advertised:?} is not host:port"),
            )
        })?;
        split_host_port(&listen)
            .ok_or_else(|| invalid("listen", format!("{listen:?} is not host:port")))?;

        let mut topic_defaults = BTreeMap::new();
        for (k, v) in file.topic_defaults {
            let v = match v {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            topic_defaults.insert(k, v);
        }
        for pair in args.topic_config.iter().filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| invalid("topic-config", format!("{pair:?} is not name=value")))?;
            topic_defaults.insert(k.trim().to_string(), v.trim().to_string());
        }
        for (k, v) in &topic_defaults {
            topic_config::validate(k, v)?;
        }

        let num_partitions = args.num_partitions.or(file.num_partitions).unwrap_or(1);
        if num_partitions < 1 {
            return Err(invalid("num-partitions", "must be at least 1".into()));
        }
        let default_replication_factor = args
            .default_replication_factor
            .or(file.default_replication_factor)
            .unwrap_or(1);
        if default_replication_factor < 1 {
            return Err(invalid(
                "default-replication-factor",
                "must be at least 1".into(),
            ));
        }
        let flush = args
            .flush_policy
            .or(file.flush_policy)
            .unwrap_or_else(|| "os-cache".into());
        let flush_policy = parse_flush_policy(&flush).ok_or_else(|| {
            invalid(
                "flush-policy",
                format!("{flush:?} is not os-cache, every-append or interval-ms:N"),
            )
        })?;
        let max_request_bytes = args
            .max_request_bytes
            .or(file.max_request_bytes)
            .unwrap_or(104_857_600);
        if max_request_bytes < 1024 {
            return Err(invalid("max-request-bytes", "must be at least 1024".into()));
        }

        let offsets_topic_partitions = args
            .offsets_topic_partitions
            .or(file.offsets_topic_partitions)
            .unwrap_or(50);
        if !(1..=1000).contains(&offsets_topic_partitions) {
            return Err(invalid(
                "offsets-topic-partitions",
                "must be between 1 and 1000".into(),
            ));
        }

        let group_consumer_session_timeout_ms = args
            .group_consumer_session_timeout_ms
            .or(file.group_consumer_session_timeout_ms)
            .unwrap_or(45_000);
        let group_consumer_heartbeat_interval_ms = args
            .group_consumer_heartbeat_interval_ms
            .or(file.group_consumer_heartbeat_interval_ms)
            .unwrap_or(5_000);
        if group_consumer_session_timeout_ms < 1000 {
            return Err(invalid(
                "group-consumer-session-timeout-ms",
                "must be at least 1000".into(),
            ));
        }
        if group_consumer_heartbeat_interval_ms < 100
            || group_consumer_heartbeat_interval_ms >= group_consumer_session_timeout_ms
        {
            return Err(invalid(
                "group-consumer-heartbeat-interval-ms",
                "must be at least 100 and below the session timeout".into(),
            ));
        }

        let transaction_state_partitions = args
            .transaction_state_partitions
            .or(file.transaction_state_partitions)
            .unwrap_or(50);
        if !(1..=1000).contains(&transaction_state_partitions) {
            return Err(invalid(
                "transaction-state-partitions",
                "must be between 1 and 1000".into(),
            ));
        }
        let transaction_max_timeout_ms = args
            .transaction_max_timeout_ms
            .or(file.transaction_max_timeout_ms)
            .unwrap_or(900_000);
        if transaction_max_timeout_ms < 1 {
            return Err(invalid(
                "transaction-max-timeout-ms",
                "must be positive".into(),
            ));
        }

        Ok(BrokerConfig {
            listen,
            advertised_host,
            advertised_port,
            node_id: args.node_id.or(file.node_id).unwrap_or(1),
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("weir-data")),
            log_level: args
                .log_level
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
            auto_create_topics: args
                .auto_create_topics
                .or(file.auto_create_topics)
                .unwrap_or(true),
            num_partitions,
            default_replication_factor,
            flush_policy,
            max_request_bytes,
            retention_check_interval_ms: args
                .retention_check_interval_ms
                .or(file.retention_check_interval_ms)
                .unwrap_or(300_000)
                .max(10),
            log_cleaner_backoff_ms: args
                .log_cleaner_backoff_ms
                .or(file.log_cleaner_backoff_ms)
                .unwrap_or(15_000)
                .max(10),
            topic_defaults,
            offsets_topic_partitions,
            group_consumer_session_timeout_ms,
            group_consumer_heartbeat_interval_ms,
            group_initial_rebalance_delay_ms: args
                .group_initial_rebalance_delay_ms
                .or(file.group_initial_rebalance_delay_ms)
                .unwrap_or(3_000),
            offsets_retention_ms: i64::from(
                args.offsets_retention_minutes
                    .or(file.offsets_retention_minutes)
                    .unwrap_or(7 * 24 * 60)
                    .max(1),
            ) * 60_000,
            offsets_retention_check_interval_ms: args
                .offsets_retention_check_interval_ms
                .or(file.offsets_retention_check_interval_ms)
                .unwrap_or(600_000)
                .max(1),
            transaction_state_partitions,
            transaction_max_timeout_ms,
            transaction_timeout_check_interval_ms: args
                .transaction_timeout_check_interval_ms
                .or(file.transaction_timeout_check_interval_ms)
                .unwrap_or(10_000)
                .max(10),
            transactional_id_expiration_ms: args
                .transactional_id_expiration_ms
                .or(file.transactional_id_expiration_ms)
                .unwrap_or(604_800_000)
                .max(1),
            producer_id_expiration_ms: args
                .producer_id_expiration_ms
                .or(file.producer_id_expiration_ms)
                .unwrap_or(86_400_000)
                .max(1),
            authorizer: args.authorizer.or(file.authorizer).unwrap_or(false),
            allow_everyone_if_no_acl_found: args
                .allow_everyone_if_no_acl_found
                .or(file.allow_everyone_if_no_acl_found)
                .unwrap_or(false),
            super_users: parse_super_users(args.super_users.or(file.super_users))?,
        })
    }

    /// Settings for tests and embedding: the defaults, listening on `listen`, data in `data_dir`.
    pub fn for_dir(listen: &str, data_dir: &Path) -> Result<Self, ConfigError> {
        Self::resolve(Args {
            listen: Some(listen.to_string()),
            data_dir: Some(data_dir.to_path_buf()),
            ..Args::default()
        })
    }
}

fn invalid(name: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid { name, reason }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

fn split_host_port(addr: &str) -> Option<(String, i32)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), i32::from(port)))
}

fn parse_flush_policy(s: &str) -> Option<FlushPolicy> {
    match s {
        "os-cache" => Some(FlushPolicy::OsCache),
        "every-append" => Some(FlushPolicy::EveryAppend),
        _ => s
            .strip_prefix("interval-ms:")
            .and_then(|n| n.parse().ok())
            .map(FlushPolicy::IntervalMs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_a_local_broker() {
        let c = BrokerConfig::resolve(Args::default()).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9092");
        assert_eq!(
            (c.advertised_host.as_str(), c.advertised_port),
            ("127.0.0.1", 9092)
        );
        assert_eq!(c.data_dir, PathBuf::from("weir-data"));
        assert!(c.auto_create_topics);
        assert_eq!(c.flush_policy, FlushPolicy::OsCache);
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weir.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1000\"\nnum_partitions = 3\n[topic_defaults]\n\"retention.ms\" = 1000\n",
        )
        .unwrap();
        let c = BrokerConfig::resolve(Args {
            config: Some(path),
            listen: Some("127.0.0.1:2000".into()),
            ..Args::default()
        })
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:2000");
        assert_eq!(c.num_partitions, 3);
        assert_eq!(
            c.topic_defaults.get("retention.ms").map(String::as_str),
            Some("1000")
        );
    }

    #[test]
    fn bad_values_are_rejected() {
        let bad = |args: Args| BrokerConfig::resolve(args).is_err();
        assert!(bad(Args {
            flush_policy: Some("sometimes".into()),
            ..Args::default()
        }));
        assert!(bad(Args {
            listen: Some("nowhere".into()),
            ..Args::default()
        }));
        assert!(bad(Args {
            topic_config: vec!["no.such.config=1".into()],
            ..Args::default()
        }));
        assert!(bad(Args {
            num_partitions: Some(0),
            ..Args::default()
        }));
        assert!(bad(Args {
            offsets_topic_partitions: Some(0),
            ..Args::default()
        }));
        assert!(bad(Args {
            transaction_state_partitions: Some(0),
            ..Args::default()
        }));
        assert!(bad(Args {
            transaction_max_timeout_ms: Some(0),
            ..Args::default()
        }));
    }

    #[test]
    fn flush_policies_parse() {
        assert_eq!(
            parse_flush_policy("interval-ms:50"),
            Some(FlushPolicy::IntervalMs(50))
        );
        assert_eq!(
            parse_flush_policy("every-append"),
            Some(FlushPolicy::EveryAppend)
        );
    }
}
