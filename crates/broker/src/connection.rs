//! One client connection: read frames, answer each request in order, write the responses.
//!
//! Requests on a connection are handled one at a time, in the order they arrived, as Kafka does
//! (it mutes a connection until its current request is answered): a producer with several
//! requests in flight relies on them being appended in order. Frames that already arrived are
//! all handled before the socket is written, so pipelined requests are answered in one write:
//! a vectored write of the response buffer's chunks, in which the record data of fetch
//! responses are the bytes storage read, not a copy of them. Record data still in a segment
//! file (large fetches) goes out with `sendfile`, from the page cache to the socket without
//! passing through this process.
//!
//! A malformed frame or request closes this connection only, with a log line.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use weir_protocol::file_region::FileRegion;
use weir_protocol::frame::{check_frame, SIZE_PREFIX_LEN};
use weir_protocol::kafka_protocol::messages::ApiKey;
use weir_protocol::request::decode_request;
use weir_protocol::response_buf::{OutChunk, ResponseBuf};

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
    let mut output = ResponseBuf::new();
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
                write_out(stream, &mut output).await?;
            }
            dispatch(broker, request, &mut output, Some(peer)).await?;
        }
        if !output.is_empty() {
            write_out(stream, &mut output).await?;
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

/// Most slices handed to one `writev` (Linux allows 1024; a fetch answer has two per partition).
const MAX_IOVECS: usize = 64;

/// Writes every chunk of `output`, then empties it: runs of chunks in memory with vectored
/// writes, file regions with `sendfile`.
async fn write_out(stream: &mut TcpStream, output: &mut ResponseBuf) -> io::Result<()> {
    if output.is_broken() {
        // A bug, not the client's doing: what is buffered is not the answer that was encoded.
        return Err(io::Error::other(
            "response placeholders did not match their file regions",
        ));
    }
    // Memory chunks since the last file region, written together.
    let mut run: Vec<&[u8]> = Vec::new();
    for chunk in output.chunks() {
        match chunk {
            OutChunk::Bytes(bytes) => run.push(bytes),
            OutChunk::File(region) => {
                write_slices(stream, &run).await?;
                run.clear();
                send_region(stream, region).await?;
            }
        }
    }
    write_slices(stream, &run).await?;
    drop(run);
    output.clear();
    Ok(())
}

/// Writes `chunks` in order with vectored writes.
async fn write_slices(stream: &mut TcpStream, chunks: &[&[u8]]) -> io::Result<()> {
    // Next chunk to write, and how much of it is already written.
    let (mut next, mut done) = (0, 0);
    while next < chunks.len() {
        let slices: Vec<IoSlice<'_>> = chunks[next..]
            .iter()
            .take(MAX_IOVECS)
            .enumerate()
            .map(|(i, c)| IoSlice::new(if i == 0 { &c[done..] } else { c }))
            .collect();
        let written = stream.write_vectored(&slices).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        (next, done) = advance(chunks, next, done, written);
    }
    Ok(())
}

/// Sends a file region with `sendfile`. A file that ends before the region does (it was cut
/// back meanwhile) breaks the frame already announced: the connection must close.
async fn send_region(stream: &TcpStream, region: &FileRegion) -> io::Result<()> {
    let mut pos = region.pos;
    let end = region.pos.saturating_add(region.len);
    while pos < end {
        let count = usize::try_from(end - pos).unwrap_or(usize::MAX);
        let sent = stream
            .async_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(stream, &*region.file, Some(&mut pos), count)
                    .map_err(io::Error::from)
            })
            .await?;
        if sent == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a file region being sent ends early: the file was cut back",
            ));
        }
    }
    Ok(())
}

/// Where writing resumes after `written` more bytes went out from chunk `next`, of which
/// `done` bytes had been written before: (next chunk, bytes of it already written).
fn advance(
    chunks: &[&[u8]],
    mut next: usize,
    mut done: usize,
    mut written: usize,
) -> (usize, usize) {
    while next < chunks.len() && written >= chunks[next].len() - done {
        written -= chunks[next].len() - done;
        next += 1;
        done = 0;
    }
    (next, done + written)
}

#[cfg(test)]
mod tests {
    use super::advance;

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let chunks: [&[u8]; 3] = [b"abc", b"defgh", b"ij"];
        assert_eq!(advance(&chunks, 0, 0, 2), (0, 2), "inside the first chunk");
        assert_eq!(advance(&chunks, 0, 2, 1), (1, 0), "exactly its end");
        assert_eq!(advance(&chunks, 0, 2, 4), (1, 3), "into the second");
        assert_eq!(advance(&chunks, 1, 3, 4), (3, 0), "everything");
        assert_eq!(advance(&chunks, 0, 0, 10), (3, 0));
    }
}
