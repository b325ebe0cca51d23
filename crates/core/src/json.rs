//! Typed JSON form of values, used by export archives.
//!
//! Values map to natural JSON where that is unambiguous (`null`, booleans,
//! `Int` as an integer number, finite `F64` as a number that always has a
//! `.` or an exponent, `Text` as a string). Every other variant becomes a
//! single-key tagged object such as `{"$uint": 18446744073709551615}` or
//! `{"$date": "2024-01-31"}`; the full table is in `docs/archive.md`.
//!
//! The mapping is lossless: [`value_from_json`] of [`value_to_json`] is
//! [`Value::same`] as the original for every value, also through JSON text.
//! BSON documents become MongoDB canonical Extended JSON (key order kept)
//! when that reproduces the exact bytes, and `{"$docbytes": "<base64>"}`
//! otherwise (invalid BSON, duplicate keys, NaN payloads, ...).
//!
//! ```
//! use tresor_core::{Value, json};
//! let v = Value::UInt(u64::MAX);
//! let j = json::value_to_json(&v);
//! assert_eq!(j.to_string(), r#"{"$uint":18446744073709551615}"#);
//! assert!(json::value_from_json(&j).unwrap().same(&v));
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Number, Value as Json};
use thiserror::Error;

use crate::schema::TableSchema;
use crate::value::{Array, ArrayDim, Date, Interval, Row, Time, Timestamp, Value};

/// Why JSON could not be turned into a value or a row.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonError {
    /// An object that is not a single-key `{"$tag": ...}` value.
    #[error("a json object must be a single-key typed value such as {{\"$uint\": 1}}")]
    NotTagged,
    /// A `$tag` that this version does not know.
    #[error("unknown value tag {0:?}")]
    UnknownTag(String),
    /// A tagged value whose body is malformed.
    #[error("invalid {kind} value: {detail}")]
    Invalid {
        /// The tag or value kind.
        kind: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A plain integer beyond the signed 64-bit range.
    #[error(
        "integer {0} does not fit in 64 bits (large unsigned values are written as {{\"$uint\": n}})"
    )]
    IntOutOfRange(String),
    /// A row that is not a JSON object.
    #[error("a row must be a json object")]
    RowNotObject,
    /// A row without a value for a stored column.
    #[error("row has no value for column {0:?}")]
    MissingColumn(String),
    /// A row with a key that is not a stored column.
    #[error("row has unknown column {0:?}")]
    UnknownColumn(String),
    /// A row whose number of values differs from the stored columns.
    #[error("row has {found} values but the table stores {expected} columns")]
    RowLength {
        /// Stored columns in the schema.
        expected: usize,
        /// Values in the row.
        found: usize,
    },
    /// A schema that names one stored column twice.
    #[error("table stores column {0:?} twice")]
    DuplicateColumn(String),
    /// A value for the named column could not be decoded.
    #[error("column {column:?}: {source}")]
    Column {
        /// The column.
        column: String,
        /// Why its value is invalid.
        #[source]
        source: Box<JsonError>,
    },
}

fn invalid(kind: &'static str, detail: impl Into<String>) -> JsonError {
    JsonError::Invalid {
        kind,
        detail: detail.into(),
    }
}

fn tagged(tag: &str, body: Json) -> Json {
    let mut m = Map::with_capacity(1);
    m.insert(tag.to_string(), body);
    Json::Object(m)
}

/// Canonical quiet NaN bit patterns, written as `"NaN"`; any other NaN is
/// written as its bits.
const F64_NAN: u64 = 0x7ff8_0000_0000_0000;
const F32_NAN: u32 = 0x7fc0_0000;

/// A finite float's shortest round-trip text, which always has a `.` or an
/// exponent (`1.0`, `-0.0`, `1e16`, `1.5e-7`).
fn float_number(text: &str) -> Option<Json> {
    text.parse::<Number>().ok().map(Json::Number)
}

/// The typed JSON form of a value.
pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::Number((*i).into()),
        Value::UInt(u) => tagged("$uint", Json::Number((*u).into())),
        Value::F64(f) => f64_to_json(*f),
        Value::F32(f) => f32_to_json(*f),
        Value::Decimal(s) => tagged("$decimal", Json::String(s.clone())),
        Value::Text(s) => Json::String(s.clone()),
        Value::RawText(b) => tagged("$rawtext", Json::String(B64.encode(b))),
        Value::Bytes(b) => tagged("$bytes", Json::String(B64.encode(b))),
        Value::Bits { len, bytes } => tagged("$bits", bits_to_json(*len, bytes)),
        Value::Date(d) => tagged("$date", Json::String(format_date(*d))),
        Value::Time(t) => tagged("$time", Json::String(format_time(t.micros))),
        Value::TimeTz { time, offset_secs } => {
            let mut m = Map::new();
            m.insert("time".into(), Json::String(format_time(time.micros)));
            m.insert("offset".into(), Json::Number((*offset_secs).into()));
            tagged("$timetz", Json::Object(m))
        }
        Value::Timestamp(t) => tagged("$timestamp", timestamp_to_json(*t, "")),
        Value::TimestampTz(t) => tagged("$timestamptz", timestamp_to_json(*t, "Z")),
        Value::Interval(i) => {
            let mut m = Map::new();
            m.insert("months".into(), Json::Number(i.months.into()));
            m.insert("days".into(), Json::Number(i.days.into()));
            m.insert("micros".into(), Json::Number(i.micros.into()));
            tagged("$interval", Json::Object(m))
        }
        Value::Uuid(u) => tagged("$uuid", Json::String(format_uuid(u))),
        Value::Json(s) => tagged("$json", Json::String(s.clone())),
        Value::Enum(s) => tagged("$enum", Json::String(s.clone())),
        Value::Array(a) => tagged("$array", array_to_json(a)),
        Value::Document(b) => tagged("$doc", document_to_json(b)),
        Value::Other { type_name, text } => {
            let mut m = Map::new();
            m.insert("type".into(), Json::String(type_name.clone()));
            m.insert("text".into(), Json::String(text.clone()));
            tagged("$other", Json::Object(m))
        }
    }
}

fn f64_to_json(f: f64) -> Json {
    if f.is_finite() {
        if let Some(n) = float_number(&format!("{f:?}")) {
            return n;
        }
    } else if f.is_infinite() {
        let s = if f > 0.0 { "Infinity" } else { "-Infinity" };
        return tagged("$f64", Json::String(s.into()));
    } else if f.to_bits() == F64_NAN {
        return tagged("$f64", Json::String("NaN".into()));
    }
    tagged("$f64bits", Json::String(format!("{:016x}", f.to_bits())))
}

fn f32_to_json(f: f32) -> Json {
    if f.is_finite() {
        if let Some(n) = float_number(&format!("{f:?}")) {
            return tagged("$f32", n);
        }
    } else if f.is_infinite() {
        let s = if f > 0.0 { "Infinity" } else { "-Infinity" };
        return tagged("$f32", Json::String(s.into()));
    } else if f.to_bits() == F32_NAN {
        return tagged("$f32", Json::String("NaN".into()));
    }
    tagged("$f32bits", Json::String(format!("{:08x}", f.to_bits())))
}

