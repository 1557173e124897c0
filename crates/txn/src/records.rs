//! The records of `__transaction_state`, in Kafka's own format, so the topic reads the same as
//! a Kafka broker's: key `TransactionLogKey` v0 (version i16 = 0, transactional id as an
//! i16-length string) and value `TransactionLogValue` v0 (version i16 = 0, producer id i64,
//! producer epoch i16, transaction timeout ms i32, status i8, partitions as a nullable array of
//! (topic string, array of i32), last update timestamp i64, start timestamp i64). A null value
//! (tombstone) removes an expired transactional id.
//!
//! Decoding never panics: every length is checked against the bytes present.

use bytes::{BufMut, Bytes, BytesMut};
use weir_protocol::record_batch::BatchIter;
use weir_protocol::records::{batch_records, RecordIter, DEFAULT_MAX_RECORDS_BYTES};

use crate::state::{TxnMetadata, TxnStatus};

/// Why a stored record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The record ended before a field did.
    #[error("truncated transaction log record")]
    Truncated,
    /// A version this broker does not read.
    #[error("unsupported transaction log record version {0}")]
    Version(i16),
    /// A status code outside Kafka's.
    #[error("unknown transaction status {0}")]
    Status(i8),
    /// A string that is not UTF-8.
    #[error("transaction log string is not UTF-8")]
    Utf8,
    /// The batch around the record is malformed.
    #[error("transaction log batch: {0}")]
    Batch(String),
}

/// One record of the transaction log: the state of a transactional id, or its removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLogRecord {
    /// The transactional id (the record key).
    pub transactional_id: String,
    /// Its state; `None` removes it.
    pub value: Option<TxnMetadata>,
}

impl TxnLogRecord {
    /// Encodes the key.
    pub fn encode_key(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(4 + self.transactional_id.len());
        b.put_i16(0);
        put_str(&mut b, &self.transactional_id);
        b.freeze()
    }

    /// Encodes the value (`None` for a tombstone).
    pub fn encode_value(&self) -> Option<Bytes> {
        let m = self.value.as_ref()?;
        let mut b = BytesMut::with_capacity(64);
        b.put_i16(0);
        b.put_i64(m.producer_id);
        b.put_i16(m.producer_epoch);
        b.put_i32(m.timeout_ms);
        b.put_i8(m.status.code());
        // Kafka writes null partitions for an empty set.
        if m.partitions.is_empty() {
            b.put_i32(-1);
        } else {
            let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
            for (topic, partition) in &m.partitions {
                match topics.last_mut() {
                    Some((t, ps)) if *t == topic.as_str() => ps.push(*partition),
                    _ => topics.push((topic.as_str(), vec![*partition])),
                }
            }
            b.put_i32(topics.len() as i32);
            for (topic, ps) in topics {
                put_str(&mut b, topic);
                b.put_i32(ps.len() as i32);
                for p in ps {
                    b.put_i32(p);
                }
            }
        }
        b.put_i64(m.last_update_ms);
        b.put_i64(m.start_ms);
        Some(b.freeze())
    }

    /// Decodes a record from its key and value bytes.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Self, RecordError> {
        let mut k = key;
        let version = get_i16(&mut k)?;
        if version != 0 {
            return Err(RecordError::Version(version));
        }
        let transactional_id = get_str(&mut k)?;
        let Some(mut v) = value else {
            return Ok(TxnLogRecord {
                transactional_id,
                value: None,
            });
        };
        let version = get_i16(&mut v)?;
        // v1 (flexible, KIP-890) adds tagged fields at the end only; the fixed fields read the
        // same up to them, but v1 strings and arrays are compact: refuse rather than misread.
        if version != 0 {
            return Err(RecordError::Version(version));
        }
        let producer_id = get_i64(&mut v)?;
        let producer_epoch = get_i16(&mut v)?;
        let timeout_ms = get_i32(&mut v)?;
        let status = TxnStatus::from_code(get_i8(&mut v)?)?;
        let mut partitions = std::collections::BTreeSet::new();
        let topics = get_i32(&mut v)?;
        for _ in 0..topics.max(0) {
            let topic = get_str(&mut v)?;
            let count = get_i32(&mut v)?;
            for _ in 0..count.max(0) {
                partitions.insert((topic.clone(), get_i32(&mut v)?));
            }
        }
        let last_update_ms = get_i64(&mut v)?;
        let start_ms = get_i64(&mut v)?;
        Ok(TxnLogRecord {
            transactional_id: transactional_id.clone(),
            value: Some(TxnMetadata {
                transactional_id,
                producer_id,
                producer_epoch,
                timeout_ms,
                status,
                partitions,
                last_update_ms,
                start_ms,
            }),
        })
    }
}

