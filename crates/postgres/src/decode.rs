//! Reading `COPY ... TO STDOUT (FORMAT binary)`: an incremental parser of
//! the stream and decoders from PostgreSQL's binary send format into
//! [`Value`]s.

use bytes::{Buf, BytesMut};
use tresor_core::codec::{
    encode_bytes, encode_decimal, encode_enum, encode_int, encode_json, encode_other,
    encode_raw_text, encode_text, encode_value,
};
use tresor_core::{Array, ArrayDim, Date, Interval, Row, SourceError, Time, Timestamp, Value};

use crate::types::Codec;

/// `PGCOPY\n\377\r\n\0`
pub(crate) const COPY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
pub(crate) const PG_EPOCH_DAYS: i64 = 10_957;

/// How to decode one column.
#[derive(Clone, Debug)]
pub(crate) struct ColumnDecoder {
    pub(crate) codec: Codec,
    /// The type name recorded in [`Value::Other`] for fallback columns.
    pub(crate) type_name: String,
}

fn bad(what: &str) -> SourceError {
    SourceError::data(format!("malformed binary copy data: {what}"))
}

/// Where parsed rows go: [`Value`]s, or straight into the row codec.
pub(crate) trait RowSink {
    /// A row starts.
    fn begin(&mut self, columns: usize);
    /// The next field is NULL.
    fn null(&mut self);
    /// The next field holds `data` in binary send format.
    fn field(&mut self, column: &ColumnDecoder, data: &[u8]) -> Result<(), SourceError>;
    /// The row is complete.
    fn end(&mut self);
    /// The row is cut short: it is parsed again when the rest arrives.
    fn abandon(&mut self);
}

/// A sink that gathers rows into batches to send on.
pub(crate) trait Gather: RowSink + Send {
    /// What a batch is.
    type Batch: Send;
    /// Rows gathered and not taken yet.
    fn pending(&self) -> usize;
    /// Whether the gathered rows make a batch, given about how many bytes
    /// of values they hold.
    fn is_full(&self, approx_bytes: usize) -> bool {
        self.pending() >= tresor_core::BATCH_ROWS || approx_bytes >= tresor_core::BATCH_BYTES
    }
    /// Takes the gathered rows.
    fn take(&mut self) -> Self::Batch;
}

impl Gather for ValueRows {
    type Batch = Vec<Row>;
    fn pending(&self) -> usize {
        self.rows.len()
    }
    fn take(&mut self) -> Vec<Row> {
        std::mem::replace(&mut self.rows, Vec::with_capacity(tresor_core::BATCH_ROWS))
    }
}

impl Gather for EncodedRows {
    type Batch = tresor_core::EncodedBatch;
    fn pending(&self) -> usize {
        self.batch.rows() as usize
    }
    fn is_full(&self, _: usize) -> bool {
        self.batch.is_full()
    }
    fn take(&mut self) -> tresor_core::EncodedBatch {
        std::mem::replace(&mut self.batch, tresor_core::EncodedBatch::new())
    }
}

/// Rows as [`Value`]s.
#[derive(Default)]
pub(crate) struct ValueRows {
    pub(crate) rows: Vec<Row>,
    row: Row,
}

impl RowSink for ValueRows {
    fn begin(&mut self, columns: usize) {
        self.row = Vec::with_capacity(columns);
    }
    fn null(&mut self) {
        self.row.push(Value::Null);
    }
    fn field(&mut self, column: &ColumnDecoder, data: &[u8]) -> Result<(), SourceError> {
        self.row
            .push(decode_value(&column.codec, data, &column.type_name)?);
        Ok(())
    }
    fn end(&mut self) {
        self.rows.push(std::mem::take(&mut self.row));
    }
    fn abandon(&mut self) {
        self.row.clear();
    }
}

/// Rows encoded as [`tresor_core::codec::encode_row`] would encode the
/// values [`ValueRows`] gets, without building them.
#[derive(Default)]
pub(crate) struct EncodedRows {
    pub(crate) batch: tresor_core::EncodedBatch,
    row: Vec<u8>,
    numeric: Vec<u8>,
}

