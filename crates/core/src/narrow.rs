//! Values that an existing column of the target keeps less of than the
//! snapshot has: more decimal places than a `numeric(10,2)` or
//! `DECIMAL(10,2)` holds, fractions of a second finer than a
//! `timestamp(0)` or a MySQL `DATETIME` keeps. The engine rounds (or cuts)
//! them without an error, even under MySQL's strict `sql_mode`, so a
//! target notes each as a [`ValueChange`] (listed by the dry run's
//! rehearsal, refused by `--strict`) instead of changing data silently.

use crate::Value;
use crate::changes::ValueChange;

/// Decimal places beyond the column's scale.
pub const ROUNDED_DECIMAL: ValueChange = ValueChange {
    from: "with more decimal places than the column keeps",
    to: "rounded to its scale",
    why: "the target's existing column has a smaller scale than the snapshot's values",
};

/// Fractions of a second beyond the column's precision.
pub const ROUNDED_FRACTION: ValueChange = ValueChange {
    from: "with finer fractions of a second than the column keeps",
    to: "rounded or cut to its precision",
    why: "the target's existing column keeps fewer digits of a second than the snapshot's values",
};

/// What an existing column of the target keeps of its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keeps {
    /// At most this many decimal places.
    Places(u32),
    /// At most this many digits of a second (0 to 5; 6 is all there is).
    SecondDigits(u32),
}

impl Keeps {
    /// What a column of this engine type keeps, when it keeps less than
    /// every value of its kind: `numeric(10,2)` / `decimal(10,2)` two
    /// places, `timestamp(0) without time zone`, `time(3)`, `datetime`,
    /// `datetime(3)`, `timestamp` (MySQL) so many digits of a second.
    /// `mysql` reads a type without precision as MySQL does (no fractions
    /// of a second); PostgreSQL's default keeps microseconds.
    pub fn of_type(engine_type: &str, mysql: bool) -> Option<Keeps> {
        let t = engine_type.trim().to_ascii_lowercase();
        let (base, args) = match t.find('(') {
            Some(i) => {
                let close = t[i..].find(')').map_or(t.len(), |j| i + j);
                (t[..i].trim(), Some(&t[i + 1..close]))
            }
            None => (t.split_whitespace().next().unwrap_or(""), None),
        };
        match base {
            "numeric" | "decimal" => {
                let scale = args?.split(',').nth(1)?.trim().parse().ok()?;
                Some(Keeps::Places(scale))
            }
            "timestamp" | "time" | "datetime" => {
                let digits = match args {
                    Some(a) => a.trim().parse().ok()?,
                    None if mysql => 0,
                    None => return None,
                };
                (digits < 6).then_some(Keeps::SecondDigits(digits))
            }
            _ => None,
        }
    }

    /// What an existing column of type `target_type` (a MySQL or MariaDB
    /// one when `mysql`) would round or cut of the values of the
    /// snapshot's column `column` (of an `engine` snapshot): `None` when
    /// it keeps all of them, because it keeps all of its kind or because
    /// the snapshot's column is a typed engine's that keeps no more
    /// (SQLite's declared types hold anything, so its values are always
    /// looked at).
    pub fn to_check(
        column: &crate::Column,
        engine: crate::Engine,
        target_type: &str,
        mysql: bool,
    ) -> Option<Keeps> {
        let keeps = Keeps::of_type(target_type, mysql)?;
        let held = (engine != crate::Engine::SQLITE)
            .then(|| Keeps::of_type(&column.engine_type, engine == crate::Engine::MYSQL))
            .flatten();
        let within = match (held, keeps) {
            (Some(Keeps::Places(a)), Keeps::Places(b))
            | (Some(Keeps::SecondDigits(a)), Keeps::SecondDigits(b)) => a <= b,
            _ => false,
        };
        (!within).then_some(keeps)
    }

    /// The digits of a second the time column `c` of an `engine` snapshot
    /// keeps when fewer than six: MySQL's `datetime` none, `datetime(3)`
    /// three, PostgreSQL's `timestamp(0)` none; `None` for all six, and
    /// for SQLite's declared types, which hold anything. A table made in
    /// another engine keeps as many (WordPress, moved to PostgreSQL and
    /// back, came back with `datetime(6)`: `... 23:59:55.000000`, which it
    /// no longer read as a date).
    pub fn second_digits_of(c: &crate::Column, engine: crate::Engine) -> Option<u32> {
        if engine == crate::Engine::SQLITE {
            return None;
        }
        match Keeps::of_type(&c.engine_type, engine == crate::Engine::MYSQL) {
            Some(Keeps::SecondDigits(n)) => Some(n),
            _ => None,
        }
    }

    /// Whether the column would change `v` (round or cut it).
    pub fn changes(self, v: &Value) -> bool {
        match self {
            Keeps::Places(places) => decimal_places(v).is_some_and(|p| p > places),
            Keeps::SecondDigits(digits) => second_digits(v).is_some_and(|d| d > digits),
        }
    }

    /// The change [`changes`](Self::changes) stands for.
    pub fn change(self) -> ValueChange {
        match self {
            Keeps::Places(_) => ROUNDED_DECIMAL,
            Keeps::SecondDigits(_) => ROUNDED_FRACTION,
        }
    }
}

/// The decimal places of a number that are not trailing zeros (`1.2300`:
/// 2); `None` for what is no number.
fn decimal_places(v: &Value) -> Option<u32> {
    let float;
    let text = match v {
        Value::Decimal(s) | Value::Text(s) => s.as_str(),
        Value::F64(f) if f.is_finite() => {
            float = f.to_string();
            float.as_str()
        }
        Value::F32(f) if f.is_finite() => {
            float = f.to_string();
            float.as_str()
        }
        Value::Int(_) | Value::UInt(_) => return Some(0),
        _ => return None,
    };
    let t = text.trim();
    if t.contains(['e', 'E']) {
        // 1.5e-7 as text: not written by a backup, and PostgreSQL reads it
        return None;
    }
    let frac = t.split_once('.').map_or("", |(_, f)| f);
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(significant(frac))
}

