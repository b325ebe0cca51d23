//! The column-major layout of a chunk, used where a chunk is stored.
//!
//! A chunk is a sequence of framed rows (`varint(len) || varint(columns) ||
//! value*`). Stored column by column instead, the values of one column sit
//! next to each other: ids beside ids, timestamps beside timestamps, JSON
//! beside JSON. zstd finds far more matches in that order (about a tenth
//! fewer bytes on typical tables) and runs faster on it, so it can work at a
//! lower level for the same size.
//!
//! ```text
//! columns = varint(rows) || varint(cols) || varint(len(col_0)) .. varint(len(col_cols-1))
//!           || col_0 || .. || col_cols-1
//! col_c   = the value encodings of column c, row after row, unchanged
//! ```
//!
//! The transformation is exact: [`columns_to_rows`] gives back the chunk
//! byte for byte. Only chunks whose rows all have the same column count,
//! with minimal varints and no bytes after the last value, have this form
//! ([`rows_to_columns`] says `false` otherwise); the chunk is then stored as
//! it is.

use std::cell::RefCell;

use super::{CodecError, Reader, put_varint};

thread_local! {
    /// Each thread's value extents (start, length) of the chunk being
    /// rearranged, kept between chunks so the buffer is not faulted in anew
    /// every time.
    static SPANS: RefCell<Vec<(u32, u32)>> = const { RefCell::new(Vec::new()) };
}

/// Value extents kept for the next chunk: enough for a typical chunk; a
/// chunk of many tiny rows gets a buffer of its own, so a thread does not
/// keep megabytes.
const SPANS_KEEP: usize = 32 << 10;

/// Length of `v` as a varint.
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads a varint and checks that it is written in its shortest form, so
/// that writing the number again gives back the same bytes.
fn minimal_varint(r: &mut Reader<'_>) -> Option<u64> {
    let start = r.pos;
    let v = r.varint().ok()?;
    (r.pos - start == varint_len(v)).then_some(v)
}

/// Writes the chunk `chunk` in column-major layout to `out` (replacing what
/// it held) and returns true; returns false, with `out` in no particular
/// state, when the chunk has no such form (rows of different widths,
/// non-minimal varints, bytes that are not values) or would not get
/// shorter. `out` is a parameter so a caller can reuse one buffer.
pub fn rows_to_columns(chunk: &[u8], out: &mut Vec<u8>) -> bool {
    let done = columns_of(chunk, out).is_some();
    SPANS.with(|spans| {
        let mut spans = spans.borrow_mut();
        if spans.capacity() > SPANS_KEEP {
            *spans = Vec::new();
        }
    });
    done
}

fn columns_of(chunk: &[u8], out: &mut Vec<u8>) -> Option<()> {
    u32::try_from(chunk.len()).ok()?;
    SPANS.with(|spans| {
        let mut spans = spans.borrow_mut();
        spans.clear();
        let mut r = Reader::new(chunk);
        let mut width: Option<usize> = None;
        let mut col_bytes: Vec<usize> = Vec::new();
        let mut rows = 0u64;
        while !r.is_empty() {
            let len = usize::try_from(minimal_varint(&mut r)?).ok()?;
            let end = r.pos.checked_add(len).filter(|e| *e <= chunk.len())?;
            let cols = usize::try_from(minimal_varint(&mut r)?).ok()?;
            match width {
                None => {
                    if cols > len {
                        return None;
                    }
                    width = Some(cols);
                    col_bytes = vec![0; cols];
                }
                Some(w) if w != cols => return None,
                Some(_) => {}
            }
            for total in col_bytes.iter_mut() {
                let start = r.pos;
                r.skip_value(0).ok()?;
                if r.pos > end {
                    return None;
                }
                *total += r.pos - start;
                // the chunk is shorter than 4 GiB (checked above)
                spans.push((start as u32, (r.pos - start) as u32));
            }
            if r.pos != end {
                return None;
            }
            rows += 1;
        }
        let cols = width?;
        let header = varint_len(rows)
            + varint_len(cols as u64)
            + col_bytes
                .iter()
                .map(|n| varint_len(*n as u64))
                .sum::<usize>();
        let size = header + col_bytes.iter().sum::<usize>();
        if size > chunk.len() {
            return None;
        }
        out.clear();
        out.reserve(size);
        put_varint(out, rows);
        put_varint(out, cols as u64);
        for n in &col_bytes {
            put_varint(out, *n as u64);
        }
        for c in 0..cols {
            for &(start, len) in spans.iter().skip(c).step_by(cols) {
                let start = start as usize;
                out.extend_from_slice(&chunk[start..start + len as usize]);
            }
        }
        debug_assert_eq!(out.len(), size);
        Some(())
    })
}

/// The chunk of `raw_len` bytes that [`rows_to_columns`] turned into
/// `data`.
///
/// # Errors
/// A [`CodecError`] when `data` is not a column-major chunk of that size;
/// it never panics and never allocates more than `raw_len`.
pub fn columns_to_rows(data: &[u8], raw_len: usize) -> Result<Vec<u8>, CodecError> {
    // room is made once the column lengths have been checked
    let mut out = Vec::new();
    columns_to_rows_into(data, raw_len, &mut out)?;
    Ok(out)
}

