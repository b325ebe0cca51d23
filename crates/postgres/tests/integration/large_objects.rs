//! Large objects (`pg_largeobject`, referenced by `oid` columns): backed
//! up as parts, made again under their own ids, compared with pg_dump,
//! which dumps their bytes, after the disasters that hit them.

use tresor_core::{ReadOptions, RestoreMode, TableFilter};

use super::common::{TestDb, copy_database, diff_lines};

/// Objects at the edges of the part size (256 KiB): empty, tiny, exactly
/// one part, one byte over, and several parts of varied bytes.
const FILL: &str = r"
CREATE TABLE public.documents (id integer PRIMARY KEY, name text NOT NULL, file oid NOT NULL);
SELECT lo_from_bytea(910001, ''::bytea);
SELECT lo_from_bytea(910002, 'hello'::bytea);
SELECT lo_from_bytea(910003, decode(repeat('ab', 262144), 'hex'));
SELECT lo_from_bytea(910004, decode(repeat('cd', 262145), 'hex'));
SELECT lo_from_bytea(910005, (SELECT string_agg(decode(md5(i::text), 'hex'), ''::bytea ORDER BY i)
                              FROM generate_series(1, 45000) i));
COMMENT ON LARGE OBJECT 910002 IS 'a greeting, with a '' quote';
INSERT INTO public.documents VALUES
  (1, 'empty', 910001), (2, 'hello.txt', 910002), (3, 'one part', 910003),
  (4, 'one byte over', 910004), (5, 'scan.pdf', 910005);
";

fn same_dump(src: &TestDb, dst: &TestDb) {
    let args = ["--no-owner", "--no-privileges"];
    let (a, b) = (src.dump_sorted(&args), dst.dump_sorted(&args));
    assert!(a == b, "the dumps differ:\n{}", diff_lines(&a, &b));
}

async fn objects(db: &TestDb) -> Vec<(u32, Vec<u8>)> {
    db.client()
        .await
        .query(
            "SELECT oid, lo_get(oid) FROM pg_largeobject_metadata ORDER BY oid",
            &[],
        )
        .await
        .expect("read the large objects")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

const DISASTER: &str = "SELECT lo_unlink(910002); SELECT lo_put(910005, 300000, 'XXXX'::bytea); \
                        SELECT lo_from_bytea(910099, 'added since'::bytea);";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_objects_come_back_under_their_ids() {
    let src = TestDb::create().await;
    src.exec(FILL).await;
    let original = objects(&src).await;
    assert_eq!(original.len(), 5);
    assert_eq!(original[4].1.len(), 720_000);

    // into an empty database: every object, its bytes and its comment
    let dst = TestDb::unborn();
    let summary = copy_database(
        &src.url(),
        &dst.url(),
        RestoreMode::Replace,
        ReadOptions::default(),
    )
    .await
    .expect("restore into an empty database");
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    // 1 + 1 + 1 + 2 + 3 parts
    assert_eq!(summary.rows.get("pg_catalog.pg_largeobject"), Some(&8));
    assert_eq!(objects(&dst).await, original);
    same_dump(&src, &dst);

    // one object unlinked, one overwritten in its middle, one added:
    // replace gives back exactly the snapshot's objects
    dst.exec(DISASTER).await;
    copy_database(
        &src.url(),
        &dst.url(),
        RestoreMode::Replace,
        ReadOptions::default(),
    )
    .await
    .expect("replace");
    assert_eq!(objects(&dst).await, original);
    same_dump(&src, &dst);

    // merge replaces the snapshot's objects and keeps the one added since
    dst.exec(DISASTER).await;
    copy_database(
        &src.url(),
        &dst.url(),
        RestoreMode::Merge,
        ReadOptions::default(),
    )
    .await
    .expect("merge");
    let mut expected = original.clone();
    expected.push((910_099, b"added since".to_vec()));
    assert_eq!(objects(&dst).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_filter_leaves_large_objects_out_unless_named() {
    let src = TestDb::create().await;
    src.exec(FILL).await;
    let dst = TestDb::unborn();
    let summary = copy_database(
        &src.url(),
        &dst.url(),
        RestoreMode::Replace,
        ReadOptions {
            filter: TableFilter::new(&["documents"], &[]).expect("filter"),
            ..ReadOptions::default()
        },
    )
    .await
    .expect("restore one table");
    assert_eq!(summary.rows.len(), 1, "{:?}", summary.rows);
    assert!(objects(&dst).await.is_empty());

    let dst = TestDb::unborn();
    copy_database(
        &src.url(),
        &dst.url(),
        RestoreMode::Replace,
        ReadOptions {
            filter: TableFilter::new(&["documents", "pg_largeobject"], &[]).expect("filter"),
            ..ReadOptions::default()
        },
    )
    .await
    .expect("restore the table and its files");
    assert_eq!(objects(&dst).await, objects(&src).await);
}
