//! Values between SQLite and [`Value`]: exactly as stored on the way out,
//! the nearest SQLite storage class on the way in.
//!
//! SQLite has five storage classes (NULL, INTEGER, REAL, TEXT, BLOB) and
//! any column may hold any of them, so reading never looks at the declared
//! type. TEXT whose bytes are not valid UTF-8 (an application may store
//! anything) becomes [`Value::RawText`] and is written back as TEXT with
//! the same bytes. SQLite cannot store a NaN: it turns one into NULL when
//! it is written, so a NaN never comes out of a SQLite database.

use rusqlite::ToSql;
use rusqlite::types::{ToSqlOutput, ValueRef};
use tresor_core::{Date, Timestamp, Value};

/// The [`Value`] of one stored SQLite value.
pub(crate) fn from_sqlite(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::F64(f),
        ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(s) => Value::Text(s.to_owned()),
            Err(_) => Value::RawText(bytes.to_vec()),
        },
        ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
    }
}

/// Approximate memory a value takes, for cutting batches.
pub(crate) fn approx_size(v: &Value) -> usize {
    match v {
        Value::Text(s) => s.len() + 16,
        Value::RawText(b) | Value::Bytes(b) => b.len() + 16,
        _ => 16,
    }
}

/// Whether SQLite stores `v` natively, without any conversion.
pub(crate) fn is_native(v: &Value) -> bool {
    match v {
        Value::F64(f) => !f.is_nan(),
        Value::Null | Value::Int(_) | Value::Text(_) | Value::RawText(_) | Value::Bytes(_) => true,
        _ => false,
    }
}

/// A floating-point NaN, which SQLite cannot store as a number: bound as
/// one, it would become NULL.
pub(crate) fn is_nan(v: &Value) -> bool {
    match v {
        Value::F64(f) => f.is_nan(),
        Value::F32(f) => f.is_nan(),
        _ => false,
    }
}

/// A [`Value`] bound as a statement parameter.
///
/// Values of other engines map to the nearest storage class: booleans to
/// 0/1, unsigned integers beyond `i64` and decimals to their exact text,
/// dates and times to ISO 8601 text, UUIDs to their hyphenated text, JSON
/// and enum labels to text, BSON documents and bit strings to blobs, arrays
/// to JSON text.
pub(crate) struct Bind<'a>(pub(crate) &'a Value);

impl ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as Owned;
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Owned(Owned::Integer(*i)),
            // SQLite turns a NaN into NULL: kept as the text `NaN` instead
            Value::F64(f) if f.is_nan() => ToSqlOutput::Borrowed(ValueRef::Text(b"NaN")),
            Value::F32(f) if f.is_nan() => ToSqlOutput::Borrowed(ValueRef::Text(b"NaN")),
            Value::F64(f) => ToSqlOutput::Owned(Owned::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::RawText(b) => ToSqlOutput::Borrowed(ValueRef::Text(b)),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Value::Bool(b) => ToSqlOutput::Owned(Owned::Integer(i64::from(*b))),
            Value::UInt(u) => match i64::try_from(*u) {
                Ok(i) => ToSqlOutput::Owned(Owned::Integer(i)),
                Err(_) => ToSqlOutput::Owned(Owned::Text(u.to_string())),
            },
            Value::F32(f) => ToSqlOutput::Owned(Owned::Real(f64::from(*f))),
            Value::Decimal(s) | Value::Json(s) | Value::Enum(s) => {
                ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
            }
            Value::Other { text, .. } => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Value::Bits { bytes, .. } => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
            Value::Document(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            other => ToSqlOutput::Owned(Owned::Text(as_text(other))),
        })
    }
}

