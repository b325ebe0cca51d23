//! Content-defined chunking at row boundaries.
//!
//! A chunk ends after a row when the chunk is at least `min_size` bytes and
//! the row's hash falls under a threshold proportional to the row's length,
//! or when it reaches `max_size`. Because the decision depends only on the
//! row itself, an inserted or deleted row moves at most the boundaries next
//! to it: the chunks before and after stay byte-identical and deduplicate.

use tresor_repo::ChunkerParams;

/// Decides where chunks end.
#[derive(Clone, Copy, Debug)]
pub struct Chunker {
    min: usize,
    max: usize,
    /// Expected bytes between `min` and a content-defined cut.
    spread: u128,
}

impl Chunker {
    /// A chunker with the repository's parameters.
    pub fn new(params: ChunkerParams) -> Self {
        let min = params.min_size as usize;
        let max = (params.max_size as usize).max(min + 1);
        let avg = (params.avg_size as usize).clamp(min + 1, max);
        Chunker {
            min,
            max,
            spread: (avg - min) as u128,
        }
    }

    /// Bytes a chunk usually grows to: room to build one in.
    pub fn expected_size(&self) -> usize {
        self.min + self.spread as usize
    }

    /// Whether the chunk, now `chunk_len` bytes long, ends after the row
    /// whose encoding is `row`.
    #[cfg(test)]
    pub fn is_boundary(&self, chunk_len: usize, row: &[u8]) -> bool {
        self.is_boundary_digest(chunk_len, row.len(), &crate::cache::row_digest(row))
    }

    /// Whether the chunk ends after a row of `row_len` bytes whose
    /// [`row_digest`](crate::cache::row_digest) is already known: the
    /// decision uses the digest's first 8 bytes (the first 8 bytes of the
    /// row's BLAKE3 hash), so every row is hashed only once.
    pub fn is_boundary_digest(&self, chunk_len: usize, row_len: usize, digest: &[u8; 16]) -> bool {
        if chunk_len >= self.max {
            return true;
        }
        if chunk_len < self.min {
            return false;
        }
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        let h = u64::from_le_bytes(first) as u128;
        // P(cut) = row_len / spread, so cuts come on average `spread` bytes
        // past `min`, whatever the row size.
        h * self.spread < (row_len as u128) << 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tresor_core::{Value, codec::ChunkBuilder};

    fn cut(rows: &[Vec<Value>], chunker: &Chunker) -> Vec<Vec<u8>> {
        let mut b = ChunkBuilder::new();
        let mut out = Vec::new();
        for r in rows {
            let enc = b.push(r).to_vec();
            if chunker.is_boundary(b.len(), &enc) {
                out.push(b.take().0);
            }
        }
        if !b.is_empty() {
            out.push(b.take().0);
        }
        out
    }

    fn rows(n: i64) -> Vec<Vec<Value>> {
        (0..n)
            .map(|i| {
                vec![
                    Value::Int(i),
                    Value::Text(format!("row number {i} with some padding text")),
                ]
            })
            .collect()
    }

    #[test]
    fn average_size_is_near_target() {
        let c = Chunker::new(ChunkerParams {
            min_size: 4096,
            avg_size: 16384,
            max_size: 65536,
        });
        let chunks = cut(&rows(200_000), &c);
        let total: usize = chunks.iter().map(Vec::len).sum();
        let avg = total / chunks.len();
        assert!((10_000..26_000).contains(&avg), "average chunk {avg} bytes");
        assert!(chunks.iter().all(|ch| ch.len() <= 65536 + 100));
    }

    #[test]
    fn an_insert_disturbs_only_nearby_chunks() {
        let c = Chunker::new(ChunkerParams {
            min_size: 2048,
            avg_size: 8192,
            max_size: 32768,
        });
        let before = rows(50_000);
        let mut after = before.clone();
        after.insert(25_000, vec![Value::Int(-1), Value::Text("new".into())]);
        let a = cut(&before, &c);
        let b = cut(&after, &c);
        let set: std::collections::HashSet<_> = a.iter().collect();
        let changed = b.iter().filter(|ch| !set.contains(ch)).count();
        assert!(changed <= 2, "{changed} of {} chunks changed", b.len());
    }
}
