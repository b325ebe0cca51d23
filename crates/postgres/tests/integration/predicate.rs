//! `--where` predicates against a reference: PostgreSQL's own `WHERE` on
//! the same rows. Random rows of every value type the language compares
//! (NULLs included), random predicates over every operator; the rows tresor
//! selects on the snapshot's rows must be exactly the rows PostgreSQL
//! selects. Text columns use the `C` collation and the session runs in UTC,
//! the two places where the documented semantics pick one of the engines'
//! behaviours.

use std::collections::BTreeSet;

use proptest::prelude::*;
use tresor_core::{Connector, Predicate, ReadOptions, TableName};
use tresor_postgres::PostgresConnector;

use super::common::TestDb;

const SCHEMA: &str = "SET TIME ZONE 'UTC';
    CREATE TABLE t (id integer PRIMARY KEY, n integer, b bigint, d numeric(12,3),
        f double precision, s text COLLATE \"C\", ok boolean, day date,
        at timestamp, inst timestamptz, u uuid, raw bytea)";

#[derive(Clone, Debug)]
struct RowSpec {
    n: Option<i32>,
    b: Option<i64>,
    d: Option<i32>,
    f: Option<i16>,
    s: Option<u8>,
    ok: Option<bool>,
    day: Option<u16>,
    secs: Option<u32>,
    u: Option<u8>,
    raw: Option<u8>,
}

fn opt<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![1 => Just(None), 4 => s.prop_map(Some)]
}

fn row() -> impl Strategy<Value = RowSpec> {
    (
        opt(-5i32..5),
        opt(prop_oneof![Just(i64::MAX), Just(i64::MIN + 1), -5i64..5]),
        opt(-3000i32..3000),
        opt(-20i16..20),
        opt(0u8..8),
        opt(any::<bool>()),
        (opt(0u16..40), opt(0u32..200_000), opt(0u8..4), opt(0u8..4)),
    )
        .prop_map(|(n, b, d, f, s, ok, (day, secs, u, raw))| RowSpec {
            n,
            b,
            d,
            f,
            s,
            ok,
            day,
            secs,
            u,
            raw,
        })
}

const WORDS: [&str; 8] = ["ada", "Ada", "grace", "ad_a", "a%b", "zürich", "", "Édith"];

fn uuid(i: u8) -> String {
    format!("00000000-0000-0000-0000-00000000000{i}")
}

fn sql_value<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or("NULL".into(), ToString::to_string)
}

fn insert(id: usize, r: &RowSpec) -> String {
    format!(
        "INSERT INTO t VALUES ({id}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        sql_value(&r.n),
        sql_value(&r.b),
        r.d.map_or("NULL".into(), |d| format!("{:.3}", f64::from(d) / 1000.0)),
        r.f.map_or("NULL".into(), |f| format!("{}", f64::from(f) / 4.0)),
        r.s.map_or("NULL".into(), |s| format!("'{}'", WORDS[usize::from(s)])),
        sql_value(&r.ok),
        r.day
            .map_or("NULL".into(), |d| format!("DATE '2026-11-01' + {d}")),
        r.secs.map_or("NULL".into(), |s| format!(
            "TIMESTAMP '2026-11-01' + interval '{s} seconds'"
        )),
        r.secs.map_or("NULL".into(), |s| format!(
            "TIMESTAMPTZ '2026-11-01 00:00+00' + interval '{s} seconds'"
        )),
        r.u.map_or("NULL".into(), |u| format!("'{}'", uuid(u))),
        r.raw.map_or("NULL".into(), |b| format!(
            "'\\x{}'",
            "ab".repeat(usize::from(b))
        )),
    )
}

