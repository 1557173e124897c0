//! Record data that stays in a file until it is written to the socket.
//!
//! A large fetch answer is mostly record batches exactly as a segment file stores them. Rather
//! than reading them into memory and copying them into the socket, the connection hands the
//! file range to the kernel (`sendfile`), which sends the page-cache pages as they are.
//!
//! The answer is still built as a kafka-protocol message, whose record fields are `Bytes`. A
//! region therefore travels through the encoder as a *placeholder*: a `Bytes` of the region's
//! length that points into a zero-filled area no one reads, at a start address unique to the
//! region within its message. [`FileRegions`] hands out placeholders while the answer is built;
//! the [`ResponseBuf`](crate::response_buf::ResponseBuf) it is given to recognises each one by
//! its address when the encoder passes it on, and keeps the region in its place.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

/// Bytes of a file to be sent as they are. Holds the file open, so a file deleted or replaced
/// meanwhile (retention, compaction) is still read from.
#[derive(Clone, Debug)]
pub struct FileRegion {
    /// The file.
    pub file: Arc<File>,
    /// Position of the first byte.
    pub pos: u64,
    /// Number of bytes.
    pub len: u64,
}

impl FileRegion {
    /// Reads the region into memory: for a region that cannot be stood in for.
    pub fn read_all(&self) -> io::Result<Bytes> {
        let len = usize::try_from(self.len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "region too large"))?;
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, self.pos)?;
        Ok(Bytes::from(buf))
    }
}

/// Most regions one message can carry (one per partition at most).
pub const MAX_REGIONS: usize = 4096;
/// Longest region a placeholder can stand for.
pub const MAX_REGION_LEN: usize = 32 << 20;

/// The zero-filled area placeholders point into. Allocated zeroed once and never written or
/// read, so the allocator maps it without touching it: it costs address space, not memory.
fn placeholder_area() -> &'static [u8] {
    static AREA: OnceLock<Box<[u8]>> = OnceLock::new();
    AREA.get_or_init(|| vec![0u8; MAX_REGION_LEN + MAX_REGIONS].into_boxed_slice())
}

/// The file regions of one message being built, each stood in for by a placeholder.
#[derive(Debug, Default)]
pub struct FileRegions {
    regions: Vec<FileRegion>,
}

impl FileRegions {
    /// A placeholder for `region` to put where its bytes go in the message, or the region
    /// back if it is too long or the message has too many already (then read it instead).
    pub fn placeholder(&mut self, region: FileRegion) -> Result<Bytes, FileRegion> {
        let index = self.regions.len();
        let len = match usize::try_from(region.len) {
            Ok(len) if len > 0 && len <= MAX_REGION_LEN && index < MAX_REGIONS => len,
            _ => return Err(region),
        };
        self.regions.push(region);
        Ok(Bytes::from_static(&placeholder_area()[index..index + len]))
    }

    /// The regions, in the order their placeholders were handed out.
    pub(crate) fn into_vec(self) -> Vec<FileRegion> {
        self.regions
    }
}

/// Which region `bytes` stands for, if it is a placeholder.
pub(crate) fn placeholder_index(bytes: &[u8]) -> Option<usize> {
    let area = placeholder_area();
    let start = (bytes.as_ptr() as usize).checked_sub(area.as_ptr() as usize)?;
    (start < MAX_REGIONS && !bytes.is_empty()).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(len: u64) -> FileRegion {
        let file = tempfile::tempfile().unwrap();
        FileRegion {
            file: Arc::new(file),
            pos: 0,
            len,
        }
    }

    #[test]
    fn placeholders_are_told_apart_by_their_address() {
        let mut regions = FileRegions::default();
        let a = regions.placeholder(region(100)).unwrap();
        let b = regions.placeholder(region(100)).unwrap();
        assert_eq!((a.len(), b.len()), (100, 100));
        assert_eq!(placeholder_index(&a), Some(0));
        assert_eq!(placeholder_index(&b), Some(1));
        assert_eq!(placeholder_index(&Bytes::from(vec![0u8; 100])), None);
        assert_eq!(regions.into_vec().len(), 2);
    }

    #[test]
    fn empty_and_oversized_regions_get_no_placeholder() {
        let mut regions = FileRegions::default();
        assert!(regions.placeholder(region(0)).is_err());
        assert!(regions
            .placeholder(region(MAX_REGION_LEN as u64 + 1))
            .is_err());
        assert!(regions.into_vec().is_empty());
    }
}
