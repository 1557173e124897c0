//! ACLs over the wire: the admin APIs (CreateAcls, DescribeAcls, DeleteAcls) with and without
//! the authorizer, ACLs surviving a restart, and enforcement on produce, fetch, metadata and
//! groups for the plaintext principal `User:ANONYMOUS`. Real clients are driven by
//! compat-tests/test_acls.py.

mod common;

use common::{call, connect, create_topic, produce_value};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::net::TcpStream;
use weir_broker::config::BrokerConfig;
use weir_broker::{start, RunningBroker};

const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const MATCH: i8 = 2;
const ANY: i8 = 1;
const ALL: i8 = 2;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DESCRIBE: i8 = 8;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const SECURITY_DISABLED: i16 = 54;
const INVALID_REQUEST: i16 = 42;

async fn broker(dir: &std::path::Path, authorizer: bool) -> RunningBroker {
    let mut config = BrokerConfig::for_dir("127.0.0.1:0", dir).unwrap();
    config.offsets_topic_partitions = 1;
    config.authorizer = authorizer;
    config.allow_everyone_if_no_acl_found = true;
    start(config).await.unwrap()
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn acl(
    resource_type: i8,
    name: &str,
    pattern: i8,
    principal: &str,
    op: i8,
    perm: i8,
) -> AclCreation {
    AclCreation::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pattern)
        .with_principal(s(principal))
        .with_host(s("*"))
        .with_operation(op)
        .with_permission_type(perm)
}

async fn create(c: &mut TcpStream, acls: Vec<AclCreation>) -> Vec<i16> {
    let r: CreateAclsResponse = call(
        c,
        ApiKey::CreateAcls,
        3,
        &CreateAclsRequest::default().with_creations(acls),
    )
    .await;
    r.results.iter().map(|r| r.error_code).collect()
}

fn filter(resource_type: i8, name: Option<&str>, pattern: i8) -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(resource_type)
        .with_resource_name_filter(name.map(s))
        .with_pattern_type_filter(pattern)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

async fn describe(c: &mut TcpStream, f: DescribeAclsRequest) -> DescribeAclsResponse {
    call(c, ApiKey::DescribeAcls, 3, &f).await
}

fn count(r: &DescribeAclsResponse) -> usize {
    r.resources.iter().map(|res| res.acls.len()).sum()
}

#[tokio::test]
async fn without_an_authorizer_acl_apis_are_disabled_and_everything_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), false).await;
    let mut c = connect(&b).await;
    let errors = create(
        &mut c,
        vec![acl(TOPIC, "t", LITERAL, "User:ANONYMOUS", ALL, DENY)],
    )
    .await;
    assert_eq!(errors, vec![SECURITY_DISABLED]);
    let r = describe(&mut c, filter(ANY, None, ANY)).await;
    assert_eq!(r.error_code, SECURITY_DISABLED);
    // Described resources report every operation they support.
    create_topic(&mut c, "t").await;
    let r: MetadataResponse = call(
        &mut c,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(TopicName(s("t"))))
            ]))
            .with_include_topic_authorized_operations(true),
    )
    .await;
    assert_eq!(r.topics[0].topic_authorized_operations.count_ones(), 8);
    b.shutdown().await;
}

