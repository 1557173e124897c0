//! The records of `__consumer_offsets`: keys and values in Kafka's own binary format, and the
//! record batches that carry them.
//!
//! The kafka-protocol crate has no types for these records, so they are encoded here, byte for
//! byte as Kafka writes them (classic, non-flexible encoding: every key and value starts with an
//! `int16` version; strings are `int16` length + UTF-8, nullable strings use length -1, bytes
//! are `int32` length + data, arrays are `int32` count + elements):
//!
//! | key version | key fields                       | value (version written)                        |
//! |-------------|----------------------------------|------------------------------------------------|
//! | 0, 1        | group, topic, partition (`int32`) | OffsetCommitValue v3: offset `int64`, leader epoch `int32`, metadata, commit timestamp `int64` |
//! | 2           | group                            | GroupMetadataValue v3: protocol type, generation `int32`, protocol?, leader?, state timestamp `int64`, members[member id, instance id?, client id, client host, rebalance timeout `int32`, session timeout `int32`, subscription bytes, assignment bytes] |
//!
//! | 1000        | group                            | Weir's own consumer-group (KIP-848) snapshot, value version 0: group epoch `int32`, assignment epoch `int32`, assignor, topics[name, partitions `int32`], members[member id, instance id?, rack id?, client id, client host, subscribed[name], assignor?, rebalance timeout `int32`, member epoch `int32`, previous epoch `int32`, assigned, pending revocation, target] where an assignment is topics[name, partitions[`int32`]] |
//!
//! Kafka splits consumer-group state over six record types (keys 3-8) with flexible encoding and
//! topic ids; Weir writes one snapshot per change instead, under a key version Kafka does not
//! use, so the log stays self-describing and replay is the same "last record per key wins".
//!
//! A null value is a tombstone: the key's offset or group is gone. Replay keeps the last record
//! per key, which is what compaction will keep too.
//!
//! TxnOffsetCommit writes its offset records in a *transactional* batch (attribute bit 0x10,
//! the producer's id and epoch, base sequence -1): they stay pending for that producer until a
//! control batch of the same producer (the transaction marker: key `version: i16`, `type: i16`,
//! 0 abort, 1 commit) follows in the partition. [`read_entries`] tells the three apart.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::consumer::{Assignment, CgMember, ConsumerGroup};
use weir_protocol::kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Why a record of `__consumer_offsets` could not be decoded. Replay skips such records with a
/// log line rather than refusing to start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The buffer ended inside a field.
    #[error("record truncated")]
    Truncated,
    /// A string was not UTF-8.
    #[error("string is not UTF-8")]
    Utf8,
    /// A key or value version this build does not know.
    #[error("unknown {what} version {version}")]
    UnknownVersion {
        /// "key" or "value".
        what: &'static str,
        /// The version found.
        version: i16,
    },
    /// The record batch did not decode.
    #[error("bad record batch: {0}")]
    Batch(String),
}

/// A committed offset as stored (OffsetCommitValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    /// The next offset the group will consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record, or -1.
    pub leader_epoch: i32,
    /// Client-supplied metadata string.
    pub metadata: String,
    /// When the commit was made (wall clock ms).
    pub commit_timestamp: i64,
    /// When the offset expires (wall clock ms), if its commit asked for its own retention
    /// (OffsetCommit v2-v4 `retention_time_ms`); such an offset is stored as value version 1,
    /// the only one with this field (as Kafka does), and loses its leader epoch.
    pub expire_timestamp: Option<i64>,
}

/// One member of a stored group (a MemberMetadata entry of GroupMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    /// Member id.
    pub member_id: String,
    /// Static membership id (KIP-345).
    pub group_instance_id: Option<String>,
    /// Client id the member connected with.
    pub client_id: String,
    /// Client address.
    pub client_host: String,
    /// Rebalance timeout in ms.
    pub rebalance_timeout_ms: i32,
    /// Session timeout in ms.
    pub session_timeout_ms: i32,
    /// Metadata of the selected protocol.
    pub subscription: Bytes,
    /// The member's assignment from the leader.
    pub assignment: Bytes,
}

