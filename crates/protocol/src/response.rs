//! Encoding a response frame: size prefix, response header in the version the API requires,
//! then the body.

use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::buf::ByteBufMut;
use kafka_protocol::protocol::Encodable;

use crate::frame::{finish_frame, start_frame};

/// A response body that could not be encoded in the requested version (a broker bug, since the
/// router only accepts advertised versions).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {api_key:?} v{version} response: {reason}")]
pub struct EncodeError {
    /// API whose response failed to encode.
    pub api_key: ApiKey,
    /// Version requested.
    pub version: i16,
    /// What the encoder said.
    pub reason: String,
}

/// Appends one complete response frame to `out` (a `BytesMut`, or the connection's
/// [`ResponseBuf`](crate::response_buf::ResponseBuf), which keeps record data by reference).
/// On an error nothing is appended.
///
/// The response header version is the API's own (ApiVersions always uses v0, without tagged
/// fields, whatever its version: clients read it before they know what the broker speaks).
pub fn encode_response<B: ByteBufMut, M: Encodable>(
    out: &mut B,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> Result<(), EncodeError> {
    let err = |reason: String| EncodeError {
        api_key,
        version,
        reason,
    };
    let at = start_frame(out);
    let header_version = api_key.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let encoded = header
        .encode(out, header_version)
        .and_then(|()| body.encode(out, version));
    if let Err(e) = encoded {
        out.seek(at);
        return Err(err(e.to_string()));
    }
    finish_frame(out, at);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::check_frame;
    use bytes::BytesMut;
    use kafka_protocol::messages::ApiVersionsResponse;

    #[test]
    fn api_versions_response_header_has_no_tagged_fields() {
        let mut out = BytesMut::new();
        encode_response(
            &mut out,
            ApiKey::ApiVersions,
            3,
            7,
            &ApiVersionsResponse::default(),
        )
        .unwrap();
        let size = check_frame(&out, 1 << 20).unwrap().unwrap();
        assert_eq!(size, out.len() - 4);
        // correlation id right after the size, then the body's error code (0)
        assert_eq!(&out[4..8], &7i32.to_be_bytes());
        assert_eq!(&out[8..10], &0i16.to_be_bytes());
    }
}
