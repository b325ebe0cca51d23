//! The value model: one enum that holds any value of any supported engine
//! without loss.
//!
//! The rule is "lossless within one engine": a value read from an engine and
//! written back to the same engine is bit for bit what it was. Cross-engine
//! restores map values through [`crate::PortableType`] and may approximate.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One row of a table: its values in column order.
pub type Row = Vec<Value>;

/// One value of one column of one row.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL `NULL` (and BSON null inside documents is part of the document).
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer of up to 64 bits.
    Int(i64),
    /// An unsigned integer of up to 64 bits (MySQL `BIGINT UNSIGNED`).
    UInt(u64),
    /// A 32-bit float, kept bit for bit (NaN payloads, `-0`).
    F32(f32),
    /// A 64-bit float, kept bit for bit (NaN payloads, `-0`, infinities).
    F64(f64),
    /// An exact decimal as text: `-?digits(.digits)?`, or `NaN`,
    /// `Infinity`, `-Infinity`. Never passes through a float; trailing
    /// zeros are significant (`1.50` stays `1.50`).
    Decimal(String),
    /// Valid UTF-8 text.
    Text(String),
    /// Text whose bytes are not valid UTF-8 (SQLite lets an application
    /// store anything in a `TEXT` value). Restored as text, not as a blob.
    RawText(Vec<u8>),
    /// A byte string (`BLOB`, `bytea`, `VARBINARY`, ...).
    Bytes(Vec<u8>),
    /// A bit string of `len` bits, most significant bit first, padded with
    /// zero bits to whole bytes.
    Bits {
        /// Number of bits.
        len: u32,
        /// The bits, `ceil(len / 8)` bytes.
        bytes: Vec<u8>,
    },
    /// A calendar date.
    Date(Date),
    /// A time of day, or a duration for MySQL `TIME` (negative and beyond
    /// 24 hours).
    Time(Time),
    /// A time of day with a UTC offset (PostgreSQL `timetz`).
    TimeTz {
        /// Local time of day.
        time: Time,
        /// Offset east of UTC in seconds.
        offset_secs: i32,
    },
    /// A date and time without a zone.
    Timestamp(Timestamp),
    /// An instant, stored as its UTC date and time.
    TimestampTz(Timestamp),
    /// A PostgreSQL-style interval.
    Interval(Interval),
    /// A UUID, as its 16 bytes.
    Uuid([u8; 16]),
    /// JSON as the exact text the engine gave (whitespace, key order and
    /// duplicate keys of PostgreSQL `json` survive).
    Json(String),
    /// A label of an enumerated type.
    Enum(String),
    /// An array, possibly multi-dimensional.
    Array(Box<Array>),
    /// A raw BSON document (MongoDB).
    Document(Vec<u8>),
    /// Typed fallback: any engine type without a dedicated variant, as the
    /// engine's type name and its own text form. Round-trips within its
    /// engine.
    Other {
        /// The engine's type name, e.g. `tsvector` or `geometry`.
        type_name: String,
        /// The engine's text form of the value.
        text: String,
    },
}

impl Value {
    /// A short name of the variant, used in error messages and in the JSON
    /// encoding's tags.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::UInt(_) => "uint",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Decimal(_) => "decimal",
            Value::Text(_) => "text",
            Value::RawText(_) => "rawtext",
            Value::Bytes(_) => "bytes",
            Value::Bits { .. } => "bits",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::TimeTz { .. } => "timetz",
            Value::Timestamp(_) => "timestamp",
            Value::TimestampTz(_) => "timestamptz",
            Value::Interval(_) => "interval",
            Value::Uuid(_) => "uuid",
            Value::Json(_) => "json",
            Value::Enum(_) => "enum",
            Value::Array(_) => "array",
            Value::Document(_) => "document",
            Value::Other { .. } => "other",
        }
    }

    /// Whether this is SQL `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Exact equality: floats compare by their bits, so `NaN == NaN` and
    /// `0.0 != -0.0`. This is the equality a backup must preserve.
    pub fn same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::F32(a), Value::F32(b)) => a.to_bits() == b.to_bits(),
            (Value::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits(),
            (Value::Array(a), Value::Array(b)) => {
                a.dims == b.dims
                    && a.elements.len() == b.elements.len()
                    && a.elements.iter().zip(&b.elements).all(|(x, y)| x.same(y))
            }
            _ => self == other,
        }
    }

    /// Rank of the variant in the key order (see [`compare_values`]).
    fn order_class(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::UInt(_) | Value::F32(_) | Value::F64(_) | Value::Decimal(_) => 2,
            Value::Text(_) | Value::RawText(_) | Value::Enum(_) => 3,
            Value::Bytes(_) => 4,
            Value::Uuid(_) => 5,
            Value::Date(_) => 6,
            Value::Timestamp(_) => 7,
            Value::TimestampTz(_) => 8,
            Value::Time(_) => 9,
            _ => 10,
        }
    }
}

