//! Loading in batches: full 512-row statements, short ones cut by the
//! 8 MiB parameter limit, and the last partial batch, in both modes.

use mysql_async::prelude::Queryable;
use tresor_core::{ReadOptions, RestoreMode};

use super::support::{TestDb, assert_same_dump, backup, restore};

const TABLE: &str =
    "CREATE TABLE b (id INT PRIMARY KEY, note VARCHAR(20) NOT NULL, payload LONGBLOB)";

#[tokio::test(flavor = "multi_thread")]
async fn full_short_and_last_batches_restore_every_row() {
    let src = TestDb::new().await;
    src.exec(&[
        TABLE,
        // 1300 rows = two full batches of 512 and a last one of 276; every
        // 250th row carries 3 MiB, so batches are also cut early by size
        "INSERT INTO b SELECT seq, CONCAT('n', seq), \
         IF(seq % 250 = 0, REPEAT(CHAR(65 + seq % 26), 3 * 1024 * 1024), UNHEX(MD5(seq))) \
         FROM seq_1_to_1300",
    ])
    .await;
    let b = backup(&src.url, &ReadOptions::default()).await;
    assert_eq!(b.data[0].1.len(), 1300);

    // into an empty database (tables created under work names, swapped in)
    let fresh = TestDb::new().await;
    restore(&fresh.url, &b, RestoreMode::Replace).await;
    assert_same_dump(&src.dump(), &fresh.dump());

    // merged into an existing table: changed rows updated, others kept
    let existing = TestDb::new().await;
    existing
        .exec(&[
            TABLE,
            "INSERT INTO b SELECT seq, 'old', NULL FROM seq_1_to_700",
            "INSERT INTO b VALUES (5000, 'kept', NULL)",
        ])
        .await;
    restore(&existing.url, &b, RestoreMode::Merge).await;
    let mut c = existing.conn().await;
    let kept: Option<String> = c
        .query_first("SELECT note FROM b WHERE id = 5000")
        .await
        .expect("query");
    c.disconnect().await.expect("disconnect");
    assert_eq!(
        kept.as_deref(),
        Some("kept"),
        "merge leaves other rows alone"
    );
    existing
        .exec(&["DELETE FROM b WHERE id = 5000 AND note = 'kept'"])
        .await;
    assert_same_dump(&src.dump(), &existing.dump());

    // replacing an existing table's rows
    existing
        .exec(&["UPDATE b SET note = 'changed' WHERE id % 3 = 0"])
        .await;
    restore(&existing.url, &b, RestoreMode::Replace).await;
    assert_same_dump(&src.dump(), &existing.dump());

    for db in [src, fresh, existing] {
        db.drop_now().await;
    }
}