/// [`columns_to_rows`] into `out`, replacing what it held, so a reader can
/// hand the same buffer from one chunk to the next.
///
/// # Errors
/// As [`columns_to_rows`].
pub fn columns_to_rows_into(
    data: &[u8],
    raw_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    out.clear();
    let mut r = Reader::new(data);
    let rows = r.varint()?;
    let cols = r.len()?;
    let mut lens = Vec::with_capacity(cols);
    for _ in 0..cols {
        lens.push(r.len()?);
    }
    let mut columns = Vec::with_capacity(cols);
    let mut rest = &data[r.pos..];
    for n in lens {
        if n > rest.len() {
            return Err(CodecError::Truncated);
        }
        let (col, tail) = rest.split_at(n);
        columns.push(Reader::new(col));
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(CodecError::BadLength);
    }
    // every row takes at least two bytes (its frame and its width)
    if rows > (raw_len / 2) as u64 {
        return Err(CodecError::BadLength);
    }
    let width_len = varint_len(cols as u64);
    out.reserve(raw_len);
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(cols);
    for _ in 0..rows {
        spans.clear();
        let mut body = width_len;
        for col in &mut columns {
            let start = col.pos;
            col.skip_value(0)?;
            spans.push((start, col.pos));
            body += col.pos - start;
        }
        if out.len() + varint_len(body as u64) + body > raw_len {
            return Err(CodecError::BadLength);
        }
        put_varint(out, body as u64);
        put_varint(out, cols as u64);
        for (col, &(start, end)) in columns.iter().zip(&spans) {
            out.extend_from_slice(&col.buf[start..end]);
        }
    }
    if out.len() != raw_len || columns.iter().any(|c| !c.is_empty()) {
        return Err(CodecError::BadLength);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;
    use crate::codec::ChunkBuilder;
    use crate::codec::tests::any_value;
    use proptest::prelude::*;

    fn columns(chunk: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![7; 3];
        rows_to_columns(chunk, &mut out).then_some(out)
    }

    fn chunk_of(rows: &[Vec<Value>]) -> Vec<u8> {
        let mut b = ChunkBuilder::new();
        for row in rows {
            b.push(row);
        }
        b.take().0
    }

    #[test]
    fn varint_lengths() {
        for (v, n) in [(0, 1), (1, 1), (127, 1), (128, 2), (16383, 2), (16384, 3)] {
            assert_eq!(varint_len(v), n, "{v}");
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), n);
        }
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn columns_sit_together() {
        let rows: Vec<Vec<Value>> = (0..3)
            .map(|i| vec![Value::Int(i), Value::Text(format!("t{i}"))])
            .collect();
        let chunk = chunk_of(&rows);
        let cols = columns(&chunk).expect("column form");
        // rows, width, two column lengths, then 3 ints, then 3 texts
        assert_eq!(&cols[..2], &[3, 2]);
        let ints = cols[2] as usize;
        assert_eq!(ints, 6);
        assert_eq!(&cols[4..4 + ints], &[3, 0, 3, 2, 3, 4]);
        assert_eq!(columns_to_rows(&cols, chunk.len()).expect("rows"), chunk);
    }

    #[test]
    fn chunks_without_a_column_form() {
        // rows of different widths
        let chunk = chunk_of(&[vec![Value::Int(1)], vec![Value::Int(1), Value::Null]]);
        assert_eq!(columns(&chunk), None);
        // a frame with a byte after the last value
        assert_eq!(columns(&[3, 1, 0, 0]), None);
        // a width written with a non-minimal varint
        assert_eq!(columns(&[3, 0x81, 0, 0]), None);
        // no rows, bytes that are not rows
        assert_eq!(columns(&[]), None);
        assert_eq!(columns(b"aaaaaaaaaa"), None);
    }

    #[test]
    fn wrong_sizes_are_errors() {
        let rows: Vec<Vec<Value>> = (0..10).map(|i| vec![Value::Int(i), Value::Null]).collect();
        let chunk = chunk_of(&rows);
        let cols = columns(&chunk).expect("column form");
        assert!(columns_to_rows(&cols, chunk.len() - 1).is_err());
        assert!(columns_to_rows(&cols, chunk.len() + 1).is_err());
        assert!(columns_to_rows(&cols[..cols.len() - 1], chunk.len()).is_err());
        // a claim of more rows than the size allows
        assert_eq!(
            columns_to_rows(&[0xff, 0xff, 0xff, 0x7f, 0], 100),
            Err(CodecError::BadLength)
        );
    }

    proptest! {
        #[test]
        fn column_round_trip(
            width in 0usize..6,
            rows in proptest::collection::vec(proptest::collection::vec(any_value(), 6), 1..40),
        ) {
            let rows: Vec<Vec<Value>> = rows.into_iter().map(|mut r| { r.truncate(width); r }).collect();
            let chunk = chunk_of(&rows);
            if let Some(cols) = columns(&chunk) {
                prop_assert!(cols.len() <= chunk.len());
                prop_assert_eq!(columns_to_rows(&cols, chunk.len()).expect("rows"), chunk);
            } else {
                // only a few rows can fail to get shorter: the header
                // (at most 2 + 3 bytes per column here) must cost more than
                // the 2 bytes per row the frames and widths take
                prop_assert!(rows.len() < 10, "{} rows of {} columns", rows.len(), width);
            }
        }

        #[test]
        fn columns_of_garbage_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            raw_len in 0usize..1024,
        ) {
            let _ = columns_to_rows(&bytes, raw_len);
            if let Some(cols) = columns(&bytes) {
                prop_assert_eq!(columns_to_rows(&cols, bytes.len()).expect("rows"), bytes);
            }
        }
    }
}
