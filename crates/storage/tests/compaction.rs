//! Integration tests of log compaction through `PartitionLog`'s public API.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use proptest::prelude::*;
use weir_protocol::record_batch::{build_test_batch, BatchIter, Compression, RecordBatchView};
use weir_protocol::records::{
    batch_records, build_test_batch_with, build_test_control_batch, RecordIter,
    DEFAULT_MAX_RECORDS_BYTES,
};
use weir_storage::{AbortedRange, LogConfig, PartitionLog};

const DAY: i64 = 24 * 60 * 60 * 1000;
const NOW: i64 = 1_700_000_000_000;

/// One record as read back: (offset, key, value).
type Rec = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

fn config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 64,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, segment_bytes: u64) -> PartitionLog {
    PartitionLog::open(dir, config(segment_bytes)).unwrap()
}

/// Appends one uncompressed single-record batch; returns its offset.
fn put(log: &mut PartitionLog, key: Option<&str>, value: Option<&str>, ts: i64) -> i64 {
    let b = build_test_batch(0, &[(key.map(str::as_bytes), value.map(str::as_bytes), ts)]);
    log.append(&b, 1, None).unwrap().base_offset
}

/// Appends one batch of `records` (key, value) with `codec`; returns its base offset.
fn put_batch(
    log: &mut PartitionLog,
    codec: Compression,
    producer: (i64, i16, i32),
    records: &[(Option<&str>, Option<&str>)],
) -> i64 {
    let recs: Vec<_> = records
        .iter()
        .map(|(k, v)| (k.map(str::as_bytes), v.map(str::as_bytes), 0, vec![]))
        .collect();
    let b = build_test_batch_with(0, NOW, codec, producer, &recs);
    log.append(&b, 1, None).unwrap().base_offset
}

/// Every batch from the log start, read the way a consumer does (one segment per read).
fn all_batches(log: &PartitionLog) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    loop {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        if r.records.is_empty() {
            break;
        }
        for b in BatchIter::new(&r.records) {
            let b = b.unwrap();
            b.verify_crc().unwrap();
            assert!(
                b.last_offset() >= offset,
                "read returned a batch below {offset}"
            );
            offset = b.last_offset() + 1;
            out.push(b.as_bytes().to_vec());
        }
    }
    out
}

fn records_of(batch: &[u8]) -> Vec<Rec> {
    let v = RecordBatchView::parse(batch).unwrap();
    let section = batch_records(&v, DEFAULT_MAX_RECORDS_BYTES).unwrap();
    RecordIter::new(&section)
        .map(|r| {
            let r = r.unwrap();
            (
                v.base_offset() + i64::from(r.offset_delta),
                r.key.map(<[u8]>::to_vec),
                r.value.map(<[u8]>::to_vec),
            )
        })
        .collect()
}

fn all_records(log: &PartitionLog) -> Vec<Rec> {
    all_batches(log)
        .iter()
        .flat_map(|b| records_of(b))
        .collect()
}

fn rec(offset: i64, key: Option<&str>, value: Option<&str>) -> Rec {
    (
        offset,
        key.map(|k| k.as_bytes().to_vec()),
        value.map(|v| v.as_bytes().to_vec()),
    )
}

/// Base offset of the active segment: the newest `.log` file.
fn active_base(dir: &Path) -> i64 {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".log").and_then(|s| s.parse().ok())
        })
        .max()
        .unwrap()
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn compaction_job_can_move_to_a_worker_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<weir_storage::CompactionJob>();
}

