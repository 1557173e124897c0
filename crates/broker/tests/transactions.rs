//! Transactions over the wire, step by step, with the shared test client: the coordinator's
//! answers, the last stable offset and aborted-transaction lists that read_committed fetches
//! get, the admin views (ListTransactions, DescribeTransactions, DescribeProducers), and
//! recovery of an open transaction after a restart. Real clients are driven by compat-tests.

mod common;

use bytes::Bytes;
use common::{call, connect, create_topic};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::net::TcpStream;
use weir_broker::config::BrokerConfig;
use weir_broker::{start, RunningBroker};
use weir_protocol::record_batch::{build_test_batch, set_attributes};

async fn broker(dir: &std::path::Path) -> RunningBroker {
    let mut config = BrokerConfig::for_dir("127.0.0.1:0", dir).unwrap();
    config.offsets_topic_partitions = 3;
    config.transaction_state_partitions = 3;
    start(config).await.unwrap()
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A transactional batch of `n` records from `pid`/`epoch` starting at sequence `seq`.
fn txn_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    let records: Vec<_> = (0..n).map(|_| (None, Some(&b"v"[..]), 0)).collect();
    let mut b = build_test_batch(0, &records);
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    set_attributes(&mut b, 0x10);
    Bytes::from(b)
}

async fn init(c: &mut TcpStream, id: &str) -> (i64, i16) {
    let r: InitProducerIdResponse = call(
        c,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(id))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )
    .await;
    assert_eq!(r.error_code, 0);
    (r.producer_id.0, r.producer_epoch)
}

async fn add_partition(c: &mut TcpStream, id: &str, pid: i64, epoch: i16, topic: &str) -> i16 {
    let r: AddPartitionsToTxnResponse = call(
        c,
        ApiKey::AddPartitionsToTxn,
        3,
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(s(id)))
            .with_v3_and_below_producer_id(ProducerId(pid))
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![0])]),
    )
    .await;
    r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

async fn produce(c: &mut TcpStream, topic: &str, batch: Bytes) -> i16 {
    let r: ProduceResponse = call(
        c,
        ApiKey::Produce,
        9,
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_transactional_id(Some(TransactionalId(s("tx"))))
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(s(topic)))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch))])]),
    )
    .await;
    r.responses[0].partition_responses[0].error_code
}

async fn end(c: &mut TcpStream, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let r: EndTxnResponse = call(
        c,
        ApiKey::EndTxn,
        3,
        &EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(id)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit),
    )
    .await;
    r.error_code
}

/// (high watermark, last stable offset, aborted transactions as (pid, first offset), bytes).
async fn fetch(
    c: &mut TcpStream,
    topic: &str,
    isolation: i8,
) -> (i64, i64, Vec<(i64, i64)>, usize) {
    let r: FetchResponse = call(
        c,
        ApiKey::Fetch,
        11,
        &FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_isolation_level(isolation)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(s(topic)))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20)])]),
    )
    .await;
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    let aborted = p
        .aborted_transactions
        .iter()
        .flatten()
        .map(|a| (a.producer_id.0, a.first_offset))
        .collect();
    let bytes = p.records.as_ref().map_or(0, |r| r.len());
    (p.high_watermark, p.last_stable_offset, aborted, bytes)
}