/// How many of `digits` come before its trailing zeros.
fn significant(digits: &str) -> u32 {
    u32::try_from(digits.trim_end_matches('0').len()).unwrap_or(u32::MAX)
}

/// The digits of a second of a time or timestamp that are not trailing
/// zeros (`12:00:01.250`: 2); `None` for what is no time.
fn second_digits(v: &Value) -> Option<u32> {
    let micros = match v {
        Value::Timestamp(t) | Value::TimestampTz(t) => t.micros,
        Value::Time(t) | Value::TimeTz { time: t, .. } => t.micros,
        // a time as text (SQLite keeps them so): the digits after the
        // seconds' point
        Value::Text(s) => {
            let tail = s.trim().rsplit_once(':')?.1;
            let frac = tail.split_once('.').map_or("", |(_, f)| f);
            let end = frac
                .bytes()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(frac.len());
            return Some(significant(&frac[..end]));
        }
        _ => return None,
    };
    let mut frac = micros.rem_euclid(1_000_000);
    if frac == 0 {
        return Some(0);
    }
    let mut digits = 6;
    while frac % 10 == 0 {
        frac /= 10;
        digits -= 1;
    }
    Some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Date, Time, Timestamp};

    #[test]
    fn column_types_say_what_they_keep() {
        assert_eq!(
            Keeps::of_type("numeric(10,2)", false),
            Some(Keeps::Places(2))
        );
        assert_eq!(
            Keeps::of_type("decimal(12,0)", true),
            Some(Keeps::Places(0))
        );
        assert_eq!(Keeps::of_type("numeric", false), None);
        assert_eq!(
            Keeps::of_type("timestamp(0) without time zone", false),
            Some(Keeps::SecondDigits(0))
        );
        assert_eq!(
            Keeps::of_type("time(3) with time zone", false),
            Some(Keeps::SecondDigits(3))
        );
        assert_eq!(Keeps::of_type("timestamp without time zone", false), None);
        assert_eq!(Keeps::of_type("timestamp(6) with time zone", false), None);
        assert_eq!(
            Keeps::of_type("datetime", true),
            Some(Keeps::SecondDigits(0))
        );
        assert_eq!(Keeps::of_type("datetime(6)", true), None);
        assert_eq!(Keeps::of_type("text", true), None);
    }

    #[test]
    fn only_columns_that_can_hold_more_are_looked_at() {
        let col = |t: &str| crate::Column::new("c", t, crate::PortableType::Json);
        let pg = crate::Engine::POSTGRES;
        // the same scale, or a smaller one, holds nothing finer
        assert_eq!(
            Keeps::to_check(&col("numeric(10,2)"), pg, "numeric(10,2)", false),
            None
        );
        assert_eq!(
            Keeps::to_check(&col("numeric(10,1)"), pg, "numeric(12,2)", false),
            None
        );
        assert_eq!(
            Keeps::to_check(&col("numeric(10,3)"), pg, "numeric(10,2)", false),
            Some(Keeps::Places(2))
        );
        assert_eq!(
            Keeps::to_check(&col("numeric"), pg, "numeric(10,2)", false),
            Some(Keeps::Places(2))
        );
        // SQLite's declared type holds anything
        assert_eq!(
            Keeps::to_check(
                &col("decimal(10,2)"),
                crate::Engine::SQLITE,
                "decimal(10,2)",
                true
            ),
            Some(Keeps::Places(2))
        );
        assert_eq!(
            Keeps::to_check(&col("timestamp without time zone"), pg, "datetime", true),
            Some(Keeps::SecondDigits(0))
        );
        assert_eq!(
            Keeps::to_check(
                &col("datetime"),
                crate::Engine::MYSQL,
                "timestamp(0) without time zone",
                false
            ),
            None
        );
        assert_eq!(Keeps::to_check(&col("text"), pg, "text", false), None);
    }

    #[test]
    fn values_finer_than_the_column_are_found() {
        let two = Keeps::Places(2);
        assert!(two.changes(&Value::Decimal("1.239".into())));
        assert!(!two.changes(&Value::Decimal("1.2300".into())));
        assert!(!two.changes(&Value::Decimal("-7".into())));
        assert!(two.changes(&Value::F64(2.005)));
        assert!(!two.changes(&Value::F64(2.5)));
        assert!(two.changes(&Value::Text("0.001".into())));
        assert!(!two.changes(&Value::Int(12)));
        assert!(!two.changes(&Value::Null));
        let secs = Keeps::SecondDigits(0);
        let at = |micros| {
            Value::Timestamp(Timestamp {
                date: Date::Ymd {
                    year: 2026,
                    month: 12,
                    day: 7,
                },
                micros,
            })
        };
        assert!(secs.changes(&at(51_359_999_999)));
        assert!(!secs.changes(&at(51_359_000_000)));
        assert!(Keeps::SecondDigits(3).changes(&at(1_000_100)));
        assert!(!Keeps::SecondDigits(3).changes(&at(1_250_000)));
        assert!(secs.changes(&Value::Text("2026-12-07 14:15:59.999999".into())));
        assert!(!secs.changes(&Value::Text("2026-12-07 14:15:59".into())));
        assert!(!secs.changes(&Value::Text("2026-12-07 14:15:59.000".into())));
        assert!(secs.changes(&Value::Time(Time::hms(0, 0, 30, 250_000))));
        assert!(!secs.changes(&Value::Text("not a time".into())));
    }
}
