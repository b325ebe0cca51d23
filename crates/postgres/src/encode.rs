//! Writing `COPY ... FROM STDIN (FORMAT binary)`: [`Value`]s into
//! PostgreSQL's binary receive format, and the text form used for
//! typed-fallback columns.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use tresor_core::{Array, Date, SourceError, Timestamp, Value};

use crate::decode::{COPY_SIGNATURE, PG_EPOCH_DAYS};
use crate::types::Codec;

/// How to write one column of a target table.
#[derive(Clone, Debug)]
pub(crate) struct ColumnEncoder {
    pub(crate) name: String,
    pub(crate) codec: Codec,
    pub(crate) type_name: String,
}

/// The binary COPY header.
pub(crate) fn write_header(out: &mut BytesMut) {
    out.put_slice(COPY_SIGNATURE);
    out.put_i32(0);
    out.put_i32(0);
}

/// The binary COPY trailer.
pub(crate) fn write_trailer(out: &mut BytesMut) {
    out.put_i16(-1);
}

/// Appends one row.
pub(crate) fn write_row(
    columns: &[ColumnEncoder],
    row: &[Value],
    out: &mut BytesMut,
) -> Result<(), SourceError> {
    if row.len() != columns.len() {
        return Err(SourceError::data(format!(
            "a row has {} values but the table has {} stored columns",
            row.len(),
            columns.len()
        )));
    }
    out.put_i16(columns.len() as i16);
    for (col, v) in columns.iter().zip(row) {
        if v.is_null() {
            out.put_i32(-1);
            continue;
        }
        let at = out.len();
        out.put_i32(0);
        if let Err(why) = encode_value(&col.codec, v, out) {
            // a value of another engine's form (SQLite's 0/1, text
            // timestamps, numbers in text columns): converted when nothing
            // is lost
            out.truncate(at + 4);
            let converted =
                converted(&col.codec, v).and_then(|c| encode_value(&col.codec, &c, out).ok());
            if converted.is_none() {
                out.truncate(at + 4);
                return Err(SourceError::data(format!(
                    "column {}: cannot write a {} value into type {}: {why}",
                    col.name,
                    v.kind(),
                    col.type_name
                )));
            }
        }
        let len = (out.len() - at - 4) as i32;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

/// `v` in the form `codec` takes, when the conversion loses nothing.
fn converted(codec: &Codec, v: &Value) -> Option<Value> {
    use tresor_core::convert;
    Some(match codec {
        Codec::Bool => Value::Bool(convert::to_bool(v)?),
        Codec::Int2 | Codec::Int4 | Codec::Int8 | Codec::Oid | Codec::Money => {
            Value::Int(convert::to_int(v)?)
        }
        Codec::Float4 => {
            let f = convert::to_float(v)?;
            #[allow(clippy::cast_possible_truncation)]
            let g = f as f32;
            (f64::from(g) == f).then_some(Value::F32(g))?
        }
        Codec::Float8 => Value::F64(convert::to_float(v)?),
        Codec::Numeric => Value::Decimal(convert::to_decimal(v)?),
        Codec::Text | Codec::Enum => Value::Text(convert::to_text(v)?),
        Codec::Json | Codec::Jsonb => Value::Json(convert::to_json(v)?),
        Codec::Bytea => Value::Bytes(convert::to_bytes(v)?),
        Codec::Date => Value::Date(convert::to_date(v)?),
        Codec::Time => Value::Time(convert::to_time(v)?),
        Codec::Timestamp => Value::Timestamp(convert::to_timestamp(v)?),
        Codec::TimestampTz => Value::TimestampTz(convert::to_timestamp(v)?),
        Codec::Uuid => Value::Uuid(convert::to_uuid(v)?),
        // durations as SQLite and MySQL applications store them
        Codec::Interval => Value::Interval(convert::to_interval(v)?),
        _ => return None,
    })
}

fn int_of(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::UInt(u) => i64::try_from(*u).map_err(|_| "out of range".to_string()),
        Value::Bool(b) => Ok(i64::from(*b)),
        _ => Err("not an integer".into()),
    }
}

fn mismatch() -> String {
    "incompatible value".into()
}

fn encode_value(codec: &Codec, v: &Value, out: &mut BytesMut) -> Result<(), String> {
    match codec {
        Codec::Bool => match v {
            Value::Bool(b) => out.put_u8(u8::from(*b)),
            Value::Int(0) => out.put_u8(0),
            Value::Int(1) => out.put_u8(1),
            _ => return Err(mismatch()),
        },
        Codec::Int2 => out.put_i16(i16::try_from(int_of(v)?).map_err(|_| "out of range")?),
        Codec::Int4 => out.put_i32(i32::try_from(int_of(v)?).map_err(|_| "out of range")?),
        Codec::Int8 | Codec::Money => out.put_i64(int_of(v)?),
        Codec::Oid => out.put_u32(u32::try_from(int_of(v)?).map_err(|_| "out of range")?),
        Codec::Float4 => match v {
            Value::F32(f) => out.put_u32(f.to_bits()),
            Value::Int(i) if i.unsigned_abs() < (1 << 24) => out.put_u32((*i as f32).to_bits()),
            _ => return Err(mismatch()),
        },
        Codec::Float8 => match v {
            Value::F64(f) => out.put_u64(f.to_bits()),
            Value::F32(f) => out.put_u64(f64::from(*f).to_bits()),
            Value::Int(i) if i.unsigned_abs() < (1 << 53) => out.put_u64((*i as f64).to_bits()),
            _ => return Err(mismatch()),
        },
        Codec::Numeric => match v {
            Value::Decimal(s) => numeric_from_text(s, out)?,
            Value::Int(i) => numeric_from_text(&i.to_string(), out)?,
            Value::UInt(u) => numeric_from_text(&u.to_string(), out)?,
            _ => return Err(mismatch()),
        },
        Codec::Text | Codec::Enum | Codec::Json => match v {
            Value::Text(s) | Value::Enum(s) | Value::Json(s) => out.put_slice(s.as_bytes()),
            Value::RawText(b) => out.put_slice(b),
            // another engine's type PostgreSQL lacks (MySQL's spatial
            // types) arrives in a text column as its text form
            Value::Other { text, .. } if matches!(codec, Codec::Text) => {
                out.put_slice(text.as_bytes());
            }
            _ => return Err(mismatch()),
        },
        Codec::Jsonb => match v {
            Value::Json(s) | Value::Text(s) => {
                out.put_u8(1);
                out.put_slice(s.as_bytes());
            }
            _ => return Err(mismatch()),
        },
        Codec::Bytea => match v {
            Value::Bytes(b) => out.put_slice(b),
            _ => return Err(mismatch()),
        },
        Codec::Date => match v {
            Value::Date(d) => out.put_i32(date_to_pg(*d)?),
            _ => return Err(mismatch()),
        },
        Codec::Time => match v {
            Value::Time(t) => out.put_i64(t.micros),
            _ => return Err(mismatch()),
        },
        Codec::TimeTz => match v {
            Value::TimeTz { time, offset_secs } => {
                out.put_i64(time.micros);
                out.put_i32(-offset_secs);
            }
            _ => return Err(mismatch()),
        },
        Codec::Timestamp => match v {
            Value::Timestamp(t) => out.put_i64(timestamp_to_pg(*t)?),
            _ => return Err(mismatch()),
        },
        Codec::TimestampTz => match v {
            Value::TimestampTz(t) => out.put_i64(timestamp_to_pg(*t)?),
            _ => return Err(mismatch()),
        },
        Codec::Interval => match v {
            Value::Interval(i) => {
                out.put_i64(i.micros);
                out.put_i32(i.days);
                out.put_i32(i.months);
            }
            _ => return Err(mismatch()),
        },
        Codec::Uuid => match v {
            Value::Uuid(u) => out.put_slice(u),
            _ => return Err(mismatch()),
        },
        Codec::Bits => match v {
            Value::Bits { len, bytes } => {
                if bytes.len() != (*len as usize).div_ceil(8) {
                    return Err("bit length does not match its bytes".into());
                }
                out.put_i32(*len as i32);
                out.put_slice(bytes);
            }
            _ => return Err(mismatch()),
        },
        Codec::Array { elem_oid, elem } => match v {
            Value::Array(a) => encode_array(*elem_oid, elem, a, out)?,
            _ => return Err(mismatch()),
        },
        Codec::Inet { cidr } => match v {
            Value::Other { text, .. } | Value::Text(text) => inet_from_text(text, *cidr, out)?,
            _ => return Err(mismatch()),
        },
        Codec::Fallback => match v {
            Value::RawText(b) => out.put_slice(b),
            other => out.put_slice(value_to_text(other)?.as_bytes()),
        },
    }
    Ok(())
}

/// The binary form of an `inet` or `cidr` value from its text as
/// PostgreSQL prints it (`192.168.0.1`, `10.0.0.0/8`, `2001:db8::/32`,
/// `::ffff:1.2.3.4`): family (2 for IPv4, 3 for IPv6), prefix bits, the
/// cidr flag, the address length and the address bytes.
fn inet_from_text(text: &str, cidr: bool, out: &mut BytesMut) -> Result<(), String> {
    let what = if cidr { "cidr" } else { "inet" };
    let invalid = || format!("{text:?} is not an {what} value");
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| invalid())?)),
        None => (text, None),
    };
    let addr: std::net::IpAddr = addr.parse().map_err(|_| invalid())?;
    let (family, max, bytes) = match addr {
        std::net::IpAddr::V4(a) => (2u8, 32u8, a.octets().to_vec()),
        std::net::IpAddr::V6(a) => (3u8, 128u8, a.octets().to_vec()),
    };
    let bits = bits.unwrap_or(max);
    if bits > max {
        return Err(invalid());
    }
    if cidr {
        // PostgreSQL refuses a cidr with bits set right of the prefix
        let host_bits_set = bytes.iter().enumerate().any(|(i, b)| {
            let first = (i * 8) as u32;
            let keep = u32::from(bits).saturating_sub(first).min(8);
            let mask = if keep == 8 { 0xff } else { !(0xffu8 >> keep) };
            b & !mask != 0
        });
        if host_bits_set {
            return Err(format!("{text:?} has bits set right of its prefix"));
        }
    }
    out.put_u8(family);
    out.put_u8(bits);
    out.put_u8(u8::from(cidr));
    out.put_u8(bytes.len() as u8);
    out.put_slice(&bytes);
    Ok(())
}

