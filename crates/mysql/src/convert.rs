//! Value conversion between the MySQL binary protocol and [`Value`].
//!
//! Rows are read with prepared statements, so the server sends typed
//! values: integers as integers, `FLOAT`/`DOUBLE` as their IEEE bits,
//! temporal types as parts (zero dates included). What arrives as bytes is
//! interpreted by the column's kind, decided once per table from the
//! captured schema.

use mysql_async::Value as My;
use tresor_core::{Column, Date, PortableType, SourceError, Time, Timestamp, Value};

/// How to interpret one column's protocol values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Signed integer (all widths) and `YEAR`.
    Int,
    /// Unsigned integer (all widths).
    UInt,
    /// `FLOAT`.
    Float,
    /// `DOUBLE`.
    Double,
    /// `DECIMAL`: the server's text, exact.
    Decimal,
    /// `BIT(n)`.
    Bit(u32),
    /// `DATE`.
    Date,
    /// `DATETIME`.
    DateTime,
    /// `TIMESTAMP` (read and written in UTC).
    Timestamp,
    /// `TIME` (a signed duration).
    Time,
    /// Character data (any charset; the session converts to utf8mb4).
    Text,
    /// `ENUM`.
    Enum,
    /// `JSON` (MySQL type or MariaDB's checked `LONGTEXT`).
    Json,
    /// Binary strings and blobs.
    Bytes,
    /// Spatial types: the server's internal form (SRID + WKB) as hex.
    Geometry(String),
}

impl Kind {
    /// The kind of a captured column.
    pub(crate) fn of(c: &Column) -> Kind {
        let data_type = c
            .extra
            .get("data_type")
            .and_then(|v| v.as_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| base_type(&c.engine_type));
        let unsigned = c.engine_type.to_ascii_lowercase().contains("unsigned");
        match data_type.as_str() {
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => {
                if unsigned {
                    Kind::UInt
                } else {
                    Kind::Int
                }
            }
            "bool" | "boolean" | "year" => Kind::Int,
            "float" => Kind::Float,
            "double" | "real" | "double precision" => Kind::Double,
            "decimal" | "numeric" | "dec" | "fixed" => Kind::Decimal,
            "bit" => Kind::Bit(match c.portable {
                PortableType::Bits { len: Some(n) } => n,
                _ => 1,
            }),
            "date" => Kind::Date,
            "datetime" => Kind::DateTime,
            "timestamp" => Kind::Timestamp,
            "time" => Kind::Time,
            "enum" => Kind::Enum,
            "json" => Kind::Json,
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => Kind::Bytes,
            t if tresor_core::is_spatial(t) => Kind::Geometry(data_type.clone()),
            _ if c.portable == PortableType::Json => Kind::Json,
            _ => Kind::Text,
        }
    }
}

/// `int(11) unsigned` -> `int`.
pub(crate) fn base_type(engine_type: &str) -> String {
    let t = engine_type.trim().to_ascii_lowercase();
    let end = t.find(['(', ' ']).unwrap_or(t.len());
    t[..end].to_string()
}

fn bad(kind: &Kind, v: &My) -> SourceError {
    SourceError::data(format!("unexpected value {v:?} for a {kind:?} column"))
}

fn text(bytes: Vec<u8>) -> Value {
    match String::from_utf8(bytes) {
        Ok(s) => Value::Text(s),
        Err(e) => Value::RawText(e.into_bytes()),
    }
}

fn date_of(y: u16, m: u8, d: u8) -> Date {
    Date::Ymd {
        year: i32::from(y),
        month: m,
        day: d,
    }
}