fn bits_to_json(len: u32, bytes: &[u8]) -> Json {
    let canonical = bytes.len() as u64 == u64::from(len).div_ceil(8)
        && (len.is_multiple_of(8) || bytes.last().is_some_and(|b| b & (0xff >> (len % 8)) == 0));
    if canonical {
        let s: String = (0..len as usize)
            .map(|i| {
                if bytes[i / 8] & (0x80 >> (i % 8)) != 0 {
                    '1'
                } else {
                    '0'
                }
            })
            .collect();
        Json::String(s)
    } else {
        // non-zero padding bits: keep every byte
        let mut m = Map::new();
        m.insert("len".into(), Json::Number(len.into()));
        m.insert("hex".into(), Json::String(hex::encode(bytes)));
        Json::Object(m)
    }
}

fn timestamp_to_json(t: Timestamp, zone: &str) -> Json {
    let in_day = (0..86_400_000_000).contains(&t.micros);
    match t.date {
        Date::Infinity | Date::NegInfinity if t.micros == 0 => Json::String(format_date(t.date)),
        Date::Ymd { .. } if in_day => Json::String(format!(
            "{}T{}{zone}",
            format_date(t.date),
            format_time(t.micros)
        )),
        _ => {
            let mut m = Map::new();
            m.insert("date".into(), Json::String(format_date(t.date)));
            m.insert("micros".into(), Json::Number(t.micros.into()));
            Json::Object(m)
        }
    }
}

fn array_to_json(a: &Array) -> Json {
    let items = Json::Array(a.elements.iter().map(value_to_json).collect());
    let simple = match a.dims.as_slice() {
        [] => a.elements.is_empty(),
        [d] => d.lower == 1 && d.len as usize == a.elements.len() && d.len > 0,
        _ => false,
    };
    if simple {
        return items;
    }
    let dims = a
        .dims
        .iter()
        .map(|d| Json::Array(vec![d.len.into(), d.lower.into()]))
        .collect();
    let mut m = Map::new();
    m.insert("dims".into(), Json::Array(dims));
    m.insert("items".into(), items);
    Json::Object(m)
}

/// A date as `YYYY-MM-DD` (year at least four digits, `-` before negative
/// years), `infinity` or `-infinity`. Zero months and days are kept.
fn format_date(d: Date) -> String {
    d.to_string()
}

fn parse_date(s: &str) -> Result<Date, JsonError> {
    let bad = || invalid("date", format!("{s:?}"));
    match s {
        "infinity" => return Ok(Date::Infinity),
        "-infinity" => return Ok(Date::NegInfinity),
        _ => {}
    }
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let mut parts = rest.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let digits = |p: &str, max: usize| {
        !p.is_empty() && p.len() <= max && p.bytes().all(|c| c.is_ascii_digit())
    };
    if !digits(y, 10) || !digits(m, 3) || !digits(d, 3) {
        return Err(bad());
    }
    let year: i64 = y.parse().map_err(|_| bad())?;
    let year = i32::try_from(if neg { -year } else { year }).map_err(|_| bad())?;
    let month: u8 = m.parse().map_err(|_| bad())?;
    let day: u8 = d.parse().map_err(|_| bad())?;
    Ok(Date::Ymd { year, month, day })
}

/// `[-]HH:MM:SS[.f]`, hours unbounded, the fraction without trailing zeros.
fn format_time(micros: i64) -> String {
    let neg = micros < 0;
    let total = micros.unsigned_abs();
    let us = total % 1_000_000;
    let secs = total / 1_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = String::with_capacity(16);
    if neg {
        out.push('-');
    }
    out.push_str(&format!("{h:02}:{m:02}:{s:02}"));
    if us != 0 {
        let frac = format!("{us:06}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out
}

fn parse_time(s: &str) -> Result<i64, JsonError> {
    let bad = || invalid("time", format!("{s:?}"));
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (hms, frac) = match rest.split_once('.') {
        Some((a, f)) if !f.is_empty() => (a, f),
        Some(_) => return Err(bad()),
        None => (rest, ""),
    };
    let mut it = hms.split(':');
    let (Some(h), Some(m), Some(sec), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    let digits = |p: &str, min: usize, max: usize| {
        p.len() >= min && p.len() <= max && p.bytes().all(|c| c.is_ascii_digit())
    };
    if !digits(h, 1, 19) || !digits(m, 2, 2) || !digits(sec, 2, 2) || !digits(frac, 0, 6) {
        return Err(bad());
    }
    let h: i128 = h.parse().map_err(|_| bad())?;
    let m: i128 = m.parse().map_err(|_| bad())?;
    let sec: i128 = sec.parse().map_err(|_| bad())?;
    if m > 59 || sec > 60 {
        return Err(bad());
    }
    let us: i128 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().map_err(|_| bad())?
    };
    let total = ((h * 60 + m) * 60 + sec) * 1_000_000 + us;
    i64::try_from(if neg { -total } else { total }).map_err(|_| bad())
}

fn parse_timestamp(j: &Json, zone: &str, kind: &'static str) -> Result<Timestamp, JsonError> {
    match j {
        Json::String(s) => {
            let date_only = match s.as_str() {
                "infinity" => Some(Date::Infinity),
                "-infinity" => Some(Date::NegInfinity),
                _ => None,
            };
            if let Some(date) = date_only {
                return Ok(Timestamp { date, micros: 0 });
            }
            let body = if zone.is_empty() {
                s.as_str()
            } else {
                s.strip_suffix(zone)
                    .ok_or_else(|| invalid(kind, format!("{s:?} does not end in {zone:?}")))?
            };
            // the date may start with '-', so split at the 'T'
            let (d, t) = body
                .split_once('T')
                .ok_or_else(|| invalid(kind, format!("{s:?}")))?;
            let date = parse_date(d)?;
            if matches!(date, Date::Infinity | Date::NegInfinity) {
                return Err(invalid(kind, format!("{s:?}")));
            }
            let micros = parse_time(t)?;
            if !(0..86_400_000_000).contains(&micros) {
                return Err(invalid(kind, format!("time of day out of range in {s:?}")));
            }
            Ok(Timestamp { date, micros })
        }
        Json::Object(m) => {
            let body = Fields::new(m, kind, &["date", "micros"])?;
            Ok(Timestamp {
                date: parse_date(body.str("date")?)?,
                micros: body.int("micros")?,
            })
        }
        _ => Err(invalid(kind, "expected a string or an object")),
    }
}

fn format_uuid(u: &[u8; 16]) -> String {
    let h = hex::encode(u);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn parse_uuid(s: &str) -> Result<[u8; 16], JsonError> {
    let bad = || invalid("uuid", format!("{s:?}"));
    let b = s.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return Err(bad());
    }
    let compact: String = s.chars().filter(|&c| c != '-').collect();
    let mut out = [0u8; 16];
    hex::decode_to_slice(compact, &mut out).map_err(|_| bad())?;
    Ok(out)
}

/// The keys of a tagged value's object body, checked to be exactly the
/// expected ones.
struct Fields<'a> {
    map: &'a Map<String, Json>,
    kind: &'static str,
}

impl<'a> Fields<'a> {
    fn new(
        map: &'a Map<String, Json>,
        kind: &'static str,
        keys: &[&str],
    ) -> Result<Self, JsonError> {
        for k in map.keys() {
            if !keys.contains(&k.as_str()) {
                return Err(invalid(kind, format!("unexpected key {k:?}")));
            }
        }
        for k in keys {
            if !map.contains_key(*k) {
                return Err(invalid(kind, format!("missing key {k:?}")));
            }
        }
        Ok(Fields { map, kind })
    }

    fn get(&self, key: &str) -> Result<&'a Json, JsonError> {
        self.map
            .get(key)
            .ok_or_else(|| invalid(self.kind, format!("missing key {key:?}")))
    }

    fn str(&self, key: &str) -> Result<&'a str, JsonError> {
        self.get(key)?
            .as_str()
            .ok_or_else(|| invalid(self.kind, format!("{key:?} must be a string")))
    }

    fn int<T: TryFrom<i64>>(&self, key: &str) -> Result<T, JsonError> {
        self.get(key)?
            .as_i64()
            .and_then(|i| T::try_from(i).ok())
            .ok_or_else(|| invalid(self.kind, format!("{key:?} must be an integer in range")))
    }
}

