//! Zero-copy view of Kafka RecordBatch v2 (magic 2) headers.
//!
//! The broker never decodes records on the hot path: a produced batch is validated from its
//! 61-byte header (length, magic, CRC-32C, record count), gets its base offset and partition
//! leader epoch rewritten in place (both lie outside the CRC) and is stored as the client sent
//! it. This module provides that header view, an iterator over concatenated batches, the
//! in-place rewrites, and a bounded record walker for the rare paths that need per-record
//! timestamps.
//!
//! Layout (big-endian):
//!
//! | offset | field                |
//! |-------:|----------------------|
//! | 0      | baseOffset i64       |
//! | 8      | batchLength i32      |
//! | 12     | partitionLeaderEpoch i32 |
//! | 16     | magic i8             |
//! | 17     | crc u32 (CRC-32C over 21..end) |
//! | 21     | attributes i16       |
//! | 23     | lastOffsetDelta i32  |
//! | 27     | baseTimestamp i64    |
//! | 35     | maxTimestamp i64     |
//! | 43     | producerId i64       |
//! | 51     | producerEpoch i16    |
//! | 53     | baseSequence i32     |
//! | 57     | recordsCount i32     |
//! | 61     | records              |

/// Length of the whole v2 batch header, from baseOffset to the first record.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before the part counted by batchLength: baseOffset (8) + batchLength (4).
pub const LOG_OVERHEAD: usize = 12;

const BASE_OFFSET_OFF: usize = 0;
pub(crate) const LENGTH_OFF: usize = 8;
const EPOCH_OFF: usize = 12;
const MAGIC_OFF: usize = 16;
pub(crate) const CRC_OFF: usize = 17;
pub(crate) const ATTRIBUTES_OFF: usize = 21;
const LAST_OFFSET_DELTA_OFF: usize = 23;
const BASE_TIMESTAMP_OFF: usize = 27;
const MAX_TIMESTAMP_OFF: usize = 35;
const PRODUCER_ID_OFF: usize = 43;
const PRODUCER_EPOCH_OFF: usize = 51;
const BASE_SEQUENCE_OFF: usize = 53;
pub(crate) const RECORDS_COUNT_OFF: usize = 57;

/// Smallest legal batchLength: the header minus the fields before batchLength's end.
const MIN_BATCH_LENGTH: usize = BATCH_HEADER_LEN - LOG_OVERHEAD;

pub(crate) const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// Why a byte range is not a usable v2 batch; lets callers tell "read more" from "corrupt".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    /// The buffer ends inside a batch (torn write, truncated file, or a short read).
    #[error("incomplete batch: {needed} bytes needed")]
    Incomplete {
        /// Total bytes the batch needs from its start (or at least the header length).
        needed: usize,
    },
    /// batchLength is negative or smaller than a v2 header.
    #[error("invalid batch length {0}")]
    InvalidLength(i32),
    /// Magic is not 2 (v0/v1 message sets are not accepted, as in Kafka 4.0).
    #[error("unsupported magic {0}")]
    UnsupportedMagic(i8),
    /// Stored CRC-32C does not match the batch contents.
    #[error("crc mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC found in the header.
        stored: u32,
        /// CRC computed over attributes..end.
        computed: u32,
    },
    /// A header field holds an impossible value.
    #[error("invalid batch header: {0}")]
    InvalidHeader(&'static str),
    /// A record inside the batch is malformed (only reported by the record walker).
    #[error("invalid record: {0}")]
    InvalidRecord(&'static str),
}

/// Compression codec from the low three attribute bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Uncompressed records.
    None,
    /// gzip.
    Gzip,
    /// snappy (xerial framing).
    Snappy,
    /// lz4 frame.
    Lz4,
    /// zstd.
    Zstd,
}