/// Builds one uncompressed batch (no producer) holding `records`.
pub fn build_batch(records: &[TxnLogRecord], timestamp_ms: i64) -> Bytes {
    let encoded: Vec<(Bytes, Option<Bytes>)> = records
        .iter()
        .map(|r| (r.encode_key(), r.encode_value()))
        .collect();
    Bytes::from(weir_protocol::records::build_plain_batch(
        &encoded,
        timestamp_ms,
    ))
}

/// Decodes every record of the stored batches in `bytes` (control batches skipped). A record
/// that does not decode is returned as an error in its place, so replay can skip it and go on;
/// a malformed batch ends the walk with an error.
pub fn read_batches(bytes: &[u8]) -> Vec<Result<TxnLogRecord, RecordError>> {
    let mut out = Vec::new();
    for batch in BatchIter::new(bytes) {
        let view = match batch {
            Ok(view) => view,
            Err(e) => {
                out.push(Err(RecordError::Batch(e.to_string())));
                break;
            }
        };
        if view.is_control() {
            continue;
        }
        let section = match batch_records(&view, DEFAULT_MAX_RECORDS_BYTES) {
            Ok(section) => section,
            Err(e) => {
                out.push(Err(RecordError::Batch(e.to_string())));
                continue;
            }
        };
        for record in RecordIter::new(&section) {
            match record {
                Ok(r) => match r.key {
                    Some(key) => out.push(TxnLogRecord::decode(key, r.value)),
                    None => out.push(Err(RecordError::Truncated)),
                },
                Err(e) => {
                    out.push(Err(RecordError::Batch(e.to_string())));
                    break;
                }
            }
        }
    }
    out
}

fn put_str(b: &mut BytesMut, s: &str) {
    let bytes = s.as_bytes();
    let len = bytes.len().min(i16::MAX as usize);
    b.put_i16(len as i16);
    b.put_slice(&bytes[..len]);
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], RecordError> {
    if b.len() < n {
        return Err(RecordError::Truncated);
    }
    let (head, tail) = b.split_at(n);
    *b = tail;
    Ok(head)
}

fn get_i8(b: &mut &[u8]) -> Result<i8, RecordError> {
    Ok(take(b, 1)?[0] as i8)
}

fn get_i16(b: &mut &[u8]) -> Result<i16, RecordError> {
    let s = take(b, 2)?;
    Ok(i16::from_be_bytes([s[0], s[1]]))
}

fn get_i32(b: &mut &[u8]) -> Result<i32, RecordError> {
    let s = take(b, 4)?;
    Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn get_i64(b: &mut &[u8]) -> Result<i64, RecordError> {
    let s = take(b, 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(i64::from_be_bytes(a))
}

fn get_str(b: &mut &[u8]) -> Result<String, RecordError> {
    let len = get_i16(b)?;
    let bytes = take(b, usize::try_from(len).map_err(|_| RecordError::Truncated)?)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| RecordError::Utf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> TxnMetadata {
        TxnMetadata {
            transactional_id: "tx-1".into(),
            producer_id: 4001,
            producer_epoch: 3,
            timeout_ms: 60_000,
            status: TxnStatus::Ongoing,
            partitions: [
                ("a".to_string(), 0),
                ("a".to_string(), 2),
                ("b".to_string(), 1),
            ]
            .into_iter()
            .collect(),
            last_update_ms: 1_700_000_000_500,
            start_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn records_round_trip_through_a_batch() {
        let records = vec![
            TxnLogRecord {
                transactional_id: "tx-1".into(),
                value: Some(sample()),
            },
            TxnLogRecord {
                transactional_id: "tx-2".into(),
                value: None,
            },
        ];
        let batch = build_batch(&records, 5);
        let back: Vec<TxnLogRecord> = read_batches(&batch)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, records);
    }

    #[test]
    fn kafka_layout_of_the_value() {
        let mut m = sample();
        m.partitions.clear();
        let v = TxnLogRecord {
            transactional_id: "x".into(),
            value: Some(m),
        }
        .encode_value()
        .unwrap();
        // version, pid, epoch, timeout, status, null partitions, two timestamps
        assert_eq!(v.len(), 2 + 8 + 2 + 4 + 1 + 4 + 8 + 8);
        assert_eq!(&v[..2], &[0, 0]);
        assert_eq!(v[16], 1, "status Ongoing is 1");
        assert_eq!(&v[17..21], &(-1i32).to_be_bytes());
    }

    proptest! {
        #[test]
        fn decoding_garbage_never_panics(key in proptest::collection::vec(any::<u8>(), 0..40),
                                         value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..80))) {
            let _ = TxnLogRecord::decode(&key, value.as_deref());
            let _ = read_batches(&key);
        }

        #[test]
        fn every_truncation_is_an_error(cut in 0usize..60) {
            let r = TxnLogRecord { transactional_id: "tx-1".into(), value: Some(sample()) };
            let v = r.encode_value().unwrap();
            let k = r.encode_key();
            if cut < v.len() {
                prop_assert!(TxnLogRecord::decode(&k, Some(&v[..cut])).is_err());
            }
        }
    }
}
