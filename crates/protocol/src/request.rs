//! Splitting a request frame into its header and its still-encoded body.
//!
//! The header's own version depends on the API key and version (flexible versions carry tagged
//! fields), so the key and version are peeked first. The body stays a `Bytes` slice of the frame:
//! the broker decodes it with the message type the router picks.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;

/// A request whose header is decoded and whose body is not yet.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// The API this request is for.
    pub api_key: ApiKey,
    /// The decoded request header (version, correlation id, client id).
    pub header: RequestHeader,
    /// The encoded request body, after the header.
    pub body: Bytes,
}

/// Why a request frame could not be split into header and body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// Fewer bytes than the fixed part of any request header.
    #[error("request frame of {0} bytes is too short for a header")]
    TooShort(usize),
    /// An API key Kafka does not define.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// The header did not decode.
    #[error("malformed request header for API key {api_key} v{version}: {reason}")]
    MalformedHeader {
        /// API key of the request.
        api_key: i16,
        /// API version of the request.
        version: i16,
        /// What the decoder said.
        reason: String,
    },
}

/// Decodes the header of one request frame (without its size prefix).
pub fn decode_request(frame: Bytes) -> Result<RawRequest, RequestError> {
    if frame.len() < 8 {
        return Err(RequestError::TooShort(frame.len()));
    }
    let key = (&frame[0..2]).get_i16();
    let version = (&frame[2..4]).get_i16();
    let api_key = ApiKey::try_from(key).map_err(|_| RequestError::UnknownApiKey(key))?;
    let header_version = api_key.request_header_version(version);
    let mut body = frame;
    let header = RequestHeader::decode(&mut body, header_version).map_err(|e| {
        RequestError::MalformedHeader {
            api_key: key,
            version,
            reason: e.to_string(),
        }
    })?;
    Ok(RawRequest {
        api_key,
        header,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::{Encodable, StrBytes};
    use proptest::prelude::*;

    #[test]
    fn decodes_a_flexible_header() {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::ApiVersions as i16)
            .with_request_api_version(3)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let mut buf = BytesMut::new();
        header.encode(&mut buf, 2).unwrap();
        buf.extend_from_slice(b"body");
        let raw = decode_request(buf.freeze()).unwrap();
        assert_eq!(raw.api_key, ApiKey::ApiVersions);
        assert_eq!(raw.header.correlation_id, 42);
        assert_eq!(raw.header.client_id.as_deref(), Some("test"));
        assert_eq!(&raw.body[..], b"body");
    }

    #[test]
    fn unknown_api_key_is_an_error() {
        let frame = Bytes::from_static(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            decode_request(frame).unwrap_err(),
            RequestError::UnknownApiKey(0x7f00)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = decode_request(Bytes::from(bytes));
        }

        #[test]
        fn arbitrary_bodies_after_a_valid_prefix_never_panic(key in 0i16..93, version in -1i16..20, tail in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&key.to_be_bytes());
            bytes.extend_from_slice(&version.to_be_bytes());
            bytes.extend_from_slice(&tail);
            let _ = decode_request(Bytes::from(bytes));
        }
    }
}
