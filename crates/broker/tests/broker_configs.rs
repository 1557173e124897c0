//! Dynamic broker configs over the wire: AlterConfigs and IncrementalAlterConfigs on BROKER
//! resources (`""` the cluster default, `"1"` this broker), what DescribeConfigs reports for
//! them and for the topics that inherit them, Kafka's error cases, the change reaching open
//! partitions, and the configs surviving a restart. Real clients are driven by
//! compat-tests/test_broker_configs.py.

mod common;

use common::{
    alter_configs, connect, create_topic, describe_configs, incremental_alter_configs,
    produce_value, ConfigOp,
};
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use tokio::net::TcpStream;
use weir_broker::config::BrokerConfig;
use weir_broker::{start, RunningBroker};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;

const DYNAMIC_TOPIC: i8 = 1;
const DYNAMIC_BROKER: i8 = 2;
const DYNAMIC_DEFAULT_BROKER: i8 = 3;
const STATIC_BROKER: i8 = 4;
const DEFAULT: i8 = 5;

const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_REQUEST: i16 = 42;
const INVALID_CONFIG: i16 = 40;

async fn broker(dir: &std::path::Path) -> RunningBroker {
    let mut config = BrokerConfig::for_dir("127.0.0.1:0", dir).unwrap();
    config.offsets_topic_partitions = 1;
    // A static topic default, to see it ranked below the dynamic ones.
    config
        .topic_defaults
        .insert("segment.ms".to_string(), "3600000".to_string());
    start(config).await.unwrap()
}

/// One IncrementalAlterConfigs operation: config name, operation, value.
type Op<'a> = ConfigOp<'a>;

async fn incremental(
    c: &mut TcpStream,
    resource_type: i8,
    name: &str,
    ops: &[Op<'_>],
    validate_only: bool,
) -> i16 {
    incremental_alter_configs(c, resource_type, name, ops, validate_only).await
}

/// Legacy AlterConfigs of one BROKER resource (replaces its whole set); its error code.
async fn replace(c: &mut TcpStream, name: &str, configs: &[(&str, &str)]) -> i16 {
    alter_configs(c, BROKER, name, configs).await
}

async fn describe(c: &mut TcpStream, resource_type: i8, name: &str) -> DescribeConfigsResult {
    describe_configs(c, resource_type, name).await
}

/// (value, source, synonym sources) of one described config.
fn entry(r: &DescribeConfigsResult, name: &str) -> Option<(Option<String>, i8, Vec<i8>)> {
    let e = r.configs.iter().find(|e| e.name.as_str() == name)?;
    Some((
        e.value.as_ref().map(|v| v.to_string()),
        e.config_source,
        e.synonyms.iter().map(|s| s.source).collect(),
    ))
}

async fn topic_config(c: &mut TcpStream, topic: &str, name: &str) -> (Option<String>, i8, Vec<i8>) {
    let r = describe(c, TOPIC, topic).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    entry(&r, name).unwrap()
}

fn some(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[tokio::test]
async fn topic_defaults_follow_dynamic_broker_configs() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    create_topic(&mut c, "t").await;
    let partition = b.broker.partition("t", 0).unwrap();
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await,
        (some("604800000"), DEFAULT, vec![DEFAULT])
    );
    assert_eq!(
        topic_config(&mut c, "t", "segment.ms").await,
        (some("3600000"), STATIC_BROKER, vec![STATIC_BROKER, DEFAULT])
    );

    // The cluster-wide default.
    let set = [("log.retention.ms", SET, Some("3600000"))];
    assert_eq!(incremental(&mut c, BROKER, "", &set, false).await, 0);
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await,
        (
            some("3600000"),
            DYNAMIC_DEFAULT_BROKER,
            vec![DYNAMIC_DEFAULT_BROKER, DEFAULT]
        )
    );
    assert_eq!(partition.settings().log_config.retention_ms, 3_600_000);

    // This broker's own value wins over the cluster default; a topic's own over both.
    let set = [
        ("log.retention.ms", SET, Some("1800000")),
        ("log.segment.ms", SET, Some("1")), // not a Kafka config name
    ];
    assert_eq!(
        incremental(&mut c, BROKER, "1", &set, false).await,
        INVALID_REQUEST
    );
    let set = [
        ("log.retention.ms", SET, Some("1800000")),
        ("log.roll.ms", SET, Some("60000")),
    ];
    assert_eq!(incremental(&mut c, BROKER, "1", &set, false).await, 0);
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await,
        (
            some("1800000"),
            DYNAMIC_BROKER,
            vec![DYNAMIC_BROKER, DYNAMIC_DEFAULT_BROKER, DEFAULT]
        )
    );
    assert_eq!(
        topic_config(&mut c, "t", "segment.ms").await,
        (
            some("60000"),
            DYNAMIC_BROKER,
            vec![DYNAMIC_BROKER, STATIC_BROKER, DEFAULT]
        )
    );
    assert_eq!(partition.settings().log_config.retention_ms, 1_800_000);
    assert_eq!(partition.settings().log_config.segment_ms, 60_000);
    let own = [("retention.ms", SET, Some("1000"))];
    assert_eq!(incremental(&mut c, TOPIC, "t", &own, false).await, 0);
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await,
        (
            some("1000"),
            DYNAMIC_TOPIC,
            vec![
                DYNAMIC_TOPIC,
                DYNAMIC_BROKER,
                DYNAMIC_DEFAULT_BROKER,
                DEFAULT
            ]
        )
    );
    let own = [("retention.ms", DELETE, None)];
    assert_eq!(incremental(&mut c, TOPIC, "t", &own, false).await, 0);

    // The broker describes the effective value and every level.
    let r = describe(&mut c, BROKER, "1").await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        entry(&r, "log.retention.ms").unwrap(),
        (
            some("1800000"),
            DYNAMIC_BROKER,
            vec![DYNAMIC_BROKER, DYNAMIC_DEFAULT_BROKER, DEFAULT]
        )
    );
    let e = r
        .configs
        .iter()
        .find(|e| e.name.as_str() == "log.retention.ms");
    assert!(!e.unwrap().read_only);
    assert_eq!(
        entry(&r, "log.roll.ms").unwrap(),
        (
            some("60000"),
            DYNAMIC_BROKER,
            vec![DYNAMIC_BROKER, STATIC_BROKER, DEFAULT]
        )
    );
    let e = r.configs.iter().find(|e| e.name.as_str() == "log.dirs");
    assert!(e.unwrap().read_only);
    // The cluster default resource lists only what is set there.
    let r = describe(&mut c, BROKER, "").await;
    assert_eq!(r.error_code, 0);
    let names: Vec<&str> = r.configs.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, vec!["log.retention.ms"]);
    assert_eq!(
        entry(&r, "log.retention.ms").unwrap(),
        (
            some("3600000"),
            DYNAMIC_DEFAULT_BROKER,
            vec![DYNAMIC_DEFAULT_BROKER]
        )
    );

    // DELETE goes back a level at a time.
    let del = [("log.retention.ms", DELETE, None)];
    assert_eq!(incremental(&mut c, BROKER, "1", &del, false).await, 0);
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await.1,
        DYNAMIC_DEFAULT_BROKER
    );
    assert_eq!(incremental(&mut c, BROKER, "", &del, false).await, 0);
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await,
        (some("604800000"), DEFAULT, vec![DEFAULT])
    );
    assert_eq!(partition.settings().log_config.retention_ms, 604_800_000);
    assert_eq!(describe(&mut c, BROKER, "").await.configs.len(), 0);
    b.shutdown().await;
}

