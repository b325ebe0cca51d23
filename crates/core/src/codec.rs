//! The binary row codec: how rows are laid out inside table-data chunks.
//!
//! A row is a varint column count followed by its values; a value is a tag
//! byte followed by a payload (see `docs/format.md`, "Row codec"). Chunks
//! frame each row with its byte length so a reader can skip rows without
//! decoding them, which is what runs `(chunk, first row, row count)` need.
//!
//! The codec is total: decoding arbitrary bytes returns an error, never
//! panics, and never allocates more than the input can justify.

use thiserror::Error;

use crate::value::{Array, ArrayDim, Date, Interval, Time, Timestamp, Value};

mod chunk;
mod columns;

pub use chunk::{ChunkBuilder, ChunkRows, TableDigest};
pub use columns::{columns_to_rows, columns_to_rows_into, rows_to_columns};

/// Why bytes could not be decoded as rows.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The input ended in the middle of a value.
    #[error("row data is truncated")]
    Truncated,
    /// A tag byte that no version of the format defines.
    #[error("unknown value tag {0} in row data")]
    UnknownTag(u8),
    /// A length or count that cannot be right.
    #[error("invalid length in row data")]
    BadLength,
    /// Bytes that claim to be UTF-8 text but are not.
    #[error("invalid utf-8 in row data")]
    BadUtf8,
    /// A value that breaks an invariant of its type.
    #[error("invalid {0} value in row data")]
    BadValue(&'static str),
    /// A varint longer than ten bytes.
    #[error("invalid varint in row data")]
    BadVarint,
}

mod tag {
    pub const NULL: u8 = 0;
    pub const FALSE: u8 = 1;
    pub const TRUE: u8 = 2;
    pub const INT: u8 = 3;
    pub const UINT: u8 = 4;
    pub const F32: u8 = 5;
    pub const F64: u8 = 6;
    pub const DECIMAL: u8 = 7;
    pub const TEXT: u8 = 8;
    pub const RAW_TEXT: u8 = 9;
    pub const BYTES: u8 = 10;
    pub const BITS: u8 = 11;
    pub const DATE: u8 = 12;
    pub const TIME: u8 = 13;
    pub const TIMETZ: u8 = 14;
    pub const TIMESTAMP: u8 = 15;
    pub const TIMESTAMPTZ: u8 = 16;
    pub const INTERVAL: u8 = 17;
    pub const UUID: u8 = 18;
    pub const JSON: u8 = 19;
    pub const ENUM: u8 = 20;
    pub const ARRAY: u8 = 21;
    pub const DOCUMENT: u8 = 22;
    pub const OTHER: u8 = 23;
}

/// Deepest array nesting the decoder accepts.
const MAX_DEPTH: u32 = 64;

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_date(out: &mut Vec<u8>, d: Date) {
    match d {
        Date::NegInfinity => out.push(0),
        Date::Infinity => out.push(2),
        Date::Ymd { year, month, day } => {
            out.push(1);
            put_zigzag(out, i64::from(year));
            out.push(month);
            out.push(day);
        }
    }
}

fn put_timestamp(out: &mut Vec<u8>, t: Timestamp) {
    put_date(out, t.date);
    put_zigzag(out, t.micros);
}

/// Appends a [`Value::Text`] holding `s`, without building the value.
pub fn encode_text(s: &str, out: &mut Vec<u8>) {
    out.push(tag::TEXT);
    put_bytes(out, s.as_bytes());
}

/// Appends a [`Value::RawText`] holding `b`.
pub fn encode_raw_text(b: &[u8], out: &mut Vec<u8>) {
    out.push(tag::RAW_TEXT);
    put_bytes(out, b);
}

/// Appends a [`Value::Bytes`] holding `b`.
pub fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    out.push(tag::BYTES);
    put_bytes(out, b);
}

/// Appends a [`Value::Json`] holding `s`.
pub fn encode_json(s: &str, out: &mut Vec<u8>) {
    out.push(tag::JSON);
    put_bytes(out, s.as_bytes());
}

/// Appends a [`Value::Decimal`] holding `s`.
pub fn encode_decimal(s: &str, out: &mut Vec<u8>) {
    out.push(tag::DECIMAL);
    put_bytes(out, s.as_bytes());
}