/// Converts one protocol value of a column of `kind`.
pub(crate) fn from_mysql(kind: &Kind, v: My) -> Result<Value, SourceError> {
    Ok(match (kind, v) {
        (_, My::NULL) => Value::Null,
        (Kind::Int, My::Int(i)) => Value::Int(i),
        (Kind::Int, My::UInt(u)) => {
            Value::Int(i64::try_from(u).map_err(|_| SourceError::data("integer out of range"))?)
        }
        (Kind::UInt, My::UInt(u)) => Value::UInt(u),
        (Kind::UInt, My::Int(i)) => {
            Value::UInt(u64::try_from(i).map_err(|_| SourceError::data("negative unsigned"))?)
        }
        (Kind::Float, My::Float(f)) => Value::F32(f),
        (Kind::Double, My::Double(f)) => Value::F64(f),
        (Kind::Float, My::Double(f)) => Value::F32(f as f32),
        (Kind::Decimal, My::Bytes(b)) => Value::Decimal(
            String::from_utf8(b).map_err(|_| SourceError::data("decimal is not ascii"))?,
        ),
        (Kind::Bit(n), My::Bytes(b)) => bits_from_mysql(*n, &b),
        (Kind::Bit(n), My::UInt(u)) => bits_from_mysql(*n, &u.to_be_bytes()),
        (Kind::Bit(n), My::Int(i)) => bits_from_mysql(*n, &i.to_be_bytes()),
        (Kind::Date, My::Date(y, m, d, ..)) => Value::Date(date_of(y, m, d)),
        (Kind::DateTime | Kind::Timestamp, My::Date(y, m, d, h, mi, s, us)) => {
            let ts = Timestamp {
                date: date_of(y, m, d),
                micros: Time::hms(i64::from(h), i64::from(mi), i64::from(s), i64::from(us)).micros,
            };
            if *kind == Kind::Timestamp {
                Value::TimestampTz(ts)
            } else {
                Value::Timestamp(ts)
            }
        }
        (Kind::Time, My::Time(neg, days, h, m, s, us)) => {
            let t = Time::hms(
                i64::from(days) * 24 + i64::from(h),
                i64::from(m),
                i64::from(s),
                i64::from(us),
            );
            Value::Time(if neg { Time { micros: -t.micros } } else { t })
        }
        (Kind::Text, My::Bytes(b)) => text(b),
        (Kind::Enum, My::Bytes(b)) => match String::from_utf8(b) {
            Ok(s) => Value::Enum(s),
            Err(e) => Value::RawText(e.into_bytes()),
        },
        (Kind::Json, My::Bytes(b)) => match String::from_utf8(b) {
            Ok(s) => Value::Json(s),
            Err(e) => Value::RawText(e.into_bytes()),
        },
        (Kind::Bytes, My::Bytes(b)) => Value::Bytes(b),
        (Kind::Geometry(name), My::Bytes(b)) => Value::Other {
            type_name: name.clone(),
            text: to_hex(&b),
        },
        // text protocol fallbacks (never used for rows, kept for safety)
        (Kind::Int | Kind::UInt, My::Bytes(b)) => {
            let s = String::from_utf8_lossy(&b);
            if let Ok(i) = s.parse::<i64>() {
                if *kind == Kind::Int {
                    Value::Int(i)
                } else {
                    Value::UInt(u64::try_from(i).map_err(|_| SourceError::data("negative"))?)
                }
            } else {
                Value::UInt(
                    s.parse::<u64>()
                        .map_err(|_| SourceError::data(format!("bad integer {s:?}")))?,
                )
            }
        }
        (k, v) => return Err(bad(k, &v)),
    })
}

/// MySQL sends `BIT(n)` right-aligned (a big-endian number);
/// [`Value::Bits`] is left-aligned (first bit in the high bit of the first
/// byte, zero padding at the end), like a PostgreSQL bit string.
fn bits_from_mysql(len: u32, be: &[u8]) -> Value {
    let mut n: u64 = 0;
    for b in be {
        n = (n << 8) | u64::from(*b);
    }
    let nbytes = len.div_ceil(8) as usize;
    let shift = nbytes as u32 * 8 - len;
    let aligned = if shift >= 64 { 0 } else { n << shift };
    let all = aligned.to_be_bytes();
    Value::Bits {
        len,
        bytes: all[8 - nbytes.min(8)..].to_vec(),
    }
}

fn bits_to_u64(len: u32, bytes: &[u8]) -> Result<u64, SourceError> {
    if len > 64 || bytes.len() > 8 {
        return Err(SourceError::data(format!(
            "bit string of {len} bits is longer than mysql's 64"
        )));
    }
    let mut n: u64 = 0;
    for b in bytes {
        n = (n << 8) | u64::from(*b);
    }
    let shift = bytes.len() as u32 * 8 - len.min(bytes.len() as u32 * 8);
    Ok(n >> shift)
}

fn ymd(d: Date) -> Result<(u16, u8, u8), SourceError> {
    match d {
        Date::Ymd { year, month, day } => {
            let y = u16::try_from(year)
                .ok()
                .filter(|y| *y <= 9999)
                .ok_or_else(|| {
                    SourceError::data(format!(
                        "the year {year} is outside the years 0 to 9999 that mysql and mariadb hold"
                    ))
                    .with_hint(
                        "a timestamptz is stored as its UTC time: change the value in the source, or restore into postgresql or sqlite",
                    )
                })?;
            Ok((y, month, day))
        }
        other => Err(SourceError::data(format!(
            "mysql cannot store the date {other}"
        ))),
    }
}