impl RowSink for EncodedRows {
    fn begin(&mut self, columns: usize) {
        self.row.clear();
        tresor_core::codec::put_varint(&mut self.row, columns as u64);
    }
    fn null(&mut self) {
        encode_value(&Value::Null, &mut self.row);
    }
    fn field(&mut self, column: &ColumnDecoder, data: &[u8]) -> Result<(), SourceError> {
        encode_field(column, data, &mut self.row, &mut self.numeric)
    }
    fn end(&mut self) {
        self.batch.push_encoded(&self.row);
    }
    fn abandon(&mut self) {}
}

/// Appends the encoding of the value [`decode_value`] makes of `data`;
/// the common types without building it.
fn encode_field(
    column: &ColumnDecoder,
    data: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<(), SourceError> {
    let str_of = |b, what| std::str::from_utf8(b).map_err(|_| bad(&format!("{what} is not utf-8")));
    match column.codec {
        Codec::Text => match std::str::from_utf8(data) {
            Ok(s) => encode_text(s, out),
            Err(_) => encode_raw_text(data, out),
        },
        Codec::Bytea => encode_bytes(data, out),
        Codec::Json => encode_json(str_of(data, "json")?, out),
        Codec::Jsonb => match data.split_first() {
            Some((1, rest)) => encode_json(str_of(rest, "jsonb")?, out),
            _ => return Err(bad("unknown jsonb version")),
        },
        Codec::Enum => encode_enum(str_of(data, "enum label")?, out),
        Codec::Int2 => encode_int(i64::from(i16::from_be_bytes(fixed(data, "int2")?)), out),
        Codec::Int4 => encode_int(i64::from(i32::from_be_bytes(fixed(data, "int4")?)), out),
        Codec::Int8 | Codec::Money => encode_int(i64::from_be_bytes(fixed(data, "int8")?), out),
        Codec::Fallback => encode_other(&column.type_name, str_of(data, "text form")?, out),
        Codec::Numeric => {
            scratch.clear();
            numeric_into(data, scratch)?;
            encode_decimal(str_of(scratch, "numeric")?, out);
        }
        _ => encode_value(&decode_value(&column.codec, data, &column.type_name)?, out),
    }
    Ok(())
}

/// A parser of one binary COPY stream fed chunk by chunk.
pub(crate) struct CopyParser {
    buf: BytesMut,
    header_done: bool,
    finished: bool,
}

/// Byte reader over a slice that fails instead of panicking.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }
    fn i16(&mut self) -> Option<i16> {
        self.take(2).map(|s| i16::from_be_bytes([s[0], s[1]]))
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|s| i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
}

impl CopyParser {
    pub(crate) fn new() -> Self {
        CopyParser {
            buf: BytesMut::with_capacity(64 * 1024),
            header_done: false,
            finished: false,
        }
    }

    /// Decodes every complete row of `chunk` (after what earlier chunks
    /// left over) into `out`; an incomplete tail is kept for the next
    /// chunk. `approx_bytes` grows by the rows' size.
    pub(crate) fn feed(
        &mut self,
        chunk: &[u8],
        columns: &[ColumnDecoder],
        out: &mut impl RowSink,
        approx_bytes: &mut usize,
    ) -> Result<(), SourceError> {
        if self.buf.is_empty() {
            // the common case: PostgreSQL sends one row per message
            let used = self.parse(chunk, columns, out, approx_bytes)?;
            self.buf.extend_from_slice(&chunk[used..]);
        } else {
            self.buf.extend_from_slice(chunk);
            let buf = std::mem::take(&mut self.buf);
            let used = self.parse(&buf, columns, out, approx_bytes)?;
            self.buf = buf;
            self.buf.advance(used);
        }
        Ok(())
    }

    /// Whether the trailer has been seen.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Parses complete rows from `data`; returns the bytes consumed.
    fn parse(
        &mut self,
        data: &[u8],
        columns: &[ColumnDecoder],
        out: &mut impl RowSink,
        approx_bytes: &mut usize,
    ) -> Result<usize, SourceError> {
        let mut pos = 0;
        if !self.header_done {
            if data.len() < 19 {
                return Ok(0);
            }
            if &data[..11] != COPY_SIGNATURE {
                return Err(bad("missing signature"));
            }
            let ext = u32::from_be_bytes([data[15], data[16], data[17], data[18]]) as usize;
            if data.len() < 19 + ext {
                return Ok(0);
            }
            pos = 19 + ext;
            self.header_done = true;
        }
        while !self.finished {
            let mut r = Reader { b: &data[pos..] };
            let Some(count) = r.i16() else { break };
            if count == -1 {
                self.finished = true;
                pos += 2;
                break;
            }
            if count as usize != columns.len() {
                return Err(bad(&format!(
                    "expected {} fields, got {count}",
                    columns.len()
                )));
            }
            // decode in one pass; a row cut short is decoded again later
            out.begin(columns.len());
            let mut complete = true;
            for col in columns {
                let Some(len) = r.i32() else {
                    complete = false;
                    break;
                };
                if len < 0 {
                    out.null();
                    continue;
                }
                let Some(field) = r.take(len as usize) else {
                    complete = false;
                    break;
                };
                out.field(col, field)?;
            }
            if !complete {
                out.abandon();
                break;
            }
            let used = data.len() - pos - r.b.len();
            *approx_bytes += used + 16 * columns.len();
            pos += used;
            out.end();
        }
        Ok(pos)
    }
}

fn fixed<const N: usize>(data: &[u8], what: &str) -> Result<[u8; N], SourceError> {
    data.try_into()
        .map_err(|_| bad(&format!("{what} of {} bytes", data.len())))
}

fn text_value(data: &[u8]) -> Value {
    match std::str::from_utf8(data) {
        Ok(s) => Value::Text(s.to_string()),
        Err(_) => Value::RawText(data.to_vec()),
    }
}

fn utf8(data: &[u8], what: &str) -> Result<String, SourceError> {
    String::from_utf8(data.to_vec()).map_err(|_| bad(&format!("{what} is not utf-8")))
}

/// Decodes one non-NULL value in binary send format.
pub(crate) fn decode_value(
    codec: &Codec,
    data: &[u8],
    type_name: &str,
) -> Result<Value, SourceError> {
    Ok(match codec {
        Codec::Bool => Value::Bool(fixed::<1>(data, "bool")?[0] != 0),
        Codec::Int2 => Value::Int(i64::from(i16::from_be_bytes(fixed(data, "int2")?))),
        Codec::Int4 => Value::Int(i64::from(i32::from_be_bytes(fixed(data, "int4")?))),
        Codec::Int8 | Codec::Money => Value::Int(i64::from_be_bytes(fixed(data, "int8")?)),
        Codec::Oid => Value::Int(i64::from(u32::from_be_bytes(fixed(data, "oid")?))),
        Codec::Float4 => Value::F32(f32::from_bits(u32::from_be_bytes(fixed(data, "float4")?))),
        Codec::Float8 => Value::F64(f64::from_bits(u64::from_be_bytes(fixed(data, "float8")?))),
        Codec::Numeric => Value::Decimal(numeric_to_text(data)?),
        Codec::Text => text_value(data),
        Codec::Enum => Value::Enum(utf8(data, "enum label")?),
        Codec::Bytea => Value::Bytes(data.to_vec()),
        Codec::Date => Value::Date(date_from_pg(i32::from_be_bytes(fixed(data, "date")?))),
        Codec::Time => Value::Time(Time {
            micros: i64::from_be_bytes(fixed(data, "time")?),
        }),
        Codec::TimeTz => {
            let b: [u8; 12] = fixed(data, "timetz")?;
            let micros = i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            let zone = i32::from_be_bytes([b[8], b[9], b[10], b[11]]);
            Value::TimeTz {
                time: Time { micros },
                // PostgreSQL keeps seconds west of UTC
                offset_secs: -zone,
            }
        }
        Codec::Timestamp => Value::Timestamp(timestamp_from_pg(i64::from_be_bytes(fixed(
            data,
            "timestamp",
        )?))),
        Codec::TimestampTz => Value::TimestampTz(timestamp_from_pg(i64::from_be_bytes(fixed(
            data,
            "timestamptz",
        )?))),
        Codec::Interval => {
            let b: [u8; 16] = fixed(data, "interval")?;
            Value::Interval(Interval {
                micros: i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
                days: i32::from_be_bytes([b[8], b[9], b[10], b[11]]),
                months: i32::from_be_bytes([b[12], b[13], b[14], b[15]]),
            })
        }
        Codec::Uuid => Value::Uuid(fixed(data, "uuid")?),
        Codec::Json => Value::Json(utf8(data, "json")?),
        Codec::Jsonb => match data.split_first() {
            Some((1, rest)) => Value::Json(utf8(rest, "jsonb")?),
            _ => return Err(bad("unknown jsonb version")),
        },
        Codec::Bits => {
            let mut r = Reader { b: data };
            let len = r.i32().ok_or_else(|| bad("bit string"))?;
            if len < 0 || r.b.len() != (len as usize).div_ceil(8) {
                return Err(bad("bit string length"));
            }
            Value::Bits {
                len: len as u32,
                bytes: r.b.to_vec(),
            }
        }
        Codec::Array { elem, .. } => Value::Array(Box::new(decode_array(elem, data, type_name)?)),
        // only ever chosen for writing (`Codec::for_restore`)
        Codec::Inet { .. } => return Err(bad("inet and cidr are read as text")),
        Codec::Fallback => Value::Other {
            type_name: type_name.to_string(),
            text: match text_value(data) {
                Value::Text(s) => s,
                _ => return Err(bad("text form is not utf-8")),
            },
        },
    })
}

fn decode_array(elem: &Codec, data: &[u8], type_name: &str) -> Result<Array, SourceError> {
    let mut r = Reader { b: data };
    let ndim = r.i32().ok_or_else(|| bad("array header"))?;
    let _has_null = r.i32().ok_or_else(|| bad("array header"))?;
    let _elem_oid = r.i32().ok_or_else(|| bad("array header"))?;
    if !(0..=6).contains(&ndim) {
        return Err(bad("array dimensions"));
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    let mut count: usize = 1;
    for _ in 0..ndim {
        let len = r.i32().ok_or_else(|| bad("array header"))?;
        let lower = r.i32().ok_or_else(|| bad("array header"))?;
        if len < 0 {
            return Err(bad("array length"));
        }
        count = count.saturating_mul(len as usize);
        dims.push(ArrayDim {
            len: len as u32,
            lower,
        });
    }
    if ndim == 0 {
        count = 0;
    }
    if count > data.len() {
        return Err(bad("array length"));
    }
    let elem_name = type_name.strip_suffix("[]").unwrap_or(type_name);
    let mut elements = Vec::with_capacity(count);
    for _ in 0..count {
        let len = r.i32().ok_or_else(|| bad("array element"))?;
        if len < 0 {
            elements.push(Value::Null);
        } else {
            let d = r.take(len as usize).ok_or_else(|| bad("array element"))?;
            elements.push(decode_value(elem, d, elem_name)?);
        }
    }
    Ok(Array { dims, elements })
}

/// A `date` from days since 2000-01-01.
pub(crate) fn date_from_pg(days: i32) -> Date {
    match days {
        i32::MAX => Date::Infinity,
        i32::MIN => Date::NegInfinity,
        d => Date::from_epoch_days(i64::from(d) + PG_EPOCH_DAYS),
    }
}

/// A `timestamp` from microseconds since 2000-01-01.
pub(crate) fn timestamp_from_pg(micros: i64) -> Timestamp {
    match micros {
        i64::MAX => Timestamp {
            date: Date::Infinity,
            micros: 0,
        },
        i64::MIN => Timestamp {
            date: Date::NegInfinity,
            micros: 0,
        },
        // split before shifting epochs: the last PostgreSQL timestamps
        // do not fit in i64 microseconds since 1970
        m => Timestamp {
            date: Date::from_epoch_days(m.div_euclid(86_400_000_000) + PG_EPOCH_DAYS),
            micros: m.rem_euclid(86_400_000_000),
        },
    }
}

/// Prints a binary `numeric` exactly as PostgreSQL's `numeric_out` does.
pub(crate) fn numeric_to_text(data: &[u8]) -> Result<String, SourceError> {
    let mut bytes = Vec::with_capacity(data.len() * 2 + 4);
    numeric_into(data, &mut bytes)?;
    String::from_utf8(bytes).map_err(|_| bad("numeric digits"))
}

/// Appends the text of a binary `numeric` (ASCII) to `out`.
fn numeric_into(data: &[u8], out: &mut Vec<u8>) -> Result<(), SourceError> {
    let mut r = Reader { b: data };
    let (Some(ndigits), Some(weight), Some(sign), Some(dscale)) =
        (r.i16(), r.i16(), r.i16(), r.i16())
    else {
        return Err(bad("numeric header"));
    };
    let special: &[u8] = match sign as u16 {
        0xC000 => b"NaN",
        0xD000 => b"Infinity",
        0xF000 => b"-Infinity",
        0x0000 | 0x4000 => b"",
        _ => return Err(bad("numeric sign")),
    };
    if !special.is_empty() {
        out.extend_from_slice(special);
        return Ok(());
    }
    if ndigits < 0 || dscale < 0 || r.b.len() != ndigits as usize * 2 {
        return Err(bad("numeric digits"));
    }
    let digits = r.b;
    let n = digits.len() / 2;
    if (0..n)
        .any(|i| !(0..10_000).contains(&i16::from_be_bytes([digits[2 * i], digits[2 * i + 1]])))
    {
        return Err(bad("numeric digit"));
    }
    let digit = |i: i64| -> u16 {
        if i >= 0 && (i as usize) < n {
            let i = i as usize;
            u16::from_be_bytes([digits[2 * i], digits[2 * i + 1]])
        } else {
            0
        }
    };
    let weight = i64::from(weight);
    if sign as u16 == 0x4000 {
        out.push(b'-');
    }
    let four = |d: u16| -> [u8; 4] {
        [
            b'0' + (d / 1000) as u8,
            b'0' + (d / 100 % 10) as u8,
            b'0' + (d / 10 % 10) as u8,
            b'0' + (d % 10) as u8,
        ]
    };
    if weight < 0 {
        out.push(b'0');
    } else {
        for i in 0..=weight {
            let g = four(digit(i));
            if i == 0 {
                let skip = g.iter().take(3).take_while(|c| **c == b'0').count();
                out.extend_from_slice(&g[skip..]);
            } else {
                out.extend_from_slice(&g);
            }
        }
    }
    if dscale > 0 {
        out.push(b'.');
        let mut written = 0usize;
        let mut i = weight + 1;
        while written < dscale as usize {
            let g = four(digit(i));
            let take = (dscale as usize - written).min(4);
            out.extend_from_slice(&g[..take]);
            written += take;
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&ndigits.to_be_bytes());
        v.extend_from_slice(&weight.to_be_bytes());
        v.extend_from_slice(&sign.to_be_bytes());
        v.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numeric_text() {
        let t = |b: Vec<u8>| numeric_to_text(&b).expect("numeric");
        assert_eq!(t(numeric(0, 0, 0, 0, &[])), "0");
        assert_eq!(t(numeric(0, 0, 0, 3, &[])), "0.000");
        assert_eq!(t(numeric(2, 0, 0, 2, &[1, 5000])), "1.50");
        assert_eq!(t(numeric(1, 1, 0x4000, 0, &[12])), "-120000");
        assert_eq!(t(numeric(1, -2, 0, 6, &[1200])), "0.000012");
        assert_eq!(t(numeric(0, 0, 0xC000, 0, &[])), "NaN");
        assert!(numeric_to_text(&[0, 1]).is_err());
    }

    #[test]
    fn parser_handles_split_input() {
        let mut stream = Vec::new();
        stream.extend_from_slice(COPY_SIGNATURE);
        stream.extend_from_slice(&[0; 8]);
        for i in 0..3i32 {
            stream.extend_from_slice(&2i16.to_be_bytes());
            stream.extend_from_slice(&4i32.to_be_bytes());
            stream.extend_from_slice(&i.to_be_bytes());
            stream.extend_from_slice(&(-1i32).to_be_bytes());
        }
        stream.extend_from_slice(&(-1i16).to_be_bytes());
        let cols = vec![
            ColumnDecoder {
                codec: Codec::Int4,
                type_name: "integer".into()
            };
            2
        ];
        let mut p = CopyParser::new();
        let mut rows = ValueRows::default();
        let mut encoded = EncodedRows::default();
        let mut p2 = CopyParser::new();
        let mut bytes = 0;
        for b in &stream {
            p.feed(std::slice::from_ref(b), &cols, &mut rows, &mut bytes)
                .expect("parse");
            p2.feed(std::slice::from_ref(b), &cols, &mut encoded, &mut bytes)
                .expect("parse");
        }
        let mut whole = CopyParser::new();
        let mut again = ValueRows::default();
        whole
            .feed(&stream, &cols, &mut again, &mut bytes)
            .expect("parse");
        assert_eq!(again.rows, rows.rows);
        assert_eq!(rows.rows.len(), 3);
        assert!(p.is_finished() && p2.is_finished());
        // the encoded rows are the values' encoding, though the input came
        // a byte at a time
        let mut expected = tresor_core::EncodedBatch::default();
        for row in &rows.rows {
            expected.push(row, &mut Vec::new());
        }
        assert_eq!(encoded.take(), expected);
        assert_eq!(rows.rows.len(), 3);
        assert_eq!(rows.rows[2], vec![Value::Int(2), Value::Null]);
    }

    /// Every codec a column can have, with a type name for the fallback.
    fn codecs() -> Vec<Codec> {
        vec![
            Codec::Bool,
            Codec::Int2,
            Codec::Int4,
            Codec::Int8,
            Codec::Money,
            Codec::Oid,
            Codec::Float4,
            Codec::Float8,
            Codec::Numeric,
            Codec::Text,
            Codec::Enum,
            Codec::Bytea,
            Codec::Date,
            Codec::Time,
            Codec::TimeTz,
            Codec::Timestamp,
            Codec::TimestampTz,
            Codec::Interval,
            Codec::Uuid,
            Codec::Json,
            Codec::Jsonb,
            Codec::Bits,
            Codec::Fallback,
        ]
    }

    proptest::proptest! {
        /// Encoding straight from the wire gives the bytes of encoding the
        /// decoded value, and fails where decoding fails.
        #[test]
        fn encoding_from_the_wire_matches_the_values(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            text in "\\PC{0,20}",
            digits in proptest::collection::vec(0i16..10_000, 0..6),
            weight in -3i16..6,
            dscale in 0i16..12,
            negative in proptest::prelude::any::<bool>(),
        ) {
            let mut inputs = vec![text.clone().into_bytes()];
            // the lengths of the fixed-size types, and any length
            for n in [1, 2, 4, 8, 12, 16] {
                if data.len() >= n {
                    inputs.push(data[..n].to_vec());
                }
            }
            inputs.push(data);
            let mut jsonb = vec![1u8];
            jsonb.extend_from_slice(text.as_bytes());
            inputs.push(jsonb);
            inputs.push(numeric(digits.len() as i16, weight, if negative { 0x4000 } else { 0 }, dscale, &digits));
            for codec in codecs() {
                let column = ColumnDecoder { codec: codec.clone(), type_name: "t".into() };
                for input in &inputs {
                    let mut direct = Vec::new();
                    let got = encode_field(&column, input, &mut direct, &mut Vec::new());
                    match decode_value(&codec, input, "t") {
                        Ok(v) => {
                            proptest::prop_assert!(got.is_ok(), "{codec:?} {input:?}");
                            let mut expected = Vec::new();
                            encode_value(&v, &mut expected);
                            proptest::prop_assert_eq!(direct, expected, "{:?}", codec);
                        }
                        Err(_) => proptest::prop_assert!(got.is_err(), "{codec:?} {input:?}"),
                    }
                }
            }
        }
    }
}