/// Appends a [`Value::Int`] holding `i`.
pub fn encode_int(i: i64, out: &mut Vec<u8>) {
    out.push(tag::INT);
    put_zigzag(out, i);
}

/// Appends a [`Value::Other`] of type `type_name` holding `text`.
pub fn encode_other(type_name: &str, text: &str, out: &mut Vec<u8>) {
    out.push(tag::OTHER);
    put_bytes(out, type_name.as_bytes());
    put_bytes(out, text.as_bytes());
}

/// Appends a [`Value::Enum`] holding `s`.
pub fn encode_enum(s: &str, out: &mut Vec<u8>) {
    out.push(tag::ENUM);
    put_bytes(out, s.as_bytes());
}

/// Appends the encoding of one value.
pub fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(tag::NULL),
        Value::Bool(false) => out.push(tag::FALSE),
        Value::Bool(true) => out.push(tag::TRUE),
        Value::Int(i) => encode_int(*i, out),
        Value::UInt(u) => {
            out.push(tag::UINT);
            put_varint(out, *u);
        }
        Value::F32(f) => {
            out.push(tag::F32);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::F64(f) => {
            out.push(tag::F64);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Decimal(s) => encode_decimal(s, out),
        Value::Text(s) => encode_text(s, out),
        Value::RawText(b) => encode_raw_text(b, out),
        Value::Bytes(b) => encode_bytes(b, out),
        Value::Bits { len, bytes } => {
            out.push(tag::BITS);
            put_varint(out, u64::from(*len));
            put_bytes(out, bytes);
        }
        Value::Date(d) => {
            out.push(tag::DATE);
            put_date(out, *d);
        }
        Value::Time(t) => {
            out.push(tag::TIME);
            put_zigzag(out, t.micros);
        }
        Value::TimeTz { time, offset_secs } => {
            out.push(tag::TIMETZ);
            put_zigzag(out, time.micros);
            put_zigzag(out, i64::from(*offset_secs));
        }
        Value::Timestamp(t) => {
            out.push(tag::TIMESTAMP);
            put_timestamp(out, *t);
        }
        Value::TimestampTz(t) => {
            out.push(tag::TIMESTAMPTZ);
            put_timestamp(out, *t);
        }
        Value::Interval(i) => {
            out.push(tag::INTERVAL);
            put_zigzag(out, i64::from(i.months));
            put_zigzag(out, i64::from(i.days));
            put_zigzag(out, i.micros);
        }
        Value::Uuid(u) => {
            out.push(tag::UUID);
            out.extend_from_slice(u);
        }
        Value::Json(s) => encode_json(s, out),
        Value::Enum(s) => encode_enum(s, out),
        Value::Array(a) => {
            out.push(tag::ARRAY);
            put_varint(out, a.dims.len() as u64);
            for d in &a.dims {
                put_varint(out, u64::from(d.len));
                put_zigzag(out, i64::from(d.lower));
            }
            put_varint(out, a.elements.len() as u64);
            for e in &a.elements {
                encode_value(e, out);
            }
        }
        Value::Document(b) => {
            out.push(tag::DOCUMENT);
            put_bytes(out, b);
        }
        Value::Other { type_name, text } => encode_other(type_name, text, out),
    }
}

/// Appends the encoding of a row (column count, then each value).
pub fn encode_row(row: &[Value], out: &mut Vec<u8>) {
    put_varint(out, row.len() as u64);
    for v in row {
        encode_value(v, out);
    }
}

