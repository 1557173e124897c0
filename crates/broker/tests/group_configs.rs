//! Group configs (KIP-848) over the wire: IncrementalAlterConfigs and AlterConfigs on GROUP
//! resources, DescribeConfigs of configured and unknown groups, Kafka's error cases, a group's
//! own heartbeat interval reaching its consumer-protocol members, and the configs surviving a
//! restart. Real clients are driven by compat-tests/test_group_configs.py and librdkafka's
//! 0081_admin.

mod common;

use common::{
    alter_configs, call, connect, create_topic, describe_configs, incremental_alter_configs,
    ConfigOp,
};
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::net::TcpStream;
use weir_broker::config::BrokerConfig;
use weir_broker::{start, RunningBroker};

const GROUP: i8 = 32;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;

const DEFAULT: i8 = 5;
const GROUP_CONFIG: i8 = 8;

const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;

async fn broker(dir: &std::path::Path) -> RunningBroker {
    let mut config = BrokerConfig::for_dir("127.0.0.1:0", dir).unwrap();
    config.offsets_topic_partitions = 1;
    start(config).await.unwrap()
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// One IncrementalAlterConfigs operation: config name, operation, value.
type Op<'a> = ConfigOp<'a>;

/// IncrementalAlterConfigs of one group; its error code.
async fn incremental(c: &mut TcpStream, group: &str, ops: &[Op<'_>], validate_only: bool) -> i16 {
    incremental_alter_configs(c, GROUP, group, ops, validate_only).await
}

/// Legacy AlterConfigs of one group (replaces its whole set); its error code.
async fn replace(c: &mut TcpStream, group: &str, configs: &[(&str, &str)]) -> i16 {
    alter_configs(c, GROUP, group, configs).await
}

async fn describe(c: &mut TcpStream, group: &str) -> DescribeConfigsResult {
    describe_configs(c, GROUP, group).await
}

/// (value, source, synonym sources) of one described config of a group.
async fn config(c: &mut TcpStream, group: &str, name: &str) -> (String, i8, Vec<i8>) {
    let r = describe(c, group).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let e = r
        .configs
        .iter()
        .find(|e| e.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} not described"));
    assert!(!e.read_only && !e.is_sensitive);
    (
        e.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
        e.config_source,
        e.synonyms.iter().map(|s| s.source).collect(),
    )
}

/// A consumer-protocol member joins `group`, subscribed to `topic`; the answer.
async fn join(c: &mut TcpStream, group: &str, topic: &str) -> ConsumerGroupHeartbeatResponse {
    call(
        c,
        ApiKey::ConsumerGroupHeartbeat,
        0,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(s(group).into())
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![s(topic).into()]))
            .with_topic_partitions(Some(Vec::new())),
    )
    .await
}

#[tokio::test]
async fn an_unknown_group_is_described_with_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    let r = describe(&mut c, "nobody-uses-this-group").await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let names: Vec<&str> = r.configs.iter().map(|e| e.name.as_str()).collect();
    for name in [
        "consumer.session.timeout.ms",
        "consumer.heartbeat.interval.ms",
        "share.session.timeout.ms",
        "share.heartbeat.interval.ms",
        "share.record.lock.duration.ms",
        "share.auto.offset.reset",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(r.configs.iter().all(|e| e.config_source == DEFAULT));
    assert_eq!(
        config(&mut c, "g", "consumer.session.timeout.ms").await,
        ("45000".to_string(), DEFAULT, vec![DEFAULT])
    );
    b.shutdown().await;
}

