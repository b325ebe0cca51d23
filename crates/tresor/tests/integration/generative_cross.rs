//! Generated databases moved to another engine: the random tables of
//! `generative.rs` (each engine's own column types, a foreign key,
//! awkward names, edge values) made in one engine, backed up, and
//! restored with the command line into an empty database of another, in
//! all six directions. Both databases are then read with tresor's own
//! readers and compared value by value through the portable model, with
//! exactly the approximations docs/cross-engine.md lists applied; anything
//! else must read back the same. The dry run must pass, list exactly the
//! columns the document says are approximated, and `--strict` must refuse
//! exactly then.
//!
//! CI runs a few cases per direction; `TRESOR_GENERATIVE_CASES=200 cargo
//! test -p tresor --test integration generative` runs a long one. A
//! failure prints the case (its SQL) and proptest shrinks it.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tresor_core::convert::portable_of;
use tresor_core::{Connector, PortableType, TableFilter, TableSchema, Timestamp, Value};
use tresor_testing::{Contents, read_database};

use super::disasters::{Db, Kind};
use super::generative::{
    ColumnType, build_sql, case, cases_to_run, leak, mariadb_types, postgres_types, sqlite_types,
};
use super::support::{Env, stderr};

fn engine(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "postgres",
        Kind::Mariadb => "mariadb",
        Kind::Sqlite => "sqlite",
    }
}

/// Everything in the database at `url`, as tresor's reader for `kind`
/// sees it.
fn read(runtime: &tokio::runtime::Runtime, kind: Kind, url: &str) -> Result<Contents, String> {
    let connector: &dyn Connector = match kind {
        Kind::Postgres => &tresor_postgres::PostgresConnector,
        Kind::Mariadb => &tresor_mysql::MysqlConnector,
        Kind::Sqlite => &tresor_sqlite::SqliteConnector,
    };
    runtime
        .block_on(read_database(connector, url, &TableFilter::all()))
        .map_err(|e| format!("reading {url}: {e:#}"))
}

/// Whether docs/cross-engine.md lists a column of type `ty` as
/// approximated in a table the `to` engine makes ("Types of tables tresor
/// makes" and "What is approximated"): what the dry run must list and
/// `--strict` must refuse.
fn approximated(ty: &PortableType, to: Kind) -> bool {
    use PortableType as P;
    match (to, ty) {
        // "enum | text", "interval, other | text": the labels and the
        // source's text form are kept, no longer typed
        (Kind::Postgres | Kind::Sqlite, P::Enum { .. } | P::Interval | P::Other { .. }) => true,
        // "an empty or unknown declaration is kept as text"
        (Kind::Postgres | Kind::Mariadb, P::Dynamic) => true,
        // "arrays, documents | ... json / TEXT, BLOB"
        (_, P::Array { .. } | P::Document) => to != Kind::Postgres,
        // "uuid | char(36) | CHAR(36)"
        (Kind::Mariadb | Kind::Sqlite, P::Uuid) => true,
        // "`timestamptz` becomes `datetime(6)` holding UTC"; "SQLite has
        // no time zones"
        (Kind::Mariadb | Kind::Sqlite, P::TimestampTz | P::TimeTz) => true,
        // "decimal(p,s) | `DECIMAL(p,s)` up to 15 digits, else `TEXT`":
        // numbers drop trailing zeros
        (Kind::Sqlite, P::Decimal { .. }) => true,
        // "(p ≤ 65, else `decimal(65,30)`)"
        (Kind::Mariadb, P::Decimal { precision, .. }) => precision.is_none_or(|p| p > 65),
        (Kind::Mariadb, P::Interval | P::Other { .. }) => true,
        _ => false,
    }
}

/// Decimal text without leading zeros, trailing zeros after the point,
/// the point when nothing follows it, or the sign of zero: the number's
/// exact value.
fn exact_number(s: &str) -> String {
    let (neg, digits) = match s.trim().strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.trim().trim_start_matches('+')),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let mut out = if int.is_empty() { "0" } else { int }.to_string();
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if neg && out != "0" {
        out.insert(0, '-');
    }
    out
}

/// A NaN or an infinity, as a float or a decimal.
fn non_finite(v: &Value) -> bool {
    match v {
        Value::F64(f) => !f.is_finite(),
        Value::F32(f) => !f.is_finite(),
        Value::Decimal(s) => ["NaN", "Infinity", "-Infinity"].contains(&s.as_str()),
        _ => false,
    }
}

