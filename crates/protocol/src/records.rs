//! Record-level access to RecordBatch v2, for the few features that must look inside a batch
//! (log compaction): decompression with an output cap, a borrowing record iterator that hands
//! out each record's raw bytes, compression, and rebuilding a batch from a template header and
//! a subset of its records.
//!
//! This is deliberately off the hot path: produce and fetch never call it. Every size read from
//! the data (record lengths, header counts, snappy block lengths, decompressed sizes) is checked
//! against the bytes actually present or against the caller's cap before it is used.
//!
//! Codecs (Kafka's attribute ids): gzip (1, single or concatenated members), snappy (2, both
//! raw snappy as librdkafka may write it and the xerial/snappy-java framing Java clients write:
//! `\x82SNAPPY\x00`, version, compatible version, then blocks with a 4-byte big-endian length),
//! lz4 (3, the standard LZ4 frame format with the header checksum fixed by KIP-57, as every v2
//! batch uses) and zstd (4).

use std::borrow::Cow;
use std::io::{Read, Write};

use crate::record_batch::{
    put_varlong, BatchError, Compression, Cursor, RecordBatchView, ATTRIBUTES_OFF,
    BATCH_HEADER_LEN, COMPRESSION_MASK, CRC_OFF, LENGTH_OFF, LOG_OVERHEAD, RECORDS_COUNT_OFF,
};

/// Default cap on a decompressed records section: a batch that inflates beyond this is refused
/// rather than allowed to exhaust memory (a "zip bomb" or a corrupt size field).
pub const DEFAULT_MAX_RECORDS_BYTES: usize = 64 << 20;

/// Magic that starts a snappy-java (xerial) framed stream.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// Xerial header: magic, version (i32), compatible version (i32).
const XERIAL_HEADER_LEN: usize = 16;
/// Uncompressed bytes per xerial block, snappy-java's default (as Kafka's producer uses).
const XERIAL_BLOCK: usize = 32 * 1024;
/// zstd level used when recompressing, Kafka's default.
const ZSTD_LEVEL: i32 = 3;

/// Why records could not be decompressed, walked, compressed or rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The batch header or a record is malformed.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The compressed data is corrupt for its codec.
    #[error("{codec:?} decompression failed: {reason}")]
    Decompress {
        /// Codec of the batch.
        codec: Compression,
        /// What the codec reported.
        reason: String,
    },
    /// Decompressing would produce more than the caller's cap.
    #[error("decompressed records exceed {limit} bytes")]
    TooLarge {
        /// The cap that was hit.
        limit: usize,
    },
    /// The codec failed to compress (it only fails on internal errors).
    #[error("{codec:?} compression failed: {reason}")]
    Compress {
        /// Codec asked for.
        codec: Compression,
        /// What the codec reported.
        reason: String,
    },
    /// A rebuilt batch would not fit batchLength / recordsCount (i32).
    #[error("rebuilt batch too large")]
    BatchTooLarge,
}

fn decompress_err(codec: Compression, e: impl std::fmt::Display) -> RecordsError {
    RecordsError::Decompress {
        codec,
        reason: e.to_string(),
    }
}

fn compress_err(codec: Compression, e: impl std::fmt::Display) -> RecordsError {
    RecordsError::Compress {
        codec,
        reason: e.to_string(),
    }
}

/// Reads a decoder to its end, refusing to produce more than `max` bytes.
fn read_capped(reader: impl Read, max: usize, codec: Compression) -> Result<Vec<u8>, RecordsError> {
    let mut out = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| decompress_err(codec, e))?;
    if out.len() > max {
        return Err(RecordsError::TooLarge { limit: max });
    }
    Ok(out)
}

/// Raw snappy block, its claimed length checked against `max` before allocating.
fn snappy_raw(data: &[u8], max: usize) -> Result<Vec<u8>, RecordsError> {
    let codec = Compression::Snappy;
    let len = snap::raw::decompress_len(data).map_err(|e| decompress_err(codec, e))?;
    if len > max {
        return Err(RecordsError::TooLarge { limit: max });
    }
    snap::raw::Decoder::new()
        .decompress_vec(data)
        .map_err(|e| decompress_err(codec, e))
}