#[test]
fn latest_value_per_key_survives_with_offsets_and_gaps() {
    let dir = tempfile::tempdir().unwrap();
    // Every single-record batch is ~80 bytes: about three per segment.
    let mut log = open(dir.path(), 250);
    for i in 0..30 {
        put(
            &mut log,
            Some(&format!("k{}", i % 3)),
            Some(&format!("v{i}")),
            NOW,
        );
    }
    let end = log.log_end_offset();
    let active = active_base(dir.path());
    assert!(log.segment_count() > 5);
    let size_before = log.size_bytes();
    let stats = log.compact(end, NOW, DAY).unwrap();
    assert!(!stats.up_to_date);
    assert!(stats.records_removed > 0);
    assert_eq!(
        stats.bytes_before - stats.bytes_after,
        size_before - log.size_bytes()
    );
    let recs = all_records(&log);
    // Closed segments keep one record per key (the latest before the active segment); the
    // active segment is untouched.
    let closed: Vec<&Rec> = recs.iter().filter(|r| r.0 < active).collect();
    let mut latest_closed: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for o in 0..active {
        latest_closed.insert(format!("k{}", o % 3).into_bytes(), o);
    }
    let expected: Vec<i64> = latest_closed.values().copied().collect::<Vec<_>>();
    let mut got: Vec<i64> = closed.iter().map(|r| r.0).collect();
    got.sort_unstable();
    let mut expected = expected;
    expected.sort_unstable();
    assert_eq!(got, expected);
    for r in &recs {
        // Offsets are preserved: value vN sits at offset N.
        assert_eq!(r.2.as_deref(), Some(format!("v{}", r.0).as_bytes()));
    }
    let active_recs: Vec<i64> = recs.iter().filter(|r| r.0 >= active).map(|r| r.0).collect();
    assert_eq!(active_recs, (active..end).collect::<Vec<_>>());
    // Reading at any offset, including ones compacted away, starts at the next kept batch.
    for o in 0..end {
        let r = log.read(o, 1 << 20, i64::MAX, true).unwrap();
        let first = RecordBatchView::parse(&r.records).unwrap();
        let next_kept = recs.iter().map(|r| r.0).find(|&k| k >= o).unwrap();
        assert_eq!(first.base_offset(), next_kept, "read at {o}");
    }
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, end));
    // Nothing changed since: the next call does nothing.
    let again = log.compact(end, NOW, DAY).unwrap();
    assert!(again.up_to_date);
    assert_eq!(all_records(&log), recs);
}

#[test]
fn tombstones_kept_before_delete_retention_and_removed_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), 200);
    put(&mut log, Some("a"), Some("1"), NOW);
    put(&mut log, Some("b"), Some("1"), NOW);
    put(&mut log, Some("a"), None, NOW + 10);
    put(&mut log, Some("c"), Some("1"), NOW + 20);
    put(&mut log, Some("filler"), Some("x"), NOW + 20);
    put(&mut log, Some("filler"), Some("y"), NOW + 20);
    let end = log.log_end_offset();
    assert!(active_base(dir.path()) > 3);
    // Within delete.retention.ms: the older value of "a" goes, its tombstone stays.
    let s = log.compact(end, NOW + 10 + DAY, DAY).unwrap();
    assert_eq!(s.tombstones_removed, 0);
    let recs = all_records(&log);
    assert!(!recs.contains(&rec(0, Some("a"), Some("1"))));
    assert!(recs.contains(&rec(2, Some("a"), None)));
    assert!(recs.contains(&rec(1, Some("b"), Some("1"))));
    // Still not due: skipped without reading anything.
    assert!(log.compact(end, NOW + 10 + DAY, DAY).unwrap().up_to_date);
    // After delete.retention.ms the tombstone itself goes.
    let s = log.compact(end, NOW + 11 + DAY, DAY).unwrap();
    assert!(!s.up_to_date);
    assert_eq!(s.tombstones_removed, 1);
    let recs = all_records(&log);
    assert!(recs.iter().all(|r| r.1.as_deref() != Some(&b"a"[..])));
    assert!(recs.contains(&rec(1, Some("b"), Some("1"))));
    assert!(recs.contains(&rec(3, Some("c"), Some("1"))));
    // A changed delete.retention.ms triggers a new pass.
    assert!(
        !log.compact(end, NOW + 11 + DAY, 2 * DAY)
            .unwrap()
            .up_to_date
    );
}

