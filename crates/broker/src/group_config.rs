//! Dynamic group configs (KIP-848, Kafka 4.0): per-group settings that AlterConfigs and
//! IncrementalAlterConfigs set on a GROUP resource (ConfigResource type 32) and DescribeConfigs
//! describes.
//!
//! They live in the metadata quorum (`ClusterState::group_configs`), keyed by group id, and exist
//! whether or not the group does (as in Kafka, a group can be configured before its first member
//! arrives, and describing a group nobody has used answers the defaults).
//!
//! - **Applied:** `consumer.session.timeout.ms` and `consumer.heartbeat.interval.ms` replace the
//!   broker's `group.consumer.*` settings for that consumer-protocol group from its members'
//!   next heartbeat on ([`consumer_overrides`]).
//! - **Stored only:** the `share.*` configs. Weir has no share groups (KIP-932), so they are
//!   validated, kept and described, and have no effect.
//!
//! Values are checked as a Kafka 4.0 controller checks them: a name that is not a group config,
//! a value of the wrong type or outside the broker's bounds → INVALID_CONFIG; the resource `""`
//! → INVALID_REQUEST. Kafka bounds the consumer timeouts by broker settings
//! (`group.consumer.min/max.session.timeout.ms`, 45000..60000, and
//! `group.consumer.min/max.heartbeat.interval.ms`, 5000..15000); Weir uses those ranges widened
//! to include its own `--group-consumer-*` defaults, so a broker started with a short session
//! timeout for tests still accepts its own default.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use weir_group::consumer::CgOverrides;

use crate::admin::ApiError;
use crate::config::BrokerConfig;
use crate::topic_config::{self, ConfigKind};

/// `consumer.session.timeout.ms`
pub const CONSUMER_SESSION_TIMEOUT_MS: &str = "consumer.session.timeout.ms";
/// `consumer.heartbeat.interval.ms`
pub const CONSUMER_HEARTBEAT_INTERVAL_MS: &str = "consumer.heartbeat.interval.ms";

/// One group config, with its default and bounds on this broker.
#[derive(Debug, Clone)]
pub struct GroupConfigDef {
    /// Kafka's name.
    pub name: &'static str,
    /// How values are checked (and the DescribeConfigs type).
    pub kind: ConfigKind,
    /// The value a group that does not set it gets.
    pub default: String,
    /// Inclusive bounds of an integer config.
    pub range: Option<(i64, i64)>,
    /// Whether Weir acts on it (the `consumer.*` ones) or only stores it.
    pub applied: bool,
}

fn int(name: &'static str, default: i32, min: i32, max: i32, applied: bool) -> GroupConfigDef {
    GroupConfigDef {
        name,
        kind: ConfigKind::Int(i32::MIN),
        default: default.to_string(),
        range: Some((i64::from(min.min(default)), i64::from(max.max(default)))),
        applied,
    }
}

/// Every group config this broker knows, in Kafka's order.
pub fn definitions(config: &BrokerConfig) -> Vec<GroupConfigDef> {
    vec![
        int(
            CONSUMER_SESSION_TIMEOUT_MS,
            config.group_consumer_session_timeout_ms,
            45_000,
            60_000,
            true,
        ),
        int(
            CONSUMER_HEARTBEAT_INTERVAL_MS,
            config.group_consumer_heartbeat_interval_ms,
            5_000,
            15_000,
            true,
        ),
        int("share.session.timeout.ms", 45_000, 45_000, 60_000, false),
        int("share.heartbeat.interval.ms", 5_000, 5_000, 15_000, false),
        int(
            "share.record.lock.duration.ms",
            30_000,
            15_000,
            60_000,
            false,
        ),
        GroupConfigDef {
            name: "share.auto.offset.reset",
            kind: ConfigKind::OneOf(&["latest", "earliest"]),
            default: "latest".to_string(),
            range: None,
            applied: false,
        },
    ]
}

fn invalid_config(message: String) -> ApiError {
    ApiError::new(ResponseError::InvalidConfig, message)
}

/// Checks a GROUP resource name: Kafka has no default group resource, so `""` is refused.
pub fn check_resource(group: &str) -> Result<(), ApiError> {
    if group.is_empty() {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            "Default group resources are not allowed.",
        ));
    }
    Ok(())
}

/// The kind of a group config, for IncrementalAlterConfigs' operations; an unknown name is
/// INVALID_CONFIG.
pub fn kind_of(config: &BrokerConfig, name: &str) -> Result<ConfigKind, ApiError> {
    definitions(config)
        .into_iter()
        .find(|d| d.name == name)
        .map(|d| d.kind)
        .ok_or_else(|| invalid_config(format!("Unknown group config name: {name}")))
}