impl Compression {
    /// The codec id as stored in the low three attribute bits, for building batches.
    pub fn id(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    fn from_attributes(attributes: i16) -> Result<Self, BatchError> {
        match attributes & COMPRESSION_MASK {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            _ => Err(BatchError::InvalidHeader("unknown compression codec")),
        }
    }
}

fn read_i64(buf: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    if let Some(s) = buf.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    i64::from_be_bytes(b)
}

fn read_i32(buf: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    if let Some(s) = buf.get(at..at + 4) {
        b.copy_from_slice(s);
    }
    i32::from_be_bytes(b)
}

fn read_i16(buf: &[u8], at: usize) -> i16 {
    let mut b = [0u8; 2];
    if let Some(s) = buf.get(at..at + 2) {
        b.copy_from_slice(s);
    }
    i16::from_be_bytes(b)
}

fn write_at(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// A validated, borrowed v2 batch: header accessors read straight from the bytes.
#[derive(Clone, Copy, Debug)]
pub struct RecordBatchView<'a> {
    /// Exactly this batch's bytes; length >= BATCH_HEADER_LEN, guaranteed by `parse`.
    buf: &'a [u8],
}

impl<'a> RecordBatchView<'a> {
    /// Parses one batch at the start of `buf` (buf may hold more after it). Checks length
    /// (>= 49), magic == 2, that the whole batch is present (else `Incomplete`), compression id
    /// valid, recordsCount >= 0, lastOffsetDelta >= 0. Does NOT check the CRC.
    pub fn parse(buf: &'a [u8]) -> Result<Self, BatchError> {
        if buf.len() < LOG_OVERHEAD {
            return Err(BatchError::Incomplete {
                needed: BATCH_HEADER_LEN,
            });
        }
        // Magic sits before the end of the minimal header; check it first so a v0/v1 message
        // set is reported as such rather than as a bad length or an incomplete batch.
        if let Some(&magic) = buf.get(MAGIC_OFF) {
            if magic as i8 != 2 {
                return Err(BatchError::UnsupportedMagic(magic as i8));
            }
        }
        let length = read_i32(buf, LENGTH_OFF);
        let length_usize =
            usize::try_from(length).map_err(|_| BatchError::InvalidLength(length))?;
        if length_usize < MIN_BATCH_LENGTH {
            return Err(BatchError::InvalidLength(length));
        }
        let total = LOG_OVERHEAD + length_usize;
        let bytes = buf
            .get(..total)
            .ok_or(BatchError::Incomplete { needed: total })?;
        let view = Self { buf: bytes };
        Compression::from_attributes(view.attributes())?;
        if view.record_count() < 0 {
            return Err(BatchError::InvalidHeader("negative record count"));
        }
        if view.last_offset_delta() < 0 {
            return Err(BatchError::InvalidHeader("negative lastOffsetDelta"));
        }
        Ok(view)
    }

    /// Checks the stored CRC-32C against attributes..end; needed before trusting a batch.
    pub fn verify_crc(&self) -> Result<(), BatchError> {
        let stored = self.crc();
        let computed = crc32c::crc32c(self.buf.get(ATTRIBUTES_OFF..).unwrap_or(&[]));
        if stored == computed {
            Ok(())
        } else {
            Err(BatchError::CrcMismatch { stored, computed })
        }
    }

    /// Exactly this batch's bytes, for storing or sending without copying.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Whole size of the batch: LOG_OVERHEAD + batchLength.
    pub fn total_len(&self) -> usize {
        self.buf.len()
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        read_i64(self.buf, BASE_OFFSET_OFF)
    }

    /// Offset of the last record: base offset + lastOffsetDelta.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .saturating_add(i64::from(self.last_offset_delta()))
    }

    /// Bytes after the batchLength field.
    pub fn batch_length(&self) -> i32 {
        read_i32(self.buf, LENGTH_OFF)
    }

    /// Leader epoch stamped by the broker that appended the batch.
    pub fn partition_leader_epoch(&self) -> i32 {
        read_i32(self.buf, EPOCH_OFF)
    }

    /// Message format version (always 2 for a parsed view).
    pub fn magic(&self) -> i8 {
        self.buf.get(MAGIC_OFF).map_or(0, |&b| b as i8)
    }

    /// Stored CRC-32C.
    pub fn crc(&self) -> u32 {
        read_i32(self.buf, CRC_OFF) as u32
    }

    /// Raw attribute bits.
    pub fn attributes(&self) -> i16 {
        read_i16(self.buf, ATTRIBUTES_OFF)
    }

