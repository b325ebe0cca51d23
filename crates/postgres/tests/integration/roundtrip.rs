//! The acceptance test: a database with every type and object kind,
//! restored into an empty database and into a pre-created schema, compared
//! with pg_dump.

use tresor_core::{ReadOptions, RestoreMode};

use super::common::{TestDb, copy_database, diff_lines};

pub const SCHEMA: &str = include_str!("fixture_schema.sql");
pub const DATA: &str = include_str!("fixture_data.sql");

/// Lines in which pg_dump --schema-only output may legitimately differ
/// (see crates/postgres/README.md, "Known differences").
fn normalize_schema(lines: Vec<String>) -> Vec<String> {
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_into_an_empty_database() {
    let src = TestDb::create().await;
    src.exec(SCHEMA).await;
    src.exec(DATA).await;
    let dst = TestDb::unborn();
    let summary = copy_database(
        &src.url(),
        &dst.url(),
        RestoreMode::Replace,
        ReadOptions {
            jobs: 3,
            ..Default::default()
        },
    )
    .await
    .expect("copy");
    assert_eq!(summary.method, "one transaction");
    assert_eq!(summary.rows.get("everything"), Some(&4));

    let a = src.dump_sorted(&["--data-only"]);
    let b = dst.dump_sorted(&["--data-only"]);
    assert!(a == b, "data differs:\n{}", diff_lines(&a, &b));

    let a = normalize_schema(src.dump_sorted(&["--schema-only"]));
    let b = normalize_schema(dst.dump_sorted(&["--schema-only"]));
    assert!(a == b, "schema differs:\n{}", diff_lines(&a, &b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_into_a_pre_created_schema() {
    let src = TestDb::create().await;
    src.exec(SCHEMA).await;
    src.exec(DATA).await;
    let dst = TestDb::create().await;
    dst.exec(SCHEMA).await;
    // something to replace, and a trigger that must not fire during restore
    dst.exec("INSERT INTO public.customers VALUES (99, 'old', NULL, NULL, 1)")
        .await;
    copy_database(
        &src.url(),
        &dst.url(),
        RestoreMode::Replace,
        ReadOptions::default(),
    )
    .await
    .expect("copy");
    let a = src.dump_sorted(&["--data-only"]);
    let b = dst.dump_sorted(&["--data-only"]);
    assert!(a == b, "data differs:\n{}", diff_lines(&a, &b));

    // merging the same snapshot again changes nothing (the keyless table,
    // with its duplicate row, included)
    copy_database(
        &src.url(),
        &dst.url(),
        RestoreMode::Merge,
        ReadOptions::default(),
    )
    .await
    .expect("merge");
    let b = dst.dump_sorted(&["--data-only"]);
    assert!(a == b, "data differs after merge:\n{}", diff_lines(&a, &b));
}

/// A merge into a table without a key adds the snapshot's rows it lacks,
/// duplicates and NULLs counted, and keeps the rows written since; values
/// of types PostgreSQL has no equality for (`json`, `point`, `xml`)
/// compare by their text, and `1.0` is not `1.00`. Merging again adds
/// nothing.
#[tokio::test]
async fn merge_adds_the_rows_a_table_without_a_key_lacks() {
    let table = "CREATE TABLE public.log (j json, p point, x xml, n numeric, t text)";
    let src = TestDb::create().await;
    src.exec(table).await;
    src.exec(
        "INSERT INTO public.log VALUES \
         ('{\"a\": 1}', '(1,2)', '<a/>', 1.0, 'x'), ('{\"a\": 1}', '(1,2)', '<a/>', 1.0, 'x'), \
         (NULL, NULL, NULL, NULL, NULL), ('[2]', '(0,0)', '<b/>', 1.00, 'y')",
    )
    .await;
    let dst = TestDb::create().await;
    dst.exec(table).await;
    dst.exec(
        "INSERT INTO public.log VALUES ('{\"a\": 1}', '(1,2)', '<a/>', 1.0, 'x'), \
         ('[2]', '(0,0)', '<b/>', 1.0, 'y'), ('[3]', '(3,3)', '<c/>', 3, 'since')",
    )
    .await;
    let rows = || async {
        let c = dst.client().await;
        let rows = c
            .query(
                "SELECT coalesce(j::text, '-') || ' ' || coalesce(p::text, '-') || ' ' || \
                 coalesce(x::text, '-') || ' ' || coalesce(n::text, '-') || ' ' || \
                 coalesce(t, '-') FROM public.log ORDER BY 1",
                &[],
            )
            .await
            .expect("rows");
        rows.iter().map(|r| r.get(0)).collect::<Vec<String>>()
    };
    for _ in 0..2 {
        copy_database(
            &src.url(),
            &dst.url(),
            RestoreMode::Merge,
            ReadOptions::default(),
        )
        .await
        .expect("merge");
        assert_eq!(
            rows().await,
            [
                "- - - - -",
                "[2] (0,0) <b/> 1.0 y",
                "[2] (0,0) <b/> 1.00 y",
                "[3] (3,3) <c/> 3 since",
                "{\"a\": 1} (1,2) <a/> 1.0 x",
                "{\"a\": 1} (1,2) <a/> 1.0 x",
            ]
        );
    }
}
