//! Integration tests of `PartitionLog` through its public API only.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use weir_protocol::record_batch::{build_test_batch, BatchIter, RecordBatchView, TestRecord};
use weir_storage::{
    FetchRecords, FlushPolicy, LogConfig, PartitionLog, StorageError, FILE_REGION_MIN_BYTES,
};

fn batch(records: usize, ts: i64, value_len: usize) -> Vec<u8> {
    let value = vec![b'v'; value_len];
    let recs: Vec<TestRecord<'_>> = (0..records)
        .map(|i| (Some(&b"key"[..]), Some(&value[..]), ts + i as i64))
        .collect();
    build_test_batch(0, &recs)
}

fn small_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 64,
        ..LogConfig::default()
    }
}

/// (base, last) of every batch in a read.
fn batches(bytes: &[u8]) -> Vec<(i64, i64)> {
    BatchIter::new(bytes)
        .map(|b| {
            let b = b.unwrap();
            b.verify_crc().unwrap();
            (b.base_offset(), b.last_offset())
        })
        .collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

#[test]
fn partition_log_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PartitionLog>();
}

#[test]
fn append_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    let b1 = batch(3, 1_000, 10);
    let info = log.append(&b1, 5, None).unwrap();
    assert_eq!(info.base_offset, 0);
    assert_eq!(info.last_offset, 2);
    assert_eq!(info.record_count, 3);
    assert_eq!(info.max_timestamp, 1_002);
    assert_eq!(info.log_append_time, None);
    // Two batches in one append.
    let mut two = batch(1, 2_000, 5);
    two.extend(batch(2, 2_001, 5));
    let info = log.append(&two, 5, None).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (3, 5, 3)
    );
    assert_eq!(log.log_end_offset(), 6);

    let r = log.read(0, usize::MAX, i64::MAX, false).unwrap();
    assert_eq!(batches(&r.records), vec![(0, 2), (3, 3), (4, 5)]);
    assert_eq!((r.log_start_offset, r.log_end_offset), (0, 6));
    let first = RecordBatchView::parse(&r.records).unwrap();
    assert_eq!(first.partition_leader_epoch(), 5);
    // Stored bytes after the rewritten prefix are the client's bytes.
    assert_eq!(&first.as_bytes()[16..], &b1[16..]);

    let r = log.read(4, usize::MAX, i64::MAX, false).unwrap();
    assert_eq!(batches(&r.records), vec![(4, 5)]);
    assert!(log
        .read(6, 100, i64::MAX, false)
        .unwrap()
        .records
        .is_empty());
    assert!(matches!(
        log.read(7, 100, i64::MAX, false),
        Err(StorageError::OffsetOutOfRange {
            requested: 7,
            log_start: 0,
            log_end: 6
        })
    ));
    assert!(log.read(-1, 100, i64::MAX, false).is_err());
}

#[test]
fn invalid_appends_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let good = batch(2, 1, 4);
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let mut mixed = good.clone();
    mixed.extend(&bad);
    assert!(matches!(
        log.append(&mixed, 0, None),
        Err(StorageError::InvalidBatch(_))
    ));
    let mut torn = good.clone();
    torn.extend(&good[..20]);
    assert!(log.append(&torn, 0, None).is_err());
    assert!(log.append(&[], 0, None).is_err());
    assert!(log.append(&[1, 2, 3], 0, None).is_err());
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
    log.append(&good, 0, None).unwrap();
    assert_eq!(log.log_end_offset(), 2);
}

#[test]
fn log_append_time_rewrites_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let info = log.append(&batch(2, 5, 3), 0, Some(777)).unwrap();
    assert_eq!(info.log_append_time, Some(777));
    assert_eq!(info.max_timestamp, 777);
    let r = log.read(0, usize::MAX, i64::MAX, false).unwrap();
    let v = RecordBatchView::parse(&r.records).unwrap();
    v.verify_crc().unwrap();
    assert!(v.is_log_append_time());
    assert_eq!(v.max_timestamp(), 777);
    assert_eq!(log.offset_for_timestamp(700).unwrap(), Some((0, 777)));
    assert_eq!(log.max_timestamp().unwrap(), Some((777, 0)));
}

