//! Diff of two row streams in key order: what a restore would insert,
//! update and delete, and what changed between two snapshots.
//!
//! Both sides arrive in the key order of [`crate::compare_keys`]; the diff
//! is a streaming merge-join, so it holds one batch per side in memory.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::source::{RowReceiver, SourceError};
use crate::value::{Row, compare_keys, rows_same};

/// Row counts of a diff from `old` to `new`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffCounts {
    /// Keys only in `new`.
    pub inserted: u64,
    /// Keys in both whose rows differ.
    pub updated: u64,
    /// Keys only in `old`.
    pub deleted: u64,
    /// Keys in both with identical rows.
    pub unchanged: u64,
}

/// Pulls rows one at a time out of a batched channel.
struct Cursor {
    rx: RowReceiver,
    batch: std::vec::IntoIter<Row>,
    current: Option<Row>,
}

impl Cursor {
    async fn new(rx: RowReceiver) -> Self {
        let mut c = Cursor {
            rx,
            batch: Vec::new().into_iter(),
            current: None,
        };
        c.advance().await;
        c
    }

    async fn advance(&mut self) {
        loop {
            if let Some(r) = self.batch.next() {
                self.current = Some(r);
                return;
            }
            match self.rx.recv().await {
                Some(b) => self.batch = b.into_iter(),
                None => {
                    self.current = None;
                    return;
                }
            }
        }
    }
}

fn key(row: &Row, positions: &[usize]) -> Vec<crate::Value> {
    positions
        .iter()
        .map(|&i| row.get(i).cloned().unwrap_or(crate::Value::Null))
        .collect()
}

/// One difference between two keyed row streams.
#[derive(Clone, Debug, PartialEq)]
pub enum RowChange {
    /// A row whose key only the new side has.
    Inserted(Row),
    /// A row whose key only the old side has.
    Deleted(Row),
    /// The same key with other values.
    Updated {
        /// The old row.
        old: Row,
        /// The new row.
        new: Row,
    },
}

impl RowChange {
    /// The row the change is about: the new one, or the deleted one.
    pub fn row(&self) -> &Row {
        match self {
            RowChange::Inserted(r) | RowChange::Deleted(r) | RowChange::Updated { new: r, .. } => r,
        }
    }
}

/// Diffs two keyed row streams. `key_positions` are the key columns'
/// positions in both sides' rows (same table layout).
///
/// # Errors
/// A side that is not in strictly increasing key order: the diff would be
/// wrong, so it stops instead.
pub async fn diff_keyed(
    old: RowReceiver,
    new: RowReceiver,
    key_positions: &[usize],
) -> Result<DiffCounts, SourceError> {
    diff_keyed_rows(old, new, key_positions, |_| {}).await
}

/// [`diff_keyed`], handing every change to `each` as it is found (in key
/// order), so a caller can stream changed rows without holding a table.
///
/// # Errors
/// As [`diff_keyed`].
pub async fn diff_keyed_rows(
    old: RowReceiver,
    new: RowReceiver,
    key_positions: &[usize],
    mut each: impl FnMut(RowChange),
) -> Result<DiffCounts, SourceError> {
    let mut counts = DiffCounts::default();
    let mut a = Cursor::new(old).await;
    let mut b = Cursor::new(new).await;
    let mut last_a: Option<Vec<crate::Value>> = None;
    let mut last_b: Option<Vec<crate::Value>> = None;
    let check =
        |last: &mut Option<Vec<crate::Value>>, k: &Vec<crate::Value>| -> Result<(), SourceError> {
            if let Some(prev) = last.as_ref()
                && compare_keys(prev, k) != Ordering::Less
            {
                return Err(SourceError::data(
                    "rows are not in key order; the diff cannot be computed",
                ));
            }
            *last = Some(k.clone());
            Ok(())
        };
    loop {
        match (&a.current, &b.current) {
            (None, None) => break,
            (Some(ra), None) => {
                counts.deleted += 1;
                each(RowChange::Deleted(ra.clone()));
                a.advance().await;
            }
            (None, Some(rb)) => {
                counts.inserted += 1;
                each(RowChange::Inserted(rb.clone()));
                b.advance().await;
            }
            (Some(ra), Some(rb)) => {
                let (ka, kb) = (key(ra, key_positions), key(rb, key_positions));
                match compare_keys(&ka, &kb) {
                    Ordering::Less => {
                        check(&mut last_a, &ka)?;
                        counts.deleted += 1;
                        each(RowChange::Deleted(ra.clone()));
                        a.advance().await;
                    }
                    Ordering::Greater => {
                        check(&mut last_b, &kb)?;
                        counts.inserted += 1;
                        each(RowChange::Inserted(rb.clone()));
                        b.advance().await;
                    }
                    Ordering::Equal => {
                        check(&mut last_a, &ka)?;
                        check(&mut last_b, &kb)?;
                        if rows_same(ra, rb) {
                            counts.unchanged += 1;
                        } else {
                            counts.updated += 1;
                            each(RowChange::Updated {
                                old: ra.clone(),
                                new: rb.clone(),
                            });
                        }
                        a.advance().await;
                        b.advance().await;
                    }
                }
            }
        }
    }
    Ok(counts)
}