    /// Codec of the records section (validated by `parse`).
    pub fn compression(&self) -> Compression {
        Compression::from_attributes(self.attributes()).unwrap_or(Compression::None)
    }

    /// True when timestamps are broker-assigned (maxTimestamp applies to every record).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & TIMESTAMP_TYPE_BIT != 0
    }

    /// True for batches written by a transactional producer.
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }

    /// True for control batches (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }

    /// Last offset minus base offset.
    pub fn last_offset_delta(&self) -> i32 {
        read_i32(self.buf, LAST_OFFSET_DELTA_OFF)
    }

    /// Timestamp of the first record (base for record timestamp deltas).
    pub fn base_timestamp(&self) -> i64 {
        read_i64(self.buf, BASE_TIMESTAMP_OFF)
    }

    /// Largest record timestamp (or the log append time).
    pub fn max_timestamp(&self) -> i64 {
        read_i64(self.buf, MAX_TIMESTAMP_OFF)
    }

    /// Idempotent/transactional producer id, -1 if none.
    pub fn producer_id(&self) -> i64 {
        read_i64(self.buf, PRODUCER_ID_OFF)
    }

    /// Producer epoch, -1 if none.
    pub fn producer_epoch(&self) -> i16 {
        read_i16(self.buf, PRODUCER_EPOCH_OFF)
    }

    /// Sequence number of the first record, -1 if none.
    pub fn base_sequence(&self) -> i32 {
        read_i32(self.buf, BASE_SEQUENCE_OFF)
    }

    /// Number of records as claimed by the header (never trusted for allocation).
    pub fn record_count(&self) -> i32 {
        read_i32(self.buf, RECORDS_COUNT_OFF)
    }

    /// The records section (after the 61-byte header), still compressed if the batch is;
    /// `records::batch_records` decompresses it.
    pub fn records(&self) -> &'a [u8] {
        self.buf.get(BATCH_HEADER_LEN..).unwrap_or(&[])
    }
}

/// Iterates the batches of a buffer of concatenated batches (a produce request's records, a
/// segment file's bytes). Yields Err and then stops on the first bad/incomplete batch.
#[derive(Clone, Debug)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> BatchIter<'a> {
    /// Starts iterating at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            done: false,
        }
    }

    /// Bytes consumed so far (the end of the last batch yielded Ok).
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<RecordBatchView<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        match RecordBatchView::parse(rest) {
            Ok(view) => {
                self.pos += view.total_len();
                Some(Ok(view))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Rewrites the base offset in place (outside the CRC); does nothing if `batch` is too short.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    write_at(batch, BASE_OFFSET_OFF, &base_offset.to_be_bytes());
}

/// Rewrites the partition leader epoch in place (outside the CRC); does nothing if `batch` is
/// too short.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    write_at(batch, EPOCH_OFF, &epoch.to_be_bytes());
}

/// For message.timestamp.type=LogAppendTime. Like Kafka's `DefaultRecordBatch.setMaxTimestamp`
/// it sets the timestamp-type bit and maxTimestamp (baseTimestamp and record deltas are left
/// alone; readers use maxTimestamp for every record of such a batch), then recomputes the CRC.
/// Does nothing if `batch` is shorter than a header.
pub fn set_log_append_time(batch: &mut [u8], timestamp: i64) {
    if batch.len() < BATCH_HEADER_LEN {
        return;
    }
    let attributes = read_i16(batch, ATTRIBUTES_OFF) | TIMESTAMP_TYPE_BIT;
    write_at(batch, ATTRIBUTES_OFF, &attributes.to_be_bytes());
    write_at(batch, MAX_TIMESTAMP_OFF, &timestamp.to_be_bytes());
    rewrite_crc(batch);
}

/// Recomputes the CRC-32C over the batch (from the attributes to the batch's end) after a
/// rewrite inside the CRC-covered part.
fn rewrite_crc(batch: &mut [u8]) {
    let end = usize::try_from(read_i32(batch, LENGTH_OFF))
        .ok()
        .and_then(|l| l.checked_add(LOG_OVERHEAD))
        .map_or(batch.len(), |e| e.min(batch.len()));
    let crc = crc32c::crc32c(batch.get(ATTRIBUTES_OFF..end).unwrap_or(&[]));
    write_at(batch, CRC_OFF, &crc.to_be_bytes());
}

