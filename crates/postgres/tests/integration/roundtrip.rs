//! The acceptance test: a database with every type and object kind,
//! restored into an empty database and into a pre-created schema, compared
//! with pg_dump.

use tresor_core::{ReadOptions, RestoreMode, TableFilter};

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

    // merging the same snapshot again changes nothing (merge needs keys)
    let keyed = ReadOptions {
        filter: TableFilter::new(&[] as &[&str], &["nokey"]).expect("filter"),
        ..Default::default()
    };
    copy_database(&src.url(), &dst.url(), RestoreMode::Merge, keyed)
        .await
        .expect("merge");
    let b = dst.dump_sorted(&["--data-only"]);
    assert!(a == b, "data differs after merge:\n{}", diff_lines(&a, &b));
}
