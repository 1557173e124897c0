//! The output buffer of a connection: response frames as a list of chunks, so that the record
//! data of a fetch response goes to the socket straight from the bytes storage read, without
//! being copied into the frame first.
//!
//! Encoders write into the last chunk, an owned `BytesMut`. When an encoder hands over a large
//! `Bytes` through [`ByteBufMut::put_shared`] (the record data of a fetch response does), the
//! buffer keeps a reference to it as a chunk of its own and starts a new owned chunk after it.
//! The connection then writes all chunks with vectored writes.
//!
//! Record data still in a segment file comes as a placeholder (see [`crate::file_region`]):
//! given the regions of a message with [`ResponseBuf::expect_regions`] before it is encoded,
//! the buffer keeps each region as a chunk of its own, which the connection sends from the
//! file.
//!
//! Offsets ([`ByteBufMut::offset`], `seek`, `range`) count across every chunk, so the frame size
//! prefix can be filled in after the body was encoded, as with a plain `BytesMut`. A range may
//! only lie within one owned chunk: the shared ones are never written to.

use std::ops::Range;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;

use crate::file_region::{placeholder_index, FileRegion, FileRegions};

/// Shared `Bytes` shorter than this are copied: for small data an extra chunk (one more iovec
/// and its bookkeeping) costs more than the copy.
pub const SHARE_MIN_BYTES: usize = 2048;

/// One piece of the output.
#[derive(Debug)]
enum Chunk {
    /// Bytes written by encoders; may still be patched (frame sizes).
    Owned(BytesMut),
    /// Bytes handed over by reference (record data); never written to.
    Shared(Bytes),
    /// Bytes still in a file (record data), sent from there.
    File(FileRegion),
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::Owned(b) => b.len(),
            Chunk::Shared(b) => b.len(),
            Chunk::File(r) => usize::try_from(r.len).unwrap_or(usize::MAX),
        }
    }

    fn out(&self) -> OutChunk<'_> {
        match self {
            Chunk::Owned(b) => OutChunk::Bytes(b),
            Chunk::Shared(b) => OutChunk::Bytes(b),
            Chunk::File(r) => OutChunk::File(r),
        }
    }

    fn truncate(&mut self, len: usize) {
        match self {
            Chunk::Owned(b) => b.truncate(len),
            Chunk::Shared(b) => b.truncate(len),
            Chunk::File(r) => r.len = r.len.min(len as u64),
        }
    }
}

/// A piece of the output as the connection writes it.
#[derive(Debug)]
pub enum OutChunk<'a> {
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// Bytes to send from a file.
    File(&'a FileRegion),
}

impl OutChunk<'_> {
    /// Number of bytes.
    pub fn len(&self) -> usize {
        match self {
            OutChunk::Bytes(b) => b.len(),
            OutChunk::File(r) => usize::try_from(r.len).unwrap_or(usize::MAX),
        }
    }

    /// Whether the chunk has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Response frames waiting to be written: owned chunks and shared record data, in order.
#[derive(Debug)]
pub struct ResponseBuf {
    /// Never empty; the last chunk is always `Owned` (encoders append to it).
    chunks: Vec<Chunk>,
    /// Total length of all chunks but the last.
    before_last: usize,
    /// Regions of the message being encoded, by placeholder index; taken as they are met.
    expected: Vec<Option<FileRegion>>,
    /// A placeholder came that matched no expected region: the output is wrong and must not
    /// be sent (a bug, never the client's doing).
    broken: bool,
}

impl Default for ResponseBuf {
    fn default() -> Self {
        ResponseBuf::new()
    }
}