#[test]
fn active_segment_and_upper_bound_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), 250);
    for i in 0..20 {
        put(&mut log, Some("k"), Some(&format!("v{i}")), NOW);
    }
    let active = active_base(dir.path());
    let active_file = dir.path().join(format!("{active:020}.log"));
    let active_bytes = fs::read(&active_file).unwrap();
    let before = all_records(&log);
    // Upper bound inside the closed range: offsets >= 7 must stay as they are.
    let bound = 7;
    assert!(bound < active);
    log.compact(bound, NOW, DAY).unwrap();
    let after = all_records(&log);
    let above: Vec<&Rec> = before.iter().filter(|r| r.0 >= bound).collect();
    assert_eq!(
        after.iter().filter(|r| r.0 >= bound).collect::<Vec<_>>(),
        above
    );
    // Below the bound only the latest "k" below it survives.
    assert_eq!(
        after.iter().filter(|r| r.0 < bound).collect::<Vec<_>>(),
        vec![&rec(6, Some("k"), Some("v6"))]
    );
    // Now with the high watermark at the log end: the active segment is still untouched.
    log.compact(log.log_end_offset(), NOW, DAY).unwrap();
    assert_eq!(fs::read(&active_file).unwrap(), active_bytes);
    let after = all_records(&log);
    let closed: Vec<&Rec> = after.iter().filter(|r| r.0 < active).collect();
    assert_eq!(
        closed,
        vec![&rec(
            active - 1,
            Some("k"),
            Some(&format!("v{}", active - 1))
        )]
    );
    assert_eq!(
        after.iter().filter(|r| r.0 >= active).count() as i64,
        log.log_end_offset() - active
    );
}

#[test]
fn compressed_batches_partially_compacted_for_each_codec() {
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), 300);
        let first = put_batch(
            &mut log,
            codec,
            (-1, -1, -1),
            &[
                (Some("a"), Some("a1")),
                (Some("b"), Some("b1")),
                (None, Some("n1")),
                (Some("c"), Some("c1")),
                (Some("a"), Some("a2")),
            ],
        );
        put_batch(
            &mut log,
            codec,
            (-1, -1, -1),
            &[(Some("b"), Some("b2")), (Some("d"), None)],
        );
        // Everything superseded by the next batch: it disappears entirely.
        put_batch(&mut log, codec, (-1, -1, -1), &[(Some("d"), Some("d1"))]);
        put_batch(&mut log, codec, (-1, -1, -1), &[(Some("d"), Some("d2"))]);
        put(&mut log, Some("pad"), Some(&"p".repeat(300)), NOW);
        put(&mut log, Some("pad"), Some("q"), NOW);
        assert!(active_base(dir.path()) >= 9, "{codec:?}");
        let s = log.compact(log.log_end_offset(), NOW, DAY).unwrap();
        assert_eq!(s.batches_rewritten, 2, "{codec:?}");
        assert!(s.batches_dropped >= 1, "{codec:?}");
        let batches = all_batches(&log);
        let v = RecordBatchView::parse(&batches[0]).unwrap();
        assert_eq!(v.compression(), codec);
        assert_eq!(
            (v.base_offset(), v.last_offset_delta(), v.record_count()),
            (first, 4, 3)
        );
        let recs = all_records(&log);
        // The "d" tombstone at 6 and d1 at 7 are superseded by d2 at 8.
        assert_eq!(
            recs[..5].to_vec(),
            vec![
                rec(2, None, Some("n1")),
                rec(3, Some("c"), Some("c1")),
                rec(4, Some("a"), Some("a2")),
                rec(5, Some("b"), Some("b2")),
                rec(8, Some("d"), Some("d2")),
            ],
            "{codec:?}"
        );
        let v = RecordBatchView::parse(&batches[1]).unwrap();
        assert_eq!(
            (v.base_offset(), v.last_offset(), v.record_count()),
            (5, 6, 1)
        );
        assert_eq!(v.compression(), codec);
    }
}

