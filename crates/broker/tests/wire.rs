//! In-process tests of the broker's wire behaviour: routing of every advertised API, the
//! KIP-511 answer, connection handling of malformed input, produce validation, long polling and
//! restart recovery. Real-client coverage lives in compat-tests/; these pin down the protocol
//! edges that clients rarely exercise.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_broker::{start, BrokerConfig, RunningBroker};
use weir_protocol::api::SUPPORTED_APIS;
use weir_protocol::record_batch::build_test_batch;

mod common;

use common::{call, connect, create_topic, frame, produce_request, read_frame, TIMEOUT};

async fn broker(dir: &std::path::Path) -> RunningBroker {
    let config = BrokerConfig::for_dir("127.0.0.1:0", dir).unwrap();
    start(config).await.unwrap()
}

/// A frame encoded at `encoded_version` that claims `claimed_version` in its header: how a
/// client newer than the broker looks.
fn frame_claiming<R: Encodable + HeaderVersion>(
    key: ApiKey,
    encoded_version: i16,
    claimed_version: i16,
    body: &R,
) -> Bytes {
    let mut f = BytesMut::from(&frame(key, encoded_version, 7, body)[..]);
    f[6..8].copy_from_slice(&claimed_version.to_be_bytes());
    f.freeze()
}

async fn assert_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(TIMEOUT, stream.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "connection should be closed, read {n:?}"
    );
}

fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_advertised_api_is_routed() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut s = connect(&b).await;
    // A default body of every advertised API at its lowest and highest version gets an answer
    // with the right correlation id; none closes the connection.
    for api in SUPPORTED_APIS {
        for version in [api.min, api.max] {
            let frame = match api.key {
                // acks=0 would mean "no response".
                ApiKey::Produce => {
                    frame(api.key, version, 7, &ProduceRequest::default().with_acks(1))
                }
                _ => default_request_frame(api.key, version),
            };
            s.write_all(&frame).await.unwrap();
            let mut resp = read_frame(&mut s)
                .await
                .unwrap_or_else(|| panic!("{:?} v{version}: no response", api.key));
            let header =
                ResponseHeader::decode(&mut resp, api.key.response_header_version(version))
                    .unwrap();
            assert_eq!(header.correlation_id, 7, "{:?} v{version}", api.key);
        }
    }
    b.shutdown().await;
}

