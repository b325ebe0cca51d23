//! Generated databases meet generated disasters: random tables (column
//! types drawn from each engine's type list, a foreign key, awkward
//! names) filled with random and edge values (NULLs, extremes, quotes,
//! backslashes, non-ASCII text, zero dates), backed up; then one disaster
//! from the runbook (a dropped or emptied table, deleted or overwritten
//! rows, a column added by a bad migration, the whole database gone),
//! the dry run, the restore, and the engine's own dump compared with the
//! one taken before the disaster.
//!
//! CI runs a few cases per engine; `TRESOR_GENERATIVE_CASES=500 cargo
//! test -p tresor --test integration generative` runs a long one. A
//! failure prints the case (its SQL) and proptest shrinks it.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::disasters::{Db, Kind, differences, restore_latest};
use super::support::Env;

/// A column type of one engine and how to write its values.
pub(super) struct ColumnType {
    pub(super) sql: &'static str,
    pub(super) values: fn() -> BoxedStrategy<String>,
}

pub(super) fn quoted(s: &str, backslashes: bool) -> String {
    let s = s.replace('\'', "''");
    if backslashes {
        format!("'{}'", s.replace('\\', "\\\\"))
    } else {
        format!("'{s}'")
    }
}

/// Text with what breaks quoting and encodings: quotes, backslashes,
/// newlines, tabs, accents, CJK, emoji, the empty string.
pub(super) fn awkward_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => "[a-zA-Z0-9 ]",
            1 => Just("'".to_string()),
            1 => Just("\\".to_string()),
            1 => Just("\"".to_string()),
            1 => Just("\n".to_string()),
            1 => Just("\t".to_string()),
            1 => Just("é".to_string()),
            1 => Just("ß".to_string()),
            1 => Just("漢".to_string()),
            1 => Just("🦀".to_string()),
            1 => Just("%".to_string()),
        ],
        0..max,
    )
    .prop_map(|parts| parts.concat())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn date() -> impl Strategy<Value = (u16, u8, u8)> {
    prop_oneof![
        3 => (1000u16..=9999, 1u8..=12, 1u8..=28),
        1 => Just((1000, 1, 1)),
        1 => Just((9999, 12, 31)),
        1 => Just((2024, 2, 29)),
    ]
}

fn time() -> impl Strategy<Value = (u8, u8, u8, u32)> {
    (
        0u8..24,
        0u8..60,
        0u8..60,
        prop_oneof![Just(0u32), 0u32..1_000_000],
    )
}

fn decimal() -> impl Strategy<Value = String> {
    prop_oneof![
        (-99_999_999i64..=99_999_999, 0u32..10_000).prop_map(|(a, b)| format!("{a}.{b:04}")),
        Just("0.0000".to_string()),
        Just("99999999.9999".to_string()),
        Just("-99999999.9999".to_string()),
    ]
}

pub(super) fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => -1e12f64..1e12,
        1 => Just(f64::MAX),
        1 => Just(f64::MIN_POSITIVE),
        1 => Just(-0.0f64),
        1 => Just(0.1f64),
        1 => Just(1e-300f64),
    ]
}

fn json() -> impl Strategy<Value = String> {
    (any::<i32>(), awkward_text(8), any::<bool>()).prop_map(|(n, s, b)| {
        serde_json::json!({ "n": n, "s": s, "list": [b, null, 1.5] }).to_string()
    })
}