#[test]
fn null_key_records_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), 200);
    put(&mut log, None, Some("n0"), NOW);
    put(&mut log, None, Some("n1"), NOW);
    put(&mut log, Some("k"), Some("k2"), NOW);
    put(&mut log, None, None, NOW);
    put(&mut log, Some("k"), Some("k4"), NOW);
    put(&mut log, None, Some("n5"), NOW);
    put(&mut log, Some("z"), Some("z6"), NOW);
    assert!(active_base(dir.path()) >= 6);
    // Even long after delete.retention.ms a null-key null-value record is not a tombstone.
    log.compact(log.log_end_offset(), NOW + 10 * DAY, DAY)
        .unwrap();
    let recs = all_records(&log);
    assert_eq!(
        recs,
        vec![
            rec(0, None, Some("n0")),
            rec(1, None, Some("n1")),
            rec(3, None, None),
            rec(4, Some("k"), Some("k4")),
            rec(5, None, Some("n5")),
            rec(6, Some("z"), Some("z6")),
        ]
    );
}

#[test]
fn control_batches_untouched_and_producer_state_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), 250);
    // Producer 7: two batches, both fully superseded later; only the newest stays, empty.
    put_batch(
        &mut log,
        Compression::Gzip,
        (7, 0, 0),
        &[(Some("a"), Some("1"))],
    );
    put_batch(
        &mut log,
        Compression::Gzip,
        (7, 0, 1),
        &[(Some("a"), Some("2")), (Some("b"), Some("2"))],
    );
    let marker = build_test_control_batch(0, NOW, (9, 0), true);
    let marker_offset = log.append(&marker, 1, None).unwrap().base_offset;
    put(&mut log, Some("a"), Some("3"), NOW);
    put(&mut log, Some("b"), Some("3"), NOW);
    put(&mut log, Some("pad"), Some(&"p".repeat(300)), NOW);
    put(&mut log, Some("pad"), Some("q"), NOW);
    assert!(active_base(dir.path()) > 5);
    let s = log.compact(log.log_end_offset(), NOW, DAY).unwrap();
    assert_eq!((s.batches_dropped, s.batches_rewritten), (1, 1));
    let batches = all_batches(&log);
    let views: Vec<RecordBatchView<'_>> = batches
        .iter()
        .map(|b| RecordBatchView::parse(b).unwrap())
        .collect();
    // Producer 7's newest batch: empty, offsets 1..=2 and sequence kept.
    assert_eq!(
        (
            views[0].base_offset(),
            views[0].last_offset(),
            views[0].record_count()
        ),
        (1, 2, 0)
    );
    assert_eq!((views[0].producer_id(), views[0].base_sequence()), (7, 1));
    // The marker is stored byte for byte (apart from the broker-written prefix).
    assert_eq!(views[1].base_offset(), marker_offset);
    assert!(views[1].is_control());
    assert_eq!(&batches[1][16..], &marker[16..]);
}

/// Appends a transactional batch of producer `pid` (epoch 0, sequence `seq`).
fn put_txn(log: &mut PartitionLog, pid: i64, seq: i32, key: &str, value: &str) -> i64 {
    let recs = vec![(Some(key.as_bytes()), Some(value.as_bytes()), 0, vec![])];
    let mut b = build_test_batch_with(0, NOW, Compression::None, (pid, 0, seq), &recs);
    weir_protocol::record_batch::set_attributes(&mut b, 0x10);
    log.append(&b, 1, None).unwrap().base_offset
}