/// Compares two rows exactly ([`Value::same`] for every column).
pub fn rows_same(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
}

/// The key order every source must stream rows in.
///
/// NULL < booleans < numbers (compared by numeric value, across integer,
/// float and decimal) < text (byte-wise, like SQLite's `BINARY` collation
/// and PostgreSQL's `C` collation) < bytes < uuid < dates < timestamps <
/// instants < times < everything else (by its encoded bytes). Within one
/// column of one engine this matches the engine's own order for the key
/// types engines allow, provided text keys are read in byte order.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    let (ca, cb) = (a.order_class(), b.order_class());
    if ca != cb {
        return ca.cmp(&cb);
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::UInt(x), Value::UInt(y)) => x.cmp(y),
        (Value::Int(x), Value::UInt(y)) => i128::from(*x).cmp(&i128::from(*y)),
        (Value::UInt(x), Value::Int(y)) => i128::from(*x).cmp(&i128::from(*y)),
        (x, y) if ca == 2 => compare_numbers(x, y),
        (x, y) if ca == 3 => text_bytes(x).cmp(text_bytes(y)),
        (Value::Bytes(x), Value::Bytes(y)) => x.cmp(y),
        (Value::Uuid(x), Value::Uuid(y)) => x.cmp(y),
        (Value::Date(x), Value::Date(y)) => x.cmp(y),
        (Value::Timestamp(x), Value::Timestamp(y)) => x.cmp(y),
        (Value::TimestampTz(x), Value::TimestampTz(y)) => x.cmp(y),
        (Value::Time(x), Value::Time(y)) => x.cmp(y),
        (x, y) => {
            let (mut ea, mut eb) = (Vec::new(), Vec::new());
            crate::codec::encode_value(x, &mut ea);
            crate::codec::encode_value(y, &mut eb);
            ea.cmp(&eb)
        }
    }
}

