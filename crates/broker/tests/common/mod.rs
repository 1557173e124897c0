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