/// A comparison of one column with a literal of its kind.
fn atom() -> impl Strategy<Value = String> {
    let cmp = prop_oneof![
        Just("="),
        Just("<>"),
        Just("<"),
        Just("<="),
        Just(">"),
        Just(">=")
    ];
    prop_oneof![
        (cmp.clone(), -6i32..6).prop_map(|(op, v)| format!("n {op} {v}")),
        (
            cmp.clone(),
            prop_oneof![
                Just("9223372036854775807".to_string()),
                (-6i64..6).prop_map(|v| v.to_string())
            ]
        )
            .prop_map(|(op, v)| format!("b {op} {v}")),
        (cmp.clone(), -4000i32..4000)
            .prop_map(|(op, v)| format!("d {op} {}", f64::from(v) / 1000.0)),
        (cmp.clone(), -25i32..25).prop_map(|(op, v)| format!("f {op} {}", f64::from(v) / 4.0)),
        (cmp.clone(), 0usize..WORDS.len()).prop_map(|(op, w)| format!("s {op} '{}'", WORDS[w])),
        (cmp.clone(), 0u16..45).prop_map(|(op, d)| format!("day {op} DATE '2026-{}'", date(d))),
        (cmp.clone(), 0u32..220_000)
            .prop_map(|(op, s)| format!("at {op} TIMESTAMP '{}'", stamp(s))),
        (cmp.clone(), 0u32..220_000)
            .prop_map(|(op, s)| format!("inst {op} TIMESTAMPTZ '{}+00:00'", stamp(s))),
        (cmp.clone(), 0u32..220_000).prop_map(|(op, s)| format!("at {op} '{}'", stamp(s))),
        (cmp, 0u8..5).prop_map(|(op, u)| format!("u {op} UUID '{}'", uuid(u))),
        (prop_oneof![Just("="), Just("<>")], 0u8..5)
            .prop_map(|(op, b)| format!("raw {op} X'{}'", "AB".repeat(usize::from(b)))),
        prop_oneof![
            Just("ok"),
            Just("ok = true"),
            Just("ok = false"),
            Just("ok is true"),
            Just("ok is not false")
        ]
        .prop_map(String::from),
        (
            prop_oneof![Just("n"), Just("s"), Just("day"), Just("u"), Just("raw")],
            any::<bool>()
        )
            .prop_map(|(c, not)| format!("{c} is {}null", if not { "not " } else { "" })),
        (
            proptest::collection::vec(-6i32..6, 1..4),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(vs, not, null)| {
                let mut list: Vec<String> = vs.iter().map(ToString::to_string).collect();
                if null {
                    list.push("NULL".into());
                }
                format!(
                    "n {}in ({})",
                    if not { "not " } else { "" },
                    list.join(", ")
                )
            }),
        (-6i32..6, -6i32..6, any::<bool>()).prop_map(|(a, b, not)| format!(
            "n {}between {a} and {b}",
            if not { "not " } else { "" }
        )),
        (
            prop_oneof![
                Just("a%"),
                Just("%a"),
                Just("_d_"),
                Just("%\\%%"),
                Just("a\\_a"),
                Just("%"),
                Just("ADA"),
                Just("z%")
            ],
            prop_oneof![Just("like"), Just("not like"), Just("ilike")]
        )
            .prop_map(|(p, op)| format!("s {op} '{p}' escape '\\'")),
    ]
}

fn date(d: u16) -> String {
    let (m, day) = if d < 30 { (11, d + 1) } else { (12, d - 29) };
    format!("{m:02}-{day:02}")
}

fn stamp(s: u32) -> String {
    let day = s / 86_400;
    let rest = s % 86_400;
    format!(
        "2026-11-{:02} {:02}:{:02}:{:02}",
        day + 1,
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

fn predicate() -> impl Strategy<Value = String> {
    atom().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

/// The predicate in PostgreSQL's spelling: `X'..'` is a bit string
/// there, a bytea literal is `'\x..'::bytea`.
fn for_postgres(p: &str) -> String {
    let mut out = String::new();
    let mut rest = p;
    while let Some(i) = rest.find("X'") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('\'').unwrap_or(after.len());
        out.push_str(&format!("'\\x{}'::bytea", &after[..end]));
        rest = &after[(end + 1).min(after.len())..];
    }
    out.push_str(rest);
    out
}

async fn check(rows: Vec<RowSpec>, predicates: Vec<String>) {
    let db = TestDb::create().await;
    let mut sql = vec![SCHEMA.to_string()];
    sql.extend(rows.iter().enumerate().map(|(i, r)| insert(i, r)));
    db.exec(&sql.join(";\n")).await;
    let contents = tresor_testing::read_database(
        &PostgresConnector,
        &db.url(),
        &tresor_core::TableFilter::exact([TableName {
            schema: Some("public".into()),
            name: "t".into(),
        }]),
    )
    .await
    .expect("read");
    let snap = PostgresConnector
        .source(&db.url())
        .expect("source")
        .open(&ReadOptions::default())
        .await
        .expect("open");
    let table = snap.schema().tables[0].clone();
    snap.close().await.expect("close");
    let stored = contents.tables.values().next().expect("table").clone();
    let client = db.client().await;
    client
        .batch_execute("SET TIME ZONE 'UTC'")
        .await
        .expect("utc");
    for p in predicates {
        let want: BTreeSet<i32> = client
            .query(&format!("SELECT id FROM t WHERE {}", for_postgres(&p)), &[])
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL refused {p}: {e}"))
            .iter()
            .map(|r| r.get(0))
            .collect();
        let bound = Predicate::parse(&p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .bind(&table)
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        let got: BTreeSet<i32> = stored
            .iter()
            .filter(|r| bound.matches(r))
            .map(|r| match r[0] {
                tresor_core::Value::Int(i) => i32::try_from(i).expect("id"),
                ref other => panic!("id {other:?}"),
            })
            .collect();
        assert_eq!(got, want, "predicate {p}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("TRESOR_PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(12),
        ..ProptestConfig::default()
    })]

    #[test]
    fn predicates_select_what_postgresql_selects(
        rows in proptest::collection::vec(row(), 1..40),
        predicates in proptest::collection::vec(predicate(), 1..25),
    ) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(check(rows, predicates));
    }
}