/// Compares two keys column by column with [`compare_values`].
pub fn compare_keys(a: &[Value], b: &[Value]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match compare_values(x, y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    a.len().cmp(&b.len())
}

fn text_bytes(v: &Value) -> &[u8] {
    match v {
        Value::Text(s) | Value::Enum(s) => s.as_bytes(),
        Value::RawText(b) => b,
        _ => &[],
    }
}

fn compare_numbers(a: &Value, b: &Value) -> Ordering {
    fn as_f64(v: &Value) -> f64 {
        match v {
            Value::Int(i) => *i as f64,
            Value::UInt(u) => *u as f64,
            Value::F32(f) => f64::from(*f),
            Value::F64(f) => *f,
            Value::Decimal(d) => d.parse::<f64>().unwrap_or(f64::NAN),
            _ => f64::NAN,
        }
    }
    if let (Value::Decimal(x), Value::Decimal(y)) = (a, b) {
        return compare_decimal_text(x, y);
    }
    as_f64(a).total_cmp(&as_f64(b))
}

/// Compares two decimal strings numerically without rounding.
fn compare_decimal_text(a: &str, b: &str) -> Ordering {
    fn special(s: &str) -> Option<i8> {
        match s {
            "-Infinity" => Some(-1),
            "Infinity" => Some(1),
            "NaN" => Some(2),
            _ => None,
        }
    }
    match (special(a), special(b)) {
        (Some(x), Some(y)) => return x.cmp(&y),
        (Some(x), None) => {
            return if x < 0 {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        (None, Some(y)) => {
            return if y < 0 {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        (None, None) => {}
    }
    let (na, ma) = split_decimal(a);
    let (nb, mb) = split_decimal(b);
    let zero_a = ma.0.is_empty() && ma.1.is_empty();
    let zero_b = mb.0.is_empty() && mb.1.is_empty();
    let neg_a = na && !zero_a;
    let neg_b = nb && !zero_b;
    if neg_a != neg_b {
        return if neg_a {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let magnitude =
        ma.0.len()
            .cmp(&mb.0.len())
            .then_with(|| ma.0.cmp(mb.0))
            .then_with(|| ma.1.cmp(mb.1));
    if neg_a {
        magnitude.reverse()
    } else {
        magnitude
    }
}

/// Splits a decimal into (negative, (integer digits without leading zeros,
/// fraction digits without trailing zeros)).
pub(crate) fn split_decimal(s: &str) -> (bool, (&str, &str)) {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = rest.split_once('.').unwrap_or((rest, ""));
    (
        neg,
        (int.trim_start_matches('0'), frac.trim_end_matches('0')),
    )
}

/// A calendar date as year, month and day, so that dates no calendar knows
/// (MySQL's `0000-00-00`, `2024-02-00`) survive, plus PostgreSQL's
/// infinities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Date {
    /// PostgreSQL `-infinity`.
    NegInfinity,
    /// A year (astronomical: 0 is 1 BC), month 0..=12 and day 0..=31.
    Ymd {
        /// Astronomical year.
        year: i32,
        /// Month, 1..=12 (0 only in MySQL zero dates).
        month: u8,
        /// Day, 1..=31 (0 only in MySQL zero dates).
        day: u8,
    },
    /// PostgreSQL `infinity`.
    Infinity,
}

impl Date {
    /// A date from its parts.
    pub fn ymd(year: i32, month: u8, day: u8) -> Date {
        Date::Ymd { year, month, day }
    }

    /// The days since 1970-01-01 of a valid proleptic Gregorian date.
    pub fn to_epoch_days(self) -> Option<i64> {
        match self {
            Date::Ymd { year, month, day } if (1..=12).contains(&month) && day >= 1 => {
                let days_in_month = days_in_month(year, month);
                if u32::from(day) > days_in_month {
                    return None;
                }
                Some(days_from_civil(
                    i64::from(year),
                    u32::from(month),
                    u32::from(day),
                ))
            }
            _ => None,
        }
    }

    /// The date `days` after 1970-01-01.
    pub fn from_epoch_days(days: i64) -> Date {
        let (y, m, d) = civil_from_days(days);
        Date::Ymd {
            year: y as i32,
            month: m as u8,
            day: d as u8,
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Date::NegInfinity => f.write_str("-infinity"),
            Date::Infinity => f.write_str("infinity"),
            Date::Ymd { year, month, day } => {
                if year < 0 {
                    write!(f, "-{:04}-{month:02}-{day:02}", -i64::from(year))
                } else {
                    write!(f, "{year:04}-{month:02}-{day:02}")
                }
            }
        }
    }
}

impl std::str::FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "infinity" => return Ok(Date::Infinity),
            "-infinity" => return Ok(Date::NegInfinity),
            _ => {}
        }
        let (neg, rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let mut parts = rest.splitn(3, '-');
        let bad = || format!("invalid date {s:?}");
        let year: i32 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let month: u8 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let day: u8 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if month > 12 || day > 31 {
            return Err(bad());
        }
        Ok(Date::Ymd {
            year: if neg { -year } else { year },
            month,
            day,
        })
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A signed number of microseconds: a time of day (0 to 24 h) or, for
/// MySQL `TIME`, a duration (-838:59:59 to 838:59:59).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Time {
    /// Microseconds since midnight; negative for negative MySQL times.
    pub micros: i64,
}

impl Time {
    /// A time from hours, minutes, seconds and microseconds (all positive).
    pub fn hms(h: i64, m: i64, s: i64, us: i64) -> Time {
        Time {
            micros: ((h * 60 + m) * 60 + s) * 1_000_000 + us,
        }
    }
}

impl fmt::Display for Time {
    /// `[-]HH:MM:SS[.ffffff]`; hours may exceed 24.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.micros < 0;
        let total = self.micros.unsigned_abs();
        let us = total % 1_000_000;
        let secs = total / 1_000_000;
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        if neg {
            f.write_str("-")?;
        }
        write!(f, "{h:02}:{m:02}:{s:02}")?;
        if us != 0 {
            write!(f, ".{us:06}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Time {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid time {s:?}");
        let (neg, rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
        let mut it = hms.splitn(3, ':');
        let h: i64 = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let m: i64 = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let sec: i64 = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if frac.len() > 6 || !frac.bytes().all(|c| c.is_ascii_digit()) || m > 59 || sec > 60 {
            return Err(bad());
        }
        let us: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<6}").parse().map_err(|_| bad())?
        };
        let t = Time::hms(h, m, sec, us);
        Ok(if neg { Time { micros: -t.micros } } else { t })
    }
}

/// A date and a time of day. Used both for zone-less timestamps and, in
/// UTC, for instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    /// The date part (infinities make the whole timestamp infinite).
    pub date: Date,
    /// Microseconds since midnight, 0 to 86 399 999 999.
    pub micros: i64,
}

impl Timestamp {
    /// The timestamp `micros` microseconds after 1970-01-01 00:00:00.
    pub fn from_unix_micros(micros: i64) -> Timestamp {
        let days = micros.div_euclid(86_400_000_000);
        Timestamp {
            date: Date::from_epoch_days(days),
            micros: micros.rem_euclid(86_400_000_000),
        }
    }

    /// Microseconds since 1970-01-01 00:00:00, for valid finite dates.
    pub fn to_unix_micros(self) -> Option<i64> {
        let days = self.date.to_epoch_days()?;
        days.checked_mul(86_400_000_000)?.checked_add(self.micros)
    }
}

impl fmt::Display for Timestamp {
    /// `YYYY-MM-DDTHH:MM:SS[.ffffff]`, or `infinity` / `-infinity`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.date {
            Date::Infinity | Date::NegInfinity => write!(f, "{}", self.date),
            d => write!(
                f,
                "{d}T{}",
                Time {
                    micros: self.micros
                }
            ),
        }
    }
}

impl std::str::FromStr for Timestamp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "infinity" => {
                return Ok(Timestamp {
                    date: Date::Infinity,
                    micros: 0,
                });
            }
            "-infinity" => {
                return Ok(Timestamp {
                    date: Date::NegInfinity,
                    micros: 0,
                });
            }
            _ => {}
        }
        let (d, t) = s
            .split_once(['T', ' '])
            .ok_or_else(|| format!("invalid timestamp {s:?}"))?;
        let time: Time = t.trim_end_matches('Z').parse()?;
        if !(0..86_400_000_000).contains(&time.micros) {
            return Err(format!("invalid timestamp {s:?}"));
        }
        Ok(Timestamp {
            date: d.parse()?,
            micros: time.micros,
        })
    }
}