impl ResponseBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        ResponseBuf {
            chunks: vec![Chunk::Owned(BytesMut::new())],
            before_last: 0,
            expected: Vec::new(),
            broken: false,
        }
    }

    /// Makes the placeholders of `regions` stand for their regions in the next message
    /// encoded into this buffer.
    pub fn expect_regions(&mut self, regions: FileRegions) {
        if self.expected.iter().any(Option::is_some) {
            self.broken = true;
        }
        self.expected = regions.into_vec().into_iter().map(Some).collect();
    }

    /// Whether a placeholder was met that stands for no expected region (or regions were
    /// expected and never met): the buffered bytes are not what the encoder meant.
    pub fn is_broken(&self) -> bool {
        self.broken || self.expected.iter().any(Option::is_some)
    }

    /// Bytes buffered in all chunks.
    pub fn len(&self) -> usize {
        self.before_last + self.chunks.last().map_or(0, Chunk::len)
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffered bytes, chunk by chunk, in order (empty chunks left out).
    pub fn chunks(&self) -> impl Iterator<Item = OutChunk<'_>> {
        self.chunks.iter().map(Chunk::out).filter(|c| !c.is_empty())
    }

    /// Empties the buffer, keeping the first owned chunk's allocation for the next responses.
    pub fn clear(&mut self) {
        self.expected.clear();
        self.broken = false;
        self.chunks.truncate(1);
        match self.chunks.first_mut() {
            Some(Chunk::Owned(b)) => b.clear(),
            _ => self.chunks = vec![Chunk::Owned(BytesMut::new())],
        }
        self.before_last = 0;
    }

    /// The owned chunk encoders append to.
    fn last(&mut self) -> &mut BytesMut {
        if !matches!(self.chunks.last(), Some(Chunk::Owned(_))) {
            self.before_last = self.len();
            self.chunks.push(Chunk::Owned(BytesMut::new()));
        }
        match self.chunks.last_mut() {
            Some(Chunk::Owned(b)) => b,
            // Just ensured above.
            _ => unreachable!("the last chunk is owned"),
        }
    }

    /// Drops everything from `offset` on.
    fn truncate(&mut self, offset: usize) {
        let mut start = 0;
        let mut keep = 0;
        for (i, c) in self.chunks.iter_mut().enumerate() {
            if offset <= start + c.len() {
                c.truncate(offset - start);
                keep = i + 1;
                break;
            }
            start += c.len();
        }
        self.chunks.truncate(keep.max(1));
        self.before_last = self.chunks[..self.chunks.len() - 1]
            .iter()
            .map(Chunk::len)
            .sum();
    }
}

// SAFETY: every method delegates to the `BytesMut` of the last chunk, which upholds
// `BufMut`'s contract itself; `last()` returns the same chunk until the next `put_shared`, and
// nothing here touches its bytes between `chunk_mut` and `advance_mut`.
unsafe impl BufMut for ResponseBuf {
    fn remaining_mut(&self) -> usize {
        usize::MAX - self.len()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller initialised `cnt` bytes of the last chunk's `chunk_mut`.
        unsafe { self.last().advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.last().chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        self.last().extend_from_slice(src);
    }
}

impl ByteBufMut for ResponseBuf {
    fn offset(&self) -> usize {
        self.len()
    }

    /// Drops everything after `offset`, or grows the last chunk with zeros up to it.
    fn seek(&mut self, offset: usize) {
        if offset < self.len() {
            self.truncate(offset);
        }
        self.last();
        let start = self.before_last;
        self.last().resize(offset - start, 0);
    }

    /// # Panics
    /// If `r` does not lie within one owned chunk: encoders only patch bytes they wrote
    /// themselves (a frame's size prefix, a gap they put), never shared record data.
    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        let mut start = 0;
        for c in &mut self.chunks {
            let end = start + c.len();
            if r.start >= start && r.end <= end {
                if let Chunk::Owned(b) = c {
                    return &mut b[r.start - start..r.end - start];
                }
            }
            start = end;
        }
        panic!("range {r:?} is not within one owned chunk of the response buffer");
    }

    fn put_shared(&mut self, bytes: &Bytes) {
        if let Some(index) = placeholder_index(bytes) {
            let region = self.expected.get_mut(index).and_then(Option::take);
            match region {
                Some(region) if region.len == bytes.len() as u64 => {
                    self.push_chunk(Chunk::File(region));
                }
                _ => self.broken = true,
            }
            return;
        }
        if bytes.len() < SHARE_MIN_BYTES {
            self.put_slice(bytes);
            return;
        }
        self.push_chunk(Chunk::Shared(bytes.clone()));
    }
}