#[tokio::test]
async fn acls_are_created_described_deleted_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), true).await;
    let mut c = connect(&b).await;
    let errors = create(
        &mut c,
        vec![
            acl(TOPIC, "orders-", PREFIXED, "User:alice", READ, ALLOW),
            acl(TOPIC, "orders-eu", LITERAL, "User:bob", WRITE, ALLOW),
            acl(GROUP, "g", LITERAL, "User:alice", READ, ALLOW),
            acl(TOPIC, "bad", LITERAL, "no-colon", READ, ALLOW),
            acl(TOPIC, "bad", MATCH, "User:x", READ, ALLOW),
        ],
    )
    .await;
    assert_eq!(errors, vec![0, 0, 0, INVALID_REQUEST, INVALID_REQUEST]);

    assert_eq!(count(&describe(&mut c, filter(ANY, None, ANY)).await), 3);
    // MATCH: every pattern that applies to the topic orders-eu.
    let r = describe(&mut c, filter(TOPIC, Some("orders-eu"), MATCH)).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(count(&r), 2);
    // LITERAL compares names exactly.
    assert_eq!(
        count(&describe(&mut c, filter(TOPIC, Some("orders-eu"), LITERAL)).await),
        1
    );
    b.shutdown().await;

    let b = broker(dir.path(), true).await;
    let mut c = connect(&b).await;
    assert_eq!(count(&describe(&mut c, filter(ANY, None, ANY)).await), 3);
    let r: DeleteAclsResponse = call(
        &mut c,
        ApiKey::DeleteAcls,
        3,
        &DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
            .with_resource_type_filter(TOPIC)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(ANY)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_operation(ANY)
            .with_permission_type(ANY)]),
    )
    .await;
    assert_eq!(r.filter_results[0].error_code, 0);
    assert_eq!(r.filter_results[0].matching_acls.len(), 2);
    let left = describe(&mut c, filter(ANY, None, ANY)).await;
    assert_eq!(count(&left), 1);
    assert_eq!(left.resources[0].resource_type, GROUP);
    b.shutdown().await;
}

async fn produce(c: &mut TcpStream, topic: &str) -> i16 {
    produce_value(c, topic, b"v").await
}

async fn fetch(c: &mut TcpStream, topic: &str) -> i16 {
    let r: FetchResponse = call(
        c,
        ApiKey::Fetch,
        12,
        &FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(s(topic)))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_partition_max_bytes(1 << 20)])]),
    )
    .await;
    r.responses[0].partitions[0].error_code
}

#[tokio::test]
async fn acls_are_enforced_for_the_anonymous_principal() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), true).await;
    let mut c = connect(&b).await;
    create_topic(&mut c, "open").await;
    create_topic(&mut c, "locked").await;
    assert_eq!(produce(&mut c, "locked").await, 0);

    // Only reads of "locked" are allowed for ANONYMOUS; the other topic has no ACL.
    let errors = create(
        &mut c,
        vec![
            acl(TOPIC, "locked", LITERAL, "User:ANONYMOUS", READ, ALLOW),
            acl(GROUP, "closed", LITERAL, "User:*", ALL, DENY),
        ],
    )
    .await;
    assert_eq!(errors, vec![0, 0]);
    assert_eq!(produce(&mut c, "locked").await, TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(fetch(&mut c, "locked").await, 0);
    assert_eq!(produce(&mut c, "open").await, 0);

    // READ implies DESCRIBE: the topic is visible, with exactly those operations.
    let r: MetadataResponse = call(
        &mut c,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(TopicName(s("locked"))))
            ]))
            .with_include_topic_authorized_operations(true),
    )
    .await;
    assert_eq!(r.topics[0].error_code, 0);
    assert_eq!(
        r.topics[0].topic_authorized_operations,
        (1 << READ) | (1 << DESCRIBE)
    );

    // A DENY on the whole topic hides it from metadata and fails fetches.
    create(
        &mut c,
        vec![acl(TOPIC, "locked", LITERAL, "User:ANONYMOUS", ALL, DENY)],
    )
    .await;
    assert_eq!(fetch(&mut c, "locked").await, TOPIC_AUTHORIZATION_FAILED);
    let all: MetadataResponse = call(
        &mut c,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    )
    .await;
    let names: Vec<String> = all
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    assert!(names.contains(&"open".to_string()), "{names:?}");
    assert!(!names.contains(&"locked".to_string()), "{names:?}");

    // Groups: the denied one cannot even find its coordinator.
    let r: FindCoordinatorResponse = call(
        &mut c,
        ApiKey::FindCoordinator,
        4,
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![s("closed"), s("fine")]),
    )
    .await;
    assert_eq!(r.coordinators[0].error_code, GROUP_AUTHORIZATION_FAILED);
    assert_eq!(r.coordinators[1].error_code, 0);
    b.shutdown().await;
}