/// A date (of a date or timestamp) that is no day of the calendar:
/// MariaDB's `0000-00-00`, or `2024-02-30` under a permissive `sql_mode`.
fn invalid_date(v: &Value) -> bool {
    let d = match v {
        Value::Date(d) => d,
        Value::Timestamp(t) | Value::TimestampTz(t) => &t.date,
        _ => return false,
    };
    matches!(d, tresor_core::Date::Ymd { .. }) && d.to_epoch_days().is_none()
}

/// The values of a column of type `ty` that a move into `to` writes in
/// another form, as the dry run names them ("values NaN or infinity"),
/// per docs/cross-engine.md ("What is approximated").
fn changed_value(v: &Value, ty: &PortableType, to: Kind) -> Option<&'static str> {
    use PortableType as P;
    match (to, ty, v) {
        (Kind::Mariadb, P::Float { .. } | P::Decimal { .. }, v) if non_finite(v) => {
            Some("NaN or infinity")
        }
        (Kind::Sqlite, P::Float { .. }, Value::F64(f)) if f.is_nan() => Some("NaN"),
        (Kind::Sqlite | Kind::Mariadb, P::Float { .. }, Value::F64(f))
            if *f == 0.0 && f.is_sign_negative() =>
        {
            Some("-0")
        }
        (Kind::Postgres, P::Date | P::Timestamp | P::TimestampTz, v) if invalid_date(v) => {
            Some("zero or invalid date (0000-00-00)")
        }
        (Kind::Postgres | Kind::Mariadb, P::Dynamic, Value::Bytes(_)) => Some("blob"),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// JSON with every object's keys in one order: PostgreSQL's `jsonb`
/// orders keys its own way, MariaDB keeps them as written.
fn sorted_json(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(o) => {
            let sorted: BTreeMap<String, serde_json::Value> =
                o.into_iter().map(|(k, v)| (k, sorted_json(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(sorted_json).collect())
        }
        other => other,
    }
}

/// A value as JSON, for arrays (an array element) and for JSON held as
/// text.
fn json_of(v: &Value) -> serde_json::Value {
    match v {
        Value::Json(s) | Value::Text(s) => serde_json::from_str(s)
            .map(sorted_json)
            .unwrap_or_else(|_| serde_json::Value::String(s.clone())),
        Value::Array(a) => serde_json::Value::Array(
            a.elements
                .iter()
                .map(|e| match e {
                    Value::Text(s) => serde_json::Value::String(s.clone()),
                    other => json_of(other),
                })
                .collect(),
        ),
        Value::Null => serde_json::Value::Null,
        other => serde_json::Value::String(format!("{other:?}")),
    }
}

/// A number of SQLite's untyped column: an integral float as the integer
/// it is (its text may print without a point), others bit for bit.
fn dynamic_number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 9.0e18 {
        (f as i64).to_string()
    } else {
        format!("{f:?}")
    }
}

/// One value of a column of portable type `ty` (the source's), from the
/// source or from the target of a move `from` -> `to`, in a canonical
/// text that is the same on both sides exactly when docs/cross-engine.md
/// says the value came through (its tables "Types of tables tresor
/// makes" and "Value conversions", and its list under "What is
/// approximated"). A form this does not know stays its debug form, which
/// then differs.
fn canonical(v: &Value, ty: &PortableType, from: Kind, to: Kind) -> String {
    use PortableType as P;
    let sqlite_involved = from == Kind::Sqlite || to == Kind::Sqlite;
    match (ty, v) {
        (_, Value::Null) => "NULL".into(),
        // "boolean (MySQL `tinyint(1)`, SQLite `bool`) | boolean |
        // tinyint(1) | BOOLEAN": MySQL and SQLite hold 0 and 1
        (P::Bool, Value::Bool(b)) => b.to_string(),
        (P::Bool, Value::Int(i @ (0 | 1))) => (*i == 1).to_string(),
        // "integer | smallint/integer/bigint by width | tinyint...bigint |
        // INTEGER": the same integer, whatever the width
        (P::Int { .. }, Value::Int(i)) => i.to_string(),
        (P::Int { .. }, Value::UInt(u)) => u.to_string(),
        (P::Int { .. }, Value::Decimal(s)) => exact_number(s),
        // "MySQL and MariaDB have no NaN or infinity: such a float or
        // decimal is written as NULL"
        (P::Float { .. } | P::Decimal { .. }, v) if to == Kind::Mariadb && non_finite(v) => {
            "NULL".into()
        }
        // "SQLite has no NaN: written as the text `NaN`"; "SQLite stores
        // `-0` as `0`"
        (P::Float { .. }, Value::F64(f)) if to == Kind::Sqlite && f.is_nan() => "NaN".into(),
        (P::Float { .. }, Value::Text(s)) if to == Kind::Sqlite && s == "NaN" => "NaN".into(),
        // "SQLite and MariaDB store a float `-0` as `0`"
        (P::Float { .. }, Value::F64(f)) if to != Kind::Postgres && *f == 0.0 => "0.0".into(),
        (P::Float { .. }, Value::Int(0)) if to == Kind::Sqlite => "0.0".into(),
        // "float | real/double precision | float/double | REAL": the same
        // float, bit for bit
        (P::Float { .. }, Value::F64(f)) => format!("{f:?}"),
        (P::Float { .. }, Value::F32(f)) => format!("{:?}", f64::from(*f)),
        // "SQLite stores decimals of up to 15 digits as numbers, which drop
        // trailing zeros" (and a SQLite source's decimals are such
        // numbers): the exact value; between PostgreSQL and MariaDB the
        // text with its scale
        (P::Decimal { .. }, Value::Decimal(s)) if !sqlite_involved => s.clone(),
        (P::Decimal { .. }, Value::Decimal(s) | Value::Text(s)) => exact_number(s),
        (P::Decimal { .. }, Value::Int(i)) => i.to_string(),
        // "floats by their shortest digits that read back as the same
        // float"
        (P::Decimal { .. }, Value::F64(f)) => exact_number(&f.to_string()),
        // "text(n) / char(n) | varchar(n) / character(n) | ...": the same
        // text; a CHAR(n) value is the same with or without the padding
        // PostgreSQL's character(n) reads back with
        (P::Text { fixed: true, .. }, Value::Text(s)) => s.trim_end_matches(' ').to_string(),
        (P::Text { .. }, Value::Text(s)) => s.clone(),
        // "bytes | bytea | longblob / varbinary | BLOB"; bit strings are
        // kept as their bytes (PostgreSQL `bit(n)`, SQLite `BLOB`)
        (P::Bytes { .. } | P::Bits { .. }, Value::Bytes(b) | Value::Bits { bytes: b, .. }) => {
            hex(b)
        }
        // "MariaDB's zero and invalid dates ... become NULL" in PostgreSQL
        (P::Date | P::Timestamp | P::TimestampTz, v) if to == Kind::Postgres && invalid_date(v) => {
            "NULL".into()
        }
        // "date | date | date | DATE": the same date; SQLite holds
        // `YYYY-MM-DD` text
        (P::Date, Value::Date(d)) => d.to_string(),
        (P::Date, Value::Text(s)) => s
            .trim()
            .parse::<tresor_core::Date>()
            .map_or_else(|_| s.clone(), |d| d.to_string()),
        // "timestamp | timestamp | datetime(6) | DATETIME": the same wall
        // clock; SQLite holds it as text. "`timestamptz` becomes
        // `datetime(6)` holding UTC in MySQL and MariaDB" and "SQLite has
        // no time zones": an instant compares as its UTC wall clock
        (P::Timestamp | P::TimestampTz, Value::Timestamp(t) | Value::TimestampTz(t)) => {
            t.to_string()
        }
        (P::Timestamp | P::TimestampTz, Value::Text(s)) => s
            .trim()
            .parse::<Timestamp>()
            .map_or_else(|_| s.clone(), |t| t.to_string()),
        // "uuid | uuid | char(36) | CHAR(36)", "UUID | text, char(36) | the
        // dashed form": compared as its 32 hex digits
        (P::Uuid, Value::Uuid(u)) => hex(u),
        (P::Uuid, Value::Text(s)) => s.replace('-', "").to_ascii_lowercase(),
        // "json | jsonb | json | JSON": compared as parsed JSON (jsonb
        // orders keys and drops whitespace); SQLite holds the text
        (P::Json, Value::Json(_) | Value::Text(_)) => json_of(v).to_string(),
        // "arrays | type[] | json | TEXT": the array as a JSON array
        (P::Array { .. }, Value::Array(_) | Value::Json(_) | Value::Text(_)) => {
            json_of(v).to_string()
        }
        // "interval ... | text | longtext | TEXT", as its ISO 8601 text
        (P::Interval, Value::Interval(i)) => i.to_string(),
        (P::Interval, Value::Text(s)) => s.clone(),
        // "enum | text | enum(...) | TEXT": the label
        (P::Enum { .. }, Value::Enum(s) | Value::Text(s)) => s.clone(),
        // "an empty or unknown declaration is kept as text": SQLite's
        // untyped column, every value as its text; numbers compare by the
        // number their text reads as, since the document does not fix how
        // a float prints (`1e-300` or `0.000...1`)
        // "a blob there is written as its hex text `\x…`" outside SQLite
        (P::Dynamic, Value::Bytes(b)) if to != Kind::Sqlite => format!("\\x{}", hex(b)),
        (P::Dynamic, Value::Int(i)) => i.to_string(),
        (P::Dynamic, Value::F64(f)) => dynamic_number(*f),
        (P::Dynamic, Value::Text(s)) => match (s.parse::<i64>(), s.parse::<f64>()) {
            (Ok(i), _) => i.to_string(),
            (_, Ok(f)) => dynamic_number(f),
            _ => s.clone(),
        },
        (_, other) => format!("{other:?}"),
    }
}

/// The key of a row: its `id`, canonical.
fn keyed<'a>(
    t: &TableSchema,
    rows: &'a [Vec<Value>],
    from: Kind,
    to: Kind,
) -> Result<BTreeMap<String, &'a Vec<Value>>, String> {
    let stored: Vec<_> = t.stored_columns().collect();
    let at = stored
        .iter()
        .position(|c| c.name == "id")
        .ok_or_else(|| format!("table {} has no id column", t.name))?;
    let ty = portable_of(stored[at]);
    Ok(rows
        .iter()
        .map(|r| (canonical(&r[at], &ty, from, to), r))
        .collect())
}