#[test]
fn reads_across_segment_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config(500)).unwrap();
    let mut expected = Vec::new();
    for i in 0..40 {
        let info = log
            .append(&batch(1 + i % 3, i as i64, 30), 0, None)
            .unwrap();
        expected.push((info.base_offset, info.last_offset));
    }
    assert!(log.segment_count() > 5, "{}", log.segment_count());
    assert_eq!(segment_files(dir.path()).len(), log.segment_count());
    for &(base, last) in &expected {
        for off in base..=last {
            let r = log.read(off, 1, i64::MAX, true).unwrap();
            assert_eq!(batches(&r.records), vec![(base, last)], "offset {off}");
        }
    }
    // A big read stays within one segment but returns whole consecutive batches.
    let r = log.read(0, usize::MAX, i64::MAX, false).unwrap();
    let got = batches(&r.records);
    assert!(!got.is_empty() && got.len() < expected.len());
    assert_eq!(got, expected[..got.len()].to_vec());
    // Walking by next offset visits every batch exactly once.
    let mut off = 0;
    let mut walked = Vec::new();
    while off < log.log_end_offset() {
        let r = log.read(off, 1_000_000, i64::MAX, false).unwrap();
        let got = batches(&r.records);
        off = got.last().unwrap().1 + 1;
        walked.extend(got);
    }
    assert_eq!(walked, expected);
}

#[test]
fn kip74_min_one_and_upper_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let big = batch(1, 0, 1_000);
    log.append(&big, 0, None).unwrap();
    log.append(&batch(1, 0, 10), 0, None).unwrap();
    log.append(&batch(1, 0, 10), 0, None).unwrap();
    assert!(log
        .read(0, 100, i64::MAX, false)
        .unwrap()
        .records
        .is_empty());
    let r = log.read(0, 100, i64::MAX, true).unwrap();
    assert_eq!(batches(&r.records), vec![(0, 0)]);
    assert_eq!(r.records.len(), big.len());
    // Exactly the first two batches fit.
    let r = log.read(0, big.len() + 100, i64::MAX, true).unwrap();
    assert_eq!(batches(&r.records), vec![(0, 0), (1, 1)]);
    // The high watermark excludes batches at or beyond it.
    let r = log.read(0, usize::MAX, 2, false).unwrap();
    assert_eq!(batches(&r.records), vec![(0, 0), (1, 1)]);
    assert!(log.read(2, usize::MAX, 2, true).unwrap().records.is_empty());
    assert!(log.read(0, usize::MAX, 0, true).unwrap().records.is_empty());
}

#[test]
fn offset_and_max_timestamp_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config(400)).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), None);
    // Batch i has records with timestamps 100*i, 100*i+1, 100*i+2.
    for i in 0..20 {
        log.append(&batch(3, 100 * i, 20), 0, None).unwrap();
    }
    // Out-of-order timestamp inside a later batch.
    let recs: [TestRecord<'_>; 3] = [(None, None, 50_000), (None, None, 10), (None, None, 50_000)];
    let info = log.append(&build_test_batch(0, &recs), 0, None).unwrap();
    assert!(log.segment_count() > 3);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 0)));
    assert_eq!(log.offset_for_timestamp(101).unwrap(), Some((4, 101)));
    assert_eq!(log.offset_for_timestamp(103).unwrap(), Some((6, 200)));
    assert_eq!(log.offset_for_timestamp(1_502).unwrap(), Some((47, 1_502)));
    assert_eq!(
        log.offset_for_timestamp(1_903).unwrap(),
        Some((info.base_offset, 50_000))
    );
    assert_eq!(log.offset_for_timestamp(50_001).unwrap(), None);
    assert_eq!(
        log.max_timestamp().unwrap(),
        Some((50_000, info.base_offset))
    );
    // After DeleteRecords, answers never point below the log start.
    log.delete_records_before(10).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((10, 301)));
}