/// A PostgreSQL interval: months, days and microseconds, kept apart because
/// they do not convert into each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Interval {
    /// Months.
    pub months: i32,
    /// Days.
    pub days: i32,
    /// Microseconds.
    pub micros: i64,
}

/// The ISO 8601 duration, as PostgreSQL writes it with `IntervalStyle =
/// iso_8601` and reads it back: `P1Y2M3DT4H5M6.5S`, each part with its
/// own sign (`P-1D`, `PT-0.25S`), `PT0S` for nothing. This is the text an
/// interval becomes in an engine without intervals.
impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.months == 0 && self.days == 0 && self.micros == 0 {
            return f.write_str("PT0S");
        }
        f.write_str("P")?;
        let (years, months) = (self.months / 12, self.months % 12);
        for (n, unit) in [(years, 'Y'), (months, 'M'), (self.days, 'D')] {
            if n != 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        if self.micros == 0 {
            return Ok(());
        }
        f.write_str("T")?;
        let hours = self.micros / 3_600_000_000;
        let minutes = (self.micros / 60_000_000) % 60;
        let micros = self.micros % 60_000_000;
        for (n, unit) in [(hours, 'H'), (minutes, 'M')] {
            if n != 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        if micros != 0 {
            let sign = if micros < 0 { "-" } else { "" };
            let (s, us) = (micros.abs() / 1_000_000, micros.abs() % 1_000_000);
            if us == 0 {
                write!(f, "{sign}{s}S")?;
            } else {
                let frac = format!("{us:06}");
                write!(f, "{sign}{s}.{}S", frac.trim_end_matches('0'))?;
            }
        }
        Ok(())
    }
}

/// One dimension of an array: its length and lower bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ArrayDim {
    /// Number of elements along this dimension.
    pub len: u32,
    /// Index of the first element (PostgreSQL default 1).
    pub lower: i32,
}

/// An array of any number of dimensions, elements in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The dimensions; empty for an empty array.
    pub dims: Vec<ArrayDim>,
    /// The elements, `product(dims.len)` of them.
    pub elements: Vec<Value>,
}

impl Array {
    /// A one-dimensional array with lower bound 1.
    pub fn list(elements: Vec<Value>) -> Array {
        if elements.is_empty() {
            return Array {
                dims: Vec::new(),
                elements,
            };
        }
        Array {
            dims: vec![ArrayDim {
                len: elements.len() as u32,
                lower: 1,
            }],
            elements,
        }
    }