/// Xerial-framed snappy: 16-byte header, then (i32 length, raw snappy block)*.
fn snappy_xerial(data: &[u8], max: usize) -> Result<Vec<u8>, RecordsError> {
    let codec = Compression::Snappy;
    let mut out = Vec::new();
    let mut pos = XERIAL_HEADER_LEN;
    while pos < data.len() {
        let len_bytes: [u8; 4] = data
            .get(pos..pos + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| decompress_err(codec, "truncated xerial block length"))?;
        let len = i32::from_be_bytes(len_bytes);
        let len = usize::try_from(len)
            .map_err(|_| decompress_err(codec, "negative xerial block length"))?;
        pos += 4;
        let block = pos
            .checked_add(len)
            .and_then(|end| data.get(pos..end))
            .ok_or_else(|| decompress_err(codec, "xerial block runs past the data"))?;
        pos += len;
        let room = max.saturating_sub(out.len());
        let chunk = snappy_raw(block, room).map_err(|e| match e {
            RecordsError::TooLarge { .. } => RecordsError::TooLarge { limit: max },
            other => other,
        })?;
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Decompresses a records section written with `codec`, producing at most `max` bytes.
/// Uncompressed data is borrowed as is (and is not subject to the cap: it is already in memory).
pub fn decompress(
    codec: Compression,
    data: &[u8],
    max: usize,
) -> Result<Cow<'_, [u8]>, RecordsError> {
    let out = match codec {
        Compression::None => return Ok(Cow::Borrowed(data)),
        Compression::Gzip => read_capped(flate2::read::MultiGzDecoder::new(data), max, codec)?,
        Compression::Snappy => {
            if data.starts_with(XERIAL_MAGIC) && data.len() >= XERIAL_HEADER_LEN {
                snappy_xerial(data, max)?
            } else {
                snappy_raw(data, max)?
            }
        }
        Compression::Lz4 => read_capped(lz4_flex::frame::FrameDecoder::new(data), max, codec)?,
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(data)
                .map_err(|e| decompress_err(codec, e))?;
            read_capped(decoder, max, codec)?
        }
    };
    Ok(Cow::Owned(out))
}

/// Compresses a records section with `codec` the way Kafka's Java producer does (gzip default
/// level, xerial-framed snappy in 32 KiB blocks, lz4 frames of independent 64 KiB blocks, zstd
/// level 3), so every client can read what the broker rewrites.
pub fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, RecordsError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(data).map_err(|e| compress_err(codec, e))?;
            enc.finish().map_err(|e| compress_err(codec, e))
        }
        Compression::Snappy => {
            let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + data.len() / 2);
            out.extend_from_slice(XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for chunk in data.chunks(XERIAL_BLOCK) {
                let block = enc
                    .compress_vec(chunk)
                    .map_err(|e| compress_err(codec, e))?;
                let len = i32::try_from(block.len()).map_err(|_| RecordsError::BatchTooLarge)?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(data).map_err(|e| compress_err(codec, e))?;
            enc.finish().map_err(|e| compress_err(codec, e))
        }
        Compression::Zstd => {
            zstd::bulk::compress(data, ZSTD_LEVEL).map_err(|e| compress_err(codec, e))
        }
    }
}

/// The decompressed records section of a batch (borrowed when the batch is uncompressed), at
/// most `max` bytes. An empty section is empty whatever the codec bits say (an empty batch
/// kept for producer state has no compressed stream).
pub fn batch_records<'a>(
    view: &RecordBatchView<'a>,
    max: usize,
) -> Result<Cow<'a, [u8]>, RecordsError> {
    if view.records().is_empty() {
        return Ok(Cow::Borrowed(&[]));
    }
    decompress(view.compression(), view.records(), max)
}

/// One record of a batch, borrowed from the decompressed records section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// Timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Key bytes; `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Value bytes; `None` for a null value (a tombstone in a compacted topic).
    pub value: Option<&'a [u8]>,
    /// The whole encoded record including its length prefix, to copy it verbatim into a
    /// rebuilt batch.
    pub raw: &'a [u8],
}

impl Record<'_> {
    /// True for a null value: a delete marker for its key under compaction.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }
}

