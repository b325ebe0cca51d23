//! Lossless value conversions for restores into another engine's column
//! types: a SQLite database carries `0`/`1` for booleans, text for
//! timestamps, dates, decimals and UUIDs, integers in text columns; a
//! target column of another type takes the value converted, when the
//! conversion loses nothing. Each function answers `None` when it would.
//!
//! The forms read are the ones applications write: SQLite's own date and
//! time functions (`YYYY-MM-DD HH:MM:SS[.SSS]`), ISO 8601 with `T` and an
//! optional `Z` or `±HH:MM` offset (Django, Rails, Prisma, Laravel), and
//! decimal numbers as text.

use crate::schema::PortableType;
use crate::value::{Date, Interval, Time, Timestamp, Value};

/// A boolean from `0`/`1` or the usual words.
pub fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Int(0) | Value::UInt(0) => Some(false),
        Value::Int(1) | Value::UInt(1) => Some(true),
        Value::Text(s) | Value::Enum(s) => match s.trim().to_ascii_lowercase().as_str() {
            "0" | "f" | "false" | "n" | "no" | "off" => Some(false),
            "1" | "t" | "true" | "y" | "yes" | "on" => Some(true),
            _ => None,
        },
        _ => None,
    }
}

/// An integer from an integral number or its decimal text.
pub fn to_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::F64(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
        Value::F32(f) if f.fract() == 0.0 && f.abs() < 1.6e7 => Some(*f as i64),
        Value::Text(s) | Value::Decimal(s) | Value::Enum(s) => {
            let t = s.trim();
            let t = t
                .split_once('.')
                .filter(|(_, frac)| frac.bytes().all(|c| c == b'0'))
                .map_or(t, |(int, _)| int);
            t.parse().ok()
        }
        _ => None,
    }
}

/// Exact decimal text (`-?digits(.digits)?`) of a number or numeric text.
/// Floats give their shortest form that reads back as the same float.
pub fn to_decimal(v: &Value) -> Option<String> {
    match v {
        Value::Decimal(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::F64(f) if f.is_finite() => Some(plain_float(*f)),
        Value::F32(f) if f.is_finite() => Some(plain_float(f64::from(*f))),
        Value::Text(s) => {
            let t = s.trim();
            is_decimal(t).then(|| t.to_string())
        }
        _ => None,
    }
}

/// A float from a number or numeric text, when the float holds it exactly
/// enough to print back the same digits.
pub fn to_float(v: &Value) -> Option<f64> {
    match v {
        Value::F64(f) => Some(*f),
        Value::F32(f) => Some(f64::from(*f)),
        Value::Int(i) if i.unsigned_abs() < (1 << 53) => Some(*i as f64),
        Value::Decimal(s) | Value::Text(s) => {
            let t = s.trim();
            let f: f64 = t.parse().ok()?;
            (is_decimal(t) || t.contains(['e', 'E'])).then_some(f)
        }
        _ => None,
    }
}

/// The text a value reads as in a text column of another engine.
pub fn to_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Text(s) | Value::Enum(s) | Value::Json(s) | Value::Decimal(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::F64(f) if f.is_finite() => f.to_string(),
        Value::F32(f) if f.is_finite() => f.to_string(),
        Value::Bool(b) => if *b { "1" } else { "0" }.into(),
        Value::Date(d) => d.to_string(),
        Value::Time(t) => t.to_string(),
        Value::Timestamp(t) | Value::TimestampTz(t) => t.to_string(),
        Value::Uuid(u) => uuid_text(u),
        _ => return None,
    })
}