/// A stored group (GroupMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    /// Protocol type ("consumer", "connect", ...).
    pub protocol_type: String,
    /// Generation.
    pub generation: i32,
    /// Selected protocol (assignor).
    pub protocol: Option<String>,
    /// Leader member id.
    pub leader: Option<String>,
    /// When the group last changed state (wall clock ms).
    pub current_state_timestamp: i64,
    /// Members with their assignments.
    pub members: Vec<StoredMember>,
}

/// A key of `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKey {
    /// A committed offset of one partition for one group.
    Offset {
        /// Group id.
        group: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// A group's membership and assignment.
    Group {
        /// Group id.
        group: String,
    },
    /// A consumer group's (KIP-848) state snapshot.
    ConsumerGroup {
        /// Group id.
        group: String,
    },
}

/// A value of `__consumer_offsets` (`None` in [`LogRecord`] is a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordValue {
    /// For [`RecordKey::Offset`].
    Offset(OffsetValue),
    /// For [`RecordKey::Group`].
    Group(GroupValue),
    /// For [`RecordKey::ConsumerGroup`].
    ConsumerGroup(Box<crate::consumer::ConsumerGroup>),
}

/// One record of `__consumer_offsets`, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Its key.
    pub key: RecordKey,
    /// Its value; `None` deletes the key.
    pub value: Option<RecordValue>,
}

impl RecordKey {
    /// The group this key belongs to.
    pub fn group(&self) -> &str {
        match self {
            RecordKey::Offset { group, .. }
            | RecordKey::Group { group }
            | RecordKey::ConsumerGroup { group } => group,
        }
    }

    /// Kafka's binary key.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            RecordKey::Offset {
                group,
                topic,
                partition,
            } => {
                b.put_i16(1);
                put_str(&mut b, group);
                put_str(&mut b, topic);
                b.put_i32(*partition);
            }
            RecordKey::Group { group } => {
                b.put_i16(2);
                put_str(&mut b, group);
            }
            RecordKey::ConsumerGroup { group } => {
                b.put_i16(CONSUMER_GROUP_KEY);
                put_str(&mut b, group);
            }
        }
        b.freeze()
    }

    /// Decodes Kafka's binary key.
    pub fn decode(mut b: &[u8]) -> Result<Self, RecordError> {
        let version = get_i16(&mut b)?;
        match version {
            0 | 1 => Ok(RecordKey::Offset {
                group: get_str(&mut b)?,
                topic: get_str(&mut b)?,
                partition: get_i32(&mut b)?,
            }),
            2 => Ok(RecordKey::Group {
                group: get_str(&mut b)?,
            }),
            CONSUMER_GROUP_KEY => Ok(RecordKey::ConsumerGroup {
                group: get_str(&mut b)?,
            }),
            version => Err(RecordError::UnknownVersion {
                what: "key",
                version,
            }),
        }
    }
}