#[test]
fn retention_by_time_never_deletes_active() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 1_000,
        ..small_config(300)
    };
    let mut log = PartitionLog::open(dir.path(), config).unwrap();
    // Old records (ts 0..) then recent ones (ts 10_000..).
    for i in 0..10 {
        log.append(&batch(2, i, 30), 0, None).unwrap();
    }
    let old_end = log.log_end_offset();
    for i in 0..10 {
        log.append(&batch(2, 10_000 + i, 30), 0, None).unwrap();
    }
    let segments = log.segment_count();
    let deleted = log.enforce_retention(10_500).unwrap();
    assert!(deleted > 0);
    assert_eq!(log.segment_count(), segments - deleted);
    assert!(log.log_start_offset() > 0 && log.log_start_offset() <= old_end);
    assert!(matches!(
        log.read(0, 100, i64::MAX, false),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    let r = log
        .read(log.log_start_offset(), 100, i64::MAX, true)
        .unwrap();
    assert_eq!(batches(&r.records)[0].0, log.log_start_offset());
    // Far in the future everything is expired, but the active segment stays.
    log.enforce_retention(1_000_000).unwrap();
    assert_eq!(log.segment_count(), 1);
    assert!(log.size_bytes() > 0);
    assert_eq!(log.log_end_offset(), 40);
}

#[test]
fn retention_rolls_old_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 1_000,
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).unwrap();
    log.append(&batch(2, 0, 10), 0, None).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(log.enforce_retention(now).unwrap(), 0);
    assert_eq!(log.segment_count(), 1);
    // An hour later the active segment is rolled and then expired.
    assert_eq!(log.enforce_retention(now + 3_600_000).unwrap(), 1);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.size_bytes(), 0);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (2, 2));
    assert_eq!(log.append(&batch(1, 0, 1), 0, None).unwrap().base_offset, 2);
}

#[test]
fn an_append_rolls_a_segment_older_than_segment_ms() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 20,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).unwrap();
    log.append(&batch(1, 0, 10), 0, None).unwrap();
    log.append(&batch(1, 0, 10), 0, None).unwrap();
    assert_eq!(log.segment_count(), 1, "a young segment takes more appends");
    std::thread::sleep(std::time::Duration::from_millis(50));
    let info = log.append(&batch(1, 0, 10), 0, None).unwrap();
    assert_eq!(
        log.segment_count(),
        2,
        "the append after segment.ms opened a new one"
    );
    assert_eq!(segment_files(dir.path()).len(), 2);
    assert_eq!(info.base_offset, 2);
    // Reads stay within a segment: the first two batches, then the new one.
    let first = log.read(0, usize::MAX, i64::MAX, false).unwrap();
    assert_eq!(batches(&first.records), vec![(0, 0), (1, 1)]);
    let second = log.read(2, usize::MAX, i64::MAX, false).unwrap();
    assert_eq!(batches(&second.records), vec![(2, 2)]);
}

#[test]
fn retention_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(1, 0, 50).len() as u64;
    let config = LogConfig {
        retention_ms: -1,
        retention_bytes: (3 * one) as i64,
        ..small_config(2 * one)
    };
    let mut log = PartitionLog::open(dir.path(), config).unwrap();
    for _ in 0..10 {
        log.append(&batch(1, 0, 50), 0, None).unwrap();
    }
    // Segments of two batches each: 0-1, 2-3, ..., 8-9 (active).
    assert_eq!(log.segment_count(), 5);
    let deleted = log.enforce_retention(0).unwrap();
    assert_eq!(deleted, 3);
    assert_eq!(log.segment_count(), 2);
    assert_eq!(log.size_bytes(), 4 * one);
    assert_eq!(log.log_start_offset(), 6);
    // A limit below one segment still keeps the active segment.
    let mut config = log.config().clone();
    config.retention_bytes = 0;
    log.set_config(config);
    assert_eq!(log.enforce_retention(0).unwrap(), 1);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), 8);
    assert_eq!(log.log_end_offset(), 10);
}