/// A default-valued request body for `key`, framed.
fn default_request_frame(key: ApiKey, version: i16) -> Bytes {
    macro_rules! by_key {
        ($($k:ident => $t:ty),* $(,)?) => {
            match key {
                $(ApiKey::$k => frame(key, version, 7, &<$t>::default()),)*
                other => panic!("add {other:?} to default_request_frame"),
            }
        };
    }
    by_key!(
        Fetch => FetchRequest, ListOffsets => ListOffsetsRequest, Metadata => MetadataRequest,
        ApiVersions => ApiVersionsRequest, CreateTopics => CreateTopicsRequest,
        DeleteTopics => DeleteTopicsRequest, DeleteRecords => DeleteRecordsRequest,
        InitProducerId => InitProducerIdRequest, OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
        DescribeConfigs => DescribeConfigsRequest, AlterConfigs => AlterConfigsRequest,
        CreatePartitions => CreatePartitionsRequest,
        IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
        DescribeCluster => DescribeClusterRequest,
        FindCoordinator => FindCoordinatorRequest, OffsetCommit => OffsetCommitRequest,
        OffsetFetch => OffsetFetchRequest, JoinGroup => JoinGroupRequest,
        Heartbeat => HeartbeatRequest, LeaveGroup => LeaveGroupRequest,
        SyncGroup => SyncGroupRequest, DescribeGroups => DescribeGroupsRequest,
        ListGroups => ListGroupsRequest, DeleteGroups => DeleteGroupsRequest,
        OffsetDelete => OffsetDeleteRequest,
        ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest,
        ConsumerGroupDescribe => ConsumerGroupDescribeRequest,
        AddPartitionsToTxn => AddPartitionsToTxnRequest, AddOffsetsToTxn => AddOffsetsToTxnRequest,
        EndTxn => EndTxnRequest, TxnOffsetCommit => TxnOffsetCommitRequest,
        DescribeProducers => DescribeProducersRequest,
        DescribeTransactions => DescribeTransactionsRequest,
        ListTransactions => ListTransactionsRequest,
        DescribeUserScramCredentials => DescribeUserScramCredentialsRequest,
        AlterUserScramCredentials => AlterUserScramCredentialsRequest,
        CreateAcls => CreateAclsRequest, DescribeAcls => DescribeAclsRequest,
        DeleteAcls => DeleteAclsRequest,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_api_versions_version_gets_the_kip_511_answer() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut s = connect(&b).await;
    // Version 99 of ApiVersions, header v2 (flexible).
    s.write_all(&frame_claiming(
        ApiKey::ApiVersions,
        3,
        99,
        &ApiVersionsRequest::default(),
    ))
    .await
    .unwrap();
    let mut resp = read_frame(&mut s)
        .await
        .expect("an answer, not a closed connection");
    assert_eq!(resp.get_i32(), 7);
    let body = ApiVersionsResponse::decode(&mut resp, 0).unwrap();
    assert_eq!(body.error_code, 35, "UNSUPPORTED_VERSION");
    assert!(body
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::ApiVersions as i16 && k.max_version >= 3));
    // The connection stays usable.
    let ok: ApiVersionsResponse = call(
        &mut s,
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default(),
    )
    .await;
    assert_eq!(ok.error_code, 0);
    assert_eq!(ok.api_keys.len(), SUPPORTED_APIS.len());
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_closes_only_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut healthy = connect(&b).await;

    let mut negative = connect(&b).await;
    negative.write_all(&(-5i32).to_be_bytes()).await.unwrap();
    assert_closed(&mut negative).await;

    let mut oversized = connect(&b).await;
    oversized
        .write_all(&(200_000_000i32).to_be_bytes())
        .await
        .unwrap();
    assert_closed(&mut oversized).await;

    let mut unsupported = connect(&b).await;
    unsupported
        .write_all(&frame_claiming(
            ApiKey::Metadata,
            12,
            99,
            &MetadataRequest::default(),
        ))
        .await
        .unwrap();
    assert_closed(&mut unsupported).await;

    let mut garbage = connect(&b).await;
    garbage
        .write_all(&[0, 0, 0, 12, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff])
        .await
        .unwrap();
    assert_closed(&mut garbage).await;

    let resp: MetadataResponse = call(
        &mut healthy,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default(),
    )
    .await;
    assert_eq!(resp.brokers.len(), 1);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_validates_batches_and_fetch_returns_the_stored_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut s = connect(&b).await;
    create_topic(&mut s, "wire").await;

    let batch = Bytes::from(build_test_batch(
        0,
        &[(Some(b"k"), Some(b"v1"), 1000), (None, Some(b"v2"), 1001)],
    ));
    let mut corrupt = batch.to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;

    let resp: ProduceResponse = call(
        &mut s,
        ApiKey::Produce,
        9,
        &produce_request("wire", Bytes::from(corrupt)),
    )
    .await;
    assert_eq!(
        resp.responses[0].partition_responses[0].error_code, 2,
        "CORRUPT_MESSAGE"
    );

    let resp: ProduceResponse = call(
        &mut s,
        ApiKey::Produce,
        9,
        &produce_request("nope", batch.clone()),
    )
    .await;
    assert_eq!(
        resp.responses[0].partition_responses[0].error_code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );

    for expected in [0, 2] {
        let resp: ProduceResponse = call(
            &mut s,
            ApiKey::Produce,
            9,
            &produce_request("wire", batch.clone()),
        )
        .await;
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, expected));
    }

    // CreateTime more than message.timestamp.after.max.ms (1 h by default) in the future.
    let future = weir_broker::time::now_ms() + 2 * 3_600_000;
    let late = Bytes::from(build_test_batch(0, &[(None, Some(b"late"), future)]));
    let resp: ProduceResponse =
        call(&mut s, ApiKey::Produce, 9, &produce_request("wire", late)).await;
    assert_eq!(
        resp.responses[0].partition_responses[0].error_code, 32,
        "INVALID_TIMESTAMP"
    );

    let resp: FetchResponse = call(&mut s, ApiKey::Fetch, 12, &fetch_request("wire", 2, 0)).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 4));
    let records = p.records.clone().unwrap();
    // The second batch, byte for byte as sent, but for its base offset.
    assert_eq!(records.len(), batch.len());
    assert_eq!(&records[0..8], &2i64.to_be_bytes());
    assert_eq!(&records[8..12], &batch[8..12]);
    assert_eq!(&records[16..], &batch[16..]);

    let resp: FetchResponse = call(&mut s, ApiKey::Fetch, 12, &fetch_request("wire", 99, 0)).await;
    assert_eq!(
        resp.responses[0].partitions[0].error_code, 1,
        "OFFSET_OUT_OF_RANGE"
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_fetch_is_woken_by_an_append() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut s = connect(&b).await;
    create_topic(&mut s, "poll").await;
    let addr = b.local_addr;
    // Waits up to 60 s for data at offset 0; an append from another connection must end it
    // with that data (a poll that ignored the append would return empty at the deadline).
    let fetcher = tokio::spawn(async move {
        let mut f = TcpStream::connect(addr).await.unwrap();
        let resp: FetchResponse =
            call(&mut f, ApiKey::Fetch, 12, &fetch_request("poll", 0, 60_000)).await;
        resp
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let batch = Bytes::from(build_test_batch(0, &[(None, Some(b"wake"), 1)]));
    let _: ProduceResponse =
        call(&mut s, ApiKey::Produce, 9, &produce_request("poll", batch)).await;
    let resp = tokio::time::timeout(Duration::from_secs(30), fetcher)
        .await
        .expect("woken before the deadline")
        .unwrap();
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.high_watermark, 1);
    assert!(!p.records.as_ref().unwrap().is_empty());
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_and_data_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut s = connect(&b).await;
    create_topic(&mut s, "durable").await;
    let batch = Bytes::from(build_test_batch(0, &[(None, Some(b"kept"), 1)]));
    let _: ProduceResponse = call(
        &mut s,
        ApiKey::Produce,
        9,
        &produce_request("durable", batch),
    )
    .await;
    let before = b.broker.metadata.state().topic("durable").unwrap().id;
    drop(s);
    b.shutdown().await;

    let b = broker(dir.path()).await;
    assert_eq!(
        b.broker.metadata.state().topic("durable").unwrap().id,
        before
    );
    let mut s = connect(&b).await;
    let resp: FetchResponse =
        call(&mut s, ApiKey::Fetch, 12, &fetch_request("durable", 0, 0)).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 1));
    b.shutdown().await;
}

