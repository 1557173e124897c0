//! Sequential validation of a segment file for recovery: walks batches, checks each (parse,
//! CRC-32C, offsets increasing) and reports where the valid prefix ends and why it stopped.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;

use weir_protocol::record_batch::{RecordBatchView, LOG_OVERHEAD};

use crate::header::BatchMeta;

/// Where a scan stopped.
#[derive(Debug)]
pub(crate) struct ScanEnd {
    /// End of the last good batch.
    pub(crate) valid_end: u64,
    /// Why bytes after `valid_end` were not accepted (`None` if the scan reached `end`).
    pub(crate) problem: Option<String>,
}

/// `Read` over a file through positional reads, so scanning never moves the write cursor.
struct PosReader<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for PosReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Walks batches in `file[start..end]`, calling `on_batch(position, meta)` for each valid one.
/// A batch is valid when it is complete, parses, its CRC matches and its base offset is at
/// least `min_offset` / past the previous batch.
pub(crate) fn scan_batches(
    file: &File,
    start: u64,
    end: u64,
    min_offset: i64,
    mut on_batch: impl FnMut(u64, &BatchMeta),
) -> io::Result<ScanEnd> {
    let mut reader = BufReader::with_capacity(256 * 1024, PosReader { file, pos: start });
    let mut pos = start;
    let mut next_min = min_offset;
    let mut buf = Vec::new();
    let stop = |pos: u64, why: String| {
        Ok(ScanEnd {
            valid_end: pos,
            problem: Some(why),
        })
    };
    while pos < end {
        let remaining = end - pos;
        if remaining < LOG_OVERHEAD as u64 {
            return stop(pos, format!("{remaining} trailing bytes at {pos}"));
        }
        buf.resize(LOG_OVERHEAD, 0);
        reader.read_exact(&mut buf)?;
        let length = buf
            .get(8..12)
            .and_then(|b| b.try_into().ok())
            .map_or(-1, i32::from_be_bytes);
        let total = match u64::try_from(length) {
            Ok(l) => l + LOG_OVERHEAD as u64,
            Err(_) => return stop(pos, format!("negative batch length {length} at {pos}")),
        };
        if total > remaining {
            return stop(
                pos,
                format!("torn batch at {pos}: {total} bytes, {remaining} left"),
            );
        }
        // total <= remaining <= file size, so this allocation is bounded by the file.
        buf.resize(total as usize, 0);
        reader.read_exact(buf.get_mut(LOG_OVERHEAD..).unwrap_or(&mut []))?;
        let view = match RecordBatchView::parse(&buf) {
            Ok(v) => v,
            Err(e) => return stop(pos, format!("bad batch at {pos}: {e}")),
        };
        if let Err(e) = view.verify_crc() {
            return stop(pos, format!("bad batch at {pos}: {e}"));
        }
        let meta = BatchMeta::of(&view);
        if meta.base_offset < next_min {
            return stop(
                pos,
                format!(
                    "offset {} at {pos} below expected {next_min}",
                    meta.base_offset
                ),
            );
        }
        on_batch(pos, &meta);
        next_min = meta.last_offset.saturating_add(1);
        pos += total;
    }
    Ok(ScanEnd {
        valid_end: pos,
        problem: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use weir_protocol::record_batch::build_test_batch;

    #[test]
    fn stops_at_torn_and_corrupt_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        let a = build_test_batch(0, &[(None, Some(b"a"), 1)]);
        let b = build_test_batch(1, &[(None, Some(b"b"), 2), (None, Some(b"c"), 3)]);
        let mut f = File::create(&path).unwrap();
        f.write_all(&a).unwrap();
        f.write_all(&b).unwrap();
        f.write_all(&b[..30]).unwrap();
        drop(f);
        let f = File::open(&path).unwrap();
        let len = f.metadata().unwrap().len();
        let mut seen = Vec::new();
        let end = scan_batches(&f, 0, len, 0, |p, m| seen.push((p, m.base_offset))).unwrap();
        assert_eq!(seen, vec![(0, 0), (a.len() as u64, 1)]);
        assert_eq!(end.valid_end, (a.len() + b.len()) as u64);
        assert!(end.problem.is_some());

        // Offsets going backwards are corruption too.
        let end = scan_batches(&f, a.len() as u64, len, 5, |_, _| {}).unwrap();
        assert_eq!(end.valid_end, a.len() as u64);

        // A flipped byte breaks the CRC.
        let mut c = a.clone();
        let last = c.len() - 1;
        c[last] ^= 0xff;
        std::fs::write(&path, &c).unwrap();
        let f = File::open(&path).unwrap();
        let end = scan_batches(&f, 0, c.len() as u64, 0, |_, _| {}).unwrap();
        assert_eq!(end.valid_end, 0);
        assert!(end.problem.unwrap().contains("crc"));
    }
}