/// Replaces the attributes (codec, timestamp type, transactional and control bits) and
/// recomputes the CRC. Does nothing if `batch` is shorter than a header.
pub fn set_attributes(batch: &mut [u8], attributes: i16) {
    if batch.len() < BATCH_HEADER_LEN {
        return;
    }
    write_at(batch, ATTRIBUTES_OFF, &attributes.to_be_bytes());
    rewrite_crc(batch);
}

/// Bounded cursor over a records section; every read is checked against the slice end.
pub(crate) struct Cursor<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn varlong(&mut self) -> Result<i64, BatchError> {
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or(BatchError::InvalidRecord("truncated varint"))?;
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err(BatchError::InvalidRecord("varint too long"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(BatchError::InvalidRecord("varint too long"))
    }

    pub(crate) fn varint(&mut self) -> Result<i32, BatchError> {
        let v = self.varlong()?;
        i32::try_from(v).map_err(|_| BatchError::InvalidRecord("varint out of range"))
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), BatchError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(BatchError::InvalidRecord("field runs past record end"))?;
        self.pos = end;
        Ok(())
    }
}

/// Timestamp of each record of an UNCOMPRESSED batch with its absolute offset, for
/// ListOffsets-by-timestamp (not the hot path). Records are walked within the batch bounds;
/// the header's record count is never used to size an allocation. For a LogAppendTime batch
/// every record gets the batch's maxTimestamp, as Kafka does.
pub fn record_timestamps(view: &RecordBatchView<'_>) -> Result<Vec<(i64, i64)>, BatchError> {
    if view.compression() != Compression::None {
        return Err(BatchError::InvalidHeader(
            "record timestamps need an uncompressed batch",
        ));
    }
    let base_offset = view.base_offset();
    let base_ts = view.base_timestamp();
    let append_time = view.is_log_append_time().then(|| view.max_timestamp());
    let records = view.records();
    let mut out = Vec::new();
    let mut cur = Cursor {
        buf: records,
        pos: 0,
    };
    while cur.pos < records.len() {
        let len = cur.varint()?;
        let len = usize::try_from(len).map_err(|_| BatchError::InvalidRecord("negative length"))?;
        let start = cur.pos;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= records.len())
            .ok_or(BatchError::InvalidRecord("record runs past batch end"))?;
        let mut rec = Cursor {
            buf: records.get(start..end).unwrap_or(&[]),
            pos: 0,
        };
        rec.skip(1)?; // attributes
        let ts_delta = rec.varlong()?;
        let offset_delta = rec.varint()?;
        let ts = append_time.unwrap_or_else(|| base_ts.wrapping_add(ts_delta));
        out.push((base_offset.wrapping_add(i64::from(offset_delta)), ts));
        cur.pos = end;
    }
    Ok(out)
}

pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        if z < 0x80 {
            out.push(z as u8);
            return;
        }
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
}