    /// Whether the dimensions agree with the number of elements.
    pub fn is_well_formed(&self) -> bool {
        let n = self
            .dims
            .iter()
            .try_fold(1u64, |acc, d| acc.checked_mul(u64::from(d.len)));
        match n {
            Some(n) if self.dims.is_empty() => self.elements.is_empty() && n == 1,
            Some(n) => n == self.elements.len() as u64,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL's own text for these intervals under `IntervalStyle =
    /// iso_8601`.
    #[test]
    fn intervals_print_as_postgresql_writes_iso_8601() {
        let i = |months, days, micros| Interval {
            months,
            days,
            micros,
        };
        for (interval, text) in [
            (i(14, 3, 14_706_500_000), "P1Y2M3DT4H5M6.5S"),
            (i(0, -1, 0), "P-1D"),
            (i(0, 0, -250_000), "PT-0.25S"),
            (i(0, 1, -3_600_000_000), "P1DT-1H"),
            (i(0, 0, 0), "PT0S"),
            (i(-13, 0, 0), "P-1Y-1M"),
            (i(0, 0, -5_400_000_001), "PT-1H-30M-0.000001S"),
            (i(0, 0, 90_000_000_000), "PT25H"),
        ] {
            assert_eq!(interval.to_string(), text);
        }
    }

    #[test]
    fn epoch_days_round_trip() {
        for days in [-1_000_000i64, -719_468, -1, 0, 1, 19_000, 2_932_896] {
            let d = Date::from_epoch_days(days);
            assert_eq!(d.to_epoch_days(), Some(days), "{d}");
        }
        assert_eq!(Date::ymd(1970, 1, 1).to_epoch_days(), Some(0));
        assert_eq!(Date::ymd(2000, 2, 29).to_epoch_days(), Some(11_016));
        assert_eq!(Date::ymd(1900, 2, 29).to_epoch_days(), None);
        assert_eq!(Date::ymd(0, 0, 0).to_epoch_days(), None);
    }

    #[test]
    fn time_text() {
        for s in [
            "00:00:00",
            "24:00:00",
            "-838:59:59",
            "838:59:59.000001",
            "12:30:01.5",
        ] {
            let t: Time = s.parse().expect("parse");
            let back: Time = t.to_string().parse().expect("reparse");
            assert_eq!(t, back, "{s}");
        }
        assert_eq!(
            "01:00:00.5".parse::<Time>().map(|t| t.micros),
            Ok(3_600_500_000)
        );
        assert!("1:99:00".parse::<Time>().is_err());
    }

    #[test]
    fn timestamp_text() {
        let t: Timestamp = "2024-02-29T23:59:59.999999".parse().expect("parse");
        assert_eq!(t.to_string(), "2024-02-29T23:59:59.999999");
        let z: Timestamp = "0000-00-00 00:00:00".parse().expect("zero date");
        assert_eq!(z.date, Date::ymd(0, 0, 0));
        assert_eq!(
            Timestamp::from_unix_micros(-1).to_string(),
            "1969-12-31T23:59:59.999999"
        );
    }

    #[test]
    fn key_order() {
        use Value::*;
        let sorted = [
            Null,
            Bool(false),
            Int(-5),
            Decimal("-4.5".into()),
            UInt(3),
            F64(3.5),
            Int(i64::MAX),
            UInt(u64::MAX),
            Text("A".into()),
            Text("a".into()),
            RawText(vec![0xff]),
            Bytes(vec![]),
        ];
        for w in sorted.windows(2) {
            assert_eq!(
                compare_values(&w[0], &w[1]),
                Ordering::Less,
                "{:?} < {:?}",
                w[0],
                w[1]
            );
        }
    }

    #[test]
    fn decimal_order() {
        let cases = [
            ("-Infinity", "-1e0"),
            ("-10", "-9.99"),
            ("-0.5", "0"),
            ("0", "0.001"),
            ("9.9", "10"),
            ("10", "Infinity"),
            ("Infinity", "NaN"),
        ];
        for (a, b) in cases {
            if b.contains('e') {
                continue;
            }
            assert_eq!(compare_decimal_text(a, b), Ordering::Less, "{a} < {b}");
        }
        assert_eq!(compare_decimal_text("1.50", "1.5"), Ordering::Equal);
        assert_eq!(compare_decimal_text("-0", "0.00"), Ordering::Equal);
    }

    #[test]
    fn same_is_bitwise_for_floats() {
        assert!(Value::F64(f64::NAN).same(&Value::F64(f64::NAN)));
        assert!(!Value::F64(0.0).same(&Value::F64(-0.0)));
        assert!(Value::F32(1.5).same(&Value::F32(1.5)));
    }
}
