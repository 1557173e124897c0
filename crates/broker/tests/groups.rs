//! In-process wire tests of consumer groups: the classic join/sync/heartbeat/leave cycle over
//! TCP at every served version, a JoinGroup that waits without holding up other connections,
//! a batched LeaveGroup, the answers about groups that do not exist, offsets committed with
//! their own retention time, and group state and committed offsets recovered from
//! `__consumer_offsets` after a restart.
//! Real-client coverage lives in compat-tests/test_groups_*.py.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use weir_broker::{start, BrokerConfig, RunningBroker};

mod common;

use common::{call, connect, create_topic, frame, read_frame};

async fn broker(dir: &std::path::Path) -> RunningBroker {
    let mut config = BrokerConfig::for_dir("127.0.0.1:0", dir).unwrap();
    config.offsets_topic_partitions = 5;
    // Joins complete as soon as every member is in; the initial delay has its own unit test.
    config.group_initial_rebalance_delay_ms = 0;
    start(config).await.unwrap()
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn join_request(group: &str, member: &str, version: i16) -> JoinGroupRequest {
    let req = JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(10_000)
        .with_member_id(s(member))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"\x00\x01meta"))]);
    if version >= 1 {
        req.with_rebalance_timeout_ms(10_000)
    } else {
        req
    }
}

/// Joins `group` as a new member (handling MEMBER_ID_REQUIRED); returns the response.
async fn join(stream: &mut TcpStream, group: &str, version: i16) -> JoinGroupResponse {
    let first: JoinGroupResponse = call(
        stream,
        ApiKey::JoinGroup,
        version,
        &join_request(group, "", version),
    )
    .await;
    if version < 4 {
        return first;
    }
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED at v{version}");
    call(
        stream,
        ApiKey::JoinGroup,
        version,
        &join_request(group, &first.member_id, version),
    )
    .await
}

async fn sync(
    stream: &mut TcpStream,
    group: &str,
    member: &StrBytes,
    generation: i32,
    version: i16,
) -> SyncGroupResponse {
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(member.clone())
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(member.clone())
            .with_assignment(Bytes::from_static(b"assigned"))]);
    call(stream, ApiKey::SyncGroup, version, &req).await
}

