//! One client connection: read frames, answer each request in order, write the responses.
//!
//! Requests on a connection are handled one at a time, in the order they arrived, as Kafka does
//! (it mutes a connection until its current request is answered): a producer with several
//! requests in flight relies on them being appended in order. Frames that already arrived are
//! all handled before the socket is written, so pipelined requests are answered in one write.
//!
//! A malformed frame or request closes this connection only, with a log line.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_protocol::frame::{check_frame, SIZE_PREFIX_LEN};
use weir_protocol::kafka_protocol::messages::ApiKey;
use weir_protocol::request::decode_request;

use crate::broker::Broker;
use crate::router::{dispatch, DispatchError};

const READ_CHUNK: usize = 64 * 1024;

/// Why a connection was closed by the broker.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// Socket error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The frame's size prefix was invalid.
    #[error("bad frame: {0}")]
    Frame(#[from] weir_protocol::frame::FrameError),
    /// The request header did not decode.
    #[error("bad request: {0}")]
    Request(#[from] weir_protocol::request::RequestError),
    /// The request could not be served.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
}

/// Serves one connection until the peer closes it or sends something malformed.
pub async fn serve(broker: Arc<Broker>, mut stream: TcpStream, peer: SocketAddr) {
    if let Err(e) = run(&broker, &mut stream, peer).await {
        match e {
            ConnectionError::Io(ref io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                tracing::debug!(%peer, error = %e, "connection reset");
            }
            _ => tracing::warn!(%peer, error = %e, "closing connection"),
        }
    }
}

async fn run(
    broker: &Arc<Broker>,
    stream: &mut TcpStream,
    peer: SocketAddr,
) -> Result<(), ConnectionError> {
    let max_frame = broker.config.max_request_bytes;
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = BytesMut::new();
    loop {
        while let Some(len) = check_frame(&input, max_frame)? {
            input.advance(SIZE_PREFIX_LEN);
            let frame = input.split_to(len).freeze();
            let request = decode_request(frame)?;
            // JoinGroup and SyncGroup may wait for a whole rebalance: send the answers to the
            // requests before them first instead of holding them back that long.
            if matches!(request.api_key, ApiKey::JoinGroup | ApiKey::SyncGroup)
                && !output.is_empty()
            {
                stream.write_all(&output).await?;
                output.clear();
            }
            dispatch(broker, request, &mut output, Some(peer)).await?;
        }
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
        // Grow only up to what the announced frame needs; check_frame capped it.
        if input.capacity() - input.len() < READ_CHUNK {
            input.reserve(READ_CHUNK);
        }
        if stream.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
    }
}