/// Iterates the records of a decompressed records section. Every length is checked against the
/// record's bounds and each record must be consumed exactly; yields one `Err` and then stops on
/// malformed data.
#[derive(Clone, Debug)]
pub struct RecordIter<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> RecordIter<'a> {
    /// Iterates `records`, a decompressed records section (see [`batch_records`]).
    pub fn new(records: &'a [u8]) -> Self {
        Self {
            buf: records,
            pos: 0,
            done: false,
        }
    }

    fn parse_one(&mut self) -> Result<Record<'a>, BatchError> {
        let start = self.pos;
        let mut cur = Cursor {
            buf: self.buf,
            pos: self.pos,
        };
        let len = cur.varint()?;
        let len = usize::try_from(len).map_err(|_| BatchError::InvalidRecord("negative length"))?;
        let body_start = cur.pos;
        let end = body_start
            .checked_add(len)
            .filter(|&e| e <= self.buf.len())
            .ok_or(BatchError::InvalidRecord("record runs past batch end"))?;
        let body = self.buf.get(body_start..end).unwrap_or(&[]);
        let mut rec = Cursor { buf: body, pos: 0 };
        rec.skip(1)?; // attributes
        let timestamp_delta = rec.varlong()?;
        let offset_delta = rec.varint()?;
        if offset_delta < 0 {
            return Err(BatchError::InvalidRecord("negative offset delta"));
        }
        let key = bytes_field(&mut rec, body)?;
        let value = bytes_field(&mut rec, body)?;
        let headers = rec.varint()?;
        if headers < 0 {
            return Err(BatchError::InvalidRecord("negative header count"));
        }
        // Each header takes at least two bytes, so a lying count fails on the bounds check
        // long before it could loop for long.
        for _ in 0..headers {
            if bytes_field(&mut rec, body)?.is_none() {
                return Err(BatchError::InvalidRecord("null header key"));
            }
            bytes_field(&mut rec, body)?;
        }
        if rec.pos != body.len() {
            return Err(BatchError::InvalidRecord(
                "record length does not match its fields",
            ));
        }
        self.pos = end;
        Ok(Record {
            offset_delta,
            timestamp_delta,
            key,
            value,
            raw: self.buf.get(start..end).unwrap_or(&[]),
        })
    }
}

/// Reads a varint-length-prefixed byte field (-1 = null) within `buf`.
fn bytes_field<'a>(cur: &mut Cursor<'_>, buf: &'a [u8]) -> Result<Option<&'a [u8]>, BatchError> {
    let len = cur.varint()?;
    if len == -1 {
        return Ok(None);
    }
    let len =
        usize::try_from(len).map_err(|_| BatchError::InvalidRecord("negative field length"))?;
    let start = cur.pos;
    cur.skip(len)?;
    Ok(buf.get(start..cur.pos))
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            self.done = true;
            return None;
        }
        let r = self.parse_one();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

/// Builds a batch holding `records` (raw records as given by [`Record::raw`], in offset order)
/// under `template`'s header: the same base offset, partition leader epoch, attributes (so the
/// same codec: the records are recompressed), lastOffsetDelta (kept as in Kafka so offsets and
/// producer sequences stay right when records are dropped), base and max timestamps, producer
/// id, epoch and base sequence; with a new recordsCount, batchLength and CRC-32C. With no
/// records the batch is written uncompressed (an empty compressed stream is not valid for
/// every codec), as Kafka writes empty batches. The records are not validated here.
pub fn build_batch(
    template: &RecordBatchView<'_>,
    records: &[&[u8]],
) -> Result<Vec<u8>, RecordsError> {
    let header = template
        .as_bytes()
        .get(..BATCH_HEADER_LEN)
        .ok_or(BatchError::Incomplete {
            needed: BATCH_HEADER_LEN,
        })?;
    let count = i32::try_from(records.len()).map_err(|_| RecordsError::BatchTooLarge)?;
    let mut attributes = template.attributes();
    let body = records.concat();
    let section = if records.is_empty() {
        attributes &= !COMPRESSION_MASK;
        body
    } else {
        match template.compression() {
            Compression::None => body,
            codec => compress(codec, &body)?,
        }
    };
    let length = i32::try_from(BATCH_HEADER_LEN - LOG_OVERHEAD + section.len())
        .map_err(|_| RecordsError::BatchTooLarge)?;
    let mut out = Vec::with_capacity(BATCH_HEADER_LEN + section.len());
    out.extend_from_slice(header);
    out.extend_from_slice(&section);
    put_at(&mut out, LENGTH_OFF, &length.to_be_bytes());
    put_at(&mut out, ATTRIBUTES_OFF, &attributes.to_be_bytes());
    put_at(&mut out, RECORDS_COUNT_OFF, &count.to_be_bytes());
    let crc = crc32c::crc32c(out.get(ATTRIBUTES_OFF..).unwrap_or(&[]));
    put_at(&mut out, CRC_OFF, &crc.to_be_bytes());
    Ok(out)
}