impl RecordValue {
    /// Kafka's binary value.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            RecordValue::Offset(v) => match v.expire_timestamp {
                Some(expire) => {
                    b.put_i16(1);
                    b.put_i64(v.offset);
                    put_str(&mut b, &v.metadata);
                    b.put_i64(v.commit_timestamp);
                    b.put_i64(expire);
                }
                None => {
                    b.put_i16(3);
                    b.put_i64(v.offset);
                    b.put_i32(v.leader_epoch);
                    put_str(&mut b, &v.metadata);
                    b.put_i64(v.commit_timestamp);
                }
            },
            RecordValue::ConsumerGroup(g) => {
                b.put_i16(0);
                put_consumer_group(&mut b, g);
            }
            RecordValue::Group(g) => {
                b.put_i16(3);
                put_str(&mut b, &g.protocol_type);
                b.put_i32(g.generation);
                put_nullable_str(&mut b, g.protocol.as_deref());
                put_nullable_str(&mut b, g.leader.as_deref());
                b.put_i64(g.current_state_timestamp);
                b.put_i32(g.members.len() as i32);
                for m in &g.members {
                    put_str(&mut b, &m.member_id);
                    put_nullable_str(&mut b, m.group_instance_id.as_deref());
                    put_str(&mut b, &m.client_id);
                    put_str(&mut b, &m.client_host);
                    b.put_i32(m.rebalance_timeout_ms);
                    b.put_i32(m.session_timeout_ms);
                    put_bytes(&mut b, &m.subscription);
                    put_bytes(&mut b, &m.assignment);
                }
            }
        }
        b.freeze()
    }

    /// Decodes the value stored under `key`.
    pub fn decode(key: &RecordKey, mut b: &[u8]) -> Result<Self, RecordError> {
        let version = get_i16(&mut b)?;
        match key {
            RecordKey::ConsumerGroup { group } => {
                if version != 0 {
                    return Err(RecordError::UnknownVersion {
                        what: "consumer group value",
                        version,
                    });
                }
                Ok(RecordValue::ConsumerGroup(Box::new(get_consumer_group(
                    &mut b, group,
                )?)))
            }
            RecordKey::Offset { .. } => {
                let offset = get_i64(&mut b)?;
                let leader_epoch = if version >= 3 { get_i32(&mut b)? } else { -1 };
                let metadata = get_str(&mut b)?;
                let commit_timestamp = get_i64(&mut b)?;
                let expire_timestamp = if version == 1 {
                    Some(get_i64(&mut b)?)
                } else {
                    None
                };
                if !(0..=3).contains(&version) {
                    return Err(RecordError::UnknownVersion {
                        what: "offset value",
                        version,
                    });
                }
                Ok(RecordValue::Offset(OffsetValue {
                    offset,
                    leader_epoch,
                    metadata,
                    commit_timestamp,
                    expire_timestamp,
                }))
            }
            RecordKey::Group { .. } => {
                if !(0..=3).contains(&version) {
                    return Err(RecordError::UnknownVersion {
                        what: "group value",
                        version,
                    });
                }
                let protocol_type = get_str(&mut b)?;
                let generation = get_i32(&mut b)?;
                let protocol = get_nullable_str(&mut b)?;
                let leader = get_nullable_str(&mut b)?;
                let current_state_timestamp = if version >= 2 { get_i64(&mut b)? } else { -1 };
                let count = get_i32(&mut b)?.max(0);
                let mut members = Vec::new();
                for _ in 0..count {
                    let member_id = get_str(&mut b)?;
                    let group_instance_id = if version >= 3 {
                        get_nullable_str(&mut b)?
                    } else {
                        None
                    };
                    let client_id = get_str(&mut b)?;
                    let client_host = get_str(&mut b)?;
                    let rebalance_timeout_ms = if version >= 1 { get_i32(&mut b)? } else { -1 };
                    let session_timeout_ms = get_i32(&mut b)?;
                    let subscription = get_bytes(&mut b)?;
                    let assignment = get_bytes(&mut b)?;
                    members.push(StoredMember {
                        member_id,
                        group_instance_id,
                        client_id,
                        client_host,
                        rebalance_timeout_ms: if rebalance_timeout_ms < 0 {
                            session_timeout_ms
                        } else {
                            rebalance_timeout_ms
                        },
                        session_timeout_ms,
                        subscription,
                        assignment,
                    });
                }
                Ok(RecordValue::Group(GroupValue {
                    protocol_type,
                    generation,
                    protocol,
                    leader,
                    current_state_timestamp,
                    members,
                }))
            }
        }
    }
}

/// Builds one uncompressed record batch (v2) holding `records`, ready for `Partition::append`
/// (base offset 0; the log assigns the real one).
pub fn build_batch(records: &[LogRecord], timestamp_ms: i64) -> Result<Bytes, RecordError> {
    encode_batch(records, timestamp_ms, None)
}