/// Every difference between the source's tables and the target's, but
/// for the documented approximations.
fn differences(src: &Contents, dst: &Contents, from: Kind, to: Kind) -> Vec<String> {
    let mut out = Vec::new();
    for t in &src.schema.tables {
        let Some(u) = dst
            .schema
            .tables
            .iter()
            .find(|u| u.name.name == t.name.name)
        else {
            out.push(format!("table {} is missing", t.name.name));
            continue;
        };
        let (ours, theirs): (Vec<_>, Vec<_>) = (
            t.stored_columns().filter(|c| !c.hidden).collect(),
            u.stored_columns().collect(),
        );
        let names = |cs: &[&tresor_core::Column]| -> Vec<String> {
            cs.iter()
                .filter(|c| !c.hidden)
                .map(|c| c.name.clone())
                .collect()
        };
        if names(&ours) != names(&theirs) {
            out.push(format!(
                "table {}: columns {:?} became {:?}",
                t.name.name,
                names(&ours),
                names(&theirs)
            ));
            continue;
        }
        let (a, b) = match (
            keyed(t, src.rows(&t.name.to_string()), from, to),
            keyed(u, dst.rows(&u.name.to_string()), from, to),
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                out.push(e);
                continue;
            }
        };
        if a.keys().ne(b.keys()) {
            out.push(format!(
                "table {}: rows {:?} became {:?}",
                t.name.name,
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>()
            ));
            continue;
        }
        let position =
            |cs: &[&tresor_core::Column], name: &str| cs.iter().position(|c| c.name == name);
        let all_src: Vec<_> = t.stored_columns().collect();
        let all_dst: Vec<_> = u.stored_columns().collect();
        for (key, row) in &a {
            let other = b[key];
            for c in &ours {
                let (Some(i), Some(j)) = (position(&all_src, &c.name), position(&all_dst, &c.name))
                else {
                    continue;
                };
                let ty = portable_of(c);
                let (want, got) = (
                    canonical(&row[i], &ty, from, to),
                    canonical(&other[j], &ty, from, to),
                );
                if want != got {
                    out.push(format!(
                        "table {}, row id {key}, column {} ({} in {}, {} in {}): \
                         {:?} became {:?} ({want} vs {got})",
                        t.name.name,
                        c.name,
                        c.engine_type,
                        engine(from),
                        all_dst[j].engine_type,
                        engine(to),
                        row[i],
                        other[j],
                    ));
                }
            }
        }
    }
    out
}