/// An aborted transaction's write never wins over the committed value of its key: its records
/// are removed and do not count as the latest. A committed transaction's records count as any
/// other; markers stay.
#[test]
fn records_of_aborted_transactions_are_removed_and_never_hide_committed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), 250);
    put(&mut log, Some("k"), Some("committed"), NOW); // 0
    let first = put_txn(&mut log, 7, 0, "k", "aborted"); // 1
    put_txn(&mut log, 7, 1, "x", "aborted-too"); // 2
    let marker = build_test_control_batch(0, NOW, (7, 0), false);
    let abort_at = log.append(&marker, 1, None).unwrap().base_offset; // 3
    put_txn(&mut log, 8, 0, "y", "committed-in-txn"); // 4
    let commit = build_test_control_batch(0, NOW, (8, 0), true);
    log.append(&commit, 1, None).unwrap(); // 5
    for i in 0..4 {
        put(&mut log, Some("pad"), Some(&"p".repeat(200 + i)), NOW);
    }
    assert!(
        active_base(dir.path()) > 5,
        "everything above is in closed segments"
    );
    let aborted = vec![AbortedRange {
        producer_id: 7,
        first_offset: first,
        last_offset: abort_at,
    }];
    let mut job = log
        .prepare_compaction(log.log_end_offset(), NOW, DAY, aborted)
        .unwrap()
        .unwrap();
    job.run().unwrap();
    log.finish_compaction(job).unwrap();
    let recs = all_records(&log);
    assert!(recs.contains(&rec(0, Some("k"), Some("committed"))));
    assert!(recs.contains(&rec(4, Some("y"), Some("committed-in-txn"))));
    assert!(
        !recs.iter().any(|r| r.2.as_deref() == Some(&b"aborted"[..])
            || r.2.as_deref() == Some(&b"aborted-too"[..])),
        "aborted records removed: {recs:?}"
    );
    let controls = all_batches(&log)
        .iter()
        .filter(|b| RecordBatchView::parse(b).unwrap().is_control())
        .count();
    assert_eq!(controls, 2, "markers stay");
}

#[test]
fn reopen_after_compaction_gives_same_content() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), 300);
    for i in 0..40i64 {
        let key = format!("k{}", i % 5);
        if i % 7 == 3 {
            put(&mut log, Some(&key), None, NOW + i);
        } else {
            put_batch(
                &mut log,
                Compression::Lz4,
                (-1, -1, -1),
                &[
                    (Some(&key), Some(&format!("v{i}"))),
                    (Some("x"), Some(&format!("x{i}"))),
                ],
            );
        }
    }
    let end = log.log_end_offset();
    log.compact(end, NOW, DAY).unwrap();
    let recs = all_records(&log);
    let epoch = log.end_offset_for_epoch(1);
    let segments = log.segment_count();
    drop(log);
    let log = open(dir.path(), 300);
    assert_eq!(all_records(&log), recs);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, end));
    assert_eq!(log.end_offset_for_epoch(1), epoch);
    assert_eq!(log.latest_epoch(), Some(1));
    assert_eq!(log.segment_count(), segments);
    assert!(file_names(dir.path()).iter().all(|n| !n.ends_with(".tmp")));
}

#[test]
fn interrupted_swaps_reopen_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), 250);
    for i in 0..12 {
        put(
            &mut log,
            Some(&format!("k{}", i % 2)),
            Some(&format!("v{i}")),
            NOW,
        );
    }
    let before = all_records(&log);
    drop(log);
    // A crash while writing the cleaned copy: the temp file is junk and goes away on open.
    let tmp = dir.path().join(format!("{:020}.log.cleaned.tmp", 0));
    fs::write(&tmp, b"half-written cleaned segment").unwrap();
    // A crash after the old indexes were deleted: they are rebuilt from the log.
    fs::remove_file(dir.path().join(format!("{:020}.index", 0))).unwrap();
    fs::remove_file(dir.path().join(format!("{:020}.timeindex", 0))).unwrap();
    let mut log = open(dir.path(), 250);
    assert!(!tmp.exists());
    assert!(dir.path().join(format!("{:020}.index", 0)).exists());
    assert!(dir.path().join(format!("{:020}.timeindex", 0)).exists());
    assert_eq!(all_records(&log), before);
    // The log still compacts normally afterwards.
    log.compact(log.log_end_offset(), NOW, DAY).unwrap();
    let after = all_records(&log);
    assert!(after.len() < before.len());
    drop(log);
    assert_eq!(all_records(&open(dir.path(), 250)), after);
}

