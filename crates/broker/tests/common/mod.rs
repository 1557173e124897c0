//! A minimal Kafka test client shared by this crate's integration tests: frames requests with
//! the kafka-protocol encoders and reads the answers.
#![allow(dead_code)] // each test crate uses its own subset

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_broker::RunningBroker;

/// How long a test waits for any one answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Encodes a request frame for `key`/`version` with the given correlation id.
pub fn frame<R: Encodable + HeaderVersion>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("weir-test")));
    let mut payload = BytesMut::new();
    header
        .encode(&mut payload, R::header_version(version))
        .unwrap();
    body.encode(&mut payload, version).unwrap();
    let mut out = BytesMut::new();
    out.put_i32(payload.len() as i32);
    out.extend_from_slice(&payload);
    out.freeze()
}

/// Reads one response frame; `None` if the broker closed the connection.
pub async fn read_frame(stream: &mut TcpStream) -> Option<Bytes> {
    let mut size = [0u8; 4];
    tokio::time::timeout(TIMEOUT, stream.read_exact(&mut size))
        .await
        .ok()?
        .ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    tokio::time::timeout(TIMEOUT, stream.read_exact(&mut body))
        .await
        .ok()?
        .ok()?;
    Some(Bytes::from(body))
}

/// Sends a request and decodes its response (response header version from the API key).
pub async fn call<Req: Encodable + HeaderVersion, Resp: Decodable>(
    stream: &mut TcpStream,
    key: ApiKey,
    version: i16,
    req: &Req,
) -> Resp {
    stream
        .write_all(&frame(key, version, 7, req))
        .await
        .unwrap();
    let mut resp = read_frame(stream).await.expect("response");
    let header = ResponseHeader::decode(&mut resp, key.response_header_version(version)).unwrap();
    assert_eq!(header.correlation_id, 7);
    Resp::decode(&mut resp, version).unwrap()
}

pub async fn connect(b: &RunningBroker) -> TcpStream {
    TcpStream::connect(b.local_addr).await.unwrap()
}

pub async fn create_topic(stream: &mut TcpStream, name: &str) {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_num_partitions(1)
            .with_replication_factor(1)]);
    let resp: CreateTopicsResponse = call(stream, ApiKey::CreateTopics, 7, &req).await;
    assert_eq!(
        resp.topics[0].error_code, 0,
        "{:?}",
        resp.topics[0].error_message
    );
}

/// One IncrementalAlterConfigs operation: config name, operation (0 SET, 1 DELETE, 2 APPEND,
/// 3 SUBTRACT), value.
pub type ConfigOp<'a> = (&'a str, i8, Option<&'a str>);

/// IncrementalAlterConfigs (v1) of one resource; its error code.
pub async fn incremental_alter_configs(
    c: &mut TcpStream,
    resource_type: i8,
    name: &str,
    ops: &[ConfigOp<'_>],
    validate_only: bool,
) -> i16 {
    use kafka_protocol::messages::incremental_alter_configs_request as incremental;
    let configs = ops
        .iter()
        .map(|(k, op, v)| {
            incremental::AlterableConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_config_operation(*op)
                .with_value(v.map(|v| StrBytes::from_string(v.to_string())))
        })
        .collect();
    let r: IncrementalAlterConfigsResponse = call(
        c,
        ApiKey::IncrementalAlterConfigs,
        1,
        &IncrementalAlterConfigsRequest::default()
            .with_validate_only(validate_only)
            .with_resources(vec![incremental::AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configs(configs)]),
    )
    .await;
    assert_eq!(r.responses.len(), 1);
    assert_eq!(r.responses[0].resource_type, resource_type);
    r.responses[0].error_code
}

/// Legacy AlterConfigs (v2) of one resource, replacing its whole set; its error code.
pub async fn alter_configs(
    c: &mut TcpStream,
    resource_type: i8,
    name: &str,
    configs: &[(&str, &str)],
) -> i16 {
    use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let configs = configs
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let r: AlterConfigsResponse = call(
        c,
        ApiKey::AlterConfigs,
        2,
        &AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configs(configs)]),
    )
    .await;
    r.responses[0].error_code
}

/// DescribeConfigs (v4, with synonyms) of every config of one resource.
pub async fn describe_configs(
    c: &mut TcpStream,
    resource_type: i8,
    name: &str,
) -> kafka_protocol::messages::describe_configs_response::DescribeConfigsResult {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    let r: DescribeConfigsResponse = call(
        c,
        ApiKey::DescribeConfigs,
        4,
        &DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_resources(vec![DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configuration_keys(None)]),
    )
    .await;
    r.results.into_iter().next().expect("one result")
}

/// A Produce request (acks=1) of `records` to partition 0 of `topic`.
pub fn produce_request(topic: &str, records: Bytes) -> ProduceRequest {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])])
}

/// Produces one record with `value` to partition 0 of `topic` (acks=1, Produce v9); the
/// partition's error code.
pub async fn produce_value(stream: &mut TcpStream, topic: &str, value: &[u8]) -> i16 {
    let batch = Bytes::from(weir_protocol::record_batch::build_test_batch(
        0,
        &[(None, Some(value), 0)],
    ));
    let r: ProduceResponse = call(stream, ApiKey::Produce, 9, &produce_request(topic, batch)).await;
    r.responses[0].partition_responses[0].error_code
}
