//! Values an application keeps in a form of its own, in an existing column
//! of an engine without a type for them. Frameworks that run on several
//! engines store a UUID or a duration in a type every engine has, each by
//! its convention; a restore from an engine with the type into such a
//! column writes the value in that form, so that the application reads it
//! back (a dashed UUID in Django's `char(32)`, or `P7DT3H` in its `bigint`,
//! is a value it cannot read).

use crate::changes::ValueChange;
use crate::convert::{declared_type, holds_uuid_hex, uuid_hex};
use crate::schema::PortableType;
use crate::value::{Interval, Timestamp, Value};

/// The form an existing column keeps a kind of value in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppForm {
    /// A UUID as its 32 hex digits, in a `char(32)`: Django's `UUIDField`
    /// and SQLAlchemy's `Uuid` outside PostgreSQL.
    UuidHex,
    /// An interval as its whole microseconds, in an integer column:
    /// Django's `DurationField` outside PostgreSQL.
    IntervalMicros,
    /// An interval as the instant that long after 1970-01-01 00:00:00, in
    /// a `DATETIME`: SQLAlchemy's `Interval` outside PostgreSQL.
    IntervalEpoch,
}

/// An interval with months written as a duration of fixed length.
pub const MONTHS_AS_30_DAYS: ValueChange = ValueChange {
    from: "interval with months",
    to: "a duration counting 30 days a month",
    why: "the column keeps a duration of fixed length, as postgresql's extract(epoch) counts it",
};

impl AppForm {
    /// The form an existing column declared `engine_type` (SQLite's
    /// declared type, MySQL's column type) keeps values in, if it keeps a
    /// kind of value in a form of its own.
    pub fn of(engine_type: &str) -> Option<AppForm> {
        if holds_uuid_hex(engine_type) {
            return Some(AppForm::UuidHex);
        }
        // an integer type by name: SQLite's affinity rule (any name with
        // `int` in it) would take `interval` and `point` too
        let t = engine_type.trim().to_ascii_lowercase();
        let base = t.split(['(', ' ']).next().unwrap_or_default();
        match declared_type(engine_type) {
            PortableType::Int { .. }
                if matches!(
                    base,
                    "int"
                        | "integer"
                        | "bigint"
                        | "smallint"
                        | "mediumint"
                        | "int2"
                        | "int4"
                        | "int8"
                ) =>
            {
                Some(AppForm::IntervalMicros)
            }
            PortableType::Timestamp => Some(AppForm::IntervalEpoch),
            _ => None,
        }
    }

    /// The form a column of portable type `t` keeps values in, as
    /// [`of`](Self::of) reads a column's declared type: for comparing a
    /// value with what such a column holds
    /// ([`comparable`](crate::convert::comparable)).
    pub(crate) fn of_portable(t: &PortableType) -> Option<AppForm> {
        match t {
            PortableType::Text {
                max_len: Some(32), ..
            } => Some(AppForm::UuidHex),
            PortableType::Int { .. } => Some(AppForm::IntervalMicros),
            PortableType::Timestamp | PortableType::TimestampTz => Some(AppForm::IntervalEpoch),
            _ => None,
        }
    }

    /// `v` in this form, with the change to note when it is not exact
    /// (months counted as 30 days); `None` when `v` is not a value this
    /// form is for, or does not fit it, and goes in as it is.
    pub fn apply(self, v: &Value) -> Option<(Value, Option<ValueChange>)> {
        match (self, v) {
            (AppForm::UuidHex, Value::Uuid(u)) => Some((Value::Text(uuid_hex(u)), None)),
            (AppForm::IntervalMicros, Value::Interval(i)) => {
                let (micros, exact) = interval_micros(i)?;
                Some((Value::Int(micros), (!exact).then_some(MONTHS_AS_30_DAYS)))
            }
            (AppForm::IntervalEpoch, Value::Interval(i)) => {
                let (micros, exact) = interval_micros(i)?;
                let t = Timestamp::from_unix_micros(micros);
                Some((Value::Timestamp(t), (!exact).then_some(MONTHS_AS_30_DAYS)))
            }
            _ => None,
        }
    }
}

/// The microseconds an interval lasts, a month counted as 30 days and a
/// day as 24 hours (PostgreSQL's `extract(epoch from ...)`, psycopg's
/// `timedelta`), and whether that was exact (no months).
fn interval_micros(i: &Interval) -> Option<(i64, bool)> {
    const DAY: i64 = 86_400_000_000;
    let days = i64::from(i.months) * 30 + i64::from(i.days);
    let micros = days.checked_mul(DAY)?.checked_add(i.micros)?;
    Some((micros, i.months == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(months: i32, days: i32, micros: i64) -> Value {
        Value::Interval(Interval {
            months,
            days,
            micros,
        })
    }

    #[test]
    fn columns_say_the_form() {
        assert_eq!(AppForm::of("char(32)"), Some(AppForm::UuidHex));
        assert_eq!(AppForm::of("bigint"), Some(AppForm::IntervalMicros));
        assert_eq!(AppForm::of("bigint(20)"), Some(AppForm::IntervalMicros));
        assert_eq!(AppForm::of("INTEGER"), Some(AppForm::IntervalMicros));
        assert_eq!(AppForm::of("DATETIME"), Some(AppForm::IntervalEpoch));
        assert_eq!(AppForm::of("datetime(6)"), Some(AppForm::IntervalEpoch));
        assert_eq!(AppForm::of("text"), None);
        assert_eq!(AppForm::of("varchar(36)"), None);
        assert_eq!(AppForm::of("tinyint(1)"), None);
        assert_eq!(AppForm::of("interval"), None);
        assert_eq!(AppForm::of("point"), None);
        assert_eq!(
            AppForm::of("int(10) unsigned"),
            Some(AppForm::IntervalMicros)
        );
    }

    #[test]
    fn a_duration_becomes_microseconds_or_an_instant() {
        let week = interval(0, 7, 3 * 3_600_000_000);
        assert_eq!(
            AppForm::IntervalMicros.apply(&week),
            Some((Value::Int(615_600_000_000), None))
        );
        let (at, change) = AppForm::IntervalEpoch.apply(&week).expect("fits");
        let Value::Timestamp(at) = at else {
            panic!("not a timestamp: {at:?}")
        };
        assert_eq!(at.to_string(), "1970-01-08T03:00:00");
        assert_eq!(change, None);
        assert_eq!(
            AppForm::IntervalMicros.apply(&interval(0, 0, -1_500_000)),
            Some((Value::Int(-1_500_000), None))
        );
        // months have no fixed length: counted as 30 days, and said so
        assert_eq!(
            AppForm::IntervalMicros.apply(&interval(1, 0, 0)),
            Some((Value::Int(30 * 86_400_000_000), Some(MONTHS_AS_30_DAYS)))
        );
        // other values, and other forms' values, go in as they are
        assert_eq!(AppForm::IntervalMicros.apply(&Value::Int(5)), None);
        assert_eq!(AppForm::UuidHex.apply(&week), None);
        assert_eq!(
            AppForm::IntervalMicros.apply(&interval(i32::MAX, i32::MAX, i64::MAX)),
            None
        );
    }

    #[test]
    fn a_uuid_becomes_its_hex_digits() {
        let u = Value::Uuid([0xab; 16]);
        assert_eq!(
            AppForm::UuidHex.apply(&u),
            Some((Value::Text("ab".repeat(16)), None))
        );
    }
}