/// A cursor over encoded bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads one byte.
    pub fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.buf.get(self.pos).ok_or(CodecError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::BadLength)?;
        let s = self.buf.get(self.pos..end).ok_or(CodecError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    /// Reads an unsigned LEB128 varint.
    pub fn varint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if shift == 63 && b > 1 {
                    return Err(CodecError::BadVarint);
                }
                return Ok(v);
            }
        }
        Err(CodecError::BadVarint)
    }

    fn zigzag(&mut self) -> Result<i64, CodecError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn len(&mut self) -> Result<usize, CodecError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| CodecError::BadLength)?;
        if n > self.remaining() {
            return Err(CodecError::Truncated);
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.len()?;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, CodecError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| CodecError::BadUtf8)
    }

    fn i32(&mut self) -> Result<i32, CodecError> {
        i32::try_from(self.zigzag()?).map_err(|_| CodecError::BadLength)
    }

    fn date(&mut self) -> Result<Date, CodecError> {
        match self.byte()? {
            0 => Ok(Date::NegInfinity),
            2 => Ok(Date::Infinity),
            1 => {
                let year = self.i32()?;
                let month = self.byte()?;
                let day = self.byte()?;
                if month > 12 || day > 31 {
                    return Err(CodecError::BadValue("date"));
                }
                Ok(Date::Ymd { year, month, day })
            }
            _ => Err(CodecError::BadValue("date")),
        }
    }

    fn timestamp(&mut self) -> Result<Timestamp, CodecError> {
        let date = self.date()?;
        let micros = self.zigzag()?;
        Ok(Timestamp { date, micros })
    }

    /// Reads one value.
    pub fn value(&mut self) -> Result<Value, CodecError> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: u32) -> Result<Value, CodecError> {
        let t = self.byte()?;
        Ok(match t {
            tag::NULL => Value::Null,
            tag::FALSE => Value::Bool(false),
            tag::TRUE => Value::Bool(true),
            tag::INT => Value::Int(self.zigzag()?),
            tag::UINT => Value::UInt(self.varint()?),
            tag::F32 => {
                let b = self.take(4)?;
                Value::F32(f32::from_bits(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            }
            tag::F64 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::F64(f64::from_bits(u64::from_le_bytes(a)))
            }
            tag::DECIMAL => Value::Decimal(self.string()?),
            tag::TEXT => Value::Text(self.string()?),
            tag::RAW_TEXT => Value::RawText(self.bytes()?.to_vec()),
            tag::BYTES => Value::Bytes(self.bytes()?.to_vec()),
            tag::BITS => {
                let len = u32::try_from(self.varint()?).map_err(|_| CodecError::BadLength)?;
                let bytes = self.bytes()?.to_vec();
                if bytes.len() as u64 != u64::from(len).div_ceil(8) {
                    return Err(CodecError::BadValue("bits"));
                }
                Value::Bits { len, bytes }
            }
            tag::DATE => Value::Date(self.date()?),
            tag::TIME => Value::Time(Time {
                micros: self.zigzag()?,
            }),
            tag::TIMETZ => {
                let micros = self.zigzag()?;
                let offset_secs = self.i32()?;
                Value::TimeTz {
                    time: Time { micros },
                    offset_secs,
                }
            }
            tag::TIMESTAMP => Value::Timestamp(self.timestamp()?),
            tag::TIMESTAMPTZ => Value::TimestampTz(self.timestamp()?),
            tag::INTERVAL => Value::Interval(Interval {
                months: self.i32()?,
                days: self.i32()?,
                micros: self.zigzag()?,
            }),
            tag::UUID => {
                let mut u = [0u8; 16];
                u.copy_from_slice(self.take(16)?);
                Value::Uuid(u)
            }
            tag::JSON => Value::Json(self.string()?),
            tag::ENUM => Value::Enum(self.string()?),
            tag::ARRAY => {
                if depth >= MAX_DEPTH {
                    return Err(CodecError::BadValue("array"));
                }
                let ndims = self.len()?;
                let mut dims = Vec::with_capacity(ndims);
                for _ in 0..ndims {
                    let len = u32::try_from(self.varint()?).map_err(|_| CodecError::BadLength)?;
                    let lower = self.i32()?;
                    dims.push(ArrayDim { len, lower });
                }
                // every element takes at least one byte
                let n = self.len()?;
                let mut elements = Vec::with_capacity(n);
                for _ in 0..n {
                    elements.push(self.value_at(depth + 1)?);
                }
                let a = Array { dims, elements };
                if !a.is_well_formed() {
                    return Err(CodecError::BadValue("array"));
                }
                Value::Array(Box::new(a))
            }
            tag::DOCUMENT => Value::Document(self.bytes()?.to_vec()),
            tag::OTHER => Value::Other {
                type_name: self.string()?,
                text: self.string()?,
            },
            other => return Err(CodecError::UnknownTag(other)),
        })
    }

    /// Steps over one value without decoding it: the value's extent is the
    /// same as [`Reader::value`] reads, its content is not checked.
    fn skip_value(&mut self, depth: u32) -> Result<(), CodecError> {
        match self.byte()? {
            tag::NULL | tag::FALSE | tag::TRUE => {}
            tag::INT | tag::UINT | tag::TIME => {
                self.varint()?;
            }
            tag::F32 => {
                self.take(4)?;
            }
            tag::F64 => {
                self.take(8)?;
            }
            tag::DECIMAL
            | tag::TEXT
            | tag::RAW_TEXT
            | tag::BYTES
            | tag::JSON
            | tag::ENUM
            | tag::DOCUMENT => {
                self.bytes()?;
            }
            tag::BITS => {
                self.varint()?;
                self.bytes()?;
            }
            tag::DATE => self.skip_date()?,
            tag::TIMETZ => {
                self.varint()?;
                self.varint()?;
            }
            tag::TIMESTAMP | tag::TIMESTAMPTZ => {
                self.skip_date()?;
                self.varint()?;
            }
            tag::INTERVAL => {
                self.varint()?;
                self.varint()?;
                self.varint()?;
            }
            tag::UUID => {
                self.take(16)?;
            }
            tag::ARRAY => {
                if depth >= MAX_DEPTH {
                    return Err(CodecError::BadValue("array"));
                }
                let ndims = self.len()?;
                for _ in 0..ndims {
                    self.varint()?;
                    self.varint()?;
                }
                let n = self.len()?;
                for _ in 0..n {
                    self.skip_value(depth + 1)?;
                }
            }
            tag::OTHER => {
                self.bytes()?;
                self.bytes()?;
            }
            other => return Err(CodecError::UnknownTag(other)),
        }
        Ok(())
    }

    fn skip_date(&mut self) -> Result<(), CodecError> {
        match self.byte()? {
            0 | 2 => Ok(()),
            1 => {
                self.varint()?;
                self.take(2)?;
                Ok(())
            }
            _ => Err(CodecError::BadValue("date")),
        }
    }

    /// Reads one row.
    pub fn row(&mut self) -> Result<Vec<Value>, CodecError> {
        let n = self.len()?;
        let mut row = Vec::with_capacity(n);
        for _ in 0..n {
            row.push(self.value()?);
        }
        Ok(row)
    }
}