pub(crate) fn put_bytes_field(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => put_varlong(out, -1),
        Some(b) => {
            put_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// One record for `build_test_batch`: (key, value, timestamp). Not for production use.
#[doc(hidden)]
pub type TestRecord<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, i64);

/// Builds a valid uncompressed v2 batch (CRC set, zero headers per record, producer id -1) so
/// tests across the workspace can produce realistic bytes. Not for production use.
#[doc(hidden)]
pub fn build_test_batch(base_offset: i64, records: &[TestRecord<'_>]) -> Vec<u8> {
    let base_ts = records.first().map_or(-1, |r| r.2);
    let max_ts = records.iter().map(|r| r.2).max().unwrap_or(-1);
    let mut body = Vec::new();
    for (i, (key, value, ts)) in records.iter().enumerate() {
        let mut rec = Vec::new();
        rec.push(0u8); // attributes
        put_varlong(&mut rec, ts - base_ts);
        put_varlong(&mut rec, i as i64);
        put_bytes_field(&mut rec, *key);
        put_bytes_field(&mut rec, *value);
        put_varlong(&mut rec, 0); // headers count
        put_varlong(&mut body, rec.len() as i64);
        body.extend_from_slice(&rec);
    }
    let mut out = Vec::with_capacity(BATCH_HEADER_LEN + body.len());
    out.extend_from_slice(&base_offset.to_be_bytes());
    let length = (BATCH_HEADER_LEN - LOG_OVERHEAD + body.len()) as i32;
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    out.push(2); // magic
    out.extend_from_slice(&0u32.to_be_bytes()); // crc placeholder
    out.extend_from_slice(&0i16.to_be_bytes()); // attributes
    let last_delta = records.len().saturating_sub(1) as i32;
    out.extend_from_slice(&last_delta.to_be_bytes());
    out.extend_from_slice(&base_ts.to_be_bytes());
    out.extend_from_slice(&max_ts.to_be_bytes());
    out.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    out.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    out.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    out.extend_from_slice(&(records.len() as i32).to_be_bytes());
    out.extend_from_slice(&body);
    let crc = crc32c::crc32c(&out[ATTRIBUTES_OFF..]);
    out[CRC_OFF..CRC_OFF + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        build_test_batch(
            100,
            &[
                (Some(b"k1"), Some(b"v1"), 1_000),
                (None, Some(b"value-two"), 1_005),
                (Some(b"k3"), None, 999),
            ],
        )
    }

    fn set_attributes(b: &mut [u8], a: i16) {
        b[ATTRIBUTES_OFF..ATTRIBUTES_OFF + 2].copy_from_slice(&a.to_be_bytes());
    }

    #[test]
    fn parses_header_fields() {
        let b = sample();
        let v = RecordBatchView::parse(&b).unwrap();
        v.verify_crc().unwrap();
        assert_eq!(v.base_offset(), 100);
        assert_eq!(v.last_offset(), 102);
        assert_eq!(v.last_offset_delta(), 2);
        assert_eq!(v.record_count(), 3);
        assert_eq!(v.magic(), 2);
        assert_eq!(v.total_len(), b.len());
        assert_eq!(v.batch_length() as usize + LOG_OVERHEAD, b.len());
        assert_eq!(v.base_timestamp(), 1_000);
        assert_eq!(v.max_timestamp(), 1_005);
        assert_eq!(v.producer_id(), -1);
        assert_eq!(v.producer_epoch(), -1);
        assert_eq!(v.base_sequence(), -1);
        assert_eq!(v.partition_leader_epoch(), 0);
        assert_eq!(v.compression(), Compression::None);
        assert!(!v.is_log_append_time() && !v.is_transactional() && !v.is_control());
        assert_eq!(v.as_bytes(), &b[..]);
    }

    #[test]
    fn attribute_bits() {
        let mut b = sample();
        set_attributes(
            &mut b,
            4 | TIMESTAMP_TYPE_BIT | TRANSACTIONAL_BIT | CONTROL_BIT,
        );
        let v = RecordBatchView::parse(&b).unwrap();
        assert_eq!(v.compression(), Compression::Zstd);
        assert!(v.is_log_append_time() && v.is_transactional() && v.is_control());
        for (id, c) in [
            (1, Compression::Gzip),
            (2, Compression::Snappy),
            (3, Compression::Lz4),
        ] {
            set_attributes(&mut b, id);
            assert_eq!(RecordBatchView::parse(&b).unwrap().compression(), c);
        }
        set_attributes(&mut b, 5);
        assert_eq!(
            RecordBatchView::parse(&b).unwrap_err(),
            BatchError::InvalidHeader("unknown compression codec")
        );
    }

    #[test]
    fn rejects_bad_headers() {
        let b = sample();
        assert_eq!(
            RecordBatchView::parse(&b[..5]).unwrap_err(),
            BatchError::Incomplete {
                needed: BATCH_HEADER_LEN
            }
        );
        assert_eq!(
            RecordBatchView::parse(&b[..b.len() - 1]).unwrap_err(),
            BatchError::Incomplete { needed: b.len() }
        );
        let mut m = b.clone();
        m[MAGIC_OFF] = 1;
        assert_eq!(
            RecordBatchView::parse(&m).unwrap_err(),
            BatchError::UnsupportedMagic(1)
        );
        let mut m = b.clone();
        m[LENGTH_OFF..LENGTH_OFF + 4].copy_from_slice(&48i32.to_be_bytes());
        assert_eq!(
            RecordBatchView::parse(&m).unwrap_err(),
            BatchError::InvalidLength(48)
        );
        m[LENGTH_OFF..LENGTH_OFF + 4].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(
            RecordBatchView::parse(&m).unwrap_err(),
            BatchError::InvalidLength(-1)
        );
        let mut m = b.clone();
        m[RECORDS_COUNT_OFF..RECORDS_COUNT_OFF + 4].copy_from_slice(&(-2i32).to_be_bytes());
        assert!(matches!(
            RecordBatchView::parse(&m),
            Err(BatchError::InvalidHeader(_))
        ));
        let mut m = b.clone();
        m[LAST_OFFSET_DELTA_OFF..LAST_OFFSET_DELTA_OFF + 4].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            RecordBatchView::parse(&m),
            Err(BatchError::InvalidHeader(_))
        ));
    }

    #[test]
    fn crc_detects_corruption() {
        let mut b = sample();
        let last = b.len() - 1;
        b[last] ^= 0x01;
        let v = RecordBatchView::parse(&b).unwrap();
        assert!(matches!(
            v.verify_crc(),
            Err(BatchError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn in_place_rewrites_keep_crc() {
        let mut b = sample();
        set_base_offset(&mut b, 7_000);
        set_partition_leader_epoch(&mut b, 42);
        let v = RecordBatchView::parse(&b).unwrap();
        v.verify_crc().unwrap();
        assert_eq!(v.base_offset(), 7_000);
        assert_eq!(v.last_offset(), 7_002);
        assert_eq!(v.partition_leader_epoch(), 42);
        // Too-short buffers are left alone rather than panicking.
        let mut short = [0u8; 3];
        set_base_offset(&mut short, 1);
        set_partition_leader_epoch(&mut short, 1);
        set_log_append_time(&mut short, 1);
        assert_eq!(short, [0u8; 3]);
    }

    #[test]
    fn log_append_time_sets_bit_max_ts_and_crc() {
        let mut b = sample();
        set_log_append_time(&mut b, 55_555);
        let v = RecordBatchView::parse(&b).unwrap();
        v.verify_crc().unwrap();
        assert!(v.is_log_append_time());
        assert_eq!(v.max_timestamp(), 55_555);
        assert_eq!(v.base_timestamp(), 1_000);
        assert_eq!(
            record_timestamps(&v).unwrap(),
            vec![(100, 55_555), (101, 55_555), (102, 55_555)]
        );
    }

    #[test]
    fn record_timestamps_walks_records() {
        let b = sample();
        let v = RecordBatchView::parse(&b).unwrap();
        assert_eq!(
            record_timestamps(&v).unwrap(),
            vec![(100, 1_000), (101, 1_005), (102, 999)]
        );
        let empty = build_test_batch(5, &[]);
        let v = RecordBatchView::parse(&empty).unwrap();
        assert_eq!(v.record_count(), 0);
        assert!(record_timestamps(&v).unwrap().is_empty());
    }

    #[test]
    fn record_timestamps_rejects_garbage_and_compressed() {
        let mut b = sample();
        // Claim a huge first record length.
        b[BATCH_HEADER_LEN] = 0x7e;
        let v = RecordBatchView::parse(&b).unwrap();
        assert!(matches!(
            record_timestamps(&v),
            Err(BatchError::InvalidRecord(_))
        ));
        let mut c = sample();
        set_attributes(&mut c, 1);
        let v = RecordBatchView::parse(&c).unwrap();
        assert!(record_timestamps(&v).is_err());
    }

    #[test]
    fn iter_walks_concatenated_batches_then_stops_on_error() {
        let mut buf = build_test_batch(0, &[(None, Some(b"a"), 1)]);
        let first = buf.len();
        buf.extend(build_test_batch(
            1,
            &[(None, Some(b"b"), 2), (None, None, 3)],
        ));
        let whole = buf.len();
        buf.extend_from_slice(&[0, 0, 0]);
        let mut it = BatchIter::new(&buf);
        assert_eq!(it.next().unwrap().unwrap().base_offset(), 0);
        assert_eq!(it.position(), first);
        assert_eq!(it.next().unwrap().unwrap().last_offset(), 2);
        assert_eq!(it.position(), whole);
        assert!(matches!(
            it.next(),
            Some(Err(BatchError::Incomplete { .. }))
        ));
        assert!(it.next().is_none());
        assert_eq!(it.position(), whole);
        assert!(BatchIter::new(&[]).next().is_none());
    }

    #[test]
    fn varint_encoding_matches_kafka() {
        let mut out = Vec::new();
        put_varlong(&mut out, 0);
        put_varlong(&mut out, -1);
        put_varlong(&mut out, 1);
        put_varlong(&mut out, 64);
        put_varlong(&mut out, -65);
        assert_eq!(out, vec![0x00, 0x01, 0x02, 0x80, 0x01, 0x81, 0x01]);
        let mut c = Cursor { buf: &out, pos: 0 };
        for want in [0, -1, 1, 64, -65] {
            assert_eq!(c.varlong().unwrap(), want);
        }
        let mut c = Cursor {
            buf: &[0xff; 11],
            pos: 0,
        };
        assert!(c.varlong().is_err());
        for v in [i64::MIN, i64::MAX] {
            let mut o = Vec::new();
            put_varlong(&mut o, v);
            assert_eq!(Cursor { buf: &o, pos: 0 }.varlong().unwrap(), v);
        }
    }

    type Rec = (Option<Vec<u8>>, Option<Vec<u8>>, i64);

    fn records_strategy() -> impl Strategy<Value = Vec<Rec>> {
        prop::collection::vec(
            (
                prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
                prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
                0i64..1_000_000_000,
            ),
            0..12,
        )
    }

    fn build(base: i64, recs: &[Rec]) -> Vec<u8> {
        let borrowed: Vec<TestRecord<'_>> = recs
            .iter()
            .map(|(k, v, t)| (k.as_deref(), v.as_deref(), *t))
            .collect();
        build_test_batch(base, &borrowed)
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(v) = RecordBatchView::parse(&bytes) {
                let _ = v.verify_crc();
                let _ = record_timestamps(&v);
                let _ = (v.last_offset(), v.compression(), v.max_timestamp());
            }
            for v in BatchIter::new(&bytes).flatten() {
                let _ = record_timestamps(&v);
            }
        }

        #[test]
        fn mutated_header_never_panics(recs in records_strategy(), at in 0usize..80, byte in any::<u8>()) {
            let mut b = build(0, &recs);
            if at < b.len() { b[at] = byte; }
            if let Ok(v) = RecordBatchView::parse(&b) {
                let _ = v.verify_crc();
                let _ = record_timestamps(&v);
            }
        }

        #[test]
        fn valid_batch_round_trips(recs in records_strategy(), base in 0i64..1i64 << 40, flip in any::<prop::sample::Index>(), bit in 0u8..8) {
            let b = build(base, &recs);
            let v = RecordBatchView::parse(&b).unwrap();
            prop_assert!(v.verify_crc().is_ok());
            prop_assert_eq!(v.base_offset(), base);
            prop_assert_eq!(v.record_count() as usize, recs.len());
            let ts = record_timestamps(&v).unwrap();
            prop_assert_eq!(ts.len(), recs.len());
            for (i, (off, t)) in ts.iter().enumerate() {
                prop_assert_eq!(*off, base + i as i64);
                prop_assert_eq!(*t, recs[i].2);
            }
            // Flipping any bit from attributes on breaks the CRC.
            let mut m = b.clone();
            let pos = ATTRIBUTES_OFF + flip.index(m.len() - ATTRIBUTES_OFF);
            m[pos] ^= 1 << bit;
            if let Ok(v) = RecordBatchView::parse(&m) {
                prop_assert!(v.verify_crc().is_err());
            }
        }
    }
}