#[test]
fn retention_still_works_on_compacted_logs() {
    // Wall-clock time here: a segment emptied by compaction has no timestamp left, so time
    // retention falls back to the file's mtime (kept from before the rewrite), as in Kafka.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            retention_ms: DAY,
            ..config(250)
        },
    )
    .unwrap();
    for i in 0..12 {
        put(&mut log, Some(&format!("k{}", i % 2)), Some("v"), now + i);
    }
    let s = log.compact(log.log_end_offset(), now, DAY).unwrap();
    assert!(s.segments_cleaned > 0);
    // Not yet expired: nothing goes.
    assert_eq!(log.enforce_retention(now + DAY / 2).unwrap(), 0);
    let deleted = log.enforce_retention(now + 2 * DAY).unwrap();
    assert!(deleted > 0);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), active_base(dir.path()));
    assert!(all_records(&log)
        .iter()
        .all(|r| r.0 >= log.log_start_offset()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn compaction_keeps_exactly_the_latest_per_key(
        appends in prop::collection::vec(
            (
                prop::collection::vec((prop::option::of(0u8..6), prop::option::of(0u32..1000)), 1..5),
                0usize..5,
            ),
            1..60,
        ),
        segment_bytes in 150u64..1500,
        tombstones_expired in any::<bool>(),
    ) {
        let codecs = [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), segment_bytes);
        let mut model: Vec<Rec> = Vec::new();
        for (records, codec) in &appends {
            let owned: Vec<(Option<String>, Option<String>)> = records
                .iter()
                .map(|(k, v)| (k.map(|k| format!("key-{k}")), v.map(|v| format!("value-{v}"))))
                .collect();
            let borrowed: Vec<(Option<&str>, Option<&str>)> =
                owned.iter().map(|(k, v)| (k.as_deref(), v.as_deref())).collect();
            let base = put_batch(&mut log, codecs[*codec], (-1, -1, -1), &borrowed);
            for (i, (k, v)) in owned.iter().enumerate() {
                model.push((base + i as i64, k.clone().map(String::into_bytes), v.clone().map(String::into_bytes)));
            }
        }
        let active = active_base(dir.path());
        let end = log.log_end_offset();
        // Every batch's max timestamp is NOW: at NOW all tombstones are within
        // delete.retention.ms, two days later all have expired.
        let now = if tombstones_expired { NOW + 2 * DAY } else { NOW };
        log.compact(end, now, DAY).unwrap();
        let mut latest_closed: HashMap<Vec<u8>, i64> = HashMap::new();
        for (o, k, _) in model.iter().filter(|r| r.0 < active) {
            if let Some(k) = k {
                latest_closed.insert(k.clone(), *o);
            }
        }
        let expected: Vec<Rec> = model
            .iter()
            .filter(|(o, k, v)| {
                *o >= active
                    || k.as_ref().is_none_or(|k| {
                        latest_closed.get(k) == Some(o) && !(tombstones_expired && v.is_none())
                    })
            })
            .cloned()
            .collect();
        let got = all_records(&log);
        prop_assert_eq!(&got, &expected);
        // Every key's latest value is readable at its original offset.
        let mut latest: HashMap<Vec<u8>, &Rec> = HashMap::new();
        for r in &model {
            if let Some(k) = &r.1 {
                latest.insert(k.clone(), r);
            }
        }
        for r in latest.values() {
            if r.2.is_none() && tombstones_expired && r.0 < active {
                continue;
            }
            let read = log.read(r.0, 1 << 20, i64::MAX, true).unwrap();
            let first = BatchIter::new(&read.records).next().unwrap().unwrap();
            prop_assert!(records_of(first.as_bytes()).contains(r));
        }
        drop(log);
        prop_assert_eq!(all_records(&open(dir.path(), segment_bytes)), expected);
    }
}

