//! Length-prefixed framing: every Kafka request and response is a 4-byte big-endian size
//! followed by that many bytes.
//!
//! Framing keeps two outcomes apart, as mini-redis does: "incomplete, read more" (`Ok(None)`)
//! and "malformed, close this connection" (`Err`). A size is checked against the cap before any
//! buffer is grown for it, so a hostile size prefix cannot make the broker allocate.

use kafka_protocol::protocol::buf::ByteBufMut;

/// Bytes in the size prefix of every frame.
pub const SIZE_PREFIX_LEN: usize = 4;

/// Why a frame can never be accepted: the connection it arrived on must be closed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The size prefix was negative.
    #[error("negative frame size {0}")]
    NegativeSize(i32),
    /// The size prefix exceeds the configured cap (`socket.request.max.bytes`).
    #[error("frame of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The size the peer announced.
        size: usize,
        /// The configured cap.
        max: usize,
    },
}

/// Checks whether `buf` starts with a complete frame.
///
/// Returns `Ok(Some(n))` with the frame's payload length `n` (the frame occupies
/// `SIZE_PREFIX_LEN + n` bytes of `buf`), `Ok(None)` when more bytes are needed, and an error
/// when the size prefix is invalid.
pub fn check_frame(buf: &[u8], max_frame: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.get(..SIZE_PREFIX_LEN) else {
        return Ok(None);
    };
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if size < 0 {
        return Err(FrameError::NegativeSize(size));
    }
    let size = size as usize;
    if size > max_frame {
        return Err(FrameError::TooLarge {
            size,
            max: max_frame,
        });
    }
    if buf.len() - SIZE_PREFIX_LEN < size {
        return Ok(None);
    }
    Ok(Some(size))
}

/// Reserves room for a size prefix at the end of `buf` and returns its position, so a response
/// can be encoded in place and its size filled in afterwards with [`finish_frame`].
pub fn start_frame<B: ByteBufMut>(buf: &mut B) -> usize {
    let at = buf.offset();
    buf.put_i32(0);
    at
}

/// Writes the size of the frame begun at `at` (everything after its prefix) into its prefix.
pub fn finish_frame<B: ByteBufMut>(buf: &mut B, at: usize) {
    let size = (buf.offset() - at - SIZE_PREFIX_LEN) as i32;
    buf.range(at..at + SIZE_PREFIX_LEN)
        .copy_from_slice(&size.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use proptest::prelude::*;

    #[test]
    fn incomplete_prefix_needs_more() {
        assert_eq!(check_frame(&[0, 0], 100), Ok(None));
    }

    #[test]
    fn incomplete_body_needs_more() {
        assert_eq!(check_frame(&[0, 0, 0, 3, 1, 2], 100), Ok(None));
    }

    #[test]
    fn complete_frame_reports_its_size() {
        assert_eq!(check_frame(&[0, 0, 0, 2, 1, 2, 9], 100), Ok(Some(2)));
    }

    #[test]
    fn negative_size_is_malformed() {
        assert_eq!(
            check_frame(&(-1i32).to_be_bytes(), 100),
            Err(FrameError::NegativeSize(-1))
        );
    }

    #[test]
    fn oversized_frame_is_rejected_before_its_body_arrives() {
        assert_eq!(
            check_frame(&1000i32.to_be_bytes(), 100),
            Err(FrameError::TooLarge {
                size: 1000,
                max: 100
            })
        );
    }

    #[test]
    fn start_and_finish_frame_write_the_size() {
        let mut buf = BytesMut::new();
        let at = start_frame(&mut buf);
        buf.put_slice(b"hello");
        finish_frame(&mut buf, at);
        assert_eq!(check_frame(&buf, 100), Ok(Some(5)));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), max in 0usize..1024) {
            if let Ok(Some(n)) = check_frame(&bytes, max) {
                prop_assert!(n <= max && bytes.len() >= n + SIZE_PREFIX_LEN);
            }
        }
    }
}