fn body_str<'a>(body: &'a Json, kind: &'static str) -> Result<&'a str, JsonError> {
    body.as_str()
        .ok_or_else(|| invalid(kind, "expected a string"))
}

fn body_obj<'a>(body: &'a Json, kind: &'static str) -> Result<&'a Map<String, Json>, JsonError> {
    body.as_object()
        .ok_or_else(|| invalid(kind, "expected an object"))
}

fn base64_body(body: &Json, kind: &'static str) -> Result<Vec<u8>, JsonError> {
    B64.decode(body_str(body, kind)?)
        .map_err(|e| invalid(kind, format!("bad base64: {e}")))
}

/// Decodes the typed JSON form of a value.
///
/// # Errors
/// [`JsonError`] for an object that is not exactly one known `$tag`, a
/// malformed tag body, or an integer beyond 64 bits.
pub fn value_from_json(j: &Json) -> Result<Value, JsonError> {
    Ok(match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            let text = n.to_string();
            if text.contains(['.', 'e', 'E']) {
                Value::F64(
                    text.parse()
                        .map_err(|_| invalid("f64", format!("{text:?}")))?,
                )
            } else {
                Value::Int(text.parse().map_err(|_| JsonError::IntOutOfRange(text))?)
            }
        }
        Json::String(s) => Value::Text(s.clone()),
        Json::Array(_) => {
            return Err(invalid(
                "array",
                "a bare json array is not a value (arrays are {\"$array\": [...]})",
            ));
        }
        Json::Object(m) => {
            let mut it = m.iter();
            let (Some((tag, body)), None) = (it.next(), it.next()) else {
                return Err(JsonError::NotTagged);
            };
            tagged_from_json(tag, body)?
        }
    })
}

fn tagged_from_json(tag: &str, body: &Json) -> Result<Value, JsonError> {
    Ok(match tag {
        "$uint" => {
            let text = body
                .as_number()
                .map(ToString::to_string)
                .ok_or_else(|| invalid("uint", "expected a number"))?;
            Value::UInt(text.parse().map_err(|_| invalid("uint", text))?)
        }
        "$f64" => Value::F64(match body {
            Json::String(s) => match s.as_str() {
                "NaN" => f64::from_bits(F64_NAN),
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                _ => return Err(invalid("f64", format!("{s:?}"))),
            },
            Json::Number(n) => {
                let t = n.to_string();
                t.parse().map_err(|_| invalid("f64", t))?
            }
            _ => return Err(invalid("f64", "expected a number or a string")),
        }),
        "$f64bits" => {
            let s = body_str(body, "f64bits")?;
            if s.len() != 16 {
                return Err(invalid("f64bits", format!("{s:?}")));
            }
            let bits =
                u64::from_str_radix(s, 16).map_err(|_| invalid("f64bits", format!("{s:?}")))?;
            Value::F64(f64::from_bits(bits))
        }
        "$f32" => Value::F32(match body {
            Json::String(s) => match s.as_str() {
                "NaN" => f32::from_bits(F32_NAN),
                "Infinity" => f32::INFINITY,
                "-Infinity" => f32::NEG_INFINITY,
                _ => return Err(invalid("f32", format!("{s:?}"))),
            },
            Json::Number(n) => {
                let t = n.to_string();
                t.parse().map_err(|_| invalid("f32", t))?
            }
            _ => return Err(invalid("f32", "expected a number or a string")),
        }),
        "$f32bits" => {
            let s = body_str(body, "f32bits")?;
            if s.len() != 8 {
                return Err(invalid("f32bits", format!("{s:?}")));
            }
            let bits =
                u32::from_str_radix(s, 16).map_err(|_| invalid("f32bits", format!("{s:?}")))?;
            Value::F32(f32::from_bits(bits))
        }
        "$decimal" => Value::Decimal(body_str(body, "decimal")?.to_string()),
        "$rawtext" => Value::RawText(base64_body(body, "rawtext")?),
        "$bytes" => Value::Bytes(base64_body(body, "bytes")?),
        "$bits" => bits_from_json(body)?,
        "$date" => Value::Date(parse_date(body_str(body, "date")?)?),
        "$time" => Value::Time(Time {
            micros: parse_time(body_str(body, "time")?)?,
        }),
        "$timetz" => {
            let f = Fields::new(body_obj(body, "timetz")?, "timetz", &["time", "offset"])?;
            Value::TimeTz {
                time: Time {
                    micros: parse_time(f.str("time")?)?,
                },
                offset_secs: f.int("offset")?,
            }
        }
        "$timestamp" => Value::Timestamp(parse_timestamp(body, "", "timestamp")?),
        "$timestamptz" => Value::TimestampTz(parse_timestamp(body, "Z", "timestamptz")?),
        "$interval" => {
            let f = Fields::new(
                body_obj(body, "interval")?,
                "interval",
                &["months", "days", "micros"],
            )?;
            Value::Interval(Interval {
                months: f.int("months")?,
                days: f.int("days")?,
                micros: f.int("micros")?,
            })
        }
        "$uuid" => Value::Uuid(parse_uuid(body_str(body, "uuid")?)?),
        "$json" => Value::Json(body_str(body, "json")?.to_string()),
        "$enum" => Value::Enum(body_str(body, "enum")?.to_string()),
        "$array" => Value::Array(Box::new(array_from_json(body)?)),
        "$doc" => Value::Document(document_from_json(body)?),
        "$other" => {
            let f = Fields::new(body_obj(body, "other")?, "other", &["type", "text"])?;
            Value::Other {
                type_name: f.str("type")?.to_string(),
                text: f.str("text")?.to_string(),
            }
        }
        other => return Err(JsonError::UnknownTag(other.to_string())),
    })
}

