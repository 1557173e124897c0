//! Reads the topics out of a consumer-protocol subscription (the JoinGroup metadata of groups
//! with protocol type "consumer"), which OffsetDelete needs to refuse deleting offsets of a
//! topic the group still consumes.

use bytes::{Buf, Bytes};
use weir_protocol::kafka_protocol::messages::ConsumerProtocolSubscription;
use weir_protocol::kafka_protocol::protocol::Decodable;

/// The subscribed topics, or `None` if the metadata is not a consumer-protocol subscription.
pub fn topics(metadata: &Bytes) -> Option<Vec<String>> {
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16();
    // Newer versions only add fields at the end; read what this codec knows.
    let version = version.clamp(0, 3);
    let sub = ConsumerProtocolSubscription::decode(&mut buf, version).ok()?;
    Some(sub.topics.into_iter().map(|t| t.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use weir_protocol::kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn reads_topics_of_a_subscription() {
        let sub = ConsumerProtocolSubscription::default()
            .with_topics(vec![StrBytes::from_static_str("orders")]);
        let mut buf = bytes::BytesMut::new();
        buf.put_i16(1);
        sub.encode(&mut buf, 1).unwrap();
        assert_eq!(topics(&buf.freeze()), Some(vec!["orders".to_string()]));
        assert_eq!(topics(&Bytes::from_static(b"\x00")), None);
        assert_eq!(
            topics(&Bytes::from_static(b"\x00\x00\x00\x00\x00\x09")),
            None
        );
    }
}