/// A timestamp as an application writes one into a `DATETIME` column of
/// its own schema: in UTC without a zone, the date and time apart by a
/// space (Django, Rails and SQLAlchemy all store it so, and compare it as
/// text: a `Z` at the end made every equality miss and every value sort
/// after the others of its second). `every_fraction`: microseconds always
/// written out, as SQLAlchemy writes them (`12:00:00.000000`); Django and
/// Rails leave out a fraction of 0. `None` for other values and for
/// infinities, which go in as they are.
pub(crate) fn app_datetime(v: &Value, every_fraction: bool) -> Option<Value> {
    let (Value::Timestamp(t) | Value::TimestampTz(t)) = v else {
        return None;
    };
    if matches!(t.date, Date::Infinity | Date::NegInfinity) {
        return None;
    }
    let mut text = t.to_string().replacen('T', " ", 1);
    if every_fraction && t.micros % 1_000_000 == 0 {
        text.push_str(".000000");
    }
    Some(Value::Text(text))
}

/// How an application keeps instants in a `DATETIME` column of its own
/// schema, where that is not the text [`app_datetime`] writes: as
/// integers (Prisma's own engine, and knex under Directus, write a
/// JavaScript `Date` as its milliseconds since 1970; others SQLite's
/// `unixepoch()` seconds), or as ISO 8601 text with a `T`, a zone or
/// milliseconds (Prisma's driver adapters write
/// `2024-01-01T10:00:00.123+00:00`). SQLite compares such text as text:
/// `2024-01-01 10:00:00.000000` sorts before `2024-01-01T09:00:00`, and
/// every filter on the column went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InstantForm {
    Seconds,
    Millis,
    Text {
        /// A `T` between date and time (else a space).
        t: bool,
        /// What follows the time: nothing, `Z`, `+00:00` or ` +00:00`.
        zone: &'static str,
        /// Always three digits of a second (else six, where not whole).
        millis: bool,
    },
}

impl InstantForm {
    /// The form of `text`, a value found in such a column, when it is not
    /// the one [`app_datetime`] writes.
    pub(crate) fn of_text(text: &str) -> Option<InstantForm> {
        let text = text.trim();
        tresor_core::convert::to_timestamp(&Value::Text(text.to_string()))?;
        let t = text.get(10..11) == Some("T");
        let zone = if text.ends_with(['Z', 'z']) {
            "Z"
        } else if text.get(19..).is_some_and(|r| r.contains([' '])) {
            // Sequelize's `2024-06-04 22:13:44.969 +00:00`
            " +00:00"
        } else if text.get(19..).is_some_and(|r| r.contains(['+', '-'])) {
            "+00:00"
        } else {
            ""
        };
        let fraction = text
            .get(19..)
            .and_then(|r| r.strip_prefix('.'))
            .map(|r| r.bytes().take_while(u8::is_ascii_digit).count());
        let millis = fraction == Some(3);
        (t || !zone.is_empty() || millis).then_some(InstantForm::Text { t, zone, millis })
    }

    /// The unit of an integer instant `n` found in such a column, told
    /// apart by magnitude as [`tresor_core::convert::epoch_instant`] reads
    /// one.
    pub(crate) fn of(n: i64) -> InstantForm {
        if tresor_core::convert::counts_millis(n) {
            InstantForm::Millis
        } else {
            InstantForm::Seconds
        }
    }

    /// A date or timestamp `v` as such an integer, with the change to note
    /// when the fraction of a second it had is cut; `None` for other values
    /// and infinities, which go in as they are.
    pub(crate) fn apply(self, v: &Value) -> Option<(Value, Option<tresor_core::ValueChange>)> {
        if let InstantForm::Text { t, zone, millis } = self {
            let (Value::Timestamp(ts) | Value::TimestampTz(ts)) = v else {
                return None;
            };
            if matches!(ts.date, Date::Infinity | Date::NegInfinity) {
                return None;
            }
            let whole = tresor_core::Timestamp {
                date: ts.date,
                micros: ts.micros - ts.micros % 1_000_000,
            };
            let mut text = whole.to_string();
            if !t {
                text = text.replacen('T', " ", 1);
            }
            let fraction = ts.micros % 1_000_000;
            let mut cut = None;
            if millis {
                text.push_str(&format!(".{:03}", fraction / 1_000));
                cut = (fraction % 1_000 != 0).then_some(tresor_core::ROUNDED_FRACTION);
            } else if fraction != 0 {
                text.push_str(&format!(".{fraction:06}"));
            }
            text.push_str(zone);
            return Some((Value::Text(text), cut));
        }
        let micros = match v {
            Value::Timestamp(t) | Value::TimestampTz(t) => t.to_unix_micros()?,
            Value::Date(d) => d.to_epoch_days()?.checked_mul(86_400_000_000)?,
            _ => return None,
        };
        let per = match self {
            InstantForm::Seconds => 1_000_000,
            InstantForm::Millis | InstantForm::Text { .. } => 1_000,
        };
        let cut = (micros.rem_euclid(per) != 0).then_some(tresor_core::ROUNDED_FRACTION);
        Some((Value::Int(micros.div_euclid(per)), cut))
    }
}