/// JSON text of a value stored as text, a number or a boolean.
pub fn to_json(v: &Value) -> Option<String> {
    match v {
        Value::Json(s) => Some(s.clone()),
        Value::Text(s) => serde_json::from_str::<serde_json::Value>(s)
            .ok()
            .map(|_| s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::F64(f) if f.is_finite() => Some(f.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Decimal(s) => Some(s.clone()),
        _ => None,
    }
}

/// A date from `YYYY-MM-DD` text (or a timestamp at midnight, also as
/// an integer instant: [`epoch_instant`]).
pub fn to_date(v: &Value) -> Option<Date> {
    match v {
        Value::Date(d) => Some(*d),
        Value::Timestamp(t) if t.micros == 0 => Some(t.date),
        Value::Text(s) => parse_date(s.trim()),
        Value::Int(_) | Value::UInt(_) => {
            let t = to_timestamp(v)?;
            (t.micros == 0).then_some(t.date)
        }
        _ => None,
    }
}

/// A time of day from `HH:MM[:SS[.ffffff]]` text, after a date or not.
pub fn to_time(v: &Value) -> Option<Time> {
    match v {
        Value::Time(t) => Some(*t),
        Value::Text(s) => {
            let t = s.trim();
            // a time of day after a date (Rails keeps a `time` on SQLite
            // as `2000-01-01 01:01:07`), as PostgreSQL reads it
            let t = match t.get(..11) {
                Some(date)
                    if date.get(..10).and_then(parse_date).is_some()
                        && date.ends_with([' ', 'T']) =>
                {
                    &t[11..]
                }
                _ => t,
            };
            let full = if t.len() == 5 {
                format!("{t}:00")
            } else {
                t.to_string()
            };
            full.parse().ok()
        }
        _ => None,
    }
}

/// A timestamp from the text forms applications write: an offset in the
/// text is applied, giving UTC; text without one is taken as it stands
/// (Django, Rails and Laravel store UTC without an offset).
pub fn to_timestamp(v: &Value) -> Option<Timestamp> {
    match v {
        Value::Timestamp(t) | Value::TimestampTz(t) => Some(*t),
        Value::Date(d) => Some(Timestamp {
            date: *d,
            micros: 0,
        }),
        Value::Text(s) => parse_timestamp(s.trim()),
        Value::Int(n) => epoch_instant(*n),
        Value::UInt(n) => epoch_instant(i64::try_from(*n).ok()?),
        _ => None,
    }
}

/// From this magnitude on, an integer instant counts milliseconds: 10^11
/// seconds after 1970 is the year 5138, 10^11 milliseconds is March 1973.
const MILLIS_FROM: u64 = 100_000_000_000;

/// Whether the integer instant `n` counts milliseconds (else seconds), as
/// [`epoch_instant`] reads it.
pub fn counts_millis(n: i64) -> bool {
    n.unsigned_abs() >= MILLIS_FROM
}

/// The instant an integer in a date or time column of SQLite stands for,
/// as applications keep one there: milliseconds since 1970-01-01 00:00:00
/// UTC (Prisma, and knex under Directus, write a JavaScript `Date` so), or
/// seconds (SQLite's `unixepoch()`, `strftime('%s')`), told apart by
/// magnitude ([`MILLIS_FROM`]).
pub fn epoch_instant(n: i64) -> Option<Timestamp> {
    let micros = if counts_millis(n) {
        n.checked_mul(1_000)?
    } else {
        n.checked_mul(1_000_000)?
    };
    let t = Timestamp::from_unix_micros(micros);
    // beyond the years a date can be written with four digits, it is no
    // instant an application meant
    match t.date {
        Date::Ymd { year, .. } if (1..=9999).contains(&year) => Some(t),
        _ => None,
    }
}

/// An interval from how applications store durations where the engine
/// has no interval type: microseconds in an integer (Django's
/// `DurationField` on SQLite and MySQL) or the instant that long after
/// 1970-01-01 00:00:00 (SQLAlchemy's `Interval`), as a timestamp or its
/// text.
pub fn to_interval(v: &Value) -> Option<Interval> {
    let micros = match v {
        Value::Interval(i) => return Some(*i),
        Value::Int(_) | Value::UInt(_) | Value::Decimal(_) => to_int(v)?,
        Value::Timestamp(_) => to_timestamp(v)?.to_unix_micros()?,
        Value::Text(s) => match to_int(v) {
            Some(i) => i,
            None => parse_timestamp(s.trim())?.to_unix_micros()?,
        },
        _ => return None,
    };
    Some(Interval {
        months: 0,
        days: 0,
        micros,
    })
}

/// 16 UUID bytes from dashed or plain hex text (or 16 bytes).
pub fn to_uuid(v: &Value) -> Option<[u8; 16]> {
    match v {
        Value::Uuid(u) => Some(*u),
        Value::Bytes(b) => b.as_slice().try_into().ok(),
        Value::Text(s) => {
            let hex: String = s.trim().chars().filter(|c| *c != '-').collect();
            if hex.len() != 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            let mut out = [0u8; 16];
            for (i, b) in out.iter_mut().enumerate() {
                *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
            }
            Some(out)
        }
        _ => None,
    }
}

/// Bytes of a value stored as text in a byte column (SQLite lets a `BLOB`
/// column hold text).
pub fn to_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Bytes(b) | Value::RawText(b) => Some(b.clone()),
        Value::Text(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

/// One form per value of a column of type `t`, for telling whether a
/// value of another engine is the one a target column of that type holds:
/// `1` and `true` in a boolean column, `1.50` and `1.5` in a decimal one,
/// two JSON texts with their keys in another order, a UUID as text and as
/// 16 bytes, a timestamp as SQLite's text and as PostgreSQL's instant, and
/// a value in the form an application keeps it in such a column
/// ([`AppForm`](crate::AppForm): a UUID as 32 hex digits in a `char(32)`,
/// an interval as microseconds in an integer column).
/// Both sides of a comparison go through it; a value that does not convert
/// stays as it is (and so differs).
pub fn comparable(v: &Value, t: &PortableType) -> Value {
    // a value such a column keeps in a form of its own is compared in it,
    // as a restore writes it there
    if let Some((own, _)) = crate::AppForm::of_portable(t).and_then(|f| f.apply(v)) {
        return comparable(&own, t);
    }
    let same = match t {
        PortableType::Bool => to_bool(v).map(Value::Bool),
        PortableType::Int { .. } => to_int(v).map(Value::Int),
        PortableType::Decimal { .. } | PortableType::Float { .. } => {
            to_decimal(v).map(|d| Value::Decimal(plain_decimal(&d)))
        }
        PortableType::Text { fixed, .. } => to_text(v).map(|s| {
            // a fixed-width column pads with spaces where another does not
            Value::Text(if *fixed {
                s.trim_end_matches(' ').to_string()
            } else {
                s
            })
        }),
        PortableType::Json => to_json(v)
            .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
            .map(|j| Value::Json(sorted_json(j).to_string())),
        PortableType::Uuid => to_uuid(v).map(Value::Uuid),
        // an enum's label and the same text are one value
        PortableType::Enum { .. } => to_text(v).map(Value::Text),
        PortableType::Date => match to_date(v) {
            Some(d) if matches!(d, Date::Ymd { .. }) && d.to_epoch_days().is_none() => {
                Some(Value::Text(d.to_string()))
            }
            d => d.map(Value::Date),
        },
        PortableType::Time => to_time(v).map(Value::Time),
        PortableType::Timestamp | PortableType::TimestampTz => match to_timestamp(v) {
            // MySQL's zero and invalid dates, which no parse gives, are
            // the same as the text SQLite keeps of them
            Some(t) if matches!(t.date, Date::Ymd { .. }) && t.date.to_epoch_days().is_none() => {
                Some(Value::Text(t.to_string().replacen('T', " ", 1)))
            }
            t => t.map(Value::Timestamp),
        },
        PortableType::Interval => to_interval(v).map(Value::Interval),
        PortableType::Bytes { .. } => to_bytes(v).map(Value::Bytes),
        _ => None,
    };
    match (v, same) {
        (Value::Null, _) | (_, None) => v.clone(),
        (_, Some(same)) => same,
    }
}

/// Decimal text without a sign or zeros that do not change its value.
fn plain_decimal(d: &str) -> String {
    let (negative, (int, frac)) = crate::value::split_decimal(d.trim());
    let int = if int.is_empty() { "0" } else { int };
    let sign = if negative && (int != "0" || !frac.is_empty()) {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// A JSON document with every object's keys in order, and an integer
/// beyond a float's exact ones that is the value of its float's shortest
/// text as that float: `12345678901234570000` (PostgreSQL's `jsonb` keeps
/// a number's exact decimal) is the `1.234567890123457e+19` an
/// application wrote, while `9007199254740993` is no float's.
fn sorted_json(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Number(n) if !n.is_f64() => {
            #[allow(clippy::cast_precision_loss)]
            let f = n
                .as_i64()
                .map(|i| i as f64)
                .or_else(|| n.as_u64().map(|u| u as f64));
            match f.and_then(serde_json::Number::from_f64) {
                Some(float)
                    if f.is_some_and(|f| f.abs() > 9_007_199_254_740_992.0)
                        && f.is_some_and(|f| format!("{f}") == n.to_string()) =>
                {
                    serde_json::Value::Number(float)
                }
                _ => serde_json::Value::Number(n),
            }
        }
        serde_json::Value::Object(o) => {
            let mut keys: Vec<(String, serde_json::Value)> = o.into_iter().collect();
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(keys.into_iter().map(|(k, v)| (k, sorted_json(v))).collect())
        }
        serde_json::Value::Array(a) => a.into_iter().map(sorted_json).collect(),
        v => v,
    }
}

/// The type a column declared as `declared` in a dynamically typed engine
/// (SQLite) holds, read the way applications' migrations write types
/// (`integer`, `bigint`, `varchar(254)`, `bool`, `datetime`, `decimal(10,
/// 2)`, `char(32)`, `uuid`, `json`...), following SQLite's affinity rules
/// where the name says nothing more. Unknown and empty declarations stay
/// [`PortableType::Dynamic`].
pub fn declared_type(declared: &str) -> PortableType {
    let d = declared.trim().to_ascii_lowercase();
    let (base, args) = match d.split_once('(') {
        Some((b, a)) => (b.trim(), a.trim_end_matches(')').trim()),
        None => (d.as_str(), ""),
    };
    let nums: Vec<u64> = args
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let base = base.trim_end_matches(" unsigned").trim();
    match base {
        "" => PortableType::Dynamic,
        "bool" | "boolean" => PortableType::Bool,
        "tinyint" if nums.first() == Some(&1) => PortableType::Bool,
        "smallint" | "int2" | "tinyint" => PortableType::Int {
            bits: 16,
            unsigned: false,
        },
        "date" => PortableType::Date,
        "datetime" | "timestamp" | "timestamp without time zone" => PortableType::Timestamp,
        "timestamptz" | "timestamp with time zone" => PortableType::TimestampTz,
        "time" => PortableType::Time,
        "uuid" => PortableType::Uuid,
        "json" | "jsonb" => PortableType::Json,
        "decimal" | "numeric" => PortableType::Decimal {
            precision: nums.first().and_then(|p| u32::try_from(*p).ok()),
            scale: nums.get(1).and_then(|s| u32::try_from(*s).ok()),
        },
        "real" | "double" | "double precision" | "float" => PortableType::Float { bits: 64 },
        "blob" | "bytea" | "binary" | "varbinary" => PortableType::Bytes {
            max_len: None,
            fixed: false,
        },
        "char" | "character" | "nchar" => PortableType::Text {
            max_len: nums.first().copied(),
            fixed: true,
        },
        "varchar" | "character varying" | "nvarchar" | "varying character" => PortableType::Text {
            max_len: nums.first().copied(),
            fixed: false,
        },
        b if b.contains("int") => PortableType::Int {
            bits: 64,
            unsigned: false,
        },
        b if b.contains("char") || b.contains("clob") || b.contains("text") => PortableType::Text {
            max_len: None,
            fixed: false,
        },
        _ => PortableType::Dynamic,
    }
}

/// `name` shortened to at most `max` bytes for an engine that limits its
/// identifiers (PostgreSQL to 63 bytes, MySQL to 64 characters): a longer
/// name keeps its beginning and ends in `_` and eight hex digits of its
/// hash, so that two long names that begin alike (Django names an index
/// after its table and columns) stay two names.
pub fn fit_identifier(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = blake3::hash(name.as_bytes());
    let tag: String = hash.as_bytes()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut keep = max.saturating_sub(tag.len() + 1);
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}_{tag}", &name[..keep])
}

/// An index name unique across a database, for engines that need that
/// (PostgreSQL, SQLite), of an index of a `from` snapshot: MySQL (and
/// MongoDB) scope index names per table, so two tables each have an index
/// `name`; those get their table's name in front. SQLite's and
/// PostgreSQL's names are unique in the database already and stay as
/// they are, so an application's migration that names an index
/// (`DROP INDEX ix_member__member_id`) still finds it.
pub fn database_wide_index_name(from: crate::Engine, table: &str, index: &str) -> String {
    if from == crate::Engine::SQLITE || from == crate::Engine::POSTGRES {
        return index.to_string();
    }
    if index
        .to_ascii_lowercase()
        .starts_with(&table.to_ascii_lowercase())
    {
        index.to_string()
    } else {
        format!("{table}_{index}")
    }
}

/// The key of [`Column::extra`](crate::schema::Column) marking a SQLite
/// column whose check allows only JSON (`json_valid(col)`, how Django
/// makes a `JSONField`): another engine makes it a JSON column.
pub const HOLDS_JSON: &str = "holds_json";

/// A column's portable type as another engine should make it: a
/// dynamically typed engine's (SQLite's) column read from its declared
/// type, or JSON where its check allows only JSON ([`HOLDS_JSON`]);
/// MySQL's boolean `tinyint(1)` as a boolean.
pub fn portable_of(c: &crate::schema::Column) -> PortableType {
    match &c.portable {
        PortableType::Dynamic
            if c.extra.get(HOLDS_JSON) == Some(&serde_json::Value::Bool(true)) =>
        {
            PortableType::Json
        }
        PortableType::Dynamic => declared_type(&c.engine_type),
        PortableType::Int { bits: 8, .. } if c.engine_type.eq_ignore_ascii_case("tinyint(1)") => {
            PortableType::Bool
        }
        p => p.clone(),
    }
}

/// The dashed text form of a UUID.
pub fn uuid_text(u: &[u8; 16]) -> String {
    let h = uuid_hex(u);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The 32 hex digits of a UUID, without dashes: how Django's `UUIDField`
/// (and SQLAlchemy's `Uuid` type) keep one outside PostgreSQL, in a
/// `char(32)` column ([`holds_uuid_hex`]).
pub fn uuid_hex(u: &[u8; 16]) -> String {
    u.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether an existing column of this type holds a UUID as its 32 hex
/// digits (`char(32)`, `varchar(32)`): the dashed form is 36 characters,
/// which such a column refuses (MySQL) or keeps in a form the application
/// cannot read back (SQLite).
pub fn holds_uuid_hex(engine_type: &str) -> bool {
    let t: String = engine_type
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(
        t.as_str(),
        "char(32)"
            | "varchar(32)"
            | "nchar(32)"
            | "nvarchar(32)"
            | "charactervarying(32)"
            | "character(32)"
    )
}

fn is_decimal(t: &str) -> bool {
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|c| c.is_ascii_digit())
        && frac.bytes().all(|c| c.is_ascii_digit())
}

/// A float's shortest digits that read back as the same float (Rust's
/// `Display` never uses an exponent).
fn plain_float(f: f64) -> String {
    format!("{f}")
}

fn parse_date(s: &str) -> Option<Date> {
    let mut it = s.splitn(3, '-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let date = Date::ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    date.to_epoch_days().map(|_| date)
}

fn parse_timestamp(s: &str) -> Option<Timestamp> {
    // PostgreSQL's infinities, as another engine keeps them in text
    if matches!(s, "infinity" | "-infinity") {
        return s.parse().ok();
    }
    if s.len() == 10 {
        return parse_date(s).map(|date| Timestamp { date, micros: 0 });
    }
    let (date, rest) = (s.get(..10)?, s.get(10..)?);
    let date = parse_date(date)?;
    let rest = rest.strip_prefix([' ', 'T'])?;
    // the offset: Z, +HH:MM, -HH:MM, +HHMM or +HH at the end
    let (time, offset_secs) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0i64)
    } else if let Some(pos) = rest.rfind(['+', '-']).filter(|p| *p >= 5) {
        let (t, o) = rest.split_at(pos);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let digits: String = o[1..].chars().filter(|c| *c != ':').collect();
        let (h, m) = match digits.len() {
            2 => (digits.parse::<i64>().ok()?, 0),
            4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
            _ => return None,
        };
        (t.trim_end(), sign * (h * 3600 + m * 60))
    } else {
        (rest, 0)
    };
    let full = if time.len() == 5 {
        format!("{time}:00")
    } else {
        time.to_string()
    };
    // digits of a second beyond the sixth (.NET writes seven, Go nine)
    // are cut: no engine's timestamp keeps them
    let full = match full.split_once('.') {
        Some((hms, frac)) if frac.len() > 6 && frac.bytes().all(|c| c.is_ascii_digit()) => {
            format!("{hms}.{}", &frac[..6])
        }
        _ => full,
    };
    let t: Time = full.parse().ok()?;
    if !(0..86_400_000_000).contains(&t.micros) {
        return None;
    }
    let local = Timestamp {
        date,
        micros: t.micros,
    }
    .to_unix_micros()?;
    Some(Timestamp::from_unix_micros(
        local.checked_sub(offset_secs * 1_000_000)?,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_of_two_engines_compare_as_the_target_column_holds_them() {
        use super::comparable;
        use crate::schema::PortableType as P;
        use crate::value::Value as V;
        let same = |a: V, b: V, t: P| comparable(&a, &t) == comparable(&b, &t);
        assert!(same(V::Int(1), V::Bool(true), P::Bool));
        assert!(!same(V::Int(0), V::Bool(true), P::Bool));
        let dec = P::Decimal {
            precision: Some(10),
            scale: Some(2),
        };
        assert!(same(
            V::Text("1.50".into()),
            V::Decimal("1.5".into()),
            dec.clone()
        ));
        assert!(same(V::Int(2), V::Decimal("2.00".into()), dec.clone()));
        assert!(same(V::Decimal("-0.00".into()), V::Int(0), dec.clone()));
        assert!(!same(
            V::Decimal("1.05".into()),
            V::Decimal("1.5".into()),
            dec
        ));
        assert!(same(
            V::Text(r#"{"b": 1, "a": [true, {"y": 2, "x": null}]}"#.into()),
            V::Json(r#"{"a":[true,{"x":null,"y":2}],"b":1}"#.into()),
            P::Json
        ));
        assert!(!same(
            V::Text(r#"{"a": 1}"#.into()),
            V::Json(r#"{"a": 2}"#.into()),
            P::Json
        ));
        assert!(same(
            V::Text("45a4227c-3bee-4107-9f0a-edbccde912ba".into()),
            V::Text("45a4227c3bee41079f0aedbccde912ba".into()),
            P::Uuid
        ));
        let fixed = P::Text {
            max_len: Some(4),
            fixed: true,
        };
        assert!(same(V::Text("X".into()), V::Text("X   ".into()), fixed));
        let text = P::Text {
            max_len: None,
            fixed: false,
        };
        assert!(!same(
            V::Text("X".into()),
            V::Text("X ".into()),
            text.clone()
        ));
        assert!(same(V::Int(7), V::Text("7".into()), text));
        assert!(same(
            V::Text("2024-03-01 10:00:00".into()),
            V::Text("2024-03-01T11:00:00+01:00".into()),
            P::TimestampTz
        ));
        // NULL stays NULL, and what does not convert stays itself
        assert_eq!(comparable(&V::Null, &P::Bool), V::Null);
        assert_eq!(
            comparable(&V::Text("maybe".into()), &P::Bool),
            V::Text("maybe".into())
        );
    }

    #[test]
    fn long_identifiers_are_shortened_apart() {
        use super::fit_identifier;
        let a =
            "wagtailcore_collectionviewrestriction_groups_collectionviewrestriction_id_47320efd";
        let b = "wagtailcore_collectionviewrestriction_groups_collectionviewrestriction_id_group_id_uniq";
        let (fa, fb) = (fit_identifier(a, 63), fit_identifier(b, 63));
        assert_eq!((fa.len(), fb.len()), (63, 63));
        assert_ne!(fa, fb);
        assert!(fa.starts_with("wagtailcore_collectionviewrestriction_groups_colle"));
        assert_eq!(
            fa,
            fit_identifier(a, 63),
            "the same name shortens the same way"
        );
        assert_eq!(fit_identifier("orders_customer", 63), "orders_customer");
        // never inside a character
        let umlauts = "ä".repeat(40);
        let f = fit_identifier(&umlauts, 63);
        assert!(f.len() <= 63 && f.starts_with("ää"));
    }

    use super::*;

    #[test]
    fn durations_read_as_applications_store_them() {
        let us = |micros| {
            Some(Interval {
                months: 0,
                days: 0,
                micros,
            })
        };
        // Django's DurationField: microseconds
        assert_eq!(to_interval(&Value::Int(90_000_000)), us(90_000_000));
        assert_eq!(to_interval(&Value::Text("-5".into())), us(-5));
        // SQLAlchemy's Interval: 1970-01-01 plus the duration
        assert_eq!(
            to_interval(&Value::Text("1970-01-02 00:00:01.500000".into())),
            us(86_401_500_000)
        );
        assert_eq!(
            to_interval(&Value::Timestamp(Timestamp::from_unix_micros(-1))),
            us(-1)
        );
        assert_eq!(to_interval(&Value::Text("one day".into())), None);
        assert_eq!(to_interval(&Value::Bool(true)), None);
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn sqlite_forms_convert() {
        assert_eq!(to_bool(&Value::Int(1)), Some(true));
        assert_eq!(to_bool(&Value::Int(2)), None);
        assert_eq!(to_int(&text(" 42 ")), Some(42));
        assert_eq!(to_int(&text("42.0")), Some(42));
        assert_eq!(to_int(&text("42.5")), None);
        assert_eq!(to_decimal(&Value::F64(12.5)), Some("12.5".into()));
        assert_eq!(to_decimal(&Value::F64(0.1)), Some("0.1".into()));
        assert_eq!(to_decimal(&text("007.50")), Some("007.50".into()));
        assert_eq!(to_decimal(&text("1e3")), None);
        assert_eq!(to_date(&text("2024-02-29")), Some(Date::ymd(2024, 2, 29)));
        assert_eq!(to_date(&text("2023-02-29")), None);
        let t = to_timestamp(&text("2024-01-01 07:00:00")).expect("ts");
        assert_eq!(t.to_string(), "2024-01-01T07:00:00");
        let t = to_timestamp(&text("2024-01-01T07:00:00.123456+02:00")).expect("ts");
        assert_eq!(t.to_string(), "2024-01-01T05:00:00.123456");
        let t = to_timestamp(&text("2024-01-01 00:30:00-01:00")).expect("ts");
        assert_eq!(t.to_string(), "2024-01-01T01:30:00");
        assert_eq!(
            to_timestamp(&text("2024-01-01T07:00Z")).map(|t| t.to_string()),
            Some("2024-01-01T07:00:00".into())
        );
        assert_eq!(to_timestamp(&text("yesterday")), None);
        assert_eq!(
            to_time(&text("2000-01-01 23:59:59.5")).map(|t| t.to_string()),
            Some("23:59:59.500000".into())
        );
        assert_eq!(
            to_time(&text("2000-01-01T01:01")).map(|t| t.to_string()),
            Some("01:01:00".into())
        );
        assert_eq!(to_time(&text("2000-13-01 01:01:07")), None);
        assert_eq!(
            to_timestamp(&text("-infinity")).map(|t| t.to_string()),
            Some("-infinity".into())
        );
        let u = to_uuid(&text("5790f82ec1d3fcff2a3af4d46b0a18e8")).expect("uuid");
        assert_eq!(
            to_text(&Value::Uuid(u)),
            Some("5790f82e-c1d3-fcff-2a3a-f4d46b0a18e8".into())
        );
        assert_eq!(to_json(&text("{\"a\": [1]}")), Some("{\"a\": [1]}".into()));
        assert_eq!(to_json(&text("not json")), None);
        assert_eq!(to_time(&text("07:30")), Some(Time::hms(7, 30, 0, 0)));
    }

    #[test]
    fn declared_types_read_like_migrations_write_them() {
        let int = PortableType::Int {
            bits: 64,
            unsigned: false,
        };
        assert_eq!(declared_type("integer"), int);
        assert_eq!(declared_type("BIGINT"), int);
        assert_eq!(declared_type("integer unsigned"), int);
        assert_eq!(declared_type("bool"), PortableType::Bool);
        assert_eq!(
            declared_type("varchar(254)"),
            PortableType::Text {
                max_len: Some(254),
                fixed: false
            }
        );
        assert_eq!(
            declared_type("decimal(10, 2)"),
            PortableType::Decimal {
                precision: Some(10),
                scale: Some(2)
            }
        );
        assert_eq!(declared_type("datetime"), PortableType::Timestamp);
        assert_eq!(
            declared_type("text"),
            PortableType::Text {
                max_len: None,
                fixed: false
            }
        );
        assert_eq!(declared_type(""), PortableType::Dynamic);
        assert_eq!(declared_type("whatever"), PortableType::Dynamic);
    }

    #[test]
    fn digits_of_a_second_beyond_the_sixth_are_cut() {
        let at = |s: &str| to_timestamp(&Value::Text(s.into())).map(|t| t.to_string());
        assert_eq!(
            at("2024-06-04 22:13:44.123456789+00:00").as_deref(),
            Some("2024-06-04T22:13:44.123456")
        );
        assert_eq!(
            at("2024-06-04T22:13:44.1234567Z").as_deref(),
            Some("2024-06-04T22:13:44.123456")
        );
        assert_eq!(at("2024-06-04 22:13:44.12x4567"), None);
    }

    #[test]
    fn integers_in_date_columns_are_milliseconds_or_seconds_by_magnitude() {
        let at = |n: i64| epoch_instant(n).map(|t| t.to_string());
        assert_eq!(
            at(1_767_268_800_000).as_deref(),
            Some("2026-01-01T12:00:00")
        );
        assert_eq!(at(1_767_268_800).as_deref(), Some("2026-01-01T12:00:00"));
        assert_eq!(
            at(-2_208_988_800_000).as_deref(),
            Some("1900-01-01T00:00:00")
        );
        assert_eq!(at(99_999_999_999).as_deref(), Some("5138-11-16T09:46:39"));
        assert_eq!(at(100_000_000_000).as_deref(), Some("1973-03-03T09:46:40"));
        assert_eq!(at(0).as_deref(), Some("1970-01-01T00:00:00"));
        // no year a date is written with four digits
        assert_eq!(at(i64::MAX), None);
        assert_eq!(at(-99_999_999_999), None);
        assert_eq!(
            to_date(&Value::Int(1_772_582_400_000)),
            Some(Date::ymd(2026, 3, 4))
        );
        assert_eq!(to_date(&Value::Int(1_772_582_400_001)), None);
    }

    proptest::proptest! {
        /// An instant written as milliseconds since 1970 reads back as the
        /// same instant.
        #[test]
        fn millisecond_instants_round_trip(ms in -30_000_000_000_000i64..200_000_000_000_000i64) {
            proptest::prop_assume!(ms.unsigned_abs() >= MILLIS_FROM);
            let t = Timestamp::from_unix_micros(ms * 1_000);
            proptest::prop_assume!(matches!(t.date, Date::Ymd { year, .. } if (1..=9999).contains(&year)));
            proptest::prop_assert_eq!(to_timestamp(&Value::Int(ms)), Some(t));
        }

        /// A float's decimal text reads back as the same float.
        #[test]
        fn float_decimals_round_trip(f in proptest::num::f64::NORMAL | proptest::num::f64::ZERO) {
            let d = to_decimal(&Value::F64(f)).expect("finite");
            proptest::prop_assert!(is_decimal(&d), "{d}");
            proptest::prop_assert_eq!(d.parse::<f64>().expect("parses"), f);
        }

        /// Timestamps printed by tresor parse back to themselves.
        #[test]
        fn timestamp_text_round_trips(us in -2_000_000_000_000_000i64..4_000_000_000_000_000i64) {
            let t = Timestamp::from_unix_micros(us);
            proptest::prop_assume!(matches!(t.date, Date::Ymd { year, .. } if (1000..=9999).contains(&year)));
            let back = to_timestamp(&Value::Text(t.to_string())).expect("parses");
            proptest::prop_assert_eq!(back, t);
        }
    }
}
