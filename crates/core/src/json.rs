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

mod extjson;

#[cfg(test)]
mod tests;
