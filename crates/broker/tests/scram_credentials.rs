//! SCRAM credential admin APIs (KIP-554) over the wire: DescribeUserScramCredentials and
//! AlterUserScramCredentials with Kafka's per-user errors, what the metadata state keeps (never
//! the salted password), and credentials surviving a restart. Real clients are driven by
//! compat-tests/test_scram_credentials.py.

mod common;

use bytes::Bytes;
use common::{call, connect};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::net::TcpStream;
use weir_broker::config::BrokerConfig;
use weir_broker::{start, RunningBroker};
use weir_metadata::{ScramCredential, ScramMechanism};

const SHA_256: i8 = 1;
const SHA_512: i8 = 2;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const RESOURCE_NOT_FOUND: i16 = 91;
const DUPLICATE_RESOURCE: i16 = 92;
const UNACCEPTABLE_CREDENTIAL: i16 = 93;

async fn broker(dir: &std::path::Path) -> RunningBroker {
    start(BrokerConfig::for_dir("127.0.0.1:0", dir).unwrap())
        .await
        .unwrap()
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn describe(
    c: &mut TcpStream,
    users: Option<&[&str]>,
) -> DescribeUserScramCredentialsResponse {
    let req = DescribeUserScramCredentialsRequest::default().with_users(users.map(|us| {
        us.iter()
            .map(|u| UserName::default().with_name(s(u)))
            .collect()
    }));
    let resp: DescribeUserScramCredentialsResponse =
        call(c, ApiKey::DescribeUserScramCredentials, 0, &req).await;
    assert_eq!(resp.error_code, 0, "{:?}", resp.error_message);
    resp
}

/// One described user: (user, error code, [(mechanism, iterations)]).
type Described = (String, i16, Vec<(i8, i32)>);

/// Each result of a describe, in response order.
fn summary(resp: &DescribeUserScramCredentialsResponse) -> Vec<Described> {
    resp.results
        .iter()
        .map(|r| {
            (
                r.user.to_string(),
                r.error_code,
                r.credential_infos
                    .iter()
                    .map(|i| (i.mechanism, i.iterations))
                    .collect(),
            )
        })
        .collect()
}

fn upsertion(user: &str, mechanism: i8, iterations: i32) -> ScramCredentialUpsertion {
    ScramCredentialUpsertion::default()
        .with_name(s(user))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(Bytes::from_static(b"salt"))
        .with_salted_password(Bytes::from(vec![0x5a; 32]))
}

fn deletion(user: &str, mechanism: i8) -> ScramCredentialDeletion {
    ScramCredentialDeletion::default()
        .with_name(s(user))
        .with_mechanism(mechanism)
}

/// Sends one AlterUserScramCredentials; (user, error code, message) per result, by user.
async fn alter(
    c: &mut TcpStream,
    deletions: Vec<ScramCredentialDeletion>,
    upsertions: Vec<ScramCredentialUpsertion>,
) -> Vec<(String, i16, Option<String>)> {
    let req = AlterUserScramCredentialsRequest::default()
        .with_deletions(deletions)
        .with_upsertions(upsertions);
    let resp: AlterUserScramCredentialsResponse =
        call(c, ApiKey::AlterUserScramCredentials, 0, &req).await;
    let mut results: Vec<_> = resp
        .results
        .iter()
        .map(|r| {
            (
                r.user.to_string(),
                r.error_code,
                r.error_message.as_ref().map(|m| m.to_string()),
            )
        })
        .collect();
    results.sort();
    results
}

fn codes(results: &[(String, i16, Option<String>)]) -> Vec<(&str, i16)> {
    results.iter().map(|(u, c, _)| (u.as_str(), *c)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    // Null and empty lists both mean "every user": there are none.
    assert!(describe(&mut c, None).await.results.is_empty());
    assert!(describe(&mut c, Some(&[])).await.results.is_empty());
    // A named user without credentials, and a user named twice.
    let resp = describe(&mut c, Some(&["alice", "bob", "alice"])).await;
    assert_eq!(
        summary(&resp),
        vec![
            ("alice".into(), DUPLICATE_RESOURCE, vec![]),
            ("bob".into(), RESOURCE_NOT_FOUND, vec![]),
        ]
    );
    assert_eq!(
        resp.results[1].error_message.as_deref(),
        Some("Attempt to describe a user credential that does not exist: bob")
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_describe_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;

    let ok = alter(
        &mut c,
        vec![],
        vec![
            upsertion("alice", SHA_256, 10000),
            upsertion("bob", SHA_512, 4096),
        ],
    )
    .await;
    assert_eq!(codes(&ok), vec![("alice", 0), ("bob", 0)], "{ok:?}");
    // A second mechanism for alice, and an upsert that replaces bob's credential.
    let ok = alter(
        &mut c,
        vec![],
        vec![
            upsertion("alice", SHA_512, 8192),
            upsertion("bob", SHA_512, 16384),
        ],
    )
    .await;
    assert_eq!(codes(&ok), vec![("alice", 0), ("bob", 0)], "{ok:?}");

    assert_eq!(
        summary(&describe(&mut c, None).await),
        vec![
            ("alice".into(), 0, vec![(SHA_256, 10000), (SHA_512, 8192)]),
            ("bob".into(), 0, vec![(SHA_512, 16384)]),
        ]
    );
    assert_eq!(
        summary(&describe(&mut c, Some(&["bob"])).await),
        vec![("bob".into(), 0, vec![(SHA_512, 16384)])]
    );

    // The state keeps salt, StoredKey, ServerKey and iterations: not the salted password.
    let state = b.broker.metadata.state();
    let stored = &state.scram_credentials["alice"][&ScramMechanism::ScramSha256];
    assert_eq!(
        *stored,
        ScramCredential::from_salted_password(
            ScramMechanism::ScramSha256,
            b"salt",
            &[0x5a; 32],
            10000
        )
    );
    assert_ne!(stored.stored_key, vec![0x5a; 32]);
    assert_ne!(stored.server_key, vec![0x5a; 32]);

    // Deleting one mechanism leaves the other; deleting a missing one is RESOURCE_NOT_FOUND.
    let deleted = alter(
        &mut c,
        vec![deletion("alice", SHA_256), deletion("bob", SHA_256)],
        vec![],
    )
    .await;
    assert_eq!(
        codes(&deleted),
        vec![("alice", 0), ("bob", RESOURCE_NOT_FOUND)]
    );
    assert_eq!(
        deleted[1].2.as_deref(),
        Some("Attempt to delete a user credential that does not exist")
    );
    assert_eq!(
        summary(&describe(&mut c, Some(&["alice"])).await),
        vec![("alice".into(), 0, vec![(SHA_512, 8192)])]
    );
    // The last credential gone, the user is gone.
    let deleted = alter(&mut c, vec![deletion("alice", SHA_512)], vec![]).await;
    assert_eq!(codes(&deleted), vec![("alice", 0)]);
    assert_eq!(
        summary(&describe(&mut c, Some(&["alice"])).await),
        vec![("alice".into(), RESOURCE_NOT_FOUND, vec![])]
    );
    let gone = alter(&mut c, vec![deletion("nobody", SHA_512)], vec![]).await;
    assert_eq!(codes(&gone), vec![("nobody", RESOURCE_NOT_FOUND)]);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_altered_twice_in_one_request_is_rejected_whole() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    assert_eq!(
        codes(&alter(&mut c, vec![], vec![upsertion("carol", SHA_256, 4096)]).await),
        vec![("carol", 0)]
    );
    let results = alter(
        &mut c,
        // carol: a deletion and an upsertion; dave: two upsertions of different mechanisms.
        vec![deletion("carol", SHA_256)],
        vec![
            upsertion("carol", SHA_512, 4096),
            upsertion("dave", SHA_256, 4096),
            upsertion("dave", SHA_512, 4096),
            upsertion("erin", SHA_256, 4096),
        ],
    )
    .await;
    assert_eq!(
        codes(&results),
        vec![
            ("carol", DUPLICATE_RESOURCE),
            ("dave", DUPLICATE_RESOURCE),
            ("erin", 0)
        ]
    );
    // Nothing of carol's or dave's alterations was applied.
    assert_eq!(
        summary(&describe(&mut c, None).await),
        vec![
            ("carol".into(), 0, vec![(SHA_256, 4096)]),
            ("erin".into(), 0, vec![(SHA_256, 4096)]),
        ]
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacceptable_upsertions_are_refused_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    let results = alter(
        &mut c,
        vec![deletion("mech-del", 0)],
        vec![
            upsertion("few", SHA_256, 4095),
            upsertion("many", SHA_512, 16385),
            upsertion("mech", 3, 4096),
            upsertion("", SHA_256, 4096),
            upsertion("nosalt", SHA_256, 4096).with_salt(Bytes::new()),
            upsertion("nopass", SHA_256, 4096).with_salted_password(Bytes::new()),
            // librdkafka's 0081 case: NUL bytes inside salt and password are fine.
            upsertion("nul", SHA_256, 4096)
                .with_salt(Bytes::from_static(b"s\0l\0"))
                .with_salted_password(Bytes::from_static(b"\0as\0word")),
        ],
    )
    .await;
    assert_eq!(
        codes(&results),
        vec![
            ("", UNACCEPTABLE_CREDENTIAL),
            ("few", UNACCEPTABLE_CREDENTIAL),
            ("many", UNACCEPTABLE_CREDENTIAL),
            ("mech", UNSUPPORTED_SASL_MECHANISM),
            ("mech-del", UNSUPPORTED_SASL_MECHANISM),
            ("nopass", UNACCEPTABLE_CREDENTIAL),
            ("nosalt", UNACCEPTABLE_CREDENTIAL),
            ("nul", 0),
        ]
    );
    let message = |user: &str| {
        results
            .iter()
            .find(|r| r.0 == user)
            .and_then(|r| r.2.clone())
            .unwrap_or_default()
    };
    assert!(message("few").contains("Too few iterations"), "{results:?}");
    assert!(
        message("many").contains("Too many iterations"),
        "{results:?}"
    );
    assert_eq!(
        summary(&describe(&mut c, None).await),
        vec![("nul".into(), 0, vec![(SHA_256, 4096)])]
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    let ok = alter(
        &mut c,
        vec![],
        vec![
            upsertion("frank", SHA_512, 12345),
            upsertion("gina", SHA_256, 4096),
        ],
    )
    .await;
    assert_eq!(codes(&ok), vec![("frank", 0), ("gina", 0)]);
    assert_eq!(
        codes(&alter(&mut c, vec![deletion("gina", SHA_256)], vec![]).await),
        vec![("gina", 0)]
    );
    let before = b.broker.metadata.state().scram_credentials.clone();
    drop(c);
    b.shutdown().await;

    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    assert_eq!(
        summary(&describe(&mut c, None).await),
        vec![("frank".into(), 0, vec![(SHA_512, 12345)])]
    );
    assert_eq!(b.broker.metadata.state().scram_credentials, before);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorizer_guards_both_apis() {
    const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::for_dir("127.0.0.1:0", dir.path()).unwrap();
    // On, with no ACLs: the anonymous principal may do nothing on the cluster.
    config.authorizer = true;
    let b = start(config).await.unwrap();
    let mut c = connect(&b).await;
    let resp: DescribeUserScramCredentialsResponse = call(
        &mut c,
        ApiKey::DescribeUserScramCredentials,
        0,
        &DescribeUserScramCredentialsRequest::default(),
    )
    .await;
    assert_eq!(resp.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert!(resp.results.is_empty());
    let results = alter(
        &mut c,
        vec![deletion("x", SHA_256)],
        vec![upsertion("y", SHA_256, 4096)],
    )
    .await;
    assert_eq!(
        codes(&results),
        vec![
            ("x", CLUSTER_AUTHORIZATION_FAILED),
            ("y", CLUSTER_AUTHORIZATION_FAILED)
        ]
    );
    assert!(b.broker.metadata.state().scram_credentials.is_empty());
    b.shutdown().await;
}