/// Builds one uncompressed *transactional* record batch (v2) of producer
/// `producer_id`/`producer_epoch` holding `records` (TxnOffsetCommit): attributes with the
/// transactional bit (0x10), base sequence -1 (the coordinator's writes carry no sequence), base
/// offset 0. Its records stay pending until a control batch (marker) of that producer follows
/// in the same partition.
pub fn build_transactional_batch(
    records: &[LogRecord],
    timestamp_ms: i64,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<Bytes, RecordError> {
    encode_batch(records, timestamp_ms, Some((producer_id, producer_epoch)))
}

fn encode_batch(
    records: &[LogRecord],
    timestamp_ms: i64,
    producer: Option<(i64, i16)>,
) -> Result<Bytes, RecordError> {
    let (producer_id, producer_epoch) = producer.unwrap_or((-1, -1));
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: producer.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch only while `offset - sequence` stays the
            // same, and writes the first record's sequence as the base sequence: -1, then
            // counting up, gives one batch with base sequence -1 (no sequence).
            sequence: (i as i32).wrapping_sub(1),
            timestamp: timestamp_ms,
            key: Some(r.key.encode()),
            value: r.value.as_ref().map(RecordValue::encode),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| RecordError::Batch(e.to_string()))?;
    Ok(buf.freeze())
}

/// One entry of a stored `__consumer_offsets` batch, as replay sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// A record of an ordinary batch: applies at once.
    Record(LogRecord),
    /// A record of a transactional batch (TxnOffsetCommit): pending for the producer until
    /// its transaction's marker.
    Transactional {
        /// The transactional producer.
        producer_id: i64,
        /// The record.
        record: LogRecord,
    },
    /// A transaction marker (control record): the producer's pending records apply (commit)
    /// or are dropped (abort).
    Marker {
        /// The transactional producer.
        producer_id: i64,
        /// Commit (true) or abort (false).
        commit: bool,
    },
}

/// Decodes every record of the stored batches in `bytes`: data records of ordinary batches,
/// data records of transactional batches (with their producer id), and transaction markers.
/// An entry that does not decode is returned as an error in its place, so replay can skip it
/// and go on.
pub fn read_entries(bytes: Bytes) -> Result<Vec<Result<LogEntry, RecordError>>, RecordError> {
    let mut buf = bytes;
    let sets =
        RecordBatchDecoder::decode_all(&mut buf).map_err(|e| RecordError::Batch(e.to_string()))?;
    let mut out = Vec::new();
    for set in sets {
        for record in set.records {
            let entry = if record.control {
                decode_marker(&record)
            } else if record.transactional && record.producer_id >= 0 {
                decode_record(&record).map(|r| LogEntry::Transactional {
                    producer_id: record.producer_id,
                    record: r,
                })
            } else {
                decode_record(&record).map(LogEntry::Record)
            };
            out.push(entry);
        }
    }
    Ok(out)
}

/// Decodes every data record of the stored batches in `bytes`, transactional or not; control
/// records are skipped. A record whose key or value does not decode is returned as an error in
/// its place. Replay uses [`read_entries`], which keeps the transactions apart.
pub fn read_batches(bytes: Bytes) -> Result<Vec<Result<LogRecord, RecordError>>, RecordError> {
    Ok(read_entries(bytes)?
        .into_iter()
        .filter_map(|e| match e {
            Ok(LogEntry::Record(record)) | Ok(LogEntry::Transactional { record, .. }) => {
                Some(Ok(record))
            }
            Ok(LogEntry::Marker { .. }) => None,
            Err(e) => Some(Err(e)),
        })
        .collect())
}

/// A control record: key `version: i16` (>= 0; newer versions are read as version 0, as Kafka
/// does), `type: i16` (0 abort, 1 commit). Other control types have no business in
/// `__consumer_offsets` and are errors (skipped by replay).
fn decode_marker(record: &Record) -> Result<LogEntry, RecordError> {
    let mut key: &[u8] = record.key.as_deref().ok_or(RecordError::Truncated)?;
    let version = get_i16(&mut key)?;
    if version < 0 {
        return Err(RecordError::UnknownVersion {
            what: "control record key",
            version,
        });
    }
    let commit = match get_i16(&mut key)? {
        0 => false,
        1 => true,
        other => {
            return Err(RecordError::UnknownVersion {
                what: "control record type",
                version: other,
            })
        }
    };
    if record.producer_id < 0 {
        return Err(RecordError::Batch(
            "transaction marker without a producer id".into(),
        ));
    }
    Ok(LogEntry::Marker {
        producer_id: record.producer_id,
        commit,
    })
}