/// Decodes the values at `positions` (in that order) of the encoded row
/// `row` into `out`, replacing what it held; a position past the row's end
/// gives NULL. The other values are stepped over, not decoded.
///
/// # Errors
/// A [`CodecError`] when `row` is not an encoded row.
pub fn decode_values_at(
    row: &[u8],
    positions: &[usize],
    out: &mut Vec<Value>,
) -> Result<(), CodecError> {
    out.clear();
    out.resize(positions.len(), Value::Null);
    let Some(&last) = positions.iter().max() else {
        return Ok(());
    };
    let mut r = Reader::new(row);
    let n = r.len()?;
    for i in 0..n.min(last.saturating_add(1)) {
        let mut hits = positions
            .iter()
            .enumerate()
            .filter(|&(_, &p)| p == i)
            .map(|(k, _)| k);
        match hits.next() {
            None => r.skip_value(0)?,
            Some(k) => {
                let v = r.value()?;
                for j in hits {
                    out[j] = v.clone();
                }
                out[k] = v;
            }
        }
    }
    Ok(())
}

/// Writes the values at `positions` of the encoded `row` to `out`
/// (replacing what it held) as an encoded row of their own: the bytes
/// [`encode_row`] gives for what [`decode_values_at`] returns, copied
/// without decoding. A position past the row's end gives NULL.
///
/// # Errors
/// A [`CodecError`] when `row` is not an encoded row.
pub fn encode_values_at(
    row: &[u8],
    positions: &[usize],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    out.clear();
    put_varint(out, positions.len() as u64);
    // keys are few and near the front of a row: each is found by stepping
    // over the values before it
    for &p in positions {
        let mut r = Reader::new(row);
        let n = r.len()?;
        if p >= n {
            out.push(tag::NULL);
            continue;
        }
        for _ in 0..p {
            r.skip_value(0)?;
        }
        let start = r.pos;
        r.skip_value(0)?;
        out.extend_from_slice(&row[start..r.pos]);
    }
    Ok(())
}