/// Text form of values SQLite has no storage class for.
fn as_text(v: &Value) -> String {
    match v {
        Value::Date(d) => d.to_string(),
        Value::Time(t) => t.to_string(),
        Value::TimeTz { time, offset_secs } => format!("{time}{}", offset(*offset_secs)),
        Value::Timestamp(t) => t.to_string().replacen('T', " ", 1),
        // an infinity has no zone to write
        Value::TimestampTz(
            t @ Timestamp {
                date: Date::Infinity | Date::NegInfinity,
                ..
            },
        ) => t.to_string(),
        Value::TimestampTz(t) => format!("{}Z", t.to_string().replacen('T', " ", 1)),
        Value::Uuid(u) => uuid_text(u),
        Value::Array(a) => json_of(&Value::Array(a.clone())).to_string(),
        Value::Interval(i) => i.to_string(),
        other => json_of(other).to_string(),
    }
}

fn offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let s = secs.unsigned_abs();
    format!("{sign}{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

fn uuid_text(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A JSON rendering for array elements (cross-engine approximation).
fn json_of(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::UInt(u) => J::from(*u),
        Value::F64(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::F32(f) => serde_json::Number::from_f64(f64::from(*f)).map_or(J::Null, J::Number),
        Value::Text(s) | Value::Decimal(s) | Value::Enum(s) => J::String(s.clone()),
        Value::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| J::String(s.clone())),
        Value::Array(a) => J::Array(a.elements.iter().map(json_of).collect()),
        Value::RawText(b) | Value::Bytes(b) | Value::Document(b) => {
            J::String(b.iter().map(|x| format!("{x:02x}")).collect())
        }
        Value::Other { text, .. } => J::String(text.clone()),
        other => J::String(as_text(other)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn instants_go_in_as_the_integers_a_column_keeps() {
        let t = Value::Timestamp(Timestamp::from_unix_micros(1_767_268_800_123_456));
        assert_eq!(InstantForm::of(1_767_268_800_000), InstantForm::Millis);
        assert_eq!(InstantForm::of(1_767_268_800), InstantForm::Seconds);
        assert_eq!(InstantForm::of(-2_208_988_800_000), InstantForm::Millis);
        let (ms, cut) = InstantForm::Millis.apply(&t).expect("a timestamp");
        assert_eq!(ms, Value::Int(1_767_268_800_123));
        assert_eq!(cut, Some(tresor_core::ROUNDED_FRACTION));
        let (s, _) = InstantForm::Seconds.apply(&t).expect("a timestamp");
        assert_eq!(s, Value::Int(1_767_268_800));
        let before = Value::Timestamp(Timestamp::from_unix_micros(-1_500));
        assert_eq!(
            InstantForm::Millis.apply(&before).map(|v| v.0),
            Some(Value::Int(-2))
        );
        assert_eq!(
            InstantForm::Millis.apply(&Value::Date(Date::ymd(2026, 3, 4))),
            Some((Value::Int(1_772_582_400_000), None))
        );
        assert_eq!(InstantForm::Millis.apply(&Value::Text("x".into())), None);
        let inf = Value::TimestampTz(Timestamp {
            date: Date::Infinity,
            micros: 0,
        });
        assert_eq!(InstantForm::Millis.apply(&inf), None);
    }

    #[test]
    fn instants_go_in_as_the_text_a_column_keeps() {
        let prisma = InstantForm::of_text("2023-11-15T22:13:20.123+00:00").expect("a form");
        let js = InstantForm::of_text("2023-11-15T22:13:20.123Z").expect("a form");
        // the form tresor writes anyway is none of its own
        assert_eq!(InstantForm::of_text("2023-11-15 22:13:20.123456"), None);
        assert_eq!(InstantForm::of_text("2023-11-15 22:13:20"), None);
        assert_eq!(InstantForm::of_text("not a time"), None);
        let at = |micros| Value::TimestampTz(Timestamp::from_unix_micros(micros));
        assert_eq!(
            prisma.apply(&at(1_767_268_800_123_000)),
            Some((Value::Text("2026-01-01T12:00:00.123+00:00".into()), None))
        );
        assert_eq!(
            js.apply(&at(1_767_268_800_000_000)),
            Some((Value::Text("2026-01-01T12:00:00.000Z".into()), None))
        );
        let (_, cut) = js.apply(&at(1_767_268_800_123_456)).expect("a timestamp");
        assert_eq!(cut, Some(tresor_core::ROUNDED_FRACTION));
        let sequelize = InstantForm::of_text("2024-06-04 22:13:44.969 +00:00").expect("a form");
        assert_eq!(
            sequelize.apply(&at(1_767_268_800_123_000)).map(|v| v.0),
            Some(Value::Text("2026-01-01 12:00:00.123 +00:00".into()))
        );
        let t_only = InstantForm::of_text("2023-11-15T22:13:20").expect("a form");
        assert_eq!(
            t_only.apply(&at(1_767_268_800_500_000)).map(|v| v.0),
            Some(Value::Text("2026-01-01T12:00:00.500000".into()))
        );
    }

    fn round_trip(v: &Value) -> Value {
        let conn = Connection::open_in_memory().unwrap();
        conn.query_row("SELECT ?1", [Bind(v)], |r| Ok(from_sqlite(r.get_ref(0)?)))
            .unwrap()
    }

    #[test]
    fn a_nan_is_kept_as_text_not_turned_into_null() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x REAL)").unwrap();
        for v in [Value::F64(f64::NAN), Value::F32(f32::NAN)] {
            assert!(!is_native(&v), "{v:?}");
            assert!(is_nan(&v));
            conn.execute("INSERT INTO t VALUES (?1)", [Bind(&v)])
                .unwrap();
        }
        let kept: Vec<(String, String)> = conn
            .prepare("SELECT typeof(x), x FROM t")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let text = ("text".to_string(), "NaN".to_string());
        assert_eq!(kept, vec![text.clone(), text]);
        assert!(!is_nan(&Value::F64(f64::INFINITY)));
        assert!(is_native(&Value::F64(-0.0)));
    }

    #[test]
    fn native_values_round_trip_exactly() {
        for v in [
            Value::Null,
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::F64(-0.0),
            Value::F64(f64::MAX),
            Value::F64(f64::MIN_POSITIVE),
            Value::F64(f64::INFINITY),
            Value::F64(5e-324),
            Value::Text(String::new()),
            Value::Text("héllo \u{0} wörld".into()),
            Value::RawText(vec![0xff, 0xfe, b'a']),
            Value::Bytes(vec![]),
            Value::Bytes(vec![0, 1, 2, 255]),
        ] {
            let back = round_trip(&v);
            assert!(back.same(&v), "{v:?} came back as {back:?}");
        }
    }

    #[test]
    fn foreign_values_map_to_storage_classes() {
        assert_eq!(round_trip(&Value::Bool(true)), Value::Int(1));
        assert_eq!(
            round_trip(&Value::UInt(u64::MAX)),
            Value::Text(u64::MAX.to_string())
        );
        assert_eq!(
            round_trip(&Value::Decimal("1.50".into())),
            Value::Text("1.50".into())
        );
        assert_eq!(
            round_trip(&Value::Uuid([0xab; 16])),
            Value::Text("abababab-abab-abab-abab-abababababab".into())
        );
        assert_eq!(
            round_trip(&Value::Date(tresor_core::Date::ymd(2024, 2, 29))),
            Value::Text("2024-02-29".into())
        );
    }
}