async fn produce(c: &mut TcpStream, topic: &str, value_len: usize) -> i16 {
    produce_value(c, topic, &vec![b'x'; value_len]).await
}

#[tokio::test]
async fn message_max_bytes_at_the_cluster_default_limits_produce() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    create_topic(&mut c, "small").await;
    assert_eq!(produce(&mut c, "small", 5000).await, 0);
    assert_eq!(
        replace(&mut c, "", &[("message.max.bytes", "2000")]).await,
        0
    );
    assert_eq!(produce(&mut c, "small", 5000).await, MESSAGE_TOO_LARGE);
    assert_eq!(produce(&mut c, "small", 100).await, 0);
    // A topic created afterwards inherits it too.
    create_topic(&mut c, "later").await;
    assert_eq!(produce(&mut c, "later", 5000).await, MESSAGE_TOO_LARGE);
    // Legacy AlterConfigs replaces the whole set: an empty set removes it.
    assert_eq!(replace(&mut c, "", &[]).await, 0);
    assert_eq!(produce(&mut c, "small", 5000).await, 0);
    b.shutdown().await;
}

#[tokio::test]
async fn stored_only_and_sensitive_configs_are_kept_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    // What librdkafka's 0081_admin sends.
    let relogin = [("sasl.kerberos.min.time.before.relogin", "58000")];
    assert_eq!(replace(&mut c, "1", &relogin).await, 0);
    let ops = [
        ("background.threads", SET, Some("9")),
        ("log.cleanup.policy", APPEND, Some("compact")),
        ("ssl.keystore.password", SET, Some("secret")),
    ];
    assert_eq!(incremental(&mut c, BROKER, "1", &ops, false).await, 0);
    assert_eq!(
        incremental(
            &mut c,
            BROKER,
            "",
            &[("num.io.threads", SET, Some("4"))],
            false
        )
        .await,
        0
    );

    let check = |r: &DescribeConfigsResult| {
        assert_eq!(r.error_code, 0);
        assert_eq!(
            entry(r, "sasl.kerberos.min.time.before.relogin").unwrap(),
            (some("58000"), DYNAMIC_BROKER, vec![DYNAMIC_BROKER, DEFAULT])
        );
        assert_eq!(
            entry(r, "background.threads").unwrap(),
            (some("9"), DYNAMIC_BROKER, vec![DYNAMIC_BROKER, DEFAULT])
        );
        assert_eq!(
            entry(r, "num.io.threads").unwrap(),
            (
                some("4"),
                DYNAMIC_DEFAULT_BROKER,
                vec![DYNAMIC_DEFAULT_BROKER, DEFAULT]
            )
        );
        assert_eq!(
            entry(r, "log.cleanup.policy").unwrap().0,
            some("delete,compact")
        );
        let secret = r
            .configs
            .iter()
            .find(|e| e.name.as_str() == "ssl.keystore.password")
            .unwrap();
        assert!(secret.is_sensitive);
        assert_eq!(secret.value, None);
        assert_eq!(secret.config_source, DYNAMIC_BROKER);
        assert!(secret.synonyms.iter().all(|s| s.value.is_none()));
        assert!(!secret.read_only);
        // Only configs that are set appear.
        assert!(entry(r, "ssl.truststore.password").is_none());
    };
    check(&describe(&mut c, BROKER, "1").await);
    b.shutdown().await;

    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    check(&describe(&mut c, BROKER, "1").await);
    create_topic(&mut c, "after-restart").await;
    assert_eq!(
        topic_config(&mut c, "after-restart", "cleanup.policy").await,
        (
            some("delete,compact"),
            DYNAMIC_BROKER,
            vec![DYNAMIC_BROKER, DEFAULT]
        )
    );
    b.shutdown().await;
}