fn decode_record(record: &Record) -> Result<LogRecord, RecordError> {
    let key_bytes = record.key.as_ref().ok_or(RecordError::Truncated)?;
    let key = RecordKey::decode(key_bytes)?;
    let value = match &record.value {
        None => None,
        Some(v) => Some(RecordValue::decode(&key, v)?),
    };
    Ok(LogRecord { key, value })
}

/// Key version of Weir's consumer-group snapshot record.
pub const CONSUMER_GROUP_KEY: i16 = 1000;

fn put_assignment(b: &mut BytesMut, a: &Assignment) {
    b.put_i32(a.len() as i32);
    for (t, ps) in a {
        put_str(b, t);
        b.put_i32(ps.len() as i32);
        for p in ps {
            b.put_i32(*p);
        }
    }
}

fn get_assignment(b: &mut &[u8]) -> Result<Assignment, RecordError> {
    let mut a = Assignment::new();
    for _ in 0..get_i32(b)?.max(0) {
        let t = get_str(b)?;
        let mut ps = std::collections::BTreeSet::new();
        for _ in 0..get_i32(b)?.max(0) {
            ps.insert(get_i32(b)?);
        }
        a.insert(t, ps);
    }
    Ok(a)
}

fn put_consumer_group(b: &mut BytesMut, g: &ConsumerGroup) {
    b.put_i32(g.group_epoch);
    b.put_i32(g.assignment_epoch);
    put_str(b, &g.assignor);
    b.put_i32(g.topic_partitions.len() as i32);
    for (t, n) in &g.topic_partitions {
        put_str(b, t);
        b.put_i32(*n);
    }
    b.put_i32(g.members.len() as i32);
    for m in g.members.values() {
        put_str(b, &m.member_id);
        put_nullable_str(b, m.instance_id.as_deref());
        put_nullable_str(b, m.rack_id.as_deref());
        put_str(b, &m.client_id);
        put_str(b, &m.client_host);
        b.put_i32(m.subscribed.len() as i32);
        for t in &m.subscribed {
            put_str(b, t);
        }
        put_nullable_str(b, m.server_assignor.as_deref());
        b.put_i32(m.rebalance_timeout_ms);
        b.put_i32(m.member_epoch);
        b.put_i32(m.previous_member_epoch);
        put_assignment(b, &m.assigned);
        put_assignment(b, &m.pending_revocation);
        put_assignment(b, g.target.get(&m.member_id).unwrap_or(&Assignment::new()));
    }
}

fn get_consumer_group(b: &mut &[u8], id: &str) -> Result<ConsumerGroup, RecordError> {
    let mut g = ConsumerGroup::new(id);
    g.group_epoch = get_i32(b)?;
    g.assignment_epoch = get_i32(b)?;
    g.assignor = get_str(b)?;
    for _ in 0..get_i32(b)?.max(0) {
        let t = get_str(b)?;
        let n = get_i32(b)?;
        g.topic_partitions.insert(t, n);
    }
    for _ in 0..get_i32(b)?.max(0) {
        let member_id = get_str(b)?;
        let instance_id = get_nullable_str(b)?;
        let rack_id = get_nullable_str(b)?;
        let client_id = get_str(b)?;
        let client_host = get_str(b)?;
        let mut subscribed = Vec::new();
        for _ in 0..get_i32(b)?.max(0) {
            subscribed.push(get_str(b)?);
        }
        let server_assignor = get_nullable_str(b)?;
        let rebalance_timeout_ms = get_i32(b)?;
        let member_epoch = get_i32(b)?;
        let previous_member_epoch = get_i32(b)?;
        let assigned = get_assignment(b)?;
        let pending_revocation = get_assignment(b)?;
        let target = get_assignment(b)?;
        g.target.insert(member_id.clone(), target);
        g.members.insert(
            member_id.clone(),
            CgMember {
                member_id,
                instance_id,
                rack_id,
                client_id,
                client_host,
                subscribed,
                server_assignor,
                rebalance_timeout_ms,
                member_epoch,
                previous_member_epoch,
                assigned,
                pending_revocation,
                session_deadline: tokio::time::Instant::now(),
                revocation_deadline: None,
            },
        );
    }
    Ok(g)
}

