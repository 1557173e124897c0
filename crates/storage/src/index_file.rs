//! A file of fixed-size index entries mirrored in memory: lookups use the `Vec`, the file only
//! makes reopening a closed segment cheap (it can always be rebuilt from the `.log`).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// One fixed-size, big-endian encoded entry of an index file.
pub(crate) trait IndexEntry: Copy {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Decodes one entry from exactly `SIZE` bytes.
    fn decode(buf: &[u8]) -> Option<Self>;
}

/// An index file plus its entries in memory; new entries are written in one go per append.
/// The file may not exist yet ([`IndexFile::pending`]): it is created with its segment's files.
pub(crate) struct IndexFile<E> {
    path: PathBuf,
    /// `None` until the file is created (a new, empty segment's index).
    file: Option<File>,
    entries: Vec<E>,
    /// Entries `..written` are in the file.
    written: usize,
}

/// Opens `path` for reading and writing as a new, empty file (truncating a leftover): how the
/// files of a new segment are made.
pub(crate) fn create_truncated(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

impl<E: IndexEntry> IndexFile<E> {
    /// Creates (or truncates) the file so that it holds exactly `entries`.
    pub(crate) fn create(path: &Path, entries: Vec<E>) -> io::Result<Self> {
        let mut index = Self {
            path: path.to_path_buf(),
            file: None,
            entries,
            written: 0,
        };
        index.create_file()?;
        Ok(index)
    }

    /// An empty index whose file is not created yet (see [`IndexFile::create_file`]).
    pub(crate) fn pending(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            file: None,
            entries: Vec::new(),
            written: 0,
        }
    }

    /// Creates (or truncates) the file if this index has none yet and writes every entry into
    /// it; a no-op once the file exists.
    pub(crate) fn create_file(&mut self) -> io::Result<()> {
        if self.file.is_some() {
            return Ok(());
        }
        self.file = Some(create_truncated(&self.path)?);
        self.written = 0;
        self.write_pending()
    }

    /// Loads an existing file; `None` if it is missing or not a whole number of entries.
    pub(crate) fn load(path: &Path) -> io::Result<Option<Self>> {
        let mut file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        if buf.len() % E::SIZE != 0 {
            return Ok(None);
        }
        let mut entries = Vec::with_capacity(buf.len() / E::SIZE);
        for chunk in buf.chunks_exact(E::SIZE) {
            match E::decode(chunk) {
                Some(e) => entries.push(e),
                None => return Ok(None),
            }
        }
        let written = entries.len();
        Ok(Some(Self {
            path: path.to_path_buf(),
            file: Some(file),
            entries,
            written,
        }))
    }

    /// All entries, in file order.
    pub(crate) fn entries(&self) -> &[E] {
        &self.entries
    }

    /// The newest entry.
    pub(crate) fn last(&self) -> Option<&E> {
        self.entries.last()
    }

    /// Adds an entry in memory; `write_pending` puts it in the file.
    pub(crate) fn push(&mut self, entry: E) {
        self.entries.push(entry);
    }

    /// Writes entries not yet in the file with one `write`; on failure the file is cut back to
    /// its last whole state so a later retry cannot leave a misaligned entry.
    pub(crate) fn write_pending(&mut self) -> io::Result<()> {
        let pending = self.entries.get(self.written..).unwrap_or(&[]);
        if pending.is_empty() {
            return Ok(());
        }
        let Some(file) = self.file.as_mut() else {
            return self.create_file();
        };
        let mut buf = Vec::with_capacity(pending.len() * E::SIZE);
        for e in pending {
            e.encode(&mut buf);
        }
        if let Err(err) = file.write_all(&buf) {
            let good = (self.written * E::SIZE) as u64;
            let _ = file.set_len(good);
            let _ = file.seek(SeekFrom::Start(good));
            return Err(err);
        }
        self.written = self.entries.len();
        Ok(())
    }

    /// fsyncs the file (nothing to do while it does not exist).
    pub(crate) fn sync(&self) -> io::Result<()> {
        match &self.file {
            Some(file) => file.sync_data(),
            None => Ok(()),
        }
    }

    /// Path of the file (for deletion).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::OffsetEntry;

    #[test]
    fn create_push_load() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.index");
        let mut f = IndexFile::create(&p, vec![OffsetEntry { rel: 1, pos: 10 }]).unwrap();
        f.push(OffsetEntry { rel: 5, pos: 99 });
        f.push(OffsetEntry { rel: 9, pos: 200 });
        f.write_pending().unwrap();
        drop(f);
        let g = IndexFile::<OffsetEntry>::load(&p).unwrap().unwrap();
        assert_eq!(g.entries().len(), 3);
        assert_eq!(*g.last().unwrap(), OffsetEntry { rel: 9, pos: 200 });
        std::fs::write(&p, [0u8; 5]).unwrap();
        assert!(IndexFile::<OffsetEntry>::load(&p).unwrap().is_none());
        assert!(IndexFile::<OffsetEntry>::load(&dir.path().join("missing"))
            .unwrap()
            .is_none());
    }
}