#[test]
fn delete_records_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config(300)).unwrap();
    for i in 0..12 {
        log.append(&batch(2, i, 40), 0, None).unwrap();
    }
    let segments = log.segment_count();
    assert!(segments > 3);
    assert!(matches!(
        log.delete_records_before(25),
        Err(StorageError::OffsetOutOfRange { requested: 25, .. })
    ));
    assert_eq!(log.delete_records_before(7).unwrap(), 7);
    assert_eq!(log.log_start_offset(), 7);
    assert!(log.segment_count() < segments);
    // Lower requests are no-ops.
    assert_eq!(log.delete_records_before(3).unwrap(), 7);
    assert!(log.read(6, 100, i64::MAX, true).is_err());
    // Offset 7 is inside batch 6-7: that whole batch is returned.
    let r = log.read(7, 1, i64::MAX, true).unwrap();
    assert_eq!(batches(&r.records), vec![(6, 7)]);
    assert_eq!(r.log_start_offset, 7);
    drop(log);

    let mut log = PartitionLog::open(dir.path(), small_config(300)).unwrap();
    assert_eq!(log.log_start_offset(), 7);
    // Deleting everything leaves an empty log at the end offset.
    assert_eq!(log.delete_records_before(24).unwrap(), 24);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.size_bytes(), 0);
    assert!(log
        .read(24, 100, i64::MAX, true)
        .unwrap()
        .records
        .is_empty());
    drop(log);
    let mut log = PartitionLog::open(dir.path(), small_config(300)).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (24, 24));
    assert_eq!(
        log.append(&batch(1, 0, 1), 0, None).unwrap().base_offset,
        24
    );
}

#[test]
fn recovery_truncates_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config(1_000)).unwrap();
    for i in 0..20 {
        log.append(&batch(2, i, 30), 1, None).unwrap();
    }
    assert_eq!(log.log_end_offset(), 40);
    log.close().unwrap();
    let last = segment_files(dir.path()).pop().unwrap();
    let len = fs::metadata(&last).unwrap().len();
    // Chop 10 bytes off the last batch.
    OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config(1_000)).unwrap();
    assert_eq!(log.log_end_offset(), 38);
    assert_eq!(
        fs::metadata(&last).unwrap().len(),
        len - batch(2, 0, 30).len() as u64
    );
    for off in 0..38 {
        let r = log.read(off, 1, i64::MAX, true).unwrap();
        let (base, last) = batches(&r.records)[0];
        assert!(base <= off && off <= last);
    }
    assert!(log
        .read(38, 100, i64::MAX, true)
        .unwrap()
        .records
        .is_empty());
    assert_eq!(
        log.append(&batch(1, 0, 5), 1, None).unwrap().base_offset,
        38
    );
    log.close().unwrap();

    // Garbage after the last batch is cut off too.
    let mut f = OpenOptions::new().append(true).open(&last).unwrap();
    f.write_all(&[0xAB; 100]).unwrap();
    drop(f);
    let mut log = PartitionLog::open(dir.path(), small_config(1_000)).unwrap();
    assert_eq!(log.log_end_offset(), 39);
    let info = log.append(&batch(3, 0, 5), 1, None).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (39, 41));
    let r = log.read(39, usize::MAX, i64::MAX, false).unwrap();
    assert_eq!(batches(&r.records), vec![(39, 41)]);

    // A corrupted byte in the middle of the active segment truncates from there.
    log.close().unwrap();
    let mut bytes = fs::read(&last).unwrap();
    let first_len = batch(2, 0, 30).len();
    bytes[first_len + 30] ^= 0xff;
    fs::write(&last, &bytes).unwrap();
    let log = PartitionLog::open(dir.path(), small_config(1_000)).unwrap();
    let active_base = log
        .read(log.log_end_offset() - 1, 1, i64::MAX, true)
        .unwrap();
    assert_eq!(batches(&active_base.records).len(), 1);
    assert_eq!(fs::metadata(&last).unwrap().len(), first_len as u64);
}