fn bits_from_json(body: &Json) -> Result<Value, JsonError> {
    match body {
        Json::String(s) => {
            let len = u32::try_from(s.len()).map_err(|_| invalid("bits", "too long"))?;
            let mut bytes = vec![0u8; s.len().div_ceil(8)];
            for (i, c) in s.bytes().enumerate() {
                match c {
                    b'0' => {}
                    b'1' => bytes[i / 8] |= 0x80 >> (i % 8),
                    _ => return Err(invalid("bits", "expected only 0 and 1")),
                }
            }
            Ok(Value::Bits { len, bytes })
        }
        Json::Object(m) => {
            let f = Fields::new(m, "bits", &["len", "hex"])?;
            let len: u32 = f.int("len")?;
            let bytes =
                hex::decode(f.str("hex")?).map_err(|e| invalid("bits", format!("bad hex: {e}")))?;
            if bytes.len() as u64 != u64::from(len).div_ceil(8) {
                return Err(invalid("bits", "byte count does not match the length"));
            }
            Ok(Value::Bits { len, bytes })
        }
        _ => Err(invalid("bits", "expected a string or an object")),
    }
}

fn array_from_json(body: &Json) -> Result<Array, JsonError> {
    let items_of = |j: &Json| -> Result<Vec<Value>, JsonError> {
        j.as_array()
            .ok_or_else(|| invalid("array", "\"items\" must be an array"))?
            .iter()
            .map(value_from_json)
            .collect()
    };
    let a = match body {
        Json::Array(_) => Array::list(items_of(body)?),
        Json::Object(m) => {
            let f = Fields::new(m, "array", &["dims", "items"])?;
            let dims = f
                .get("dims")?
                .as_array()
                .ok_or_else(|| invalid("array", "\"dims\" must be an array"))?
                .iter()
                .map(|d| match d.as_array().map(Vec::as_slice) {
                    Some([len, lower]) => {
                        let len = len.as_u64().and_then(|l| u32::try_from(l).ok());
                        let lower = lower.as_i64().and_then(|l| i32::try_from(l).ok());
                        match (len, lower) {
                            (Some(len), Some(lower)) => Ok(ArrayDim { len, lower }),
                            _ => Err(invalid("array", "bad dimension")),
                        }
                    }
                    _ => Err(invalid("array", "a dimension is [len, lower]")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Array {
                dims,
                elements: items_of(f.get("items")?)?,
            }
        }
        _ => return Err(invalid("array", "expected an array or an object")),
    };
    if !a.is_well_formed() {
        return Err(invalid(
            "array",
            "dimensions do not match the number of items",
        ));
    }
    Ok(a)
}

/// The JSON object of a row: stored column name -> typed value, in stored
/// column order.
///
/// # Errors
/// [`JsonError::RowLength`] when the row does not have one value per
/// stored column, [`JsonError::DuplicateColumn`] for a schema that stores
/// one name twice.
pub fn row_to_json(table: &TableSchema, row: &[Value]) -> Result<Map<String, Json>, JsonError> {
    let mut m = Map::with_capacity(row.len());
    let mut n = 0;
    for (col, v) in table.stored_columns().zip(row) {
        n += 1;
        if m.insert(col.name.clone(), value_to_json(v)).is_some() {
            return Err(JsonError::DuplicateColumn(col.name.clone()));
        }
    }
    let expected = table.stored_columns().count();
    if n != expected || row.len() != expected {
        return Err(JsonError::RowLength {
            expected,
            found: row.len(),
        });
    }
    Ok(m)
}

/// The row that [`row_to_json`] wrote: every stored column present, no
/// other key.
///
/// # Errors
/// A missing or unknown column, or a value that does not decode (named by
/// its column).
pub fn row_from_json(table: &TableSchema, obj: &Map<String, Json>) -> Result<Row, JsonError> {
    let mut row = Vec::with_capacity(obj.len());
    for col in table.stored_columns() {
        let j = obj
            .get(&col.name)
            .ok_or_else(|| JsonError::MissingColumn(col.name.clone()))?;
        row.push(value_from_json(j).map_err(|e| JsonError::Column {
            column: col.name.clone(),
            source: Box::new(e),
        })?);
    }
    if obj.len() != row.len() {
        for k in obj.keys() {
            if table.stored_columns().all(|c| &c.name != k) {
                return Err(JsonError::UnknownColumn(k.clone()));
            }
        }
    }
    Ok(row)
}

/// A BSON document as MongoDB canonical Extended JSON, or as
/// `{"$docbytes": "<base64>"}` when Extended JSON would not give back the
/// exact bytes (invalid BSON, duplicate keys, non-canonical NaN, nesting
/// deeper than 90 levels, a document that reads like an Extended JSON
/// wrapper).
pub fn document_to_json(bson: &[u8]) -> Json {
    if let Some(j) = extjson::to_json(bson)
        && document_from_json(&j).is_ok_and(|back| back == bson)
    {
        return j;
    }
    tagged("$docbytes", Json::String(B64.encode(bson)))
}

/// The BSON bytes of a document written by [`document_to_json`] (canonical
/// or relaxed Extended JSON, or `{"$docbytes": ...}`).
///
/// # Errors
/// [`JsonError::Invalid`] when the JSON is not an Extended JSON document.
pub fn document_from_json(j: &Json) -> Result<Vec<u8>, JsonError> {
    if let Json::Object(m) = j
        && m.len() == 1
        && let Some(body) = m.get("$docbytes")
    {
        return base64_body(body, "document");
    }
    extjson::from_json(j).map_err(|e| invalid("document", e))
}

/// MongoDB Extended JSON v2 over raw BSON bytes, written here so the exact
/// bytes are under control (and without the `bson` crate's serde features).
mod extjson {
    use super::B64;
    use base64::Engine as _;
    use serde_json::{Map, Value as Json, json};

    /// Deepest document nesting written as Extended JSON; deeper ones use
    /// `$docbytes`, which keeps JSON readers within their recursion limits.
    const MAX_DEPTH: usize = 90;

    struct Cursor<'a> {
        buf: &'a [u8],
        pos: usize,
    }

    type R<T> = Result<T, ()>;

    impl<'a> Cursor<'a> {
        fn take(&mut self, n: usize) -> R<&'a [u8]> {
            let end = self.pos.checked_add(n).ok_or(())?;
            let s = self.buf.get(self.pos..end).ok_or(())?;
            self.pos = end;
            Ok(s)
        }
        fn byte(&mut self) -> R<u8> {
            Ok(self.take(1)?[0])
        }
        fn i32(&mut self) -> R<i32> {
            let b = self.take(4)?;
            Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        fn u64(&mut self) -> R<u64> {
            let mut a = [0u8; 8];
            a.copy_from_slice(self.take(8)?);
            Ok(u64::from_le_bytes(a))
        }
        fn cstr(&mut self) -> R<&'a str> {
            let rest = self.buf.get(self.pos..).ok_or(())?;
            let n = rest.iter().position(|&b| b == 0).ok_or(())?;
            let s = std::str::from_utf8(&rest[..n]).map_err(|_| ())?;
            self.pos += n + 1;
            Ok(s)
        }
        fn string(&mut self) -> R<&'a str> {
            let n = usize::try_from(self.i32()?).map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            let b = self.take(n)?;
            if b[n - 1] != 0 {
                return Err(());
            }
            std::str::from_utf8(&b[..n - 1]).map_err(|_| ())
        }
        /// An embedded document's bytes (length prefix included).
        fn doc_bytes(&mut self) -> R<&'a [u8]> {
            let start = self.pos;
            let n = usize::try_from(self.i32()?).map_err(|_| ())?;
            if n < 5 {
                return Err(());
            }
            self.pos = start;
            self.take(n)
        }
    }

    /// Canonical Extended JSON of a whole document, `None` if the bytes
    /// are not one well-formed BSON document.
    pub(super) fn to_json(bson: &[u8]) -> Option<Json> {
        doc(bson, 0, false).ok()
    }

    fn doc(bytes: &[u8], depth: usize, as_array: bool) -> R<Json> {
        if depth > MAX_DEPTH || bytes.len() < 5 {
            return Err(());
        }
        let mut c = Cursor { buf: bytes, pos: 0 };
        let n = usize::try_from(c.i32()?).map_err(|_| ())?;
        if n != bytes.len() || bytes[n - 1] != 0 {
            return Err(());
        }
        let mut map = Map::new();
        let mut arr = Vec::new();
        while c.pos < n - 1 {
            let t = c.byte()?;
            let key = c.cstr()?;
            let v = element(&mut c, t, depth)?;
            if as_array {
                arr.push(v);
            } else {
                map.insert(key.to_string(), v);
            }
        }
        if c.pos != n - 1 {
            return Err(());
        }
        Ok(if as_array {
            Json::Array(arr)
        } else {
            Json::Object(map)
        })
    }

    fn double_text(f: f64) -> String {
        if f.is_nan() {
            "NaN".into()
        } else if f.is_infinite() {
            if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
        } else {
            format!("{f:?}")
        }
    }

    fn element(c: &mut Cursor<'_>, t: u8, depth: usize) -> R<Json> {
        Ok(match t {
            0x01 => json!({"$numberDouble": double_text(f64::from_bits(c.u64()?))}),
            0x02 => Json::String(c.string()?.to_string()),
            0x03 => doc(c.doc_bytes()?, depth + 1, false)?,
            0x04 => doc(c.doc_bytes()?, depth + 1, true)?,
            0x05 => {
                let n = usize::try_from(c.i32()?).map_err(|_| ())?;
                let sub = c.byte()?;
                let data = c.take(n)?;
                json!({"$binary": {"base64": B64.encode(data), "subType": hex::encode([sub])}})
            }
            0x06 => json!({"$undefined": true}),
            0x07 => json!({"$oid": hex::encode(c.take(12)?)}),
            0x08 => match c.byte()? {
                0 => Json::Bool(false),
                1 => Json::Bool(true),
                _ => return Err(()),
            },
            0x09 => json!({"$date": {"$numberLong": (c.u64()? as i64).to_string()}}),
            0x0A => Json::Null,
            0x0B => {
                let pattern = c.cstr()?;
                let options = c.cstr()?;
                json!({"$regularExpression": {"pattern": pattern, "options": options}})
            }
            0x0C => {
                let ns = c.string()?;
                let id = hex::encode(c.take(12)?);
                json!({"$dbPointer": {"$ref": ns, "$id": {"$oid": id}}})
            }
            0x0D => json!({"$code": c.string()?}),
            0x0E => json!({"$symbol": c.string()?}),
            0x0F => {
                let start = c.pos;
                let total = usize::try_from(c.i32()?).map_err(|_| ())?;
                let code = c.string()?;
                let scope = doc(c.doc_bytes()?, depth + 1, false)?;
                if c.pos - start != total {
                    return Err(());
                }
                json!({"$code": code, "$scope": scope})
            }
            0x10 => json!({"$numberInt": c.i32()?.to_string()}),
            0x11 => {
                let v = c.u64()?;
                json!({"$timestamp": {"t": v >> 32, "i": v & 0xffff_ffff}})
            }
            0x12 => json!({"$numberLong": (c.u64()? as i64).to_string()}),
            0x13 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(c.take(16)?);
                json!({"$numberDecimal": bson::Decimal128::from_bytes(b).to_string()})
            }
            0xFF => json!({"$minKey": 1}),
            0x7F => json!({"$maxKey": 1}),
            _ => return Err(()),
        })
    }

    /// The BSON bytes of an Extended JSON document.
    pub(super) fn from_json(j: &Json) -> Result<Vec<u8>, String> {
        let Json::Object(m) = j else {
            return Err("a document must be a json object".into());
        };
        if wrapper_key(m).is_some() {
            return Err("expected a document, found an extended json value".into());
        }
        let mut out = Vec::new();
        write_doc(&mut out, m.iter().map(|(k, v)| (k.as_str(), v)), 0)?;
        Ok(out)
    }

    const WRAPPERS: &[&str] = &[
        "$numberDouble",
        "$numberInt",
        "$numberLong",
        "$numberDecimal",
        "$binary",
        "$undefined",
        "$oid",
        "$date",
        "$regularExpression",
        "$dbPointer",
        "$code",
        "$symbol",
        "$timestamp",
        "$minKey",
        "$maxKey",
    ];

    fn wrapper_key(m: &Map<String, Json>) -> Option<&str> {
        let first = m.keys().next()?;
        WRAPPERS.contains(&first.as_str()).then_some(first.as_str())
    }

    fn write_doc<'a>(
        out: &mut Vec<u8>,
        items: impl Iterator<Item = (&'a str, &'a Json)>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > super::extjson::MAX_DEPTH + 10 {
            return Err("document nested too deeply".into());
        }
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        for (k, v) in items {
            write_element(out, k, v, depth)?;
        }
        out.push(0);
        let len = i32::try_from(out.len() - start).map_err(|_| "document too large")?;
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        Ok(())
    }

    fn cstr(out: &mut Vec<u8>, s: &str) -> Result<(), String> {
        if s.contains('\0') {
            return Err(format!("{s:?} contains a nul character"));
        }
        out.extend_from_slice(s.as_bytes());
        out.push(0);
        Ok(())
    }

    fn string(out: &mut Vec<u8>, s: &str) -> Result<(), String> {
        let n = i32::try_from(s.len() + 1).map_err(|_| "string too large")?;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
        Ok(())
    }

    fn field<'a>(m: &'a Map<String, Json>, key: &str) -> Result<&'a Json, String> {
        m.get(key).ok_or_else(|| format!("missing {key:?}"))
    }

    fn field_str<'a>(m: &'a Map<String, Json>, key: &str) -> Result<&'a str, String> {
        field(m, key)?
            .as_str()
            .ok_or_else(|| format!("{key:?} must be a string"))
    }

    fn exact_keys(m: &Map<String, Json>, keys: &[&str]) -> Result<(), String> {
        if m.len() == keys.len() && keys.iter().all(|k| m.contains_key(*k)) {
            Ok(())
        } else {
            Err(format!("expected exactly the keys {keys:?}"))
        }
    }

    fn oid(s: &str) -> Result<[u8; 12], String> {
        let mut b = [0u8; 12];
        hex::decode_to_slice(s, &mut b).map_err(|_| format!("bad object id {s:?}"))?;
        Ok(b)
    }

    fn write_element(out: &mut Vec<u8>, key: &str, v: &Json, depth: usize) -> Result<(), String> {
        let type_at = out.len();
        out.push(0);
        cstr(out, key)?;
        let t: u8 = match v {
            Json::Null => 0x0A,
            Json::Bool(b) => {
                out.push(u8::from(*b));
                0x08
            }
            Json::Number(n) => {
                let text = n.to_string();
                if !text.contains(['.', 'e', 'E'])
                    && let Ok(i) = text.parse::<i64>()
                {
                    if let Ok(i) = i32::try_from(i) {
                        out.extend_from_slice(&i.to_le_bytes());
                        0x10
                    } else {
                        out.extend_from_slice(&i.to_le_bytes());
                        0x12
                    }
                } else {
                    let f: f64 = text.parse().map_err(|_| format!("bad number {text}"))?;
                    out.extend_from_slice(&f.to_bits().to_le_bytes());
                    0x01
                }
            }
            Json::String(s) => {
                string(out, s)?;
                0x02
            }
            Json::Array(items) => {
                let keys: Vec<String> = (0..items.len()).map(|i| i.to_string()).collect();
                write_doc(
                    out,
                    keys.iter().map(String::as_str).zip(items.iter()),
                    depth + 1,
                )?;
                0x04
            }
            Json::Object(m) => match wrapper_key(m) {
                None => {
                    write_doc(out, m.iter().map(|(k, v)| (k.as_str(), v)), depth + 1)?;
                    0x03
                }
                Some(w) => write_wrapper(out, w, m, depth)?,
            },
        };
        out[type_at] = t;
        Ok(())
    }

    fn write_wrapper(
        out: &mut Vec<u8>,
        w: &str,
        m: &Map<String, Json>,
        depth: usize,
    ) -> Result<u8, String> {
        let body = field(m, w)?;
        if w == "$code" && m.len() == 2 && m.contains_key("$scope") {
            let Json::Object(scope) = field(m, "$scope")? else {
                return Err("\"$scope\" must be an object".into());
            };
            let code = body.as_str().ok_or("\"$code\" must be a string")?;
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            string(out, code)?;
            write_doc(out, scope.iter().map(|(k, v)| (k.as_str(), v)), depth + 1)?;
            let len = i32::try_from(out.len() - start).map_err(|_| "code too large")?;
            out[start..start + 4].copy_from_slice(&len.to_le_bytes());
            return Ok(0x0F);
        }
        exact_keys(m, &[w])?;
        let s = || {
            body.as_str()
                .ok_or_else(|| format!("{w:?} must be a string"))
        };
        Ok(match w {
            "$numberDouble" => {
                let f: f64 = match s()? {
                    "NaN" => f64::NAN,
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    t => t.parse().map_err(|_| format!("bad double {t:?}"))?,
                };
                out.extend_from_slice(&f.to_bits().to_le_bytes());
                0x01
            }
            "$numberInt" => {
                let i: i32 = s()?.parse().map_err(|_| "bad $numberInt")?;
                out.extend_from_slice(&i.to_le_bytes());
                0x10
            }
            "$numberLong" => {
                let i: i64 = s()?.parse().map_err(|_| "bad $numberLong")?;
                out.extend_from_slice(&i.to_le_bytes());
                0x12
            }
            "$numberDecimal" => {
                let d: bson::Decimal128 = s()?.parse().map_err(|_| "bad $numberDecimal")?;
                out.extend_from_slice(&d.bytes());
                0x13
            }
            "$binary" => {
                let b = body.as_object().ok_or("\"$binary\" must be an object")?;
                exact_keys(b, &["base64", "subType"])?;
                let data = B64
                    .decode(field_str(b, "base64")?)
                    .map_err(|_| "bad base64 in $binary")?;
                let mut sub = [0u8; 1];
                let st = field_str(b, "subType")?;
                if st.len() == 1 {
                    hex::decode_to_slice(format!("0{st}"), &mut sub)
                } else {
                    hex::decode_to_slice(st, &mut sub)
                }
                .map_err(|_| "bad subType in $binary")?;
                let n = i32::try_from(data.len()).map_err(|_| "binary too large")?;
                out.extend_from_slice(&n.to_le_bytes());
                out.push(sub[0]);
                out.extend_from_slice(&data);
                0x05
            }
            "$undefined" => 0x06,
            "$oid" => {
                out.extend_from_slice(&oid(s()?)?);
                0x07
            }
            "$date" => {
                let d = body
                    .as_object()
                    .ok_or("only {\"$date\": {\"$numberLong\": ..}} is supported")?;
                exact_keys(d, &["$numberLong"])?;
                let ms: i64 = field_str(d, "$numberLong")?
                    .parse()
                    .map_err(|_| "bad $date")?;
                out.extend_from_slice(&ms.to_le_bytes());
                0x09
            }
            "$regularExpression" => {
                let r = body
                    .as_object()
                    .ok_or("\"$regularExpression\" must be an object")?;
                exact_keys(r, &["pattern", "options"])?;
                cstr(out, field_str(r, "pattern")?)?;
                cstr(out, field_str(r, "options")?)?;
                0x0B
            }
            "$dbPointer" => {
                let p = body.as_object().ok_or("\"$dbPointer\" must be an object")?;
                exact_keys(p, &["$ref", "$id"])?;
                string(out, field_str(p, "$ref")?)?;
                let id = field(p, "$id")?
                    .as_object()
                    .ok_or("\"$id\" must be an object")?;
                exact_keys(id, &["$oid"])?;
                out.extend_from_slice(&oid(field_str(id, "$oid")?)?);
                0x0C
            }
            "$code" => {
                string(out, s()?)?;
                0x0D
            }
            "$symbol" => {
                string(out, s()?)?;
                0x0E
            }
            "$timestamp" => {
                let t = body.as_object().ok_or("\"$timestamp\" must be an object")?;
                exact_keys(t, &["t", "i"])?;
                let part = |k: &str| {
                    field(t, k)?
                        .as_u64()
                        .and_then(|v| u32::try_from(v).ok())
                        .ok_or_else(|| format!("bad $timestamp {k:?}"))
                };
                let v = (u64::from(part("t")?) << 32) | u64::from(part("i")?);
                out.extend_from_slice(&v.to_le_bytes());
                0x11
            }
            "$minKey" => 0xFF,
            "$maxKey" => 0x7F,
            _ => return Err(format!("unsupported extended json key {w:?}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, PortableType, RowKey, TableName};
    use proptest::prelude::*;

    fn any_date() -> impl Strategy<Value = Date> {
        prop_oneof![
            Just(Date::Infinity),
            Just(Date::NegInfinity),
            (any::<i32>(), any::<u8>(), any::<u8>()).prop_map(|(year, month, day)| Date::Ymd {
                year,
                month,
                day
            }),
        ]
    }

    fn any_bson() -> impl Strategy<Value = Vec<u8>> {
        use bson::{Bson, Document};
        let leaf = prop_oneof![
            any::<f64>()
                .prop_filter("canonical nan only", |f| !f.is_nan())
                .prop_map(Bson::Double),
            Just(Bson::Double(f64::NAN)),
            ".*".prop_map(Bson::String),
            any::<bool>().prop_map(Bson::Boolean),
            Just(Bson::Null),
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            "-?[0-9]{1,20}(\\.[0-9]{1,5})?(E[+-]?[0-9]{1,3})?"
                .prop_map(|s| Bson::Decimal128(s.parse().expect("decimal"))),
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(s, bytes)| {
                Bson::Binary(bson::Binary {
                    subtype: s.into(),
                    bytes,
                })
            }),
            Just(Bson::MinKey),
            Just(Bson::MaxKey),
        ];
        let value = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
                proptest::collection::vec(("[a-z_]{0,6}", inner), 0..4)
                    .prop_map(|kv| Bson::Document(kv.into_iter().collect::<Document>())),
            ]
        });
        proptest::collection::vec(("[a-z_]{1,6}", value), 0..5).prop_map(|kv| {
            kv.into_iter()
                .collect::<Document>()
                .to_vec()
                .expect("encode")
        })
    }

    /// Like `codec::tests::any_value`, with wider dates and times and
    /// real BSON documents next to arbitrary bytes.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<u64>().prop_map(Value::UInt),
            any::<u32>().prop_map(|b| Value::F32(f32::from_bits(b))),
            any::<f32>().prop_map(Value::F32),
            any::<u64>().prop_map(|b| Value::F64(f64::from_bits(b))),
            any::<f64>().prop_map(Value::F64),
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
            (any_date(), any::<i64>())
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
            any_bson().prop_map(Value::Document),
            ("[a-z]+", ".*").prop_map(|(type_name, text)| Value::Other { type_name, text }),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            (
                proptest::collection::vec(inner, 0..6),
                -3i32..3,
                any::<bool>(),
            )
                .prop_map(|(elements, lower, two_dims)| {
                    let mut a = Array::list(elements);
                    if let Some(d) = a.dims.first_mut() {
                        d.lower = lower;
                    }
                    if two_dims && a.elements.len().is_multiple_of(2) && !a.elements.is_empty() {
                        let n = a.elements.len() as u32;
                        a.dims = vec![
                            ArrayDim { len: 2, lower: 1 },
                            ArrayDim { len: n / 2, lower },
                        ];
                    }
                    Value::Array(Box::new(a))
                })
        })
    }

    fn round_trip(v: &Value) -> Result<(), String> {
        let j = value_to_json(v);
        let back = value_from_json(&j).map_err(|e| format!("{v:?} -> {j}: {e}"))?;
        if !back.same(v) {
            return Err(format!("{v:?} -> {j} -> {back:?}"));
        }
        let text = serde_json::to_string(&j).map_err(|e| e.to_string())?;
        let parsed: Json = serde_json::from_str(&text).map_err(|e| format!("{text}: {e}"))?;
        let back = value_from_json(&parsed).map_err(|e| format!("{text}: {e}"))?;
        if !back.same(v) {
            return Err(format!("{v:?} -> {text} -> {back:?}"));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn value_round_trip(v in any_value()) {
            if let Err(e) = round_trip(&v) {
                prop_assert!(false, "{}", e);
            }
        }

        #[test]
        fn real_documents_use_extended_json(bytes in any_bson()) {
            let j = document_to_json(&bytes);
            prop_assert!(j.get("$docbytes").is_none(), "{}", j);
            prop_assert_eq!(document_from_json(&j).expect("decode"), bytes);
        }

        #[test]
        fn decoding_any_json_never_panics(text in "[\\[\\]{}\":,$a-z0-9.\\-]{0,40}") {
            if let Ok(j) = serde_json::from_str::<Json>(&text) {
                let _ = value_from_json(&j);
                let _ = document_from_json(&j);
            }
        }
    }

    fn j(text: &str) -> Json {
        serde_json::from_str(text).expect("json")
    }

    #[test]
    fn natural_forms() {
        assert_eq!(value_to_json(&Value::F64(1.0)).to_string(), "1.0");
        assert_eq!(value_to_json(&Value::F64(-0.0)).to_string(), "-0.0");
        assert_eq!(value_to_json(&Value::F64(1e300)).to_string(), "1e+300");
        assert_eq!(value_to_json(&Value::Int(1)).to_string(), "1");
        assert_eq!(
            value_to_json(&Value::F64(f64::NAN)).to_string(),
            r#"{"$f64":"NaN"}"#
        );
        assert_eq!(
            value_to_json(&Value::F32(f32::from_bits(0x7fc0_0001))).to_string(),
            r#"{"$f32bits":"7fc00001"}"#
        );
        assert_eq!(
            value_to_json(&Value::F32(0.1)).to_string(),
            r#"{"$f32":0.1}"#
        );
        assert_eq!(
            value_to_json(&Value::Time(Time {
                micros: -Time::hms(838, 59, 59, 500_000).micros
            }))
            .to_string(),
            r#"{"$time":"-838:59:59.5"}"#
        );
        assert_eq!(
            value_to_json(&Value::TimestampTz(
                "2024-01-31T10:00:00.5".parse().expect("ts")
            ))
            .to_string(),
            r#"{"$timestamptz":"2024-01-31T10:00:00.5Z"}"#
        );
        assert_eq!(
            value_to_json(&Value::Bits {
                len: 4,
                bytes: vec![0x50]
            })
            .to_string(),
            r#"{"$bits":"0101"}"#
        );
        assert_eq!(
            value_to_json(&Value::Array(Box::new(Array::list(vec![Value::Int(1)])))).to_string(),
            r#"{"$array":[1]}"#
        );
        assert_eq!(
            value_to_json(&Value::Uuid([0xab; 16])).to_string(),
            r#"{"$uuid":"abababab-abab-abab-abab-abababababab"}"#
        );
        assert_eq!(
            value_to_json(&Value::Date(Date::ymd(0, 0, 0))).to_string(),
            r#"{"$date":"0000-00-00"}"#
        );
    }

    #[test]
    fn decode_errors() {
        assert_eq!(
            value_from_json(&j(r#"{"a":1}"#)),
            Err(JsonError::UnknownTag("a".into()))
        );
        assert_eq!(
            value_from_json(&j(r#"{"$uint":1,"$int":2}"#)),
            Err(JsonError::NotTagged)
        );
        assert_eq!(value_from_json(&j("{}")), Err(JsonError::NotTagged));
        assert!(matches!(
            value_from_json(&j("18446744073709551615")),
            Err(JsonError::IntOutOfRange(_))
        ));
        assert!(value_from_json(&j("[1]")).is_err());
        assert!(value_from_json(&j(r#"{"$date":"2024-01"}"#)).is_err());
        assert!(value_from_json(&j(r#"{"$time":"99999999999999999999:00:00"}"#)).is_err());
        assert!(value_from_json(&j(r#"{"$interval":{"months":1,"days":2}}"#)).is_err());
        assert!(value_from_json(&j(r#"{"$array":{"dims":[[3,1]],"items":[1]}}"#)).is_err());
        assert!(value_from_json(&j(r#"{"$doc":{"$oid":"00"}}"#)).is_err());
        assert!(value_from_json(&j(r#"{"$bits":"012"}"#)).is_err());
    }

    #[test]
    fn time_extremes() {
        for micros in [i64::MIN, i64::MAX, -1, 0, 1, 86_400_000_000] {
            assert_eq!(parse_time(&format_time(micros)), Ok(micros), "{micros}");
        }
    }

    #[test]
    fn documents_with_every_bson_type_are_exact() {
        use bson::spec::BinarySubtype;
        use bson::{Binary, Bson, JavaScriptCodeWithScope, Regex, Timestamp as BTs, doc, oid};
        let d = doc! {
            "_id": oid::ObjectId::from_bytes([7; 12]),
            "z": 1,
            "a": Bson::Int64(-5),
            "nan": f64::NAN,
            "neg0": -0.0f64,
            "inf": f64::NEG_INFINITY,
            "big": 1e300,
            "tiny": 5e-324,
            "dec": Bson::Decimal128("-1.50E+10".parse().expect("dec")),
            "dec_nan": Bson::Decimal128("NaN".parse().expect("dec")),
            "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 1, 255] },
            "uuid": Binary { subtype: BinarySubtype::Uuid, bytes: vec![9; 16] },
            "user": Binary { subtype: BinarySubtype::UserDefined(0x80), bytes: vec![] },
            "re": Regex { pattern: "^a.*b$".try_into().expect("cstr"), options: "mi".try_into().expect("cstr") },
            "ts": BTs { time: 4_000_000_000, increment: 7 },
            "date": bson::DateTime::from_millis(-62_135_596_800_001),
            "min": Bson::MinKey,
            "max": Bson::MaxKey,
            "undef": Bson::Undefined,
            "sym": Bson::Symbol("s".into()),
            "code": Bson::JavaScriptCode("f()".into()),
            "cws": JavaScriptCodeWithScope { code: "g(x)".into(), scope: doc! {"x": 1, "y": {"$k": [1, "two"]}} },
            "nested": {"b": [1, [2, {"c": Bson::Null}]], "a": true},
            "empty": {},
            "text": "héllo\u{0}",
        };
        let bytes = d.to_vec().expect("bytes");
        let json = document_to_json(&bytes);
        assert!(json.get("$docbytes").is_none(), "{json}");
        let text = json.to_string();
        assert!(
            text.starts_with(
                r#"{"_id":{"$oid":"070707070707070707070707"},"z":{"$numberInt":"1"}"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#""neg0":{"$numberDouble":"-0.0"}"#),
            "{text}"
        );
        assert!(text.contains(r#""nan":{"$numberDouble":"NaN"}"#), "{text}");
        assert!(
            text.contains(r#""ts":{"$timestamp":{"t":4000000000,"i":7}}"#),
            "{text}"
        );
        let back = document_from_json(&j(&text)).expect("decode");
        assert_eq!(back, bytes);
        // through the value form too
        round_trip(&Value::Document(bytes)).expect("value round trip");
    }

    #[test]
    fn documents_that_extended_json_cannot_hold_fall_back_to_bytes() {
        // a NaN with a payload
        let d = bson::doc! {"x": f64::from_bits(0x7ff8_0000_0000_0001)};
        // a document that reads like a wrapper
        let w = bson::doc! {"$docbytes": "AAAA"};
        let wrapped = bson::doc! {"a": {"$oid": "x"}};
        for bytes in [
            d.to_vec().expect("bytes"),
            w.to_vec().expect("bytes"),
            wrapped.to_vec().expect("bytes"),
            vec![1, 2, 3],
            vec![],
        ] {
            let json = document_to_json(&bytes);
            assert!(json.get("$docbytes").is_some(), "{json}");
            assert_eq!(document_from_json(&json).expect("decode"), bytes);
        }
        // duplicate keys
        let mut dup = Vec::new();
        dup.extend_from_slice(&[0; 4]);
        for _ in 0..2 {
            dup.extend_from_slice(&[0x10, b'a', 0, 1, 0, 0, 0]);
        }
        dup.push(0);
        let n = dup.len() as i32;
        dup[..4].copy_from_slice(&n.to_le_bytes());
        assert!(document_to_json(&dup).get("$docbytes").is_some());
        // deep nesting
        let mut deep = bson::doc! {"x": 1};
        for _ in 0..95 {
            deep = bson::doc! {"d": deep};
        }
        let bytes = deep.to_vec().expect("bytes");
        let json = document_to_json(&bytes);
        assert!(json.get("$docbytes").is_some());
        let text =
            serde_json::to_string(&value_to_json(&Value::Document(bytes.clone()))).expect("text");
        let back: Json = serde_json::from_str(&text).expect("parse");
        assert!(
            value_from_json(&back)
                .expect("value")
                .same(&Value::Document(bytes))
        );
    }

    #[test]
    fn relaxed_extended_json_is_accepted() {
        let bytes =
            document_from_json(&j(r#"{"a":1,"b":5000000000,"c":1.5,"d":"x"}"#)).expect("doc");
        let d = bson::Document::from_reader(bytes.as_slice()).expect("bson");
        assert_eq!(d.get_i32("a").ok(), Some(1));
        assert_eq!(d.get_i64("b").ok(), Some(5_000_000_000));
        assert_eq!(d.get_f64("c").ok(), Some(1.5));
    }

    fn table() -> TableSchema {
        let mut g = Column::new(
            "g",
            "int",
            PortableType::Int {
                bits: 32,
                unsigned: false,
            },
        );
        g.generated = Some(crate::schema::Generated {
            expression: "a+1".into(),
            stored: true,
        });
        TableSchema {
            name: TableName::new("t"),
            kind: "table".into(),
            columns: vec![
                Column::new(
                    "a",
                    "int",
                    PortableType::Int {
                        bits: 64,
                        unsigned: false,
                    },
                ),
                g,
                Column::new(
                    "b",
                    "text",
                    PortableType::Text {
                        max_len: None,
                        fixed: false,
                    },
                ),
            ],
            primary_key: vec!["a".into()],
            row_key: RowKey::Columns {
                columns: vec!["a".into()],
            },
            constraints: vec![],
            indexes: vec![],
            foreign_keys: vec![],
            ddl: None,
            auto_increment: None,
            comment: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn rows() {
        let t = table();
        let row = vec![Value::Int(1), Value::Text("x".into())];
        let m = row_to_json(&t, &row).expect("row");
        assert_eq!(Json::Object(m.clone()).to_string(), r#"{"a":1,"b":"x"}"#);
        assert_eq!(row_from_json(&t, &m).expect("back"), row);
        assert!(matches!(
            row_to_json(&t, &[Value::Int(1)]),
            Err(JsonError::RowLength {
                expected: 2,
                found: 1
            })
        ));
        let missing = j(r#"{"a":1}"#);
        assert_eq!(
            row_from_json(&t, missing.as_object().expect("obj")),
            Err(JsonError::MissingColumn("b".into()))
        );
        let extra = j(r#"{"a":1,"b":"x","g":2}"#);
        assert_eq!(
            row_from_json(&t, extra.as_object().expect("obj")),
            Err(JsonError::UnknownColumn("g".into()))
        );
        let bad = j(r#"{"a":{"$uint":-1},"b":"x"}"#);
        let e = row_from_json(&t, bad.as_object().expect("obj")).expect_err("bad");
        assert!(
            e.to_string().starts_with("column \"a\": invalid uint"),
            "{e}"
        );
    }
}