/// Produce v13 and Fetch v13+ name topics by id (KIP-516): the newest versions round-trip a
/// batch by id, and an id the cluster does not know gets UNKNOWN_TOPIC_ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_and_fetch_name_topics_by_id() {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut s = connect(&b).await;
    create_topic(&mut s, "by-id").await;
    let id = b.broker.metadata.state().topic("by-id").unwrap().id;
    let unknown = uuid::Uuid::from_u128(0x5eed);
    let produce_max = SUPPORTED_APIS
        .iter()
        .find(|a| a.key == ApiKey::Produce)
        .unwrap()
        .max;
    let fetch_max = SUPPORTED_APIS
        .iter()
        .find(|a| a.key == ApiKey::Fetch)
        .unwrap()
        .max;
    assert!(produce_max >= 13 && fetch_max >= 13);

    let batch = Bytes::from(build_test_batch(0, &[(Some(b"k"), Some(b"by id"), 5)]));
    let topic = |id| {
        TopicProduceData::default()
            .with_topic_id(id)
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch.clone()))])
    };
    let resp: ProduceResponse = call(
        &mut s,
        ApiKey::Produce,
        produce_max,
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![topic(id), topic(unknown)]),
    )
    .await;
    assert_eq!(resp.responses[0].topic_id, id);
    let ok = &resp.responses[0].partition_responses[0];
    assert_eq!((ok.error_code, ok.base_offset), (0, 0));
    assert_eq!(
        resp.responses[1].partition_responses[0].error_code, 100,
        "UNKNOWN_TOPIC_ID"
    );

    let fetch_by_id = |id| {
        let mut req = fetch_request("", 0, 0);
        req.topics[0].topic_id = id;
        req
    };
    let resp: FetchResponse = call(&mut s, ApiKey::Fetch, fetch_max, &fetch_by_id(id)).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!((resp.responses[0].topic_id, p.error_code), (id, 0));
    let records = p.records.clone().unwrap();
    assert_eq!(&records[16..], &batch[16..], "the stored bytes");
    let resp: FetchResponse = call(&mut s, ApiKey::Fetch, fetch_max, &fetch_by_id(unknown)).await;
    assert_eq!(
        resp.responses[0].partitions[0].error_code, 100,
        "UNKNOWN_TOPIC_ID"
    );
    b.shutdown().await;
}