/// One approximation: the table, the column ("" for a whole table or
/// object) and what is approximated ("type", "default", or the kind of
/// constraint or object).
type Listed = (String, String, String);

/// The approximations the dry run's JSON lists.
fn listed(dry: &serde_json::Value) -> BTreeSet<Listed> {
    let Some(all) = dry["approximations"].as_array() else {
        return BTreeSet::new();
    };
    all.iter()
        .map(|x| {
            let table = x["table"].as_str().unwrap_or_default();
            // PostgreSQL's names carry their schema
            let table = table.rsplit_once('.').map_or(table, |(_, t)| t);
            let from = x["from"].as_str().unwrap_or_default();
            let (column, what) = match x["column"].as_str() {
                Some(c) if x["values"].is_u64() => (c, format!("values {from}")),
                Some(c) if from == "default" => (c, "default".into()),
                Some(c) => (c, "type".into()),
                None => ("", from.to_string()),
            };
            (table.to_string(), column.to_string(), what)
        })
        .collect()
}

/// The approximations docs/cross-engine.md says a move of the whole
/// database `src` into an empty `to` database has ("What is
/// approximated"): each column whose type the target cannot make as it
/// was, each column default and check constraint (written in the source
/// engine's SQL), each view, trigger, function, procedure, event, rule,
/// policy or publication.
fn expected_approximations(src: &Contents, to: Kind) -> BTreeSet<Listed> {
    let mut out = BTreeSet::new();
    for t in &src.schema.tables {
        let name = &t.name.name;
        let stored: Vec<_> = t.stored_columns().collect();
        for row in src.rows(&t.name.to_string()) {
            for (c, v) in stored.iter().zip(row).filter(|(c, _)| !c.hidden) {
                if let Some(what) = changed_value(v, &portable_of(c), to) {
                    out.insert((name.clone(), c.name.clone(), format!("values {what}")));
                }
            }
        }
        for c in t.stored_columns().filter(|c| !c.hidden) {
            if approximated(&portable_of(c), to) {
                out.insert((name.clone(), c.name.clone(), "type".into()));
            }
            // a NULL default (MySQL's for a nullable column) is none
            let default = c
                .default
                .as_deref()
                .filter(|d| !d.eq_ignore_ascii_case("null"));
            // "`serial`/`bigserial`, the sequence default": numbered by
            // the target too, not a lost default
            let serial = default.is_some_and(|d| d.starts_with("nextval("));
            if default.is_some() && c.generated.is_none() && !c.identity && !serial {
                out.insert((name.clone(), c.name.clone(), "default".into()));
            }
        }
        // "the `json_valid()` check is not listed as lost": the target's
        // JSON type checks that itself
        let json_check = |k: &tresor_core::Constraint| {
            t.columns.iter().any(|c| {
                portable_of(c) == PortableType::Json
                    && k.definition
                        .eq_ignore_ascii_case(&format!("json_valid(`{}`)", c.name))
            })
        };
        if t.constraints
            .iter()
            .any(|k| k.kind == "check" && !json_check(k))
        {
            out.insert((name.clone(), String::new(), "check constraint".into()));
        }
    }
    for o in &src.schema.objects {
        if [
            "view",
            "materialized_view",
            "trigger",
            "function",
            "procedure",
            "event",
            "rule",
            "policy",
            "row_security",
            "publication",
        ]
        .contains(&o.kind.as_str())
        {
            out.insert((o.name.name.clone(), String::new(), o.kind.replace('_', " ")));
        }
    }
    out
}