pub(super) fn postgres_types() -> Vec<ColumnType> {
    vec![
        ColumnType {
            sql: "integer",
            values: || any::<i32>().prop_map(|v| v.to_string()).boxed(),
        },
        ColumnType {
            sql: "bigint",
            values: || any::<i64>().prop_map(|v| v.to_string()).boxed(),
        },
        ColumnType {
            sql: "smallint",
            values: || any::<i16>().prop_map(|v| v.to_string()).boxed(),
        },
        ColumnType {
            sql: "numeric(12,4)",
            values: || decimal().boxed(),
        },
        ColumnType {
            sql: "double precision",
            values: || {
                prop_oneof![
                    float().prop_map(|v| format!("'{v:e}'")),
                    Just("'NaN'".to_string()),
                    Just("'-Infinity'".to_string()),
                ]
                .boxed()
            },
        },
        ColumnType {
            sql: "boolean",
            values: || any::<bool>().prop_map(|v| v.to_string()).boxed(),
        },
        ColumnType {
            sql: "text",
            values: || awkward_text(40).prop_map(|s| quoted(&s, false)).boxed(),
        },
        ColumnType {
            sql: "varchar(20)",
            values: || awkward_text(20).prop_map(|s| quoted(&s, false)).boxed(),
        },
        ColumnType {
            sql: "bytea",
            values: || {
                prop::collection::vec(any::<u8>(), 0..40)
                    .prop_map(|b| format!("'\\x{}'::bytea", hex(&b)))
                    .boxed()
            },
        },
        ColumnType {
            sql: "date",
            values: || {
                date()
                    .prop_map(|(y, m, d)| format!("'{y:04}-{m:02}-{d:02}'"))
                    .boxed()
            },
        },
        ColumnType {
            sql: "timestamp(6)",
            values: || {
                (date(), time())
                    .prop_map(|((y, mo, d), (h, mi, s, us))| {
                        format!("'{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}'")
                    })
                    .boxed()
            },
        },
        ColumnType {
            sql: "timestamptz",
            values: || {
                (date(), time(), -12i8..=14)
                    .prop_map(|((y, mo, d), (h, mi, s, _), tz)| {
                        format!("'{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{tz:+03}'")
                    })
                    .boxed()
            },
        },
        ColumnType {
            sql: "jsonb",
            values: || json().prop_map(|j| quoted(&j, false)).boxed(),
        },
        ColumnType {
            sql: "interval",
            values: || {
                (
                    -30i32..30,
                    -40i32..40,
                    -100_000i64..100_000,
                    0u32..1_000_000,
                )
                    .prop_map(|(mo, d, s, us)| {
                        format!("'{mo} mons {d} days {s} seconds {us} microseconds'")
                    })
                    .boxed()
            },
        },
        ColumnType {
            sql: "uuid",
            values: || {
                any::<[u8; 16]>()
                    .prop_map(|b| format!("'{}'", hex(&b)))
                    .boxed()
            },
        },
        ColumnType {
            sql: "text[]",
            values: || {
                prop::collection::vec(awkward_text(6), 0..4)
                    .prop_map(|v| {
                        let items: Vec<String> = v.iter().map(|s| quoted(s, false)).collect();
                        format!("ARRAY[{}]::text[]", items.join(", "))
                    })
                    .boxed()
            },
        },
    ]
}

pub(super) fn mariadb_types() -> Vec<ColumnType> {
    vec![
        ColumnType {
            sql: "int",
            values: || any::<i32>().prop_map(|v| v.to_string()).boxed(),
        },
        ColumnType {
            sql: "bigint",
            values: || any::<i64>().prop_map(|v| v.to_string()).boxed(),
        },
        ColumnType {
            sql: "tinyint",
            values: || any::<i8>().prop_map(|v| v.to_string()).boxed(),
        },
        ColumnType {
            sql: "int unsigned",
            values: || any::<u32>().prop_map(|v| v.to_string()).boxed(),
        },
        ColumnType {
            sql: "decimal(12,4)",
            values: || decimal().boxed(),
        },
        ColumnType {
            sql: "double",
            values: || float().prop_map(|v| format!("{v:e}")).boxed(),
        },
        ColumnType {
            sql: "varchar(20)",
            values: || awkward_text(20).prop_map(|s| quoted(&s, true)).boxed(),
        },
        ColumnType {
            sql: "text",
            values: || awkward_text(40).prop_map(|s| quoted(&s, true)).boxed(),
        },
        ColumnType {
            sql: "char(5)",
            values: || "[a-z']{0,5}".prop_map(|s| quoted(&s, true)).boxed(),
        },
        ColumnType {
            sql: "blob",
            values: || {
                prop::collection::vec(any::<u8>(), 0..40)
                    .prop_map(|b| {
                        if b.is_empty() {
                            "''".into()
                        } else {
                            format!("X'{}'", hex(&b))
                        }
                    })
                    .boxed()
            },
        },
        ColumnType {
            sql: "date",
            values: || {
                prop_oneof![
                    4 => date().prop_map(|(y, m, d)| format!("'{y:04}-{m:02}-{d:02}'")),
                    1 => Just("'0000-00-00'".to_string()),
                ]
                .boxed()
            },
        },
        ColumnType {
            sql: "datetime(6)",
            values: || {
                (date(), time())
                    .prop_map(|((y, mo, d), (h, mi, s, us))| {
                        format!("'{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}'")
                    })
                    .boxed()
            },
        },
        ColumnType {
            sql: "enum('a','b','c d')",
            values: || {
                prop_oneof![Just("'a'"), Just("'b'"), Just("'c d'")]
                    .prop_map(str::to_string)
                    .boxed()
            },
        },
        ColumnType {
            sql: "set('x','y')",
            values: || {
                prop_oneof![Just("''"), Just("'x'"), Just("'x,y'")]
                    .prop_map(str::to_string)
                    .boxed()
            },
        },
        ColumnType {
            sql: "json",
            values: || json().prop_map(|j| quoted(&j, true)).boxed(),
        },
        ColumnType {
            sql: "bit(8)",
            values: || any::<u8>().prop_map(|v| format!("b'{v:08b}'")).boxed(),
        },
    ]
}