fn split_day_micros(micros: i64) -> (u8, u8, u8, u32) {
    let us = (micros % 1_000_000) as u32;
    let secs = micros / 1_000_000;
    (
        (secs / 3600) as u8,
        ((secs / 60) % 60) as u8,
        (secs % 60) as u8,
        us,
    )
}

/// Converts a value into a statement parameter.
pub(crate) fn to_mysql(v: Value) -> Result<My, SourceError> {
    Ok(match v {
        Value::Null => My::NULL,
        Value::Bool(b) => My::Int(i64::from(b)),
        Value::Int(i) => My::Int(i),
        Value::UInt(u) => My::UInt(u),
        Value::F32(f) => My::Float(f),
        Value::F64(f) => My::Double(f),
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) | Value::Enum(s) => {
            My::Bytes(s.into_bytes())
        }
        Value::RawText(b) | Value::Bytes(b) | Value::Document(b) => My::Bytes(b),
        Value::Bits { len, bytes } => My::UInt(bits_to_u64(len, &bytes)?),
        Value::Date(d) => {
            let (y, m, d) = ymd(d)?;
            My::Date(y, m, d, 0, 0, 0, 0)
        }
        Value::Timestamp(ts) | Value::TimestampTz(ts) => {
            let (y, m, d) = ymd(ts.date)?;
            let (h, mi, s, us) = split_day_micros(ts.micros);
            My::Date(y, m, d, h, mi, s, us)
        }
        Value::Time(t) => {
            let neg = t.micros < 0;
            let abs = t.micros.unsigned_abs();
            let us = (abs % 1_000_000) as u32;
            let secs = abs / 1_000_000;
            let days = u32::try_from(secs / 86_400)
                .map_err(|_| SourceError::data(format!("time {t} out of range")))?;
            let rem = secs % 86_400;
            My::Time(
                neg,
                days,
                (rem / 3600) as u8,
                ((rem / 60) % 60) as u8,
                (rem % 60) as u8,
                us,
            )
        }
        // MariaDB's UUID type and CHAR(36) both take the text form
        Value::Uuid(_) => My::Bytes(
            tresor_core::convert::to_text(&v)
                .unwrap_or_default()
                .into_bytes(),
        ),
        Value::Other { type_name, text } => {
            if tresor_core::is_spatial(&type_name) {
                My::Bytes(
                    from_hex(&text).ok_or_else(|| {
                        SourceError::data(format!("bad {type_name} value: not hex"))
                    })?,
                )
            } else {
                My::Bytes(text.into_bytes())
            }
        }
        // another engine's array, into the `json` column a table made from
        // the portable model gives it (docs/cross-engine.md: "arrays |
        // json")
        Value::Array(a) => My::Bytes(array_json(&a)?.to_string().into_bytes()),
        // docs/cross-engine.md: "interval ... | longtext", as its ISO 8601
        // text, and "timetz becomes time(6): the offset is dropped"
        Value::Interval(i) => My::Bytes(i.to_string().into_bytes()),
        Value::TimeTz { time, .. } => return to_mysql(Value::Time(time)),
    })
}

/// The JSON array of an array of another engine (PostgreSQL's `text[]`,
/// `int[]`, ...): one level of nesting per dimension, numbers, booleans
/// and JSON as themselves, bytes as hex, anything else as its text.
fn array_json(a: &tresor_core::Array) -> Result<serde_json::Value, SourceError> {
    fn nest(dims: &[u32], elements: &[Value]) -> Result<serde_json::Value, SourceError> {
        let items = match dims {
            [_, rest @ ..] if !rest.is_empty() => {
                let inner = rest.iter().map(|d| *d as usize).product::<usize>().max(1);
                elements
                    .chunks(inner)
                    .map(|c| nest(rest, c))
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => elements
                .iter()
                .map(element_json)
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(serde_json::Value::Array(items))
    }
    let dims: Vec<u32> = a.dims.iter().map(|d| d.len).collect();
    nest(&dims, &a.elements)
}

fn element_json(v: &Value) -> Result<serde_json::Value, SourceError> {
    use serde_json::Value as J;
    let float = |f: f64| serde_json::Number::from_f64(f).map_or(J::Null, J::Number);
    Ok(match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::UInt(u) => J::from(*u),
        Value::F64(f) => float(*f),
        Value::F32(f) => float(f64::from(*f)),
        Value::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| J::String(s.clone())),
        Value::Array(a) => array_json(a)?,
        Value::Bytes(b) | Value::RawText(b) => J::String(to_hex(b)),
        other => J::String(tresor_core::convert::to_text(other).ok_or_else(|| {
            SourceError::data(format!(
                "mysql has no json form for a {} value in an array",
                other.kind()
            ))
        })?),
    })
}