#[test]
fn prepared_job_runs_detached_and_tolerates_concurrent_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), 250);
    for i in 0..15 {
        put(
            &mut log,
            Some(&format!("k{}", i % 2)),
            Some(&format!("v{i}")),
            NOW,
        );
    }
    let bound = log.log_end_offset();
    let active_then = active_base(dir.path());
    let mut job = log
        .prepare_compaction(bound, NOW, DAY, Vec::new())
        .unwrap()
        .expect("work to do");
    // Appends (and rolls) go on while the job runs without the log.
    job.run().unwrap();
    for i in 15..25 {
        put(
            &mut log,
            Some(&format!("k{}", i % 2)),
            Some(&format!("v{i}")),
            NOW,
        );
    }
    let s = log.finish_compaction(job).unwrap();
    assert!(s.segments_cleaned > 0);
    assert_eq!(s.segments_stale, 0);
    let recs = all_records(&log);
    // Everything from the then-active segment on is intact; one record per key is left in
    // what were the closed segments then.
    assert_eq!(
        recs.iter().filter(|r| r.0 >= active_then).count() as i64,
        log.log_end_offset() - active_then
    );
    assert_eq!(recs.iter().filter(|r| r.0 < active_then).count(), 2);
    // A newer segment got closed by the appends: the next pass has work again.
    assert!(
        !log.compact(log.log_end_offset(), NOW, DAY)
            .unwrap()
            .up_to_date
    );

    // A job whose segments changed meanwhile (here: compacted by another pass) is stale and
    // changes nothing; its temp files are gone.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), 250);
    for i in 0..15 {
        put(
            &mut log,
            Some(&format!("k{}", i % 2)),
            Some(&format!("v{i}")),
            NOW,
        );
    }
    let end = log.log_end_offset();
    let mut stale = log
        .prepare_compaction(end, NOW, DAY, Vec::new())
        .unwrap()
        .unwrap();
    stale.run().unwrap();
    log.compact(end, NOW, DAY).unwrap();
    let after = all_records(&log);
    let s = log.finish_compaction(stale).unwrap();
    assert!(s.segments_stale > 0);
    assert_eq!(s.segments_cleaned, 0);
    assert_eq!(all_records(&log), after);
    assert!(file_names(dir.path()).iter().all(|n| !n.ends_with(".tmp")));
    // Dropping a job that ran but was never finished removes its temp files.
    put(&mut log, Some("k0"), Some("new"), NOW);
    put(&mut log, Some("pad"), Some(&"p".repeat(300)), NOW);
    put(&mut log, Some("k0"), Some("newer"), NOW);
    let mut job = log
        .prepare_compaction(log.log_end_offset(), NOW, DAY, Vec::new())
        .unwrap()
        .unwrap();
    job.run().unwrap();
    assert!(file_names(dir.path()).iter().any(|n| n.ends_with(".tmp")));
    drop(job);
    assert!(file_names(dir.path()).iter().all(|n| !n.ends_with(".tmp")));
}

#[test]
fn retention_during_a_job_discards_its_work() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            retention_ms: DAY,
            ..config(250)
        },
    )
    .unwrap();
    for i in 0..12 {
        put(
            &mut log,
            Some(&format!("k{}", i % 2)),
            Some("v"),
            now - 3 * DAY + i,
        );
    }
    for i in 0..6 {
        put(&mut log, Some(&format!("k{}", i % 2)), Some("w"), now + i);
    }
    let mut job = log
        .prepare_compaction(log.log_end_offset(), now, DAY, Vec::new())
        .unwrap()
        .unwrap();
    job.run().unwrap();
    assert!(log.enforce_retention(now).unwrap() > 0);
    let before = all_records(&log);
    let s = log.finish_compaction(job).unwrap();
    assert!(s.segments_stale > 0);
    assert_eq!((s.segments_cleaned, s.records_removed), (0, 0));
    assert_eq!(all_records(&log), before);
    assert!(file_names(dir.path()).iter().all(|n| !n.ends_with(".tmp")));
    // The next pass runs in full and compacts what is left.
    let s = log.compact(log.log_end_offset(), now, DAY).unwrap();
    assert!(!s.up_to_date && s.records_removed > 0);
}