fn put_at(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// Builds one uncompressed batch without a producer from (key, value) pairs, all with
/// `timestamp_ms`: how coordinators write their internal topics' records.
pub fn build_plain_batch<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    records: &[(K, Option<V>)],
    timestamp_ms: i64,
) -> Vec<u8> {
    let records: Vec<TestFullRecord<'_>> = records
        .iter()
        .map(|(k, v)| {
            (
                Some(k.as_ref()),
                v.as_ref().map(AsRef::as_ref),
                0,
                Vec::new(),
            )
        })
        .collect();
    build_test_batch_with(0, timestamp_ms, Compression::None, (-1, -1, -1), &records)
}

/// One record for [`build_test_batch_with`]: key, value, timestamp delta, headers.
#[doc(hidden)]
pub type TestFullRecord<'a> = (
    Option<&'a [u8]>,
    Option<&'a [u8]>,
    i64,
    Vec<(&'a [u8], Option<&'a [u8]>)>,
);

/// Encodes one record (offset delta `offset_delta`), for tests across the workspace.
#[doc(hidden)]
pub fn encode_test_record(offset_delta: i32, rec: &TestFullRecord<'_>) -> Vec<u8> {
    let (key, value, ts_delta, headers) = rec;
    let mut body = vec![0u8];
    put_varlong(&mut body, *ts_delta);
    put_varlong(&mut body, i64::from(offset_delta));
    crate::record_batch::put_bytes_field(&mut body, *key);
    crate::record_batch::put_bytes_field(&mut body, *value);
    put_varlong(&mut body, headers.len() as i64);
    for (k, v) in headers {
        crate::record_batch::put_bytes_field(&mut body, Some(k));
        crate::record_batch::put_bytes_field(&mut body, *v);
    }
    let mut out = Vec::with_capacity(body.len() + 5);
    put_varlong(&mut out, body.len() as i64);
    out.extend_from_slice(&body);
    out
}