pub(super) fn sqlite_types() -> Vec<ColumnType> {
    vec![
        ColumnType {
            sql: "INTEGER",
            values: || any::<i64>().prop_map(|v| v.to_string()).boxed(),
        },
        ColumnType {
            sql: "REAL",
            values: || float().prop_map(|v| format!("{v:e}")).boxed(),
        },
        ColumnType {
            sql: "TEXT",
            values: || awkward_text(40).prop_map(|s| quoted(&s, false)).boxed(),
        },
        ColumnType {
            sql: "BLOB",
            values: || {
                prop::collection::vec(any::<u8>(), 0..40)
                    .prop_map(|b| format!("X'{}'", hex(&b)))
                    .boxed()
            },
        },
        ColumnType {
            sql: "NUMERIC(12,4)",
            values: || decimal().boxed(),
        },
        ColumnType {
            sql: "BOOLEAN",
            values: || any::<bool>().prop_map(|b| u8::from(b).to_string()).boxed(),
        },
        ColumnType {
            sql: "DATETIME",
            values: || {
                (date(), time())
                    .prop_map(|((y, mo, d), (h, mi, s, _))| {
                        format!("'{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}'")
                    })
                    .boxed()
            },
        },
        // no declared type: SQLite keeps whatever it is given
        ColumnType {
            sql: "",
            values: || {
                prop_oneof![
                    any::<i64>().prop_map(|v| v.to_string()),
                    awkward_text(10).prop_map(|s| quoted(&s, false)),
                    prop::collection::vec(any::<u8>(), 1..8)
                        .prop_map(|b| format!("X'{}'", hex(&b))),
                    float().prop_map(|v| format!("{v:e}")),
                ]
                .boxed()
            },
        },
    ]
}

const TABLE_NAMES: [&str; 6] = ["order", "User Data", "Ärger", "select", "mixedCase", "t-1"];
const COLUMN_NAMES: [&str; 6] = ["from", "Größe", "a b", "camelCase", "desc", "value"];

#[derive(Clone, Debug)]
struct Table {
    name: String,
    /// (column name, type index, values per row)
    columns: Vec<(String, usize)>,
    rows: Vec<Vec<Option<String>>>,
    /// Whether it references the first table.
    child: bool,
}

#[derive(Clone, Debug)]
pub(super) struct Case {
    tables: Vec<Table>,
    disaster: u8,
    victim: usize,
}

pub(super) fn case(types: &'static [ColumnType]) -> impl Strategy<Value = Case> {
    let table = move |name: &'static str| {
        prop::collection::vec(0..types.len(), 1..5).prop_flat_map(move |tys| {
            let row: Vec<BoxedStrategy<Option<String>>> = tys
                .iter()
                .map(|&t| prop::option::weighted(0.85, (types[t].values)()).boxed())
                .collect();
            (Just(tys), prop::collection::vec(row, 0..10), any::<bool>()).prop_map(
                move |(tys, rows, child)| Table {
                    name: name.to_string(),
                    columns: tys
                        .iter()
                        .enumerate()
                        .map(|(i, &t)| (COLUMN_NAMES[i].to_string(), t))
                        .collect(),
                    rows,
                    child,
                },
            )
        })
    };
    (Just(TABLE_NAMES.to_vec()).prop_shuffle(), 1usize..=3)
        .prop_flat_map(move |(names, n)| {
            let tables: Vec<_> = names[..n].iter().map(|&name| table(name)).collect();
            (tables, 0u8..6, 0usize..3)
        })
        .prop_map(|(tables, disaster, victim)| {
            let victim = victim % tables.len();
            Case {
                tables,
                disaster,
                victim,
            }
        })
}