/// Moves the backed-up database `src` into an empty `to` database:
/// preview (which must pass and list exactly the documented
/// approximations), `--strict` preview (refused exactly when there are
/// any), restore, then the comparison.
fn move_into(
    env: &Env,
    runtime: &tokio::runtime::Runtime,
    (from, src_url, src): (Kind, &str, &Contents),
    to: Kind,
) -> Result<(), String> {
    let target = Db::create(to, env.dir.path());
    let to_url = target.url();
    let latest = format!("latest:{src_url}");
    let direction = format!("{} into {}", engine(from), engine(to));
    let base = ["restore", latest.as_str(), "--to", to_url.as_str()];

    let out = env.tresor(&[&["--json"][..], &base[..], &["--dry-run"][..]].concat());
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    let dry: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    if !out.status.success() || dry["rehearsal"]["outcome"] != "passed" {
        return Err(format!(
            "{direction}: the preview refused ({:?}):\n{text}",
            out.status.code()
        ));
    }
    let (want, got) = (expected_approximations(src, to), listed(&dry));
    if want != got {
        return Err(format!(
            "{direction}: the preview lists approximations {got:?}, the document {want:?}"
        ));
    }
    let strict = env.tresor(&[&base[..], &["--dry-run", "--strict"][..]].concat());
    let refused = strict.status.code() == Some(5);
    if refused == want.is_empty() || (!refused && !strict.status.success()) {
        return Err(format!(
            "{direction}: --strict exited {:?} with approximations {want:?}:\n{}",
            strict.status.code(),
            stderr(&strict)
        ));
    }

    let out = env.tresor(&[&base[..], &["--yes"][..]].concat());
    if !out.status.success() {
        return Err(format!(
            "{direction}: the preview passed, then the restore failed ({:?}):\n{}",
            out.status.code(),
            stderr(&out)
        ));
    }
    let dst = read(runtime, to, &to_url)?;
    let diffs = differences(src, &dst, from, to);
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{direction}: {} values differ beyond the documented approximations:\n{}",
            diffs.len(),
            diffs
                .iter()
                .take(12)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        ))
    }
}