/// Decodes one row that fills `buf` exactly.
pub fn decode_row(buf: &[u8]) -> Result<Vec<Value>, CodecError> {
    let mut r = Reader::new(buf);
    let row = r.row()?;
    if !r.is_empty() {
        return Err(CodecError::BadLength);
    }
    Ok(row)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A strategy for any value, including nested arrays.
    pub(crate) fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<u64>().prop_map(Value::UInt),
            any::<u32>().prop_map(|b| Value::F32(f32::from_bits(b))),
            any::<u64>().prop_map(|b| Value::F64(f64::from_bits(b))),
            "-?[0-9]{1,40}(\\.[0-9]{0,30})?".prop_map(Value::Decimal),
            Just(Value::Decimal("NaN".into())),
            ".*".prop_map(Value::Text),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::RawText),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::Bytes),
            (0u32..40).prop_flat_map(|len| {
                proptest::collection::vec(any::<u8>(), len.div_ceil(8) as usize)
                    .prop_map(move |bytes| Value::Bits { len, bytes })
            }),
            any_date().prop_map(Value::Date),
            any::<i64>().prop_map(|micros| Value::Time(Time { micros })),
            (any::<i64>(), any::<i32>()).prop_map(|(micros, offset_secs)| Value::TimeTz {
                time: Time { micros },
                offset_secs
            }),
            (any_date(), 0i64..86_400_000_000)
                .prop_map(|(date, micros)| Value::Timestamp(Timestamp { date, micros })),
            (any_date(), 0i64..86_400_000_000)
                .prop_map(|(date, micros)| Value::TimestampTz(Timestamp { date, micros })),
            (any::<i32>(), any::<i32>(), any::<i64>()).prop_map(|(months, days, micros)| {
                Value::Interval(Interval {
                    months,
                    days,
                    micros,
                })
            }),
            any::<[u8; 16]>().prop_map(Value::Uuid),
            ".*".prop_map(Value::Json),
            "[a-z ]*".prop_map(Value::Enum),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::Document),
            ("[a-z]+", ".*").prop_map(|(type_name, text)| Value::Other { type_name, text }),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            (proptest::collection::vec(inner, 0..6), -3i32..3).prop_map(|(elements, lower)| {
                let mut a = Array::list(elements);
                if let Some(d) = a.dims.first_mut() {
                    d.lower = lower;
                }
                Value::Array(Box::new(a))
            })
        })
    }

    pub(crate) fn any_date() -> impl Strategy<Value = Date> {
        prop_oneof![
            Just(Date::Infinity),
            Just(Date::NegInfinity),
            (any::<i32>(), 0u8..=12, 0u8..=31).prop_map(|(year, month, day)| Date::Ymd {
                year,
                month,
                day
            }),
        ]
    }

    proptest! {
        #[test]
        fn table_digest_is_blake3_of_the_framed_rows(
            sizes in proptest::collection::vec(
                prop_oneof![0usize..300, 60_000usize..140_000],
                0..40,
            ),
            seed in any::<u8>(),
            // rows given as framed runs (a chunk) rather than one by one
            as_runs in proptest::collection::vec(any::<bool>(), 40),
        ) {
            let mut digest = TableDigest::new();
            let mut framed = Vec::new();
            let mut run = Vec::new();
            for (i, n) in sizes.iter().enumerate() {
                let row: Vec<u8> = (0..*n).map(|j| (j as u8) ^ seed ^ (i as u8)).collect();
                if as_runs[i] {
                    put_varint(&mut run, row.len() as u64);
                    run.extend_from_slice(&row);
                } else {
                    digest.update_framed(&run);
                    run.clear();
                    digest.update(&row);
                }
                put_varint(&mut framed, row.len() as u64);
                framed.extend_from_slice(&row);
            }
            digest.update_framed(&run);
            prop_assert_eq!(digest.finish(), blake3::hash(&framed).to_hex().to_string());
        }

        #[test]
        fn row_round_trip(row in proptest::collection::vec(any_value(), 0..12)) {
            let mut buf = Vec::new();
            encode_row(&row, &mut buf);
            let back = decode_row(&buf).expect("decode");
            prop_assert!(crate::value::rows_same(&row, &back), "{row:?} != {back:?}");
        }

        #[test]
        fn chunk_round_trip(rows in proptest::collection::vec(proptest::collection::vec(any_value(), 0..5), 0..20), skip in 0usize..20) {
            let mut c = ChunkBuilder::new();
            for r in &rows { c.push(r); }
            let (bytes, n) = c.take();
            prop_assert_eq!(n, rows.len() as u64);
            let skip = skip.min(rows.len());
            let mut it = ChunkRows::new(&bytes);
            it.skip_rows(skip as u64).expect("skip");
            let rest: Vec<_> = it.map(|r| decode_row(r.expect("frame")).expect("row")).collect();
            prop_assert_eq!(rest.len(), rows.len() - skip);
            for (a, b) in rows[skip..].iter().zip(&rest) {
                prop_assert!(crate::value::rows_same(a, b));
            }
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_row(&bytes);
            for r in ChunkRows::new(&bytes) {
                if let Ok(r) = r { let _ = decode_row(r); } else { break; }
            }
        }
    }

    #[test]
    fn values_at_positions() {
        let row = vec![
            Value::Text("a".into()),
            Value::Int(7),
            Value::Array(Box::new(Array {
                dims: vec![ArrayDim { len: 2, lower: 1 }],
                elements: vec![Value::Int(1), Value::Null],
            })),
            Value::Uuid([3; 16]),
        ];
        let mut enc = Vec::new();
        encode_row(&row, &mut enc);
        let mut out = vec![Value::Bool(true)];
        // any order, repeats, a position past the end (NULL)
        decode_values_at(&enc, &[3, 0, 3, 9, 2], &mut out).expect("decode");
        assert_eq!(
            out,
            vec![
                row[3].clone(),
                row[0].clone(),
                row[3].clone(),
                Value::Null,
                row[2].clone()
            ]
        );
        decode_values_at(&enc, &[], &mut out).expect("decode");
        assert!(out.is_empty());
        assert!(decode_values_at(&enc[..enc.len() - 1], &[3], &mut out).is_err());
    }

    proptest! {
        #[test]
        fn values_at_match_the_decoded_row(
            row in proptest::collection::vec(any_value(), 0..12),
            positions in proptest::collection::vec(0usize..14, 0..4),
        ) {
            let mut enc = Vec::new();
            encode_row(&row, &mut enc);
            let mut out = Vec::new();
            decode_values_at(&enc, &positions, &mut out).expect("decode");
            let expected: Vec<Value> = positions.iter().map(|&p| row.get(p).cloned().unwrap_or(Value::Null)).collect();
            prop_assert!(crate::value::rows_same(&out, &expected), "{out:?} != {expected:?}");
            // and copied as bytes: the encoding of those values
            let mut encoded = Vec::new();
            encode_row(&out, &mut encoded);
            let mut copied = Vec::new();
            encode_values_at(&enc, &positions, &mut copied).expect("copy");
            prop_assert_eq!(copied, encoded);
        }
    }

    #[test]
    fn encoded_values_at_refuse_a_damaged_row() {
        let mut enc = Vec::new();
        encode_row(&[Value::Int(1), Value::Text("abc".into())], &mut enc);
        let mut out = Vec::new();
        assert!(encode_values_at(&enc[..enc.len() - 1], &[1], &mut out).is_err());
        encode_values_at(&enc, &[], &mut out).expect("no positions");
        assert_eq!(out, [0]);
    }

    #[test]
    fn truncation_is_an_error() {
        let row = vec![Value::Text("hello".into()), Value::Int(7)];
        let mut buf = Vec::new();
        encode_row(&row, &mut buf);
        for cut in 0..buf.len() {
            assert!(decode_row(&buf[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn huge_declared_lengths_do_not_allocate() {
        let mut buf = Vec::new();
        put_varint(&mut buf, 1);
        buf.push(tag::BYTES);
        put_varint(&mut buf, u64::MAX / 2);
        assert_eq!(decode_row(&buf), Err(CodecError::Truncated));
    }
}