#[tokio::test]
async fn kafkas_checks_refuse_bad_changes_without_storing_them() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    let cases: &[(&str, &[Op], i16)] = &[
        // unknown, and read-only
        ("1", &[("no.such.config", SET, Some("1"))], INVALID_REQUEST),
        ("1", &[("log.dirs", SET, Some("/tmp/x"))], INVALID_REQUEST),
        ("", &[("node.id", SET, Some("2"))], INVALID_REQUEST),
        // bad values (INVALID_REQUEST, as a KRaft broker answers)
        (
            "1",
            &[("log.retention.ms", SET, Some("soon"))],
            INVALID_REQUEST,
        ),
        (
            "",
            &[("background.threads", SET, Some("0"))],
            INVALID_REQUEST,
        ),
        (
            "1",
            &[("ssl.client.auth", SET, Some("maybe"))],
            INVALID_REQUEST,
        ),
        // per-broker configs at the cluster-default level
        (
            "",
            &[("sasl.kerberos.min.time.before.relogin", SET, Some("1"))],
            INVALID_REQUEST,
        ),
        (
            "",
            &[("ssl.keystore.location", SET, Some("/k"))],
            INVALID_REQUEST,
        ),
        // another broker, or not a broker id
        (
            "2",
            &[("background.threads", SET, Some("4"))],
            INVALID_REQUEST,
        ),
        (
            "one",
            &[("background.threads", SET, Some("4"))],
            INVALID_REQUEST,
        ),
        // APPEND to a non-list, a null SET, a config named twice
        (
            "1",
            &[("background.threads", APPEND, Some("4"))],
            INVALID_CONFIG,
        ),
        ("1", &[("background.threads", SET, None)], INVALID_REQUEST),
        (
            "1",
            &[
                ("background.threads", SET, Some("4")),
                ("background.threads", DELETE, None),
            ],
            INVALID_REQUEST,
        ),
    ];
    for (name, ops, code) in cases {
        assert_eq!(
            incremental(&mut c, BROKER, name, ops, false).await,
            *code,
            "{name:?} {ops:?}"
        );
    }
    assert_eq!(
        replace(&mut c, "1", &[("log.dirs", "/x")]).await,
        INVALID_REQUEST
    );
    assert_eq!(
        replace(&mut c, "", &[("sasl.jaas.config", "x")]).await,
        INVALID_REQUEST
    );
    assert_eq!(replace(&mut c, "7", &[]).await, INVALID_REQUEST);
    let r = describe(&mut c, BROKER, "2").await;
    assert_eq!(r.error_code, INVALID_REQUEST);

    // validate_only checks but does not store.
    let ok = [("log.retention.ms", SET, Some("1000"))];
    assert_eq!(incremental(&mut c, BROKER, "", &ok, true).await, 0);
    assert_eq!(
        incremental(
            &mut c,
            BROKER,
            "",
            &[("log.retention.ms", SET, Some("x"))],
            true
        )
        .await,
        INVALID_REQUEST
    );
    assert!(b.broker.metadata.state().broker_configs.is_empty());
    assert_eq!(describe(&mut c, BROKER, "").await.configs.len(), 0);
    b.shutdown().await;
}