#[test]
fn recovery_with_all_batches_of_last_segment_torn() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config(200)).unwrap();
    for i in 0..6 {
        log.append(&batch(1, i, 80), 0, None).unwrap();
    }
    log.close().unwrap();
    let last = segment_files(dir.path()).pop().unwrap();
    fs::write(&last, [7u8; 9]).unwrap();
    let log = PartitionLog::open(dir.path(), small_config(200)).unwrap();
    assert_eq!(log.log_end_offset(), 5);
}

#[test]
fn reopen_preserves_state_and_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush: FlushPolicy::EveryAppend,
        ..small_config(400)
    };
    let mut log = PartitionLog::open(dir.path(), config.clone()).unwrap();
    assert_eq!(log.latest_epoch(), None);
    assert_eq!(log.end_offset_for_epoch(0), None);
    for i in 0..5 {
        log.append(&batch(2, i, 30), 1, None).unwrap();
    }
    for i in 0..5 {
        log.append(&batch(2, i, 30), 3, None).unwrap();
    }
    log.append(&batch(2, 0, 30), 4, None).unwrap();
    assert_eq!(log.latest_epoch(), Some(4));
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 10)));
    assert_eq!(log.end_offset_for_epoch(2), Some((1, 10)));
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 20)));
    assert_eq!(log.end_offset_for_epoch(4), Some((4, 22)));
    assert_eq!(log.end_offset_for_epoch(0), Some((0, 0)));
    assert_eq!(log.end_offset_for_epoch(5), None);
    log.delete_records_before(3).unwrap();
    let (start, end, size, segs) = (
        log.log_start_offset(),
        log.log_end_offset(),
        log.size_bytes(),
        log.segment_count(),
    );
    let all = log.read(3, usize::MAX, i64::MAX, false).unwrap().records;
    log.close().unwrap();

    let log = PartitionLog::open(dir.path(), config.clone()).unwrap();
    assert_eq!(log.log_start_offset(), start);
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.size_bytes(), size);
    assert_eq!(log.segment_count(), segs);
    assert_eq!(
        log.read(3, usize::MAX, i64::MAX, false).unwrap().records,
        all
    );
    assert_eq!(log.latest_epoch(), Some(4));
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 10)));
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 20)));
    drop(log);

    // Truncating epoch 4's data away on recovery drops epoch 4 from the cache.
    let last = segment_files(dir.path()).pop().unwrap();
    let len = fs::metadata(&last).unwrap().len();
    let one = batch(2, 0, 30).len() as u64;
    OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - one + 1)
        .unwrap();
    let log = PartitionLog::open(dir.path(), config).unwrap();
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(log.latest_epoch(), Some(3));
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 20)));
}

#[test]
fn flush_policies_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topic-0");
    let config = LogConfig {
        flush: FlushPolicy::IntervalMs(0),
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(&path, config).unwrap();
    log.append(&batch(1, 0, 1), 0, None).unwrap();
    log.flush_if_due().unwrap();
    log.flush().unwrap();
    assert!(path.exists());
    log.delete().unwrap();
    assert!(!path.exists());
}

