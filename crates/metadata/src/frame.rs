//! On-disk record framing: `[len: u32 LE][crc32c(payload): u32 LE][payload]`.
//!
//! Used by every metadata file, so a torn or garbled write is always detected the same way.

/// Bytes before the payload: length and checksum.
pub(crate) const HEADER_LEN: usize = 8;
/// Larger lengths are treated as garbage; no metadata record comes close.
pub(crate) const MAX_PAYLOAD: usize = 256 << 20;

/// Appends one framed record holding `payload` to `out`.
pub(crate) fn encode(payload: &[u8], out: &mut Vec<u8>) {
    // Records are far below MAX_PAYLOAD (< 4 GiB), so the cast cannot truncate.
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Result of scanning a buffer of framed records.
#[derive(Debug)]
pub(crate) struct Scan<'a> {
    /// `(offset of the frame, payload)` for every valid frame, in order.
    pub frames: Vec<(usize, &'a [u8])>,
    /// Length of the valid prefix; everything after it is a torn or damaged tail.
    pub valid_len: usize,
    /// Why scanning stopped before the end of the buffer, if it did.
    pub torn: Option<&'static str>,
}

/// Splits `buf` into frames, stopping at the first incomplete or checksum-failing frame.
pub(crate) fn scan(buf: &[u8]) -> Scan<'_> {
    let mut frames = Vec::new();
    let mut pos = 0;
    let torn = loop {
        let rest = &buf[pos..];
        if rest.is_empty() {
            break None;
        }
        if rest.len() < HEADER_LEN {
            break Some("incomplete header");
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len > MAX_PAYLOAD {
            break Some("implausible length");
        }
        let Some(payload) = rest.get(HEADER_LEN..HEADER_LEN + len) else {
            break Some("incomplete payload");
        };
        if crc32c::crc32c(payload) != crc {
            break Some("checksum mismatch");
        }
        frames.push((pos, payload));
        pos += HEADER_LEN + len;
    };
    Scan {
        frames,
        valid_len: pos,
        torn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_torn_tails() {
        let mut buf = Vec::new();
        encode(b"hello", &mut buf);
        encode(b"", &mut buf);
        encode(b"world", &mut buf);
        let s = scan(&buf);
        assert!(s.torn.is_none());
        assert_eq!(s.valid_len, buf.len());
        let payloads: Vec<&[u8]> = s.frames.iter().map(|f| f.1).collect();
        assert_eq!(payloads, vec![&b"hello"[..], b"", b"world"]);

        // Every strict prefix that cuts the last frame keeps exactly the first two.
        let second_end = s.frames[2].0;
        for cut in second_end + 1..buf.len() {
            let s = scan(&buf[..cut]);
            assert_eq!(s.frames.len(), 2, "cut at {cut}");
            assert_eq!(s.valid_len, second_end);
            assert!(s.torn.is_some());
        }

        // A flipped payload byte is detected.
        let mut bad = buf.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert_eq!(scan(&bad).torn, Some("checksum mismatch"));

        // Garbage with a huge length is detected.
        let mut junk = buf.clone();
        junk.extend_from_slice(&[0xff; 12]);
        let s = scan(&junk);
        assert_eq!(s.valid_len, buf.len());
        assert_eq!(s.torn, Some("implausible length"));
    }

    proptest::proptest! {
        /// Any cut of a framed file keeps exactly the frames that end before the cut, and
        /// any bytes after them (a torn or garbled tail) never panic and never add a frame.
        #[test]
        fn a_cut_keeps_the_whole_frames_before_it(
            payloads in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..64), 0..12),
            cut_fraction in 0.0f64..=1.0,
            garbage in proptest::collection::vec(proptest::num::u8::ANY, 0..32),
        ) {
            let mut buf = Vec::new();
            let mut ends = Vec::new();
            for p in &payloads {
                encode(p, &mut buf);
                ends.push(buf.len());
            }
            let cut = (buf.len() as f64 * cut_fraction) as usize;
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            let mut damaged = buf[..cut].to_vec();
            damaged.extend_from_slice(&garbage);
            let s = scan(&damaged);
            // Garbage may happen to frame validly only if it carries a matching CRC; the
            // prefix of real frames is always kept intact.
            proptest::prop_assert!(s.frames.len() >= whole);
            for (i, p) in payloads.iter().take(whole).enumerate() {
                proptest::prop_assert_eq!(s.frames[i].1, &p[..]);
            }
            proptest::prop_assert!(s.valid_len <= damaged.len());
            let s = scan(&buf[..cut]);
            proptest::prop_assert_eq!(s.frames.len(), whole);
            proptest::prop_assert_eq!(s.torn.is_none(), cut == 0 || ends.contains(&cut));
        }
    }
}