impl ResponseBuf {
    /// Appends a chunk that is not written to, and a new owned one after it.
    fn push_chunk(&mut self, chunk: Chunk) {
        self.before_last = self.len() + chunk.len();
        self.chunks.push(chunk);
        self.chunks.push(Chunk::Owned(BytesMut::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn concat(b: &ResponseBuf) -> Vec<u8> {
        let mut out = Vec::new();
        for c in b.chunks() {
            match c {
                OutChunk::Bytes(bytes) => out.extend_from_slice(bytes),
                OutChunk::File(r) => out.extend_from_slice(&r.read_all().unwrap()),
            }
        }
        out
    }

    fn file_with(data: &[u8]) -> std::sync::Arc<std::fs::File> {
        use std::io::Write;
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(data).unwrap();
        std::sync::Arc::new(f)
    }

    #[test]
    fn large_shared_bytes_are_kept_by_reference_small_ones_copied() {
        let big = Bytes::from(vec![7u8; SHARE_MIN_BYTES]);
        let mut b = ResponseBuf::new();
        b.put_i32(1);
        b.put_shared(&Bytes::from_static(b"small"));
        b.put_shared(&big);
        b.put_u8(9);
        let chunks: Vec<OutChunk<'_>> = b.chunks().collect();
        assert_eq!(chunks.len(), 3);
        assert!(
            matches!(chunks[1], OutChunk::Bytes(c) if c.as_ptr() == big.as_ptr()),
            "not copied"
        );
        assert_eq!(b.len(), 4 + 5 + big.len() + 1);
        let mut want = vec![0, 0, 0, 1];
        want.extend_from_slice(b"small");
        want.extend_from_slice(&big);
        want.push(9);
        assert_eq!(concat(&b), want);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.chunks().count(), 0);
    }

    #[test]
    fn a_size_prefix_before_shared_bytes_can_be_patched() {
        let big = Bytes::from(vec![1u8; 3 * SHARE_MIN_BYTES]);
        let mut b = ResponseBuf::new();
        b.put_u8(0xaa);
        let at = b.offset();
        b.put_i32(0);
        b.put_shared(&big);
        b.put_u16(5);
        let size = (b.offset() - at - 4) as i32;
        b.range(at..at + 4).copy_from_slice(&size.to_be_bytes());
        let bytes = concat(&b);
        assert_eq!(&bytes[1..5], &size.to_be_bytes());
        assert_eq!(size as usize, big.len() + 2);
    }

    #[test]
    fn seeking_back_drops_what_follows() {
        let big = Bytes::from(vec![3u8; SHARE_MIN_BYTES]);
        let mut b = ResponseBuf::new();
        b.put_slice(b"abc");
        b.put_shared(&big);
        b.put_slice(b"def");
        b.seek(3);
        assert_eq!(concat(&b), b"abc");
        b.put_slice(b"x");
        assert_eq!(concat(&b), b"abcx");
        b.seek(6);
        assert_eq!(concat(&b), b"abcx\0\0");
    }

    #[test]
    fn placeholders_become_the_file_regions_they_stand_for() {
        let file = file_with(b"0123456789abcdef");
        let mut regions = FileRegions::default();
        let region = |pos, len| FileRegion {
            file: file.clone(),
            pos,
            len,
        };
        let first = regions.placeholder(region(10, 6)).unwrap();
        let second = regions.placeholder(region(2, 3)).unwrap();
        let mut b = ResponseBuf::new();
        b.expect_regions(regions);
        assert!(b.is_broken(), "expected regions not met yet");
        b.put_slice(b"<");
        b.put_shared(&first);
        b.put_slice(b"|");
        b.put_shared(&second);
        b.put_slice(b">");
        assert!(!b.is_broken());
        assert_eq!(b.len(), 1 + 6 + 1 + 3 + 1);
        assert_eq!(concat(&b), b"<abcdef|234>");
        assert_eq!(
            b.chunks()
                .filter(|c| matches!(c, OutChunk::File(_)))
                .count(),
            2
        );
        b.clear();
        // A placeholder no region was expected for leaves the buffer broken, never sent.
        let mut other = FileRegions::default();
        let stray = other.placeholder(region(0, 4)).unwrap();
        b.put_shared(&stray);
        assert!(b.is_broken());
        b.clear();
        assert!(!b.is_broken());
    }

    #[test]
    #[should_panic(expected = "not within one owned chunk")]
    fn shared_bytes_are_never_patched() {
        let big = Bytes::from(vec![3u8; SHARE_MIN_BYTES]);
        let mut b = ResponseBuf::new();
        b.put_shared(&big);
        b.range(0..4);
    }

    proptest! {
        /// Whatever mix of writes, shared data and truncations: the chunks hold exactly what a
        /// plain `BytesMut` given the same calls holds.
        #[test]
        fn same_bytes_as_a_bytes_mut(ops in proptest::collection::vec((0u8..4, 0usize..5000), 0..24)) {
            let mut b = ResponseBuf::new();
            let mut plain = BytesMut::new();
            for (op, n) in ops {
                match op {
                    0 => {
                        let data = vec![(n % 251) as u8; n % 64];
                        b.put_slice(&data);
                        plain.put_slice(&data);
                    }
                    1 => {
                        let data = Bytes::from(vec![(n % 13) as u8; n]);
                        b.put_shared(&data);
                        ByteBufMut::put_shared(&mut plain, &data);
                    }
                    2 => {
                        let to = n.min(plain.len());
                        b.seek(to);
                        ByteBufMut::seek(&mut plain, to);
                    }
                    _ => {
                        b.put_i64(n as i64);
                        plain.put_i64(n as i64);
                    }
                }
                prop_assert_eq!(b.len(), plain.len());
                prop_assert_eq!(b.offset(), plain.len());
            }
            prop_assert_eq!(concat(&b), plain.to_vec());
        }
    }
}