#[tokio::test]
async fn group_configs_are_set_deleted_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;

    // A group that does not exist can be configured (librdkafka's 0081_admin does this).
    let set = [("consumer.session.timeout.ms", SET, Some("50000"))];
    assert_eq!(incremental(&mut c, "my-group", &set, false).await, 0);
    assert_eq!(
        config(&mut c, "my-group", "consumer.session.timeout.ms").await,
        (
            "50000".to_string(),
            GROUP_CONFIG,
            vec![GROUP_CONFIG, DEFAULT]
        )
    );
    // validate_only changes nothing.
    let hb = [("consumer.heartbeat.interval.ms", SET, Some("6000"))];
    assert_eq!(incremental(&mut c, "my-group", &hb, true).await, 0);
    assert_eq!(
        config(&mut c, "my-group", "consumer.heartbeat.interval.ms").await,
        ("5000".to_string(), DEFAULT, vec![DEFAULT])
    );
    assert_eq!(incremental(&mut c, "my-group", &hb, false).await, 0);
    // Other groups keep the defaults.
    assert_eq!(
        config(&mut c, "other", "consumer.session.timeout.ms").await,
        ("45000".to_string(), DEFAULT, vec![DEFAULT])
    );
    b.shutdown().await;

    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    assert_eq!(
        config(&mut c, "my-group", "consumer.session.timeout.ms").await,
        (
            "50000".to_string(),
            GROUP_CONFIG,
            vec![GROUP_CONFIG, DEFAULT]
        )
    );
    assert_eq!(
        config(&mut c, "my-group", "consumer.heartbeat.interval.ms")
            .await
            .0,
        "6000"
    );
    let delete = [("consumer.session.timeout.ms", DELETE, None)];
    assert_eq!(incremental(&mut c, "my-group", &delete, false).await, 0);
    assert_eq!(
        config(&mut c, "my-group", "consumer.session.timeout.ms").await,
        ("45000".to_string(), DEFAULT, vec![DEFAULT])
    );
    // The legacy API replaces the whole set.
    assert_eq!(
        replace(
            &mut c,
            "my-group",
            &[("share.auto.offset.reset", "earliest")]
        )
        .await,
        0
    );
    assert_eq!(
        config(&mut c, "my-group", "share.auto.offset.reset").await,
        (
            "earliest".to_string(),
            GROUP_CONFIG,
            vec![GROUP_CONFIG, DEFAULT]
        )
    );
    assert_eq!(
        config(&mut c, "my-group", "consumer.heartbeat.interval.ms")
            .await
            .1,
        DEFAULT
    );
    b.shutdown().await;
}

#[tokio::test]
async fn bad_group_configs_get_kafkas_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    let cases: [(&str, Vec<Op<'_>>, i16); 7] = [
        (
            "g",
            vec![("no.such.config", SET, Some("1"))],
            INVALID_CONFIG,
        ),
        (
            "g",
            vec![("consumer.session.timeout.ms", SET, Some("1000"))],
            INVALID_CONFIG,
        ),
        (
            "g",
            vec![("consumer.session.timeout.ms", SET, Some("soon"))],
            INVALID_CONFIG,
        ),
        (
            "g",
            vec![("share.auto.offset.reset", SET, Some("none"))],
            INVALID_CONFIG,
        ),
        (
            "g",
            vec![("consumer.session.timeout.ms", APPEND, Some("1"))],
            INVALID_CONFIG,
        ),
        (
            "g",
            vec![
                ("consumer.session.timeout.ms", SET, Some("50000")),
                ("consumer.session.timeout.ms", SET, Some("55000")),
            ],
            INVALID_REQUEST,
        ),
        (
            "",
            vec![("consumer.session.timeout.ms", SET, Some("50000"))],
            INVALID_REQUEST,
        ),
    ];
    for (group, ops, want) in &cases {
        assert_eq!(
            incremental(&mut c, group, ops, false).await,
            *want,
            "{group:?} {ops:?}"
        );
    }
    assert_eq!(describe(&mut c, "").await.error_code, INVALID_REQUEST);
    assert_eq!(
        replace(&mut c, "g", &[("consumer.heartbeat.interval.ms", "1")]).await,
        INVALID_CONFIG
    );
    let r = describe(&mut c, "g").await;
    assert!(r.configs.iter().all(|e| e.config_source == DEFAULT));
    b.shutdown().await;
}

#[tokio::test]
async fn a_groups_heartbeat_interval_reaches_its_members() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    create_topic(&mut c, "t").await;

    let plain = join(&mut c, "plain", "t").await;
    assert_eq!(plain.error_code, 0, "{:?}", plain.error_message);
    assert_eq!(plain.heartbeat_interval_ms, 5_000);

    let hb = [("consumer.heartbeat.interval.ms", SET, Some("7000"))];
    assert_eq!(incremental(&mut c, "tuned", &hb, false).await, 0);
    let tuned = join(&mut c, "tuned", "t").await;
    assert_eq!(tuned.error_code, 0, "{:?}", tuned.error_message);
    assert_eq!(tuned.heartbeat_interval_ms, 7_000);
    b.shutdown().await;
}