/// OffsetForLeaderEpoch answers the end offset of an epoch: the log end for the current one,
/// undefined for a later one, and fences a client whose current epoch is not the leader's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_for_leader_epoch_gives_the_end_of_an_epoch() {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut s = connect(&b).await;
    create_topic(&mut s, "epochs").await;
    for values in [
        &[(None, Some(&b"a"[..]), 1)][..],
        &[(None, Some(&b"b"[..]), 2); 2],
    ] {
        let batch = Bytes::from(build_test_batch(0, values));
        let resp: ProduceResponse = call(
            &mut s,
            ApiKey::Produce,
            9,
            &produce_request("epochs", batch),
        )
        .await;
        assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
    }
    let ask = |partition: i32, current: i32, epoch: i32| {
        OffsetForLeaderPartition::default()
            .with_partition(partition)
            .with_current_leader_epoch(current)
            .with_leader_epoch(epoch)
    };
    let resp: OffsetForLeaderEpochResponse = call(
        &mut s,
        ApiKey::OffsetForLeaderEpoch,
        4,
        &OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![OffsetForLeaderTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("epochs")))
                .with_partitions(vec![
                    ask(0, 0, 0),
                    ask(0, -1, 0),
                    ask(0, 0, 5),
                    ask(0, 1, 0),
                    ask(7, -1, 0),
                ])]),
    )
    .await;
    let got: Vec<(i16, i32, i64)> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| (p.error_code, p.leader_epoch, p.end_offset))
        .collect();
    assert_eq!(
        got,
        vec![(0, 0, 3), (0, 0, 3), (0, -1, -1), (75, -1, -1), (3, -1, -1),],
        "current epoch: log end; later epoch: undefined; newer current epoch: \
         UNKNOWN_LEADER_EPOCH; unknown partition: UNKNOWN_TOPIC_OR_PARTITION"
    );
    b.shutdown().await;
}

/// Fetch answers carry large record data by reference (the connection's response buffer keeps
/// storage's bytes as chunks of their own and writes them with vectored writes): a multi-MB
/// answer over several partitions arrives whole and byte for byte, pipelined behind a small
/// answer to another request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_fetch_answers_arrive_whole() {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut s = connect(&b).await;
    let created: CreateTopicsResponse = call(
        &mut s,
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("big")))
                .with_num_partitions(3)
                .with_replication_factor(1)]),
    )
    .await;
    assert_eq!(created.topics[0].error_code, 0);
    // Per partition: batches of ~100 KB, ~900 KB in all, values that differ per partition.
    let mut sent = Vec::new();
    for partition in 0..3i32 {
        let mut bytes = Vec::new();
        for i in 0..9u8 {
            let value = vec![b'a' + partition as u8 + i; 100_000];
            let batch = Bytes::from(build_test_batch(0, &[(None, Some(&value[..]), 1)]));
            let resp: ProduceResponse = call(
                &mut s,
                ApiKey::Produce,
                9,
                &ProduceRequest::default()
                    .with_acks(1)
                    .with_timeout_ms(5000)
                    .with_topic_data(vec![TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_static_str("big")))
                        .with_partition_data(vec![PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(batch.clone()))])]),
            )
            .await;
            assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
            bytes.push(batch);
        }
        sent.push(bytes);
    }
    let mut fetch = fetch_request("big", 0, 0).with_max_bytes(50 << 20);
    fetch.topics[0].partitions = (0..3)
        .map(|p| {
            FetchPartition::default()
                .with_partition(p)
                .with_fetch_offset(0)
                .with_partition_max_bytes(10 << 20)
        })
        .collect();
    // A Metadata request and the fetch in one write: both answers come back in order.
    let mut pipelined = frame(ApiKey::Metadata, 12, 1, &MetadataRequest::default()).to_vec();
    pipelined.extend_from_slice(&frame(ApiKey::Fetch, 12, 2, &fetch));
    s.write_all(&pipelined).await.unwrap();
    let mut first = read_frame(&mut s).await.expect("metadata answer");
    let header =
        ResponseHeader::decode(&mut first, ApiKey::Metadata.response_header_version(12)).unwrap();
    assert_eq!(header.correlation_id, 1);
    let mut second = read_frame(&mut s).await.expect("fetch answer");
    let header =
        ResponseHeader::decode(&mut second, ApiKey::Fetch.response_header_version(12)).unwrap();
    assert_eq!(header.correlation_id, 2);
    let resp = FetchResponse::decode(&mut second, 12).unwrap();
    for (partition, batches) in sent.iter().enumerate() {
        let p = &resp.responses[0].partitions[partition];
        assert_eq!((p.error_code, p.high_watermark), (0, 9));
        let records = p.records.clone().unwrap();
        let mut at = 0;
        for (offset, batch) in batches.iter().enumerate() {
            let stored = &records[at..at + batch.len()];
            assert_eq!(&stored[0..8], &(offset as i64).to_be_bytes());
            assert_eq!(
                &stored[16..],
                &batch[16..],
                "partition {partition} batch {offset}"
            );
            at += batch.len();
        }
        assert_eq!(at, records.len());
    }
    b.shutdown().await;
}