fn commit_request(
    group: &str,
    member: &StrBytes,
    generation: i32,
    offset: i64,
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(member.clone())
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(s("meta")))])])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_version_runs_the_classic_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    create_topic(&mut c, "t").await;
    for version in 2..=9i16 {
        let group = format!("g-v{version}");
        let joined = join(&mut c, &group, version).await;
        assert_eq!(joined.error_code, 0, "JoinGroup v{version}");
        assert_eq!(joined.generation_id, 1);
        assert_eq!(joined.leader, joined.member_id);
        assert_eq!(joined.members.len(), 1);
        assert_eq!(joined.protocol_name.as_deref(), Some("range"));

        let sync_version = (version - 2).min(5);
        let synced = sync(&mut c, &group, &joined.member_id, 1, sync_version).await;
        assert_eq!(synced.error_code, 0, "SyncGroup v{sync_version}");
        assert_eq!(&synced.assignment[..], b"assigned");

        let hb_version = (version - 2).min(4);
        let hb: HeartbeatResponse = call(
            &mut c,
            ApiKey::Heartbeat,
            hb_version,
            &HeartbeatRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_generation_id(1)
                .with_member_id(joined.member_id.clone()),
        )
        .await;
        assert_eq!(hb.error_code, 0, "Heartbeat v{hb_version}");

        let commit_version = version.min(8);
        let committed: OffsetCommitResponse = call(
            &mut c,
            ApiKey::OffsetCommit,
            commit_version,
            &commit_request(&group, &joined.member_id, 1, 10 + i64::from(version)),
        )
        .await;
        assert_eq!(
            committed.topics[0].partitions[0].error_code, 0,
            "OffsetCommit v{commit_version}"
        );

        let described: DescribeGroupsResponse = call(
            &mut c,
            ApiKey::DescribeGroups,
            version.min(5),
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&group))]),
        )
        .await;
        let d = &described.groups[0];
        assert_eq!(
            (d.group_state.as_str(), d.protocol_data.as_str()),
            ("Stable", "range")
        );
        assert_eq!(&d.members[0].member_assignment[..], b"assigned");
        assert_eq!(d.members[0].client_id.as_str(), "weir-test");

        let leave_version = (version - 4).clamp(0, 5);
        let leave = if leave_version >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_members(vec![
                    MemberIdentity::default().with_member_id(joined.member_id.clone())
                ])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_member_id(joined.member_id.clone())
        };
        let left: LeaveGroupResponse =
            call(&mut c, ApiKey::LeaveGroup, leave_version, &leave).await;
        assert_eq!(left.error_code, 0, "LeaveGroup v{leave_version}");
    }
    let listed: ListGroupsResponse = call(
        &mut c,
        ApiKey::ListGroups,
        4,
        &ListGroupsRequest::default().with_states_filter(vec![s("Empty")]),
    )
    .await;
    assert_eq!(listed.groups.len(), 8);
    for version in 1..=7i16 {
        let fetched: OffsetFetchResponse = call(
            &mut c,
            ApiKey::OffsetFetch,
            version,
            &OffsetFetchRequest::default()
                .with_group_id(GroupId(s("g-v5")))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![0, 1])])),
        )
        .await;
        let parts = &fetched.topics[0].partitions;
        assert_eq!(
            parts.iter().map(|p| p.committed_offset).collect::<Vec<_>>(),
            vec![15, -1],
            "OffsetFetch v{version}"
        );
    }
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_join_does_not_hold_up_other_connections() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut a = connect(&b).await;
    let joined = join(&mut a, "g", 5).await;
    sync(&mut a, "g", &joined.member_id, 1, 3).await;

    // b's second JoinGroup waits for a to rejoin.
    let mut second = connect(&b).await;
    let first: JoinGroupResponse =
        call(&mut second, ApiKey::JoinGroup, 5, &join_request("g", "", 5)).await;
    second
        .write_all(&frame(
            ApiKey::JoinGroup,
            5,
            7,
            &join_request("g", &first.member_id, 5),
        ))
        .await
        .unwrap();

    // Meanwhile other connections are served, and a learns about the rebalance.
    let mut other = connect(&b).await;
    let _: ApiVersionsResponse = call(
        &mut other,
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let hb: HeartbeatResponse = call(
        &mut a,
        ApiKey::Heartbeat,
        3,
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id(1)
            .with_member_id(joined.member_id.clone()),
    )
    .await;
    assert_eq!(hb.error_code, 27, "REBALANCE_IN_PROGRESS");

    let rejoined: JoinGroupResponse = call(
        &mut a,
        ApiKey::JoinGroup,
        5,
        &join_request("g", &joined.member_id, 5),
    )
    .await;
    let mut resp = read_frame(&mut second).await.expect("response");
    let _ =
        ResponseHeader::decode(&mut resp, ApiKey::JoinGroup.response_header_version(5)).unwrap();
    let b_joined = JoinGroupResponse::decode(&mut resp, 5).unwrap();
    assert_eq!((rejoined.error_code, b_joined.error_code), (0, 0));
    assert_eq!((rejoined.generation_id, b_joined.generation_id), (2, 2));
    assert_eq!(
        rejoined.members.len() + b_joined.members.len(),
        2,
        "only the leader sees members"
    );

    // Both leave in one batched LeaveGroup (v3+, as the admin client's removeMembers sends),
    // with a third identity that is not a member: per-member answers, and the group is empty.
    let left: LeaveGroupResponse = call(
        &mut other,
        ApiKey::LeaveGroup,
        5,
        &LeaveGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_members(vec![
                MemberIdentity::default().with_member_id(joined.member_id.clone()),
                MemberIdentity::default().with_member_id(b_joined.member_id.clone()),
                MemberIdentity::default().with_member_id(s("not-a-member")),
            ]),
    )
    .await;
    assert_eq!(left.error_code, 0);
    let codes: Vec<i16> = left.members.iter().map(|m| m.error_code).collect();
    assert_eq!(
        codes,
        vec![0, 0, 25],
        "the unknown one gets UNKNOWN_MEMBER_ID"
    );
    let described: DescribeGroupsResponse = call(
        &mut other,
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g"))]),
    )
    .await;
    assert_eq!(described.groups[0].group_state.as_str(), "Empty");
    assert!(described.groups[0].members.is_empty());
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_that_do_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    create_topic(&mut c, "t").await;
    let described: DescribeGroupsResponse = call(
        &mut c,
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("nobody"))]),
    )
    .await;
    let d = &described.groups[0];
    assert_eq!(
        (d.error_code, d.group_state.as_str()),
        (0, "Dead"),
        "up to v5, Kafka describes an unknown group as Dead"
    );
    let described: DescribeGroupsResponse = call(
        &mut c,
        ApiKey::DescribeGroups,
        6,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("nobody"))]),
    )
    .await;
    assert_eq!(
        described.groups[0].error_code, 69,
        "from v6 on (KIP-1043): GROUP_ID_NOT_FOUND"
    );
    let deleted: OffsetDeleteResponse = call(
        &mut c,
        ApiKey::OffsetDelete,
        0,
        &OffsetDeleteRequest::default()
            .with_group_id(GroupId(s("nobody")))
            .with_topics(vec![
                offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        offset_delete_request::OffsetDeleteRequestPartition::default()
                            .with_partition_index(0),
                    ]),
            ]),
    )
    .await;
    assert_eq!(deleted.error_code, 69, "GROUP_ID_NOT_FOUND");
    let hb: HeartbeatResponse = call(
        &mut c,
        ApiKey::Heartbeat,
        4,
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s("nobody")))
            .with_generation_id(1)
            .with_member_id(s("m")),
    )
    .await;
    assert_eq!(hb.error_code, 25, "UNKNOWN_MEMBER_ID");
    let gone: DeleteGroupsResponse = call(
        &mut c,
        ApiKey::DeleteGroups,
        2,
        &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("nobody"))]),
    )
    .await;
    assert_eq!(gone.results[0].error_code, 69, "GROUP_ID_NOT_FOUND");
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_committed_with_a_retention_time_expire_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::for_dir("127.0.0.1:0", dir.path()).unwrap();
    config.offsets_topic_partitions = 5;
    config.offsets_retention_check_interval_ms = 50;
    let b = start(config).await.unwrap();
    let mut c = connect(&b).await;
    create_topic(&mut c, "t").await;
    // A simple commit (no member) at v2 with retention_time_ms 200, one at v8 without.
    let short: OffsetCommitResponse = call(
        &mut c,
        ApiKey::OffsetCommit,
        2,
        &commit_request("short", &s(""), -1, 5).with_retention_time_ms(200),
    )
    .await;
    let kept: OffsetCommitResponse = call(
        &mut c,
        ApiKey::OffsetCommit,
        8,
        &commit_request("kept", &s(""), -1, 6),
    )
    .await;
    assert_eq!(short.topics[0].partitions[0].error_code, 0);
    assert_eq!(kept.topics[0].partitions[0].error_code, 0);
    let committed = |group: &'static str| {
        OffsetFetchRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partition_indexes(vec![0])]))
    };
    let mut last = 5;
    for _ in 0..100 {
        let fetched: OffsetFetchResponse =
            call(&mut c, ApiKey::OffsetFetch, 7, &committed("short")).await;
        last = fetched.topics[0].partitions[0].committed_offset;
        if last == -1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, -1, "the offset with a 200 ms retention expired");
    let fetched: OffsetFetchResponse =
        call(&mut c, ApiKey::OffsetFetch, 7, &committed("kept")).await;
    assert_eq!(
        fetched.topics[0].partitions[0].committed_offset, 6,
        "the broker's 7-day retention applies to the other"
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_and_offsets_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    let found: FindCoordinatorResponse = call(
        &mut c,
        ApiKey::FindCoordinator,
        4,
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![s("g"), s("")]),
    )
    .await;
    assert_eq!(found.coordinators[0].error_code, 0);
    assert_eq!(found.coordinators[0].port, i32::from(b.local_addr.port()));
    assert_eq!(
        found.coordinators[1].error_code, 42,
        "INVALID_REQUEST for an empty key"
    );
    let txn: FindCoordinatorResponse = call(
        &mut c,
        ApiKey::FindCoordinator,
        2,
        &FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_key(s("tx")),
    )
    .await;
    assert_eq!(txn.error_code, 0, "transactional ids have a coordinator");
    assert_eq!(txn.port, i32::from(b.local_addr.port()));

    create_topic(&mut c, "t").await;
    let joined = join(&mut c, "g", 7).await;
    sync(&mut c, "g", &joined.member_id, 1, 5).await;
    let committed: OffsetCommitResponse = call(
        &mut c,
        ApiKey::OffsetCommit,
        8,
        &commit_request("g", &joined.member_id, 1, 42),
    )
    .await;
    assert_eq!(committed.topics[0].partitions[0].error_code, 0);
    // A simple commit into another group, then that group is deleted.
    let _: OffsetCommitResponse = call(
        &mut c,
        ApiKey::OffsetCommit,
        8,
        &commit_request("gone", &s(""), -1, 7),
    )
    .await;
    let deleted: DeleteGroupsResponse = call(
        &mut c,
        ApiKey::DeleteGroups,
        2,
        &DeleteGroupsRequest::default()
            .with_groups_names(vec![GroupId(s("gone")), GroupId(s("g"))]),
    )
    .await;
    assert_eq!(deleted.results[0].error_code, 0);
    assert_eq!(deleted.results[1].error_code, 68, "NON_EMPTY_GROUP");
    drop(c);
    b.shutdown().await;

    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    let fetched: OffsetFetchResponse = call(
        &mut c,
        ApiKey::OffsetFetch,
        8,
        &OffsetFetchRequest::default().with_groups(vec![
            // Null topics: every committed offset of the group.
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s("g")))
                .with_topics(None),
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s("gone")))
                .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![0])])),
        ]),
    )
    .await;
    assert_eq!(fetched.groups[0].topics.len(), 1, "{fetched:?}");
    let g = &fetched.groups[0].topics[0].partitions[0];
    assert_eq!(
        (g.committed_offset, g.metadata.as_deref()),
        (42, Some("meta"))
    );
    let gone = &fetched.groups[1].topics[0].partitions[0];
    assert_eq!(
        gone.committed_offset, -1,
        "a deleted group's offsets stay deleted"
    );

    // The member carries on with its generation after the restart.
    let hb: HeartbeatResponse = call(
        &mut c,
        ApiKey::Heartbeat,
        4,
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id(1)
            .with_member_id(joined.member_id.clone()),
    )
    .await;
    assert_eq!(hb.error_code, 0);
    let listed: ListGroupsResponse =
        call(&mut c, ApiKey::ListGroups, 5, &ListGroupsRequest::default()).await;
    let names: Vec<&str> = listed.groups.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(names, vec!["g"]);
    assert_eq!(listed.groups[0].group_state.as_str(), "Stable");
    b.shutdown().await;
}