#[test]
fn stray_tmp_files_removed_and_foreign_files_ignored() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("leader-epoch-checkpoint.tmp"), "junk").unwrap();
    fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert!(!dir.path().join("leader-epoch-checkpoint.tmp").exists());
    assert_eq!(log.segment_count(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_appends_read_back_and_reopen(
        appends in prop::collection::vec((1usize..5, 0usize..200, 1usize..3), 1..40),
        segment_bytes in 100u64..3_000,
        index_interval in 0u64..600,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes, index_interval_bytes: index_interval, ..LogConfig::default() };
        let mut log = PartitionLog::open(dir.path(), config.clone()).unwrap();
        let mut expected = Vec::new();
        let mut ts = 0;
        for (records, size, nbatches) in appends {
            let mut bytes = Vec::new();
            for _ in 0..nbatches {
                bytes.extend(batch(records, ts, size));
                ts += 1;
            }
            let info = log.append(&bytes, 0, None).unwrap();
            let mut base = info.base_offset;
            for _ in 0..nbatches {
                expected.push((base, base + records as i64 - 1));
                base += records as i64;
            }
            prop_assert_eq!(base - 1, info.last_offset);
        }
        let check = |log: &PartitionLog| -> Result<(), TestCaseError> {
            for &(base, last) in &expected {
                for off in base..=last {
                    let r = log.read(off, 1, i64::MAX, true).unwrap();
                    prop_assert_eq!(batches(&r.records), vec![(base, last)]);
                }
            }
            Ok(())
        };
        check(&log)?;
        let end = log.log_end_offset();
        prop_assert_eq!(end, expected.last().unwrap().1 + 1);
        drop(log);
        let log = PartitionLog::open(dir.path(), config).unwrap();
        prop_assert_eq!(log.log_end_offset(), end);
        check(&log)?;
    }
}

#[test]
fn a_new_log_creates_no_files_until_its_first_write() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("t-0");
    let mut log = PartitionLog::open(&dir, LogConfig::default()).unwrap();
    log.set_directory_marker("marker", b"id\n".to_vec());
    // Reads, lookups, flushes and retention of the empty log leave the disk alone.
    assert!(!log.has_directory());
    assert!(log.read(0, 1024, 0, true).unwrap().records.is_empty());
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), None);
    log.flush().unwrap();
    assert_eq!(log.enforce_retention(i64::MAX).unwrap(), 0);
    assert_eq!(log.delete_records_before(0).unwrap(), 0);
    assert!(!dir.exists());
    // The first append creates the directory, the marker and the segment's files.
    log.append(&batch(2, 1_000, 10), 0, None).unwrap();
    assert!(log.has_directory());
    assert_eq!(fs::read(dir.join("marker")).unwrap(), b"id\n");
    for ext in ["log", "index", "timeindex"] {
        assert!(dir.join(format!("{:020}.{ext}", 0)).exists(), "{ext}");
    }
    drop(log);
    let log = PartitionLog::open(&dir, LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(
        batches(&log.read(0, 1 << 20, 2, true).unwrap().records),
        vec![(0, 1)]
    );
}

#[test]
fn a_durable_log_creates_its_directory_on_first_write_too() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("t-1");
    let config = LogConfig {
        flush: FlushPolicy::EveryAppend,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(&dir, config).unwrap();
    log.set_directory_marker("marker", b"id\n".to_vec());
    log.append(&batch(1, 1_000, 10), 0, None).unwrap();
    assert_eq!(fs::read(dir.join("marker")).unwrap(), b"id\n");
    assert!(!dir.join("marker.tmp").exists());
    assert_eq!(segment_files(&dir).len(), 1);
}

#[test]
fn a_retired_log_never_creates_its_directory() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("t-2");
    let mut log = PartitionLog::open(&dir, LogConfig::default()).unwrap();
    log.retire();
    assert!(log.append(&batch(1, 1_000, 10), 0, None).is_err());
    assert!(!dir.exists());
    assert_eq!(log.log_end_offset(), 0);
    // Deleting a log that never had a directory succeeds.
    log.delete().unwrap();
}