/// Builds a valid batch with `codec`, producer fields and consecutive offset deltas, for tests
/// across the workspace (compaction tests need compressed and idempotent batches). Record
/// timestamps are `base_timestamp + delta`. Transaction markers are built with it too (their
/// one record cannot fail to encode); an encoding failure gives an empty vector.
#[doc(hidden)]
pub fn build_test_batch_with(
    base_offset: i64,
    base_timestamp: i64,
    codec: Compression,
    producer: (i64, i16, i32),
    records: &[TestFullRecord<'_>],
) -> Vec<u8> {
    let raws: Vec<Vec<u8>> = records
        .iter()
        .enumerate()
        .map(|(i, r)| encode_test_record(i as i32, r))
        .collect();
    let max_ts = records
        .iter()
        .map(|r| base_timestamp.saturating_add(r.2))
        .max()
        .unwrap_or(base_timestamp);
    let mut header = Vec::with_capacity(BATCH_HEADER_LEN);
    header.extend_from_slice(&base_offset.to_be_bytes());
    header.extend_from_slice(&49i32.to_be_bytes());
    header.extend_from_slice(&0i32.to_be_bytes());
    header.push(2);
    header.extend_from_slice(&0u32.to_be_bytes());
    header.extend_from_slice(&codec.id().to_be_bytes());
    header.extend_from_slice(&(records.len().saturating_sub(1) as i32).to_be_bytes());
    header.extend_from_slice(&base_timestamp.to_be_bytes());
    header.extend_from_slice(&max_ts.to_be_bytes());
    header.extend_from_slice(&producer.0.to_be_bytes());
    header.extend_from_slice(&producer.1.to_be_bytes());
    header.extend_from_slice(&producer.2.to_be_bytes());
    header.extend_from_slice(&0i32.to_be_bytes());
    let Ok(template) = RecordBatchView::parse(&header) else {
        return Vec::new();
    };
    let refs: Vec<&[u8]> = raws.iter().map(Vec::as_slice).collect();
    build_batch(&template, &refs).unwrap_or_default()
}

/// Builds a transaction marker for tests across the workspace (see
/// [`crate::control::build_marker_batch`]), at `base_offset`, coordinator epoch 0.
#[doc(hidden)]
pub fn build_test_control_batch(
    base_offset: i64,
    timestamp: i64,
    producer: (i64, i16),
    commit: bool,
) -> Vec<u8> {
    let marker = if commit {
        crate::control::Marker::Commit
    } else {
        crate::control::Marker::Abort
    };
    let mut b = crate::control::build_marker_batch(producer.0, producer.1, marker, 0, timestamp);
    crate::record_batch::set_base_offset(&mut b, base_offset);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample(codec: Compression) -> Vec<u8> {
        build_test_batch_with(
            1_000,
            50_000,
            codec,
            (77, 3, 900),
            &[
                (Some(b"k1"), Some(b"v1"), 0, vec![]),
                (
                    None,
                    Some(b"no-key"),
                    5,
                    vec![(b"h", Some(b"hv")), (b"n", None)],
                ),
                (Some(b"k1"), None, 9, vec![]),
                (Some(b""), Some(b""), 2, vec![]),
            ],
        )
    }

    #[test]
    fn iterates_every_codec() {
        for codec in CODECS {
            let b = sample(codec);
            let v = RecordBatchView::parse(&b).unwrap();
            v.verify_crc().unwrap();
            assert_eq!(v.compression(), codec);
            let recs = batch_records(&v, DEFAULT_MAX_RECORDS_BYTES).unwrap();
            let all: Vec<Record<'_>> = RecordIter::new(&recs).map(Result::unwrap).collect();
            assert_eq!(all.len(), 4);
            assert_eq!(all[0].key, Some(&b"k1"[..]));
            assert_eq!(all[1].key, None);
            assert_eq!(all[1].value, Some(&b"no-key"[..]));
            assert!(all[2].is_tombstone() && !all[0].is_tombstone());
            assert_eq!(all[3].key, Some(&b""[..]));
            assert_eq!(
                all.iter().map(|r| r.offset_delta).collect::<Vec<_>>(),
                vec![0, 1, 2, 3]
            );
            assert_eq!(all[2].timestamp_delta, 9);
            assert_eq!(all.iter().map(|r| r.raw.len()).sum::<usize>(), recs.len());
        }
    }

    #[test]
    fn rebuild_keeps_header_and_last_offset_delta() {
        for codec in CODECS {
            let b = sample(codec);
            let v = RecordBatchView::parse(&b).unwrap();
            let recs = batch_records(&v, DEFAULT_MAX_RECORDS_BYTES).unwrap();
            let all: Vec<Record<'_>> = RecordIter::new(&recs).map(Result::unwrap).collect();
            let kept = [all[1].raw, all[3].raw];
            let nb = build_batch(&v, &kept).unwrap();
            let n = RecordBatchView::parse(&nb).unwrap();
            n.verify_crc().unwrap();
            assert_eq!(n.total_len(), nb.len());
            assert_eq!(n.base_offset(), 1_000);
            assert_eq!(n.last_offset_delta(), 3);
            assert_eq!(n.record_count(), 2);
            assert_eq!(n.attributes(), v.attributes());
            assert_eq!(
                (n.base_timestamp(), n.max_timestamp()),
                (v.base_timestamp(), v.max_timestamp())
            );
            assert_eq!(
                (n.producer_id(), n.producer_epoch(), n.base_sequence()),
                (77, 3, 900)
            );
            let nrecs = batch_records(&n, DEFAULT_MAX_RECORDS_BYTES).unwrap();
            let raws: Vec<&[u8]> = RecordIter::new(&nrecs).map(|r| r.unwrap().raw).collect();
            assert_eq!(raws, kept.to_vec());
            // Nothing kept: an empty, uncompressed batch with the original lastOffsetDelta.
            let e = build_batch(&v, &[]).unwrap();
            let ev = RecordBatchView::parse(&e).unwrap();
            ev.verify_crc().unwrap();
            assert_eq!(ev.total_len(), BATCH_HEADER_LEN);
            assert_eq!((ev.record_count(), ev.last_offset_delta()), (0, 3));
            assert_eq!(ev.compression(), Compression::None);
            assert!(RecordIter::new(&batch_records(&ev, 1).unwrap())
                .next()
                .is_none());
        }
    }

    #[test]
    fn control_batch_helper() {
        let b = build_test_control_batch(9, 5, (3, 1), true);
        let v = RecordBatchView::parse(&b).unwrap();
        v.verify_crc().unwrap();
        assert!(v.is_control() && v.is_transactional());
        assert_eq!((v.producer_id(), v.producer_epoch()), (3, 1));
        let recs = batch_records(&v, 100).unwrap();
        let r = RecordIter::new(&recs).next().unwrap().unwrap();
        assert_eq!(r.key, Some(&[0u8, 0, 0, 1][..]));
    }

    #[test]
    fn decompression_is_capped() {
        let big = vec![b'a'; 1 << 20];
        for codec in CODECS.into_iter().skip(1) {
            let c = compress(codec, &big).unwrap();
            assert!(c.len() < big.len() / 4, "{codec:?}");
            assert_eq!(&*decompress(codec, &c, big.len()).unwrap(), &big[..]);
            assert!(
                matches!(
                    decompress(codec, &c, big.len() - 1),
                    Err(RecordsError::TooLarge { .. })
                ),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn decodes_what_other_encoders_write() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 1013).to_le_bytes())
            .collect();
        // lz4 frames with linked blocks, checksums and a content size (librdkafka's LZ4F).
        let info = lz4_flex::frame::FrameInfo::new()
            .block_mode(lz4_flex::frame::BlockMode::Linked)
            .block_checksums(true)
            .content_checksum(true)
            .content_size(Some(data.len() as u64));
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(&data).unwrap();
        let lz4 = enc.finish().unwrap();
        assert_eq!(
            &*decompress(Compression::Lz4, &lz4, usize::MAX).unwrap(),
            &data[..]
        );
        // zstd streamed without a content size (zstd-jni's stream), and two frames.
        let mut z = zstd::stream::encode_all(&data[..1000], 1).unwrap();
        z.extend(zstd::stream::encode_all(&data[1000..], 1).unwrap());
        assert_eq!(
            &*decompress(Compression::Zstd, &z, usize::MAX).unwrap(),
            &data[..]
        );
        // gzip with two members.
        let mut g = compress(Compression::Gzip, &data[..10]).unwrap();
        g.extend(compress(Compression::Gzip, &data[10..]).unwrap());
        assert_eq!(
            &*decompress(Compression::Gzip, &g, usize::MAX).unwrap(),
            &data[..]
        );
    }

    #[test]
    fn snappy_raw_and_xerial_both_decode() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            &*decompress(Compression::Snappy, &raw, usize::MAX).unwrap(),
            &data[..]
        );
        let framed = compress(Compression::Snappy, &data).unwrap();
        assert!(framed.starts_with(XERIAL_MAGIC));
        assert_eq!(
            &*decompress(Compression::Snappy, &framed, usize::MAX).unwrap(),
            &data[..]
        );
        // Header only: an empty stream.
        assert!(decompress(Compression::Snappy, &framed[..16], 10)
            .unwrap()
            .is_empty());
        // A block length beyond the data, or a negative one, is corrupt.
        let mut bad = framed[..16].to_vec();
        bad.extend_from_slice(&1000i32.to_be_bytes());
        bad.extend_from_slice(&[0; 10]);
        assert!(matches!(
            decompress(Compression::Snappy, &bad, usize::MAX),
            Err(RecordsError::Decompress { .. })
        ));
        bad[16..20].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(decompress(Compression::Snappy, &bad, usize::MAX).is_err());
        bad.truncate(18);
        assert!(decompress(Compression::Snappy, &bad, usize::MAX).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in CODECS.into_iter().skip(1) {
            assert!(decompress(codec, b"definitely not compressed", 1 << 20).is_err());
            let _ = decompress(codec, &[], 1 << 20);
        }
    }

    #[test]
    fn malformed_records_are_rejected() {
        let good = encode_test_record(0, &(Some(b"k"), Some(b"v"), 0, vec![]));
        // Length prefix one byte too long / short.
        let mut long = good.clone();
        long[0] += 2;
        assert!(RecordIter::new(&long).next().unwrap().is_err());
        let mut short = good.clone();
        short[0] -= 2;
        short.pop();
        assert!(RecordIter::new(&short).next().unwrap().is_err());
        // Key length -2.
        let mut k = good.clone();
        k[4] = 3;
        let mut it = RecordIter::new(&k);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        // A header count far beyond the data.
        let mut h = good.clone();
        let last = h.len() - 1;
        h[last] = 0x7e;
        assert!(RecordIter::new(&h).next().unwrap().is_err());
    }

    type Rec = (
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        i64,
        Vec<(Vec<u8>, Option<Vec<u8>>)>,
    );

    fn rec_strategy() -> impl Strategy<Value = Rec> {
        (
            prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
            -1000i64..1000,
            prop::collection::vec(
                (
                    prop::collection::vec(any::<u8>(), 0..8),
                    prop::option::of(prop::collection::vec(any::<u8>(), 0..8)),
                ),
                0..3,
            ),
        )
    }

    fn codec_strategy() -> impl Strategy<Value = Compression> {
        prop::sample::select(CODECS.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn filter_and_rebuild_round_trips(
            recs in prop::collection::vec(rec_strategy(), 0..20),
            codec in codec_strategy(),
            keep in prop::collection::vec(any::<bool>(), 20),
            base in 0i64..1 << 40,
            producer in (-1i64..1000, -1i16..10, -1i32..1000),
        ) {
            let borrowed: Vec<TestFullRecord<'_>> = recs
                .iter()
                .map(|(k, v, t, h)| {
                    let hs = h.iter().map(|(hk, hv)| (&hk[..], hv.as_deref())).collect();
                    (k.as_deref(), v.as_deref(), *t, hs)
                })
                .collect();
            let b = build_test_batch_with(base, 1_700_000_000_000, codec, producer, &borrowed);
            let v = RecordBatchView::parse(&b).unwrap();
            prop_assert!(v.verify_crc().is_ok());
            let section = batch_records(&v, DEFAULT_MAX_RECORDS_BYTES).unwrap();
            let all: Vec<Record<'_>> = RecordIter::new(&section).map(Result::unwrap).collect();
            prop_assert_eq!(all.len(), recs.len());
            for (r, want) in all.iter().zip(&recs) {
                prop_assert_eq!(r.key, want.0.as_deref());
                prop_assert_eq!(r.value, want.1.as_deref());
                prop_assert_eq!(r.timestamp_delta, want.2);
            }
            let kept: Vec<Record<'_>> = all
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(r, _)| *r)
                .collect();
            let raws: Vec<&[u8]> = kept.iter().map(|r| r.raw).collect();
            let nb = build_batch(&v, &raws).unwrap();
            let n = RecordBatchView::parse(&nb).unwrap();
            prop_assert!(n.verify_crc().is_ok());
            prop_assert_eq!(n.total_len(), nb.len());
            prop_assert_eq!(n.base_offset(), v.base_offset());
            prop_assert_eq!(n.last_offset_delta(), v.last_offset_delta());
            prop_assert_eq!(n.partition_leader_epoch(), v.partition_leader_epoch());
            prop_assert_eq!(n.base_timestamp(), v.base_timestamp());
            prop_assert_eq!(n.max_timestamp(), v.max_timestamp());
            prop_assert_eq!(n.producer_id(), v.producer_id());
            prop_assert_eq!(n.producer_epoch(), v.producer_epoch());
            prop_assert_eq!(n.base_sequence(), v.base_sequence());
            prop_assert_eq!(n.record_count() as usize, kept.len());
            if kept.is_empty() {
                prop_assert_eq!(n.compression(), Compression::None);
            } else {
                prop_assert_eq!(n.attributes(), v.attributes());
            }
            let nsection = batch_records(&n, DEFAULT_MAX_RECORDS_BYTES).unwrap();
            let again: Vec<Record<'_>> = RecordIter::new(&nsection).map(Result::unwrap).collect();
            prop_assert_eq!(again, kept);
        }

        #[test]
        fn arbitrary_sections_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            codec in codec_strategy(),
        ) {
            if let Ok(section) = decompress(codec, &bytes, 1 << 16) {
                for r in RecordIter::new(&section) {
                    let _ = r.map(|r| r.raw.len());
                }
            }
        }
    }
}