fn encode_array(elem_oid: u32, elem: &Codec, a: &Array, out: &mut BytesMut) -> Result<(), String> {
    if !a.is_well_formed() {
        return Err("array dimensions do not match its elements".into());
    }
    out.put_i32(a.dims.len() as i32);
    out.put_i32(i32::from(a.elements.iter().any(Value::is_null)));
    out.put_u32(elem_oid);
    for d in &a.dims {
        out.put_i32(d.len as i32);
        out.put_i32(d.lower);
    }
    for e in &a.elements {
        if e.is_null() {
            out.put_i32(-1);
            continue;
        }
        let at = out.len();
        out.put_i32(0);
        encode_value(elem, e, out)?;
        let len = (out.len() - at - 4) as i32;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

/// Days since 2000-01-01 for a `date`.
pub(crate) fn date_to_pg(d: Date) -> Result<i32, String> {
    match d {
        Date::Infinity => Ok(i32::MAX),
        Date::NegInfinity => Ok(i32::MIN),
        d => {
            let days = d
                .to_epoch_days()
                .ok_or_else(|| format!("invalid date {d}"))?;
            i32::try_from(days - PG_EPOCH_DAYS).map_err(|_| format!("date {d} out of range"))
        }
    }
}

/// Microseconds since 2000-01-01 for a `timestamp`.
pub(crate) fn timestamp_to_pg(t: Timestamp) -> Result<i64, String> {
    match t.date {
        Date::Infinity => Ok(i64::MAX),
        Date::NegInfinity => Ok(i64::MIN),
        _ => t
            .date
            .to_epoch_days()
            .and_then(|d| (d - PG_EPOCH_DAYS).checked_mul(86_400_000_000))
            .and_then(|m| m.checked_add(t.micros))
            .ok_or_else(|| format!("invalid timestamp {t}")),
    }
}

/// Writes a decimal text (`-?digits(.digits)?`, `NaN`, `±Infinity`) as a
/// binary `numeric`, keeping its scale.
pub(crate) fn numeric_from_text(s: &str, out: &mut BytesMut) -> Result<(), String> {
    let special = match s {
        "NaN" => Some(0xC000u16),
        "Infinity" | "+Infinity" => Some(0xD000),
        "-Infinity" => Some(0xF000),
        _ => None,
    };
    if let Some(sign) = special {
        out.put_i16(0);
        out.put_i16(0);
        out.put_u16(sign);
        out.put_i16(0);
        return Ok(());
    }
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = rest.split_once('.').unwrap_or((rest, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return Err(format!("{s:?} is not a decimal number"));
    }
    let dscale = i16::try_from(frac.len()).map_err(|_| "too many fraction digits")?;
    let int = int.trim_start_matches('0');
    let mut digits: Vec<i16> = Vec::with_capacity(int.len() / 4 + frac.len() / 4 + 2);
    let lead = (4 - int.len() % 4) % 4;
    let padded_int: Vec<u8> = std::iter::repeat_n(b'0', lead).chain(int.bytes()).collect();
    for g in padded_int.chunks(4) {
        digits.push(group(g));
    }
    let mut weight = digits.len() as i64 - 1;
    let mut padded_frac: Vec<u8> = frac.bytes().collect();
    while !padded_frac.len().is_multiple_of(4) {
        padded_frac.push(b'0');
    }
    for g in padded_frac.chunks(4) {
        digits.push(group(g));
    }
    let leading = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..leading);
    weight -= leading as i64;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let negative = neg && !digits.is_empty();
    if digits.is_empty() {
        weight = 0;
    }
    out.put_i16(i16::try_from(digits.len()).map_err(|_| "too many digits")?);
    out.put_i16(i16::try_from(weight).map_err(|_| "number out of range")?);
    out.put_u16(if negative { 0x4000 } else { 0 });
    out.put_i16(dscale);
    for d in digits {
        out.put_i16(d);
    }
    Ok(())
}

fn group(g: &[u8]) -> i16 {
    g.iter().fold(0i16, |acc, c| acc * 10 + i16::from(c - b'0'))
}

fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{f:?}")
    }
}