/// Diffs two streams of a table without a key: rows are compared as a
/// multiset by their encoded bytes, so only insertions and deletions are
/// reported. Holds a hash of each `old` row (16 bytes per row) in memory.
pub async fn diff_unkeyed(
    mut old: RowReceiver,
    mut new: RowReceiver,
) -> Result<DiffCounts, SourceError> {
    use std::collections::HashMap;
    let mut seen: HashMap<[u8; 16], u64> = HashMap::new();
    let mut buf = Vec::new();
    let digest = |row: &Row, buf: &mut Vec<u8>| {
        buf.clear();
        crate::codec::encode_row(row, buf);
        let h = blake3::hash(buf);
        let mut d = [0u8; 16];
        d.copy_from_slice(&h.as_bytes()[..16]);
        d
    };
    let mut old_rows = 0u64;
    while let Some(batch) = old.recv().await {
        for r in &batch {
            *seen.entry(digest(r, &mut buf)).or_default() += 1;
            old_rows += 1;
        }
    }
    let mut counts = DiffCounts::default();
    while let Some(batch) = new.recv().await {
        for r in &batch {
            match seen.get_mut(&digest(r, &mut buf)) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    counts.unchanged += 1;
                }
                _ => counts.inserted += 1,
            }
        }
    }
    counts.deleted = old_rows - counts.unchanged;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;
    use tokio::sync::mpsc;

    async fn feed(rows: Vec<Row>) -> RowReceiver {
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            for chunk in rows.chunks(2) {
                if tx.send(chunk.to_vec()).await.is_err() {
                    return;
                }
            }
        });
        rx
    }

    fn r(k: i64, v: &str) -> Row {
        vec![Value::Int(k), Value::Text(v.into())]
    }

    #[tokio::test]
    async fn keyed_counts() {
        let old = feed(vec![r(1, "a"), r(2, "b"), r(3, "c"), r(5, "e")]).await;
        let new = feed(vec![r(2, "b"), r(3, "C"), r(4, "d"), r(5, "e"), r(6, "f")]).await;
        let c = diff_keyed(old, new, &[0]).await.expect("diff");
        assert_eq!(
            c,
            DiffCounts {
                inserted: 2,
                updated: 1,
                deleted: 1,
                unchanged: 2
            }
        );
    }

    #[tokio::test]
    async fn changes_stream_in_key_order() {
        let old = feed(vec![r(1, "a"), r(2, "b"), r(3, "c")]).await;
        let new = feed(vec![r(2, "B"), r(3, "c"), r(4, "d")]).await;
        let mut seen = Vec::new();
        let c = diff_keyed_rows(old, new, &[0], |ch| seen.push(ch))
            .await
            .expect("diff");
        assert_eq!(c.unchanged, 1);
        assert_eq!(
            seen,
            vec![
                RowChange::Deleted(r(1, "a")),
                RowChange::Updated {
                    old: r(2, "b"),
                    new: r(2, "B")
                },
                RowChange::Inserted(r(4, "d")),
            ]
        );
    }

    #[tokio::test]
    async fn unordered_input_is_refused() {
        let old = feed(vec![r(2, "a"), r(1, "b")]).await;
        let new = feed(vec![r(3, "x")]).await;
        assert!(diff_keyed(old, new, &[0]).await.is_err());
    }

    #[tokio::test]
    async fn unkeyed_counts_duplicates() {
        let old = feed(vec![r(1, "a"), r(1, "a"), r(2, "b")]).await;
        let new = feed(vec![r(1, "a"), r(3, "c")]).await;
        let c = diff_unkeyed(old, new).await.expect("diff");
        assert_eq!((c.inserted, c.deleted, c.unchanged), (1, 2, 1));
    }
}