async fn latest(c: &mut TcpStream, topic: &str, isolation: i8) -> i64 {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let r: ListOffsetsResponse = call(
        c,
        ApiKey::ListOffsets,
        5,
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(isolation)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)])]),
    )
    .await;
    r.topics[0].partitions[0].offset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_abort_and_the_read_committed_view() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    let found: FindCoordinatorResponse = call(
        &mut c,
        ApiKey::FindCoordinator,
        3,
        &FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_key(s("tx")),
    )
    .await;
    assert_eq!(found.error_code, 0);
    create_topic(&mut c, "t").await;
    let (pid, epoch) = init(&mut c, "tx").await;

    // Producing before AddPartitionsToTxn is a client bug Kafka does not catch either; here
    // the normal order: add, produce 3 records (offsets 0..2), abort.
    assert_eq!(add_partition(&mut c, "tx", pid, epoch, "t").await, 0);
    assert_eq!(produce(&mut c, "t", txn_batch(pid, epoch, 0, 3)).await, 0);
    assert_eq!(
        fetch(&mut c, "t", 1).await.1,
        0,
        "open: LSO at its first offset"
    );
    assert_eq!(latest(&mut c, "t", 1).await, 0);
    assert_eq!(latest(&mut c, "t", 0).await, 3);
    assert_eq!(
        fetch(&mut c, "t", 1).await.3,
        0,
        "read_committed gets nothing yet"
    );
    assert_eq!(end(&mut c, "tx", pid, epoch, false).await, 0);

    // Marker at 3; then a committed transaction: records 4..5, marker at 6.
    assert_eq!(add_partition(&mut c, "tx", pid, epoch, "t").await, 0);
    assert_eq!(produce(&mut c, "t", txn_batch(pid, epoch, 3, 2)).await, 0);
    assert_eq!(end(&mut c, "tx", pid, epoch, true).await, 0);
    assert_eq!(
        end(&mut c, "tx", pid, epoch, true).await,
        0,
        "a retried commit"
    );
    assert_eq!(
        end(&mut c, "tx", pid, epoch, false).await,
        48,
        "INVALID_TXN_STATE"
    );

    let (hw, lso, aborted, bytes) = fetch(&mut c, "t", 1).await;
    assert_eq!((hw, lso), (7, 7));
    assert_eq!(aborted, vec![(pid, 0)], "the aborted transaction is listed");
    assert!(bytes > 0);
    let (_, _, aborted, _) = fetch(&mut c, "t", 0).await;
    assert!(aborted.is_empty(), "read_uncommitted gets no list");

    // Admin views.
    let listed: ListTransactionsResponse = call(
        &mut c,
        ApiKey::ListTransactions,
        1,
        &ListTransactionsRequest::default()
            .with_state_filters(vec![s("CompleteCommit"), s("NoSuchState")])
            .with_duration_filter(-1),
    )
    .await;
    assert_eq!(listed.transaction_states.len(), 1);
    assert_eq!(listed.transaction_states[0].producer_id.0, pid);
    assert_eq!(listed.unknown_state_filters, vec![s("NoSuchState")]);
    let described: DescribeTransactionsResponse = call(
        &mut c,
        ApiKey::DescribeTransactions,
        0,
        &DescribeTransactionsRequest::default().with_transactional_ids(vec![
            TransactionalId(s("tx")),
            TransactionalId(s("unknown")),
        ]),
    )
    .await;
    assert_eq!(
        described.transaction_states[0].transaction_state,
        s("CompleteCommit")
    );
    assert_eq!(described.transaction_states[0].producer_epoch, epoch);
    assert_eq!(
        described.transaction_states[1].error_code, 105,
        "TRANSACTIONAL_ID_NOT_FOUND"
    );
    let producers: DescribeProducersResponse = call(
        &mut c,
        ApiKey::DescribeProducers,
        0,
        &DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
            .with_name(TopicName(s("t")))
            .with_partition_indexes(vec![0])]),
    )
    .await;
    let active = &producers.topics[0].partitions[0].active_producers;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].producer_id.0, pid);
    assert_eq!(active[0].last_sequence, 4);
    assert_eq!(active[0].current_txn_start_offset, -1);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_incarnation_fences_the_old_and_an_open_transaction_outlives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    create_topic(&mut c, "t").await;
    let (pid, e0) = init(&mut c, "tx").await;
    assert_eq!(add_partition(&mut c, "tx", pid, e0, "t").await, 0);
    assert_eq!(produce(&mut c, "t", txn_batch(pid, e0, 0, 2)).await, 0);
    drop(c);
    b.shutdown().await;

    // After a restart the transaction is still open (LSO held at 0) ...
    let b = broker(dir.path()).await;
    let mut c = connect(&b).await;
    assert_eq!(fetch(&mut c, "t", 1).await.1, 0);
    // ... until the next incarnation of the producer fences the old one and aborts it.
    let (pid2, e1) = init(&mut c, "tx").await;
    assert_eq!(pid2, pid);
    assert!(e1 > e0);
    let (hw, lso, aborted, _) = fetch(&mut c, "t", 1).await;
    assert_eq!((hw, lso), (3, 3));
    assert_eq!(aborted, vec![(pid, 0)]);
    assert_eq!(
        add_partition(&mut c, "tx", pid, e0, "t").await,
        90,
        "PRODUCER_FENCED"
    );
    assert_eq!(end(&mut c, "tx", pid, e0, true).await, 90);
    assert_eq!(
        produce(&mut c, "t", txn_batch(pid, e0, 2, 1)).await,
        47,
        "INVALID_PRODUCER_EPOCH for the zombie's data"
    );
    b.shutdown().await;
}