fn date_text(d: Date) -> String {
    match d {
        Date::Ymd { year, month, day } if year <= 0 => {
            format!("{:04}-{month:02}-{day:02} BC", 1 - i64::from(year))
        }
        d => d.to_string(),
    }
}

fn timestamp_text(t: Timestamp) -> String {
    match t.date {
        Date::Infinity | Date::NegInfinity => t.date.to_string(),
        d => {
            let time = tresor_core::Time { micros: t.micros };
            match d {
                Date::Ymd { year, .. } if year <= 0 => {
                    let s = date_text(d);
                    let (date, bc) = s.split_at(s.len() - 3);
                    format!("{date} {time}{bc}")
                }
                _ => format!("{d} {time}"),
            }
        }
    }
}

/// PostgreSQL's text input form of a scalar value, for typed-fallback
/// columns (which are loaded through a `text` staging column and a cast).
pub(crate) fn value_to_text(v: &Value) -> Result<String, String> {
    Ok(match v {
        Value::Other { text, .. } => text.clone(),
        Value::Text(s) | Value::Enum(s) | Value::Json(s) | Value::Decimal(s) => s.clone(),
        Value::Bool(b) => if *b { "t" } else { "f" }.into(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::F32(f) => float_text(f64::from(*f)),
        Value::F64(f) => float_text(*f),
        Value::Bytes(b) => {
            let mut s = String::with_capacity(2 + b.len() * 2);
            s.push_str("\\x");
            for byte in b {
                let _ = write!(s, "{byte:02x}");
            }
            s
        }
        Value::Bits { len, bytes } => (0..*len as usize)
            .map(|i| {
                if bytes.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0) {
                    '1'
                } else {
                    '0'
                }
            })
            .collect(),
        Value::Date(d) => date_text(*d),
        Value::Time(t) => t.to_string(),
        Value::TimeTz { time, offset_secs } => {
            let sign = if *offset_secs < 0 { '-' } else { '+' };
            let o = offset_secs.unsigned_abs();
            format!(
                "{time}{sign}{:02}:{:02}:{:02}",
                o / 3600,
                (o / 60) % 60,
                o % 60
            )
        }
        Value::Timestamp(t) => timestamp_text(*t),
        Value::TimestampTz(t) => match t.date {
            Date::Infinity | Date::NegInfinity => t.date.to_string(),
            _ => {
                let s = timestamp_text(*t);
                match s.strip_suffix(" BC") {
                    Some(x) => format!("{x}+00 BC"),
                    None => format!("{s}+00"),
                }
            }
        },
        Value::Interval(i) => format!(
            "{} mons {} days {} microseconds",
            i.months, i.days, i.micros
        ),
        Value::Uuid(u) => tresor_core::convert::uuid_text(u),
        Value::Null => return Err("null has no text form".into()),
        Value::RawText(_) | Value::Array(_) | Value::Document(_) => {
            return Err("no text form for this value".into());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode_value, numeric_to_text};
    use proptest::prelude::*;
    use tresor_core::{ArrayDim, Interval, Time};

    fn inet(text: &str, cidr: bool) -> Result<Vec<u8>, String> {
        let mut b = BytesMut::new();
        inet_from_text(text, cidr, &mut b)?;
        Ok(b.to_vec())
    }

    #[test]
    fn inet_and_cidr_in_their_binary_form() {
        let ok = |t: &str, cidr| inet(t, cidr).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok("192.168.0.1", false), [2, 32, 0, 4, 192, 168, 0, 1]);
        assert_eq!(ok("192.168.0.1/24", false), [2, 24, 0, 4, 192, 168, 0, 1]);
        assert_eq!(ok("10.0.0.0/8", true), [2, 8, 1, 4, 10, 0, 0, 0]);
        assert_eq!(ok("0.0.0.0/0", true), [2, 0, 1, 4, 0, 0, 0, 0]);
        let v6 = ok("::ffff:1.2.3.4", false);
        assert_eq!(v6[..4], [3, 128, 0, 16]);
        assert_eq!(
            v6[4..],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]
        );
        assert_eq!(ok("::1.2.3.4", false)[16..], [1, 2, 3, 4]);
        assert_eq!(
            ok("2001:db8::/32", true)[..8],
            [3, 32, 1, 16, 0x20, 0x01, 0x0d, 0xb8]
        );
        assert_eq!(ok("::/0", true), {
            let mut v = vec![3, 0, 1, 16];
            v.extend([0; 16]);
            v
        });
        // a cidr whose host part is not zero, and text that is no address
        assert!(inet("10.0.0.1/8", true).is_err());
        assert!(inet("2001:db8::1/32", true).is_err());
        assert!(inet("10.0.0.1/8", false).is_ok());
        for bad in ["", "10/8", "1.2.3.4/33", "::/129", "1.2.3.4/x", "host"] {
            assert!(inet(bad, false).is_err(), "{bad}");
        }
    }

    fn round_trip(codec: &Codec, v: &Value) -> Value {
        let mut b = BytesMut::new();
        encode_value(codec, v, &mut b).expect("encode");
        decode_value(codec, &b, "t").expect("decode")
    }

    fn decimal() -> impl Strategy<Value = String> {
        ("-?", "[0-9]{1,40}", proptest::option::of("[0-9]{0,40}")).prop_map(|(sign, int, frac)| {
            let int = int.trim_start_matches('0');
            let int = if int.is_empty() { "0" } else { int };
            let sign = if int == "0" && frac.as_deref().is_none_or(|f| f.bytes().all(|c| c == b'0'))
            {
                ""
            } else {
                sign.as_str()
            };
            match frac {
                Some(f) if !f.is_empty() => format!("{sign}{int}.{f}"),
                _ => format!("{sign}{int}"),
            }
        })
    }

    proptest! {
        #[test]
        fn numeric_text_round_trips(s in decimal()) {
            let mut b = BytesMut::new();
            numeric_from_text(&s, &mut b).expect("encode");
            prop_assert_eq!(numeric_to_text(&b).expect("decode"), s);
        }

        #[test]
        fn scalars_round_trip(i in any::<i64>(), f in any::<u64>(), g in any::<u32>(), us in 0i64..86_400_000_000,
                              off in -57_599i32..57_600, days in -2_451_545i64..2_900_000, bytes in proptest::collection::vec(any::<u8>(), 0..40),
                              bits in 0u32..80, text in "\\PC{0,20}") {
            let cases = [
                (Codec::Int8, Value::Int(i)),
                (Codec::Int4, Value::Int(i64::from(i as i32))),
                (Codec::Int2, Value::Int(i64::from(i as i16))),
                (Codec::Float8, Value::F64(f64::from_bits(f))),
                (Codec::Float4, Value::F32(f32::from_bits(g))),
                (Codec::Time, Value::Time(Time { micros: us })),
                (Codec::TimeTz, Value::TimeTz { time: Time { micros: us }, offset_secs: off }),
                (Codec::Date, Value::Date(tresor_core::Date::from_epoch_days(days))),
                (Codec::Timestamp, Value::Timestamp(tresor_core::Timestamp { date: tresor_core::Date::from_epoch_days(days), micros: us })),
                (Codec::TimestampTz, Value::TimestampTz(tresor_core::Timestamp { date: tresor_core::Date::from_epoch_days(days), micros: us })),
                (Codec::Interval, Value::Interval(Interval { months: g as i32, days: off, micros: i })),
                (Codec::Bytea, Value::Bytes(bytes.clone())),
                (Codec::Text, Value::Text(text.clone())),
                (Codec::Jsonb, Value::Json(text.clone())),
                (Codec::Enum, Value::Enum(text)),
                (Codec::Bits, Value::Bits { len: bits, bytes: {
                    let mut b = vec![0u8; (bits as usize).div_ceil(8)];
                    for (x, y) in b.iter_mut().zip(&bytes) { *x = *y; }
                    if bits % 8 != 0 && let Some(last) = b.last_mut() { *last &= 0xffu8 << (8 - bits % 8); }
                    b
                } }),
            ];
            for (codec, v) in cases {
                let back = round_trip(&codec, &v);
                prop_assert!(back.same(&v), "{:?}: {:?} became {:?}", codec, v, back);
            }
        }

        #[test]
        fn arrays_round_trip(elems in proptest::collection::vec(proptest::option::of(any::<i32>()), 0..12), lower in -3i32..3) {
            let elements: Vec<Value> = elems.iter().map(|e| e.map_or(Value::Null, |i| Value::Int(i64::from(i)))).collect();
            let dims = if elements.is_empty() { vec![] } else { vec![ArrayDim { len: elements.len() as u32, lower }] };
            let v = Value::Array(Box::new(Array { dims, elements }));
            let codec = Codec::Array { elem_oid: 23, elem: Box::new(Codec::Int4) };
            prop_assert_eq!(round_trip(&codec, &v), v);
        }
    }

    #[test]
    fn infinities() {
        for d in [Date::Infinity, Date::NegInfinity] {
            assert_eq!(round_trip(&Codec::Date, &Value::Date(d)), Value::Date(d));
            let t = Value::Timestamp(Timestamp { date: d, micros: 0 });
            assert_eq!(round_trip(&Codec::Timestamp, &t), t);
        }
    }

    #[test]
    fn numeric_round_trips() {
        for s in [
            "0",
            "0.000",
            "1.50",
            "-120000",
            "0.000012",
            "123456789012345678901234567890.000000000000000000001",
            "NaN",
            "Infinity",
            "-Infinity",
            "-0.5",
            "10000",
            "9999.9999",
        ] {
            let mut b = BytesMut::new();
            numeric_from_text(s, &mut b).expect("encode");
            assert_eq!(numeric_to_text(&b).expect("decode"), s);
        }
        let mut b = BytesMut::new();
        assert!(numeric_from_text("1e5", &mut b).is_err());
        assert!(numeric_from_text("", &mut b).is_err());
    }

    #[test]
    fn text_forms() {
        assert_eq!(value_to_text(&Value::F64(-0.0)).expect("f"), "-0.0");
        assert_eq!(
            value_to_text(&Value::Bits {
                len: 3,
                bytes: vec![0b1010_0000]
            })
            .expect("bits"),
            "101"
        );
        assert_eq!(
            value_to_text(&Value::Date(Date::ymd(0, 1, 2))).expect("date"),
            "0001-01-02 BC"
        );
    }
}