/// Random databases of `from`, each moved into the two other engines.
fn run_moves(from: Kind, types: &'static [ColumnType], default_cases: u32) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let env = Env::new();
    let mut runner = TestRunner::new(Config {
        cases: cases_to_run(default_cases),
        max_shrink_iters: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(types), |case| {
        let db = Db::create(from, env.dir.path());
        let sql = build_sql(from, types, &case);
        db.exec(&sql);
        let url = db.url();
        let out = env.tresor(&["backup", &url, "--quiet"]);
        if !out.status.success() {
            return Err(TestCaseError::fail(format!(
                "backup failed:\n{}\n{sql}",
                stderr(&out)
            )));
        }
        let src = read(&runtime, from, &url).map_err(TestCaseError::fail)?;
        for to in [Kind::Sqlite, Kind::Postgres, Kind::Mariadb] {
            if to != from {
                move_into(&env, &runtime, (from, &url, &src), to).map_err(|e| {
                    TestCaseError::fail(format!("{e}\n-- the source database:\n{sql}"))
                })?;
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The engine's generated types, less the values a move into another
/// engine refuses by design (docs/cross-engine.md, "Refused"), which
/// tests of their own cover.
fn movable(from: Kind) -> &'static [ColumnType] {
    let mut types = match from {
        Kind::Postgres => postgres_types(),
        Kind::Mariadb => mariadb_types(),
        Kind::Sqlite => sqlite_types(),
    };
    for t in &mut types {
        // an instant whose UTC time leaves MySQL's DATETIME years (a
        // timestamptz of 9999-12-31 20:00-06 is 10000-01-01 in UTC) is
        // refused, with the table, the column and the reason, before
        // anything is written (docs/cross-engine.md, "Refused"; tested by
        // `an_instant_past_the_year_9999_in_utc_is_refused_into_mariadb`):
        // the years here stay a day clear of both ends
        if from == Kind::Postgres && t.sql == "timestamptz" {
            t.values = || {
                (
                    1001u16..=9998,
                    1u8..=12,
                    1u8..=28,
                    0u8..=23,
                    0u8..=59,
                    -12i8..=14,
                )
                    .prop_map(|(y, mo, d, h, mi, tz)| {
                        format!("'{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:00{tz:+03}'")
                    })
                    .boxed()
            };
        }
    }
    leak(types)
}

#[test]
fn generated_postgres_databases_move_into_sqlite_and_mariadb() {
    run_moves(Kind::Postgres, movable(Kind::Postgres), 3);
}

#[test]
fn generated_mariadb_databases_move_into_sqlite_and_postgres() {
    run_moves(Kind::Mariadb, movable(Kind::Mariadb), 3);
}

#[test]
fn generated_sqlite_databases_move_into_postgres_and_mariadb() {
    run_moves(Kind::Sqlite, movable(Kind::Sqlite), 3);
}