fn to_hex(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(HEX[usize::from(x >> 4)] as char);
        s.push(HEX[usize::from(x & 15)] as char);
    }
    s
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|p| {
            let h = (p[0] as char).to_digit(16)?;
            let l = (p[1] as char).to_digit(16)?;
            Some((h * 16 + l) as u8)
        })
        .collect()
}

/// Rough size of a value in memory, for cutting batches.
pub(crate) fn approx_size(v: &Value) -> usize {
    match v {
        Value::Text(s) | Value::Decimal(s) | Value::Json(s) | Value::Enum(s) => s.len() + 24,
        Value::Bytes(b) | Value::RawText(b) => b.len() + 24,
        Value::Other { text, .. } => text.len() + 48,
        _ => 16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_of_another_engine_become_json() {
        let list = Value::Array(Box::new(tresor_core::Array::list(vec![
            Value::Text("a \"b\"".into()),
            Value::Null,
            Value::Text(String::new()),
        ])));
        let My::Bytes(json) = to_mysql(list).expect("an array") else {
            panic!("not bytes")
        };
        assert_eq!(
            String::from_utf8(json).expect("utf-8"),
            r#"["a \"b\"",null,""]"#
        );
        let empty = Value::Array(Box::new(tresor_core::Array::list(Vec::new())));
        assert_eq!(to_mysql(empty).expect("empty"), My::Bytes(b"[]".to_vec()));
        let grid = Value::Array(Box::new(tresor_core::Array {
            dims: vec![
                tresor_core::ArrayDim { len: 2, lower: 1 },
                tresor_core::ArrayDim { len: 2, lower: 1 },
            ],
            elements: (1..=4).map(Value::Int).collect(),
        }));
        assert_eq!(
            to_mysql(grid).expect("grid"),
            My::Bytes(b"[[1,2],[3,4]]".to_vec())
        );
    }

    #[test]
    fn bits_round_trip() {
        for (len, n) in [
            (1u32, 1u64),
            (3, 5),
            (8, 255),
            (9, 257),
            (64, u64::MAX),
            (13, 0),
        ] {
            let bytes = n.to_be_bytes();
            let v = bits_from_mysql(len, &bytes);
            let Value::Bits { len: l, bytes: b } = &v else {
                panic!("not bits")
            };
            assert_eq!(*l, len);
            assert_eq!(b.len(), len.div_ceil(8) as usize);
            assert_eq!(bits_to_u64(len, b).expect("fits"), n, "{len} {n}");
        }
        assert_eq!(
            bits_from_mysql(3, &[5]),
            Value::Bits {
                len: 3,
                bytes: vec![0b1010_0000]
            }
        );
    }

    #[test]
    fn times_round_trip() {
        for micros in [
            0i64,
            -1,
            3_020_399_000_000,
            -3_020_399_999_999,
            90_000_000_000,
        ] {
            let v = to_mysql(Value::Time(Time { micros })).expect("to");
            let back = from_mysql(&Kind::Time, v).expect("from");
            assert_eq!(back, Value::Time(Time { micros }));
        }
    }

    #[test]
    fn timestamps_and_zero_dates() {
        let ts = Timestamp {
            date: Date::ymd(0, 0, 0),
            micros: 0,
        };
        let v = to_mysql(Value::Timestamp(ts)).expect("to");
        assert_eq!(v, My::Date(0, 0, 0, 0, 0, 0, 0));
        let ts: Timestamp = "2038-01-19T03:14:07.999999".parse().expect("ts");
        let v = to_mysql(Value::TimestampTz(ts)).expect("to");
        assert_eq!(
            from_mysql(&Kind::Timestamp, v).expect("from"),
            Value::TimestampTz(ts)
        );
        assert!(to_mysql(Value::Date(Date::Infinity)).is_err());
    }

    #[test]
    fn hex_round_trip() {
        let b = vec![0u8, 1, 0xab, 0xff];
        assert_eq!(from_hex(&to_hex(&b)), Some(b));
        assert_eq!(from_hex("abc"), None);
    }

    #[test]
    fn kinds_from_types() {
        let c = Column::new(
            "a",
            "bigint(20) unsigned",
            PortableType::Int {
                bits: 64,
                unsigned: true,
            },
        );
        assert_eq!(Kind::of(&c), Kind::UInt);
        assert_eq!(base_type("int(10) unsigned zerofill"), "int");
    }
}