/// Checks one value of a group config: its type, then its bounds.
pub fn check_value(config: &BrokerConfig, name: &str, value: &str) -> Result<(), ApiError> {
    let defs = definitions(config);
    let def = defs
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| invalid_config(format!("Unknown group config name: {name}")))?;
    topic_config::check_value(name, value, def.kind).map_err(|e| invalid_config(e.to_string()))?;
    if let Some((min, max)) = def.range {
        let v: i64 = value.trim().parse().map_err(|_| {
            invalid_config(format!("Invalid value {value} for configuration {name}"))
        })?;
        if v < min || v > max {
            return Err(invalid_config(format!(
                "Invalid value {value} for configuration {name}: must be between {min} and {max}"
            )));
        }
    }
    Ok(())
}

/// Checks a complete new set of one group's configs: every name and value, then that the
/// heartbeat interval stays below the session timeout (each taken from the set or its default).
pub fn validate(config: &BrokerConfig, configs: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (k, v) in configs {
        check_value(config, k, v)?;
    }
    let effective = |name: &str, default: i32| -> i64 {
        configs
            .get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(i64::from(default))
    };
    let session = effective(
        CONSUMER_SESSION_TIMEOUT_MS,
        config.group_consumer_session_timeout_ms,
    );
    let heartbeat = effective(
        CONSUMER_HEARTBEAT_INTERVAL_MS,
        config.group_consumer_heartbeat_interval_ms,
    );
    if heartbeat >= session {
        return Err(invalid_config(format!(
            "{CONSUMER_HEARTBEAT_INTERVAL_MS} ({heartbeat}) must be less than \
             {CONSUMER_SESSION_TIMEOUT_MS} ({session})"
        )));
    }
    Ok(())
}

/// The consumer-protocol settings a group sets itself, for the group coordinator.
pub fn consumer_overrides(configs: Option<&BTreeMap<String, String>>) -> CgOverrides {
    let get = |name: &str| {
        configs
            .and_then(|c| c.get(name))
            .and_then(|v| v.trim().parse::<i32>().ok())
    };
    CgOverrides {
        session_timeout_ms: get(CONSUMER_SESSION_TIMEOUT_MS),
        heartbeat_interval_ms: get(CONSUMER_HEARTBEAT_INTERVAL_MS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BrokerConfig {
        BrokerConfig::for_dir("127.0.0.1:0", std::path::Path::new("/nonexistent")).expect("config")
    }

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_inside_kafkas_bounds_pass_and_others_are_invalid_config() {
        let c = config();
        for ok in [
            set(&[(CONSUMER_SESSION_TIMEOUT_MS, "50000")]),
            set(&[(CONSUMER_HEARTBEAT_INTERVAL_MS, "15000")]),
            set(&[("share.auto.offset.reset", "earliest")]),
            set(&[("share.record.lock.duration.ms", "15000")]),
        ] {
            validate(&c, &ok).unwrap_or_else(|e| panic!("{ok:?}: {e:?}"));
        }
        for bad in [
            set(&[(CONSUMER_SESSION_TIMEOUT_MS, "60001")]),
            set(&[(CONSUMER_SESSION_TIMEOUT_MS, "abc")]),
            set(&[(CONSUMER_HEARTBEAT_INTERVAL_MS, "100")]),
            set(&[("share.auto.offset.reset", "none")]),
            set(&[("consumer.no.such.config", "1")]),
        ] {
            let e = validate(&c, &bad).expect_err(&format!("{bad:?}"));
            assert_eq!(e.code, ResponseError::InvalidConfig, "{bad:?}");
        }
    }

    #[test]
    fn the_brokers_own_defaults_widen_the_bounds() {
        let mut c = config();
        c.group_consumer_session_timeout_ms = 10_000;
        c.group_consumer_heartbeat_interval_ms = 1_000;
        validate(&c, &set(&[(CONSUMER_SESSION_TIMEOUT_MS, "10000")])).unwrap();
        validate(&c, &set(&[(CONSUMER_HEARTBEAT_INTERVAL_MS, "1000")])).unwrap();
        let e = validate(&c, &set(&[(CONSUMER_SESSION_TIMEOUT_MS, "9999")])).unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidConfig);
    }

    #[test]
    fn the_heartbeat_interval_must_stay_below_the_session_timeout() {
        let mut c = config();
        c.group_consumer_session_timeout_ms = 10_000;
        c.group_consumer_heartbeat_interval_ms = 1_000;
        let e = validate(&c, &set(&[(CONSUMER_HEARTBEAT_INTERVAL_MS, "12000")])).unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidConfig);
    }

    #[test]
    fn only_the_consumer_configs_become_overrides() {
        let configs = set(&[
            (CONSUMER_SESSION_TIMEOUT_MS, "50000"),
            ("share.session.timeout.ms", "50000"),
        ]);
        assert_eq!(
            consumer_overrides(Some(&configs)),
            CgOverrides {
                session_timeout_ms: Some(50_000),
                heartbeat_interval_ms: None,
            }
        );
        assert_eq!(consumer_overrides(None), CgOverrides::default());
    }

    #[test]
    fn the_default_group_resource_is_refused() {
        assert_eq!(
            check_resource("").unwrap_err().code,
            ResponseError::InvalidRequest
        );
        check_resource("g").unwrap();
    }
}
