//! Reusable buffers for fetch reads.
//!
//! A fetch reads up to `max.partition.fetch.bytes` (1 MiB by default) per partition. A fresh
//! allocation of that size is served by the C allocator with `mmap` and given back with
//! `munmap` when the response has been sent, so every read paid for page faults and for the
//! kernel zeroing new pages: profiled on a consumer of 8 partitions, that was a fifth of the
//! broker's CPU, more than the read itself. Large read buffers are therefore kept here when the
//! last [`Bytes`] sharing them drops, and handed to the next read. What is kept is bounded
//! ([`MAX_KEPT_BYTES`]), so memory held for reuse does not grow with the data fetched.

use std::sync::Mutex;

use bytes::Bytes;

/// Reads smaller than this use plain allocations (the allocator's heap serves them cheaply).
const MIN_POOLED: usize = 64 * 1024;
/// Buffers larger than this are not kept (a rare oversized batch should not pin memory).
const MAX_POOLED: usize = 8 * 1024 * 1024;
/// Pooled buffers are sized in steps of this, so that reads of similar sizes fit each other's.
const STEP: usize = 256 * 1024;
/// At most this much buffer capacity is kept for reuse, all buffers together.
pub const MAX_KEPT_BYTES: usize = 16 * 1024 * 1024;

/// Buffers kept for reuse. The process has one ([`POOL`]); tests make their own.
struct Pool {
    kept: Mutex<Vec<Vec<u8>>>,
}

static POOL: Pool = Pool::new();

impl Pool {
    const fn new() -> Self {
        Pool {
            kept: Mutex::new(Vec::new()),
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // The pool holds plain buffers: a panic elsewhere cannot leave it inconsistent.
        self.kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An empty buffer with room for at least `len` bytes: a kept one if one is big enough.
    fn take(&self, len: usize) -> Vec<u8> {
        if !poolable(len) {
            return Vec::with_capacity(len);
        }
        {
            let mut kept = self.kept();
            if let Some(i) = kept.iter().position(|b| b.capacity() >= len) {
                let mut buf = kept.swap_remove(i);
                buf.clear();
                return buf;
            }
        }
        Vec::with_capacity(len.div_ceil(STEP).saturating_mul(STEP).min(MAX_POOLED))
    }

    /// Keeps `buf` for reuse if it is of a poolable size and the bound allows.
    fn give_back(&self, buf: Vec<u8>) {
        if !poolable(buf.capacity()) {
            return;
        }
        let mut kept = self.kept();
        let held: usize = kept.iter().map(Vec::capacity).sum();
        if held + buf.capacity() <= MAX_KEPT_BYTES {
            kept.push(buf);
        }
    }

    #[cfg(test)]
    fn kept_bytes(&self) -> usize {
        self.kept().iter().map(Vec::capacity).sum()
    }

    /// The bytes of `buf`, which comes back here once no [`Bytes`] shares it any more.
    fn share(&'static self, buf: Vec<u8>) -> Bytes {
        if poolable(buf.capacity()) {
            Bytes::from_owner(Returning { buf, pool: self })
        } else {
            Bytes::from(buf)
        }
    }
}

fn poolable(capacity: usize) -> bool {
    (MIN_POOLED..=MAX_POOLED).contains(&capacity)
}

/// A buffer that goes back to its pool when dropped.
struct Returning {
    buf: Vec<u8>,
    pool: &'static Pool,
}

impl AsRef<[u8]> for Returning {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

/// An empty buffer for a read of `len` bytes (a kept one when one fits).
pub(crate) fn take(len: usize) -> Vec<u8> {
    POOL.take(len)
}

/// The bytes of a buffer from [`take`]; it is kept for reuse once no [`Bytes`] shares it.
pub(crate) fn into_bytes(buf: Vec<u8>) -> Bytes {
    POOL.share(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> &'static Pool {
        Box::leak(Box::new(Pool::new()))
    }

    #[test]
    fn a_large_buffer_comes_back_when_its_last_bytes_drops() {
        let pool = pool();
        let mut buf = pool.take(300 * 1024);
        assert_eq!(buf.capacity(), 512 * 1024, "rounded up to a step");
        buf.extend_from_slice(&[7u8; 1000]);
        let bytes = pool.share(buf);
        let shared = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(pool.kept_bytes(), 0, "a slice still shares it");
        assert_eq!(&shared[..], &[7u8; 10][..]);
        drop(shared);
        assert_eq!(pool.kept_bytes(), 512 * 1024);
        let again = pool.take(400 * 1024);
        assert!(again.is_empty());
        assert_eq!(again.capacity(), 512 * 1024);
        assert_eq!(pool.kept_bytes(), 0);
    }

    #[test]
    fn small_and_huge_buffers_are_not_kept() {
        let pool = pool();
        drop(pool.share(pool.take(100)));
        drop(pool.share(pool.take(MAX_POOLED + 1)));
        assert_eq!(pool.kept_bytes(), 0);
    }

    #[test]
    fn what_is_kept_stays_bounded() {
        let pool = pool();
        let many: Vec<Bytes> = (0..40)
            .map(|_| pool.share(pool.take(1024 * 1024)))
            .collect();
        drop(many);
        assert_eq!(pool.kept_bytes(), MAX_KEPT_BYTES);
    }
}
