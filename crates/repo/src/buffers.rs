//! Buffers handed from one chunk to the next.
//!
//! A backup fills a fresh buffer for every chunk (about 512 KiB of rows)
//! and another for every encrypted record. Blocks that large are mappings
//! of their own (the `tresor` binary fixes glibc's mmap threshold at
//! 128 KiB so that freed memory goes back to the system), so every page of
//! every buffer faulted in anew and every free unmapped it again,
//! interrupting the other threads to flush their TLBs. Buffers given back
//! here serve the next chunk instead.
//!
//! The pool keeps at most [`KEEP`] buffers of at most [`MAX_KEPT`] bytes
//! each, so what it holds is bounded by a constant (32 MiB at the very
//! most, a few MiB in a typical backup), whatever the database's size.

use std::sync::Mutex;

/// Buffers kept for reuse.
const KEEP: usize = 16;

/// Larger buffers are freed, not kept: a chunk is at most 2 MiB by
/// default, a single huge row could make one far larger.
const MAX_KEPT: usize = 2 << 20;

/// Kept buffers.
struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
}

static POOL: Pool = Pool::new();

impl Pool {
    const fn new() -> Self {
        Pool {
            free: Mutex::new(Vec::new()),
        }
    }

    fn take(&self, capacity: usize) -> Vec<u8> {
        let kept = {
            let mut free = self
                .free
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let fit = free
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= capacity)
                .min_by_key(|(_, b)| b.capacity())
                .or_else(|| free.iter().enumerate().max_by_key(|(_, b)| b.capacity()))
                .map(|(i, _)| i);
            fit.map(|i| free.swap_remove(i))
        };
        match kept {
            Some(mut buf) => {
                buf.clear();
                buf.reserve(capacity);
                buf
            }
            None => Vec::with_capacity(capacity),
        }
    }

    fn give(&self, buf: Vec<u8>) {
        if !(64 << 10..=MAX_KEPT).contains(&buf.capacity()) {
            return;
        }
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if free.len() < KEEP {
            free.push(buf);
        }
    }
}

/// An empty buffer with room for at least `capacity` bytes: a kept one
/// when there is one (the smallest that is large enough, else the largest),
/// otherwise a new one.
pub fn take_buffer(capacity: usize) -> Vec<u8> {
    POOL.take(capacity)
}

/// Gives a buffer back for [`take_buffer`] to hand out again; small,
/// huge or surplus buffers are simply freed.
pub fn give_buffer(buf: Vec<u8>) {
    POOL.give(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_fitting_buffer_comes_back_empty() {
        let pool = Pool::new();
        let mut small = pool.take(100 << 10);
        let mut large = pool.take(1 << 20);
        small.extend_from_slice(&[7; 1000]);
        large.extend_from_slice(&[8; 1000]);
        let small_ptr = small.as_ptr();
        pool.give(large);
        pool.give(small);
        let b = pool.take(90 << 10);
        assert_eq!(b.as_ptr(), small_ptr, "the smallest that fits");
        assert!(b.is_empty());
        // none fits: the largest, grown
        let c = pool.take(3 << 20);
        assert!(c.is_empty() && c.capacity() >= 3 << 20);
        assert_eq!(pool.take(1).capacity(), 1, "the pool is empty now");
    }

    #[test]
    fn the_pool_is_bounded() {
        let pool = Pool::new();
        pool.give(Vec::with_capacity(MAX_KEPT + 1));
        pool.give(Vec::with_capacity(100));
        assert!(
            pool.free
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
        );
        for _ in 0..KEEP + 5 {
            pool.give(Vec::with_capacity(128 << 10));
        }
        assert_eq!(
            pool.free.lock().unwrap_or_else(|e| e.into_inner()).len(),
            KEEP
        );
    }
}