fn ident(kind: Kind, name: &str) -> String {
    match kind {
        Kind::Mariadb => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// The SQL that makes the case's database.
pub(super) fn build_sql(kind: Kind, types: &[ColumnType], case: &Case) -> String {
    let id = |s: &str| ident(kind, s);
    // the mariadb client speaks utf8mb3 unless told otherwise
    let mut sql = if kind == Kind::Mariadb {
        "SET NAMES utf8mb4;\n".to_string()
    } else {
        String::new()
    };
    let parent_rows = case.tables[0].rows.len();
    for (ti, t) in case.tables.iter().enumerate() {
        let mut cols = vec![format!("{} integer PRIMARY KEY", id("id"))];
        for (name, ty) in &t.columns {
            cols.push(
                format!("{} {}", id(name), types[*ty].sql)
                    .trim_end()
                    .to_string(),
            );
        }
        let child = ti > 0 && t.child;
        if child {
            cols.push(format!(
                "{} integer REFERENCES {}({})",
                id("parent_id"),
                id(&case.tables[0].name),
                id("id")
            ));
        }
        sql.push_str(&format!(
            "CREATE TABLE {} ({});\n",
            id(&t.name),
            cols.join(", ")
        ));
        for (ri, row) in t.rows.iter().enumerate() {
            let mut values = vec![(ri + 1).to_string()];
            values.extend(
                row.iter()
                    .map(|v| v.clone().unwrap_or_else(|| "NULL".into())),
            );
            if child {
                values.push(if parent_rows == 0 || ri % 3 == 2 {
                    "NULL".into()
                } else {
                    (ri % parent_rows + 1).to_string()
                });
            }
            sql.push_str(&format!(
                "INSERT INTO {} VALUES ({});\n",
                id(&t.name),
                values.join(", ")
            ));
        }
    }
    sql
}

/// The disaster, as the engine's SQL; `None` drops the whole database.
fn disaster_sql(kind: Kind, case: &Case) -> (String, Option<String>) {
    let id = |s: &str| ident(kind, s);
    let victim = &case.tables[case.victim];
    let t = id(&victim.name);
    // an application that deletes rows others still point at (its own
    // cascade, or none): the engine's foreign key checks are off for it
    let no_fk = match kind {
        Kind::Postgres => "SET session_replication_role = replica; ",
        Kind::Mariadb => "SET FOREIGN_KEY_CHECKS = 0; ",
        Kind::Sqlite => "PRAGMA foreign_keys = OFF; ",
    };
    let cascade = if kind == Kind::Postgres {
        " CASCADE"
    } else {
        ""
    };
    match case.disaster {
        0 => (
            format!("dropped table {t}"),
            Some(format!("{no_fk}DROP TABLE {t}{cascade};")),
        ),
        1 => (
            format!("emptied table {t}"),
            Some(match kind {
                Kind::Postgres => format!("TRUNCATE {t} CASCADE;"),
                _ => format!("{no_fk}DELETE FROM {t};"),
            }),
        ),
        2 => (
            format!("deleted rows of {t}"),
            Some(format!(
                "{no_fk}DELETE FROM {t} WHERE {} % 2 = 0;",
                id("id")
            )),
        ),
        3 => (
            format!("overwrote rows of {t}"),
            Some(format!(
                "UPDATE {t} SET {} = NULL WHERE {} > 1;",
                id(&victim.columns[0].0),
                id("id")
            )),
        ),
        4 => (
            format!("added a column to {t}"),
            Some(format!(
                "ALTER TABLE {t} ADD COLUMN {} integer;",
                id("added")
            )),
        ),
        _ => ("dropped the database".into(), None),
    }
}

fn run_engine(kind: Kind, types: &'static [ColumnType], default_cases: u32) {
    let cases = cases_to_run(default_cases);
    let env = Env::new();
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(types), |case| {
        let db = Db::create(kind, env.dir.path());
        let sql = build_sql(kind, types, &case);
        db.exec(&sql);
        let url = db.url();
        let out = env.tresor(&["backup", &url, "--quiet"]);
        prop_assert!(
            out.status.success(),
            "backup failed:\n{}\n{sql}",
            super::support::stderr(&out)
        );
        let before = db.dump();
        let (what, disaster) = disaster_sql(kind, &case);
        match &disaster {
            Some(d) => db.exec(d),
            None => {
                db.admin(&format!("DROP DATABASE {}", db.name()));
                if kind != Kind::Sqlite {
                    db.admin(&format!("CREATE DATABASE {}", db.name()));
                }
            }
        }
        let restored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            restore_latest(&env, &db, &[], &what);
        }));
        if let Err(e) = restored {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "restore panicked".into());
            return Err(TestCaseError::fail(format!(
                "{msg}\n-- the database:\n{sql}"
            )));
        }
        let after = db.dump();
        prop_assert!(
            before == after,
            "after {what} the restore differs:\n{}\n-- the database:\n{sql}",
            differences(&before, &after)
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The number of cases to run: `TRESOR_GENERATIVE_CASES`, or `default`
/// (CI's few).
pub(super) fn cases_to_run(default: u32) -> u32 {
    std::env::var("TRESOR_GENERATIVE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub(super) fn leak<T>(v: Vec<T>) -> &'static [T] {
    Box::leak(v.into_boxed_slice())
}

#[test]
fn generated_postgres_databases_survive_generated_disasters() {
    run_engine(Kind::Postgres, leak(postgres_types()), 8);
}

#[test]
fn generated_mariadb_databases_survive_generated_disasters() {
    run_engine(Kind::Mariadb, leak(mariadb_types()), 8);
}

#[test]
fn generated_sqlite_databases_survive_generated_disasters() {
    run_engine(Kind::Sqlite, leak(sqlite_types()), 8);
}