fn put_str(b: &mut BytesMut, s: &str) {
    let len = s.len().min(i16::MAX as usize);
    b.put_i16(len as i16);
    b.put_slice(&s.as_bytes()[..len]);
}

fn put_nullable_str(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

fn put_bytes(b: &mut BytesMut, bytes: &[u8]) {
    b.put_i32(bytes.len() as i32);
    b.put_slice(bytes);
}

fn need(b: &[u8], n: usize) -> Result<(), RecordError> {
    if b.remaining() < n {
        Err(RecordError::Truncated)
    } else {
        Ok(())
    }
}

fn get_i16(b: &mut &[u8]) -> Result<i16, RecordError> {
    need(b, 2)?;
    Ok(b.get_i16())
}

fn get_i32(b: &mut &[u8]) -> Result<i32, RecordError> {
    need(b, 4)?;
    Ok(b.get_i32())
}

fn get_i64(b: &mut &[u8]) -> Result<i64, RecordError> {
    need(b, 8)?;
    Ok(b.get_i64())
}

fn get_nullable_str(b: &mut &[u8]) -> Result<Option<String>, RecordError> {
    let len = get_i16(b)?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    need(b, len)?;
    let s = std::str::from_utf8(&b[..len]).map_err(|_| RecordError::Utf8)?;
    let s = s.to_string();
    b.advance(len);
    Ok(Some(s))
}

fn get_str(b: &mut &[u8]) -> Result<String, RecordError> {
    Ok(get_nullable_str(b)?.unwrap_or_default())
}

fn get_bytes(b: &mut &[u8]) -> Result<Bytes, RecordError> {
    let len = get_i32(b)?;
    if len < 0 {
        return Ok(Bytes::new());
    }
    let len = len as usize;
    need(b, len)?;
    let out = Bytes::copy_from_slice(&b[..len]);
    b.advance(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group_record() -> LogRecord {
        LogRecord {
            key: RecordKey::Group { group: "g".into() },
            value: Some(RecordValue::Group(GroupValue {
                protocol_type: "consumer".into(),
                generation: 7,
                protocol: Some("range".into()),
                leader: Some("m1".into()),
                current_state_timestamp: 1234,
                members: vec![StoredMember {
                    member_id: "m1".into(),
                    group_instance_id: Some("i1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300_000,
                    session_timeout_ms: 10_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                }],
            })),
        }
    }

    #[test]
    fn keys_and_values_round_trip() {
        let offset = LogRecord {
            key: RecordKey::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 3,
            },
            value: Some(RecordValue::Offset(OffsetValue {
                offset: 42,
                leader_epoch: 1,
                metadata: "meta".into(),
                commit_timestamp: 99,
                expire_timestamp: None,
            })),
        };
        // With its own retention, an offset is stored as value v1: no leader epoch.
        let mut expiring = offset.clone();
        if let Some(RecordValue::Offset(v)) = &mut expiring.value {
            v.leader_epoch = -1;
            v.expire_timestamp = Some(3_600_099);
        }
        for r in [offset, expiring, group_record()] {
            let key = RecordKey::decode(&r.key.encode()).unwrap();
            assert_eq!(key, r.key);
            let value = r.value.as_ref().unwrap();
            assert_eq!(
                RecordValue::decode(&key, &value.encode()).unwrap(),
                value.clone()
            );
        }
    }

    #[test]
    fn offset_key_matches_kafkas_bytes() {
        let key = RecordKey::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 1,
        };
        assert_eq!(
            &key.encode()[..],
            &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 1]
        );
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let bytes = group_record().value.unwrap().encode();
        let key = RecordKey::Group { group: "g".into() };
        for n in 0..bytes.len() {
            assert!(
                RecordValue::decode(&key, &bytes[..n]).is_err(),
                "prefix {n}"
            );
        }
        assert!(RecordKey::decode(&[0, 9]).is_err());
        assert!(RecordKey::decode(&[0]).is_err());
    }

    #[test]
    fn batches_round_trip_with_tombstones() {
        let tombstone = LogRecord {
            key: RecordKey::Group { group: "g".into() },
            value: None,
        };
        let batch = build_batch(&[group_record(), tombstone.clone()], 5).unwrap();
        let view = weir_protocol::record_batch::RecordBatchView::parse(&batch);
        assert!(view.is_ok(), "batch header must validate: {view:?}");
        let back: Vec<LogRecord> = read_batches(batch)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, vec![group_record(), tombstone]);
    }

    fn offset_record(partition: i32, offset: i64) -> LogRecord {
        LogRecord {
            key: RecordKey::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition,
            },
            value: Some(RecordValue::Offset(OffsetValue {
                offset,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: 9,
                expire_timestamp: None,
            })),
        }
    }

    #[test]
    fn transactional_batches_are_one_batch_of_the_producer_without_sequence() {
        use weir_protocol::record_batch::BatchIter;
        let records = [
            offset_record(0, 5),
            offset_record(1, 6),
            offset_record(2, 7),
        ];
        let plain = build_batch(&records, 5).unwrap();
        let txn = build_transactional_batch(&records, 5, 42, 3).unwrap();
        for (bytes, transactional) in [(&plain, false), (&txn, true)] {
            let views: Vec<_> = BatchIter::new(bytes).map(Result::unwrap).collect();
            assert_eq!(views.len(), 1, "one batch, appended atomically");
            let v = &views[0];
            v.verify_crc().unwrap();
            assert_eq!(v.record_count(), 3);
            assert_eq!(v.base_sequence(), -1);
            assert_eq!(v.is_transactional(), transactional);
            assert!(!v.is_control());
            if transactional {
                assert_eq!(v.attributes() & 0x30, 0x10);
                assert_eq!((v.producer_id(), v.producer_epoch()), (42, 3));
            } else {
                assert_eq!(v.producer_id(), -1);
            }
        }
        let entries: Vec<LogEntry> = read_entries(txn.clone())
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            entries,
            records
                .iter()
                .map(|r| LogEntry::Transactional {
                    producer_id: 42,
                    record: r.clone()
                })
                .collect::<Vec<_>>()
        );
        assert_eq!(read_batches(txn).unwrap().len(), 3);
    }

    fn control_batch(key: &'static [u8], producer_id: i64) -> Bytes {
        let record = Record {
            transactional: true,
            control: true,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: 0,
            key: Some(Bytes::from_static(key)),
            value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
            headers: Default::default(),
        };
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &[record],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.freeze()
    }

    #[test]
    fn markers_decode_and_bad_control_records_are_errors() {
        let entry = |key, pid| read_entries(control_batch(key, pid)).unwrap().remove(0);
        assert_eq!(
            entry(&[0, 0, 0, 1], 7),
            Ok(LogEntry::Marker {
                producer_id: 7,
                commit: true
            })
        );
        assert_eq!(
            entry(&[0, 0, 0, 0], 7),
            Ok(LogEntry::Marker {
                producer_id: 7,
                commit: false
            })
        );
        // A newer key version is read as version 0, as Kafka does.
        assert!(entry(&[0, 1, 0, 1], 7).is_ok());
        for bad in [&[0u8, 0, 0, 2][..], &[0, 0, 0], &[], &[0xff, 0xff, 0, 1]] {
            assert!(entry(bad, 7).is_err(), "{bad:?}");
        }
        assert!(entry(&[0, 0, 0, 1], -1).is_err());
        // read_batches skips markers.
        assert!(read_batches(control_batch(&[0, 0, 0, 1], 7))
            .unwrap()
            .is_empty());
    }
}