/// The bytes of a fetch read, whether it came as bytes or as a region of a segment file.
fn fetch_bytes(records: &FetchRecords) -> Vec<u8> {
    match records {
        FetchRecords::Bytes(b) => b.to_vec(),
        FetchRecords::File(region) => {
            let mut buf = vec![0u8; region.len as usize];
            region.file.read_exact_at(&mut buf, region.pos).unwrap();
            buf
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// A fetch read returns exactly the batches `read` returns, whichever form it takes.
    #[test]
    fn fetch_reads_return_what_read_returns(
        appends in prop::collection::vec((1usize..4, prop_oneof![0usize..300, 5_000usize..40_000]), 1..30),
        segment_bytes in 50_000u64..400_000,
        reads in prop::collection::vec((0.0f64..1.0, 0usize..300_000, 0.0f64..1.2, any::<bool>()), 1..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), small_config(segment_bytes)).unwrap();
        for (i, (records, size)) in appends.iter().enumerate() {
            log.append(&batch(*records, i as i64, *size), 0, None).unwrap();
        }
        let end = log.log_end_offset();
        for (at, max_bytes, bound, min_one) in reads {
            let offset = (at * end as f64) as i64;
            let upper_bound = (bound * end as f64) as i64;
            let plain = log.read(offset, max_bytes, upper_bound, min_one).unwrap();
            let fetch = log.read_for_fetch(offset, max_bytes, upper_bound, min_one).unwrap();
            prop_assert_eq!(fetch_bytes(&fetch.records), plain.records.to_vec());
            prop_assert_eq!(fetch.last_offset, batches(&plain.records).last().map(|b| b.1));
            prop_assert_eq!(fetch.log_start_offset, plain.log_start_offset);
            if let FetchRecords::File(region) = &fetch.records {
                prop_assert!(region.len >= FILE_REGION_MIN_BYTES as u64);
            }
        }
    }
}

#[test]
fn large_fetch_reads_are_file_regions_and_outlive_their_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config(200_000)).unwrap();
    for i in 0..8 {
        log.append(&batch(2, i, 30_000), 0, None).unwrap();
    }
    let fetch = log.read_for_fetch(0, 1 << 20, i64::MAX, true).unwrap();
    let FetchRecords::File(region) = &fetch.records else {
        panic!("a 180 KB read should be a file region: {:?}", fetch.records);
    };
    let before = fetch_bytes(&fetch.records);
    let plain = log.read(0, 1 << 20, i64::MAX, true).unwrap();
    assert_eq!(before, plain.records.to_vec());
    assert_eq!(batches(&before), vec![(0, 1), (2, 3), (4, 5)]);
    assert_eq!(fetch.last_offset, Some(5));
    // DeleteRecords deletes the segment; the region still reads the same bytes.
    let first = segment_files(dir.path())[0].clone();
    assert_eq!(log.delete_records_before(14).unwrap(), 14);
    assert!(!first.exists(), "the first segment was deleted");
    assert_eq!(fetch_bytes(&FetchRecords::File(region.clone())), before);
    // Reads of a few bytes, and of many small batches, come as bytes.
    let small = log.read_for_fetch(14, 1 << 20, i64::MAX, true).unwrap();
    assert!(matches!(small.records, FetchRecords::Bytes(_)));
    let mut many = PartitionLog::open(&dir.path().join("many"), small_config(1 << 30)).unwrap();
    for i in 0..2_000 {
        many.append(&batch(1, i, 100), 0, None).unwrap();
    }
    let read = many.read_for_fetch(0, 1 << 20, i64::MAX, true).unwrap();
    assert!(
        matches!(read.records, FetchRecords::Bytes(_)),
        "walking 2,000 headers costs more than reading them"
    );
    assert_eq!(batches(&fetch_bytes(&read.records)).len(), 2_000);
    assert_eq!(read.last_offset, Some(1_999));
}
