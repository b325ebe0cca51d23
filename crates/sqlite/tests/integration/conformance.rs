//! The shared conformance suite against SQLite files.

use super::harness::SqliteHarness;

macro_rules! scenarios {
    ($wal:expr, $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let h = SqliteHarness::new($wal);
            if let Err(e) = tresor_testing::$name(&h).await {
                panic!("{e:#}");
            }
        }
    )*};
}

scenarios!(
    true,
    round_trip,
    key_order_and_batches,
    replace_into_existing,
    merge_into_existing,
    rollback_leaves_target_unchanged,
    failure_mid_restore_leaves_target_unchanged,
    filters_select_tables,
    schema_mismatch_reported_before_writes,
    consistent_snapshot_under_writes,
    merge_without_key_is_refused,
);

/// Everything but the concurrent-writer scenario again on rollback-journal
/// databases (whose writers wait for a reader, by SQLite's design).
mod rollback_journal {
    use super::SqliteHarness;

    scenarios!(
        false,
        round_trip,
        replace_into_existing,
        merge_into_existing,
        rollback_leaves_target_unchanged,
        failure_mid_restore_leaves_target_unchanged,
        filters_select_tables,
        schema_mismatch_reported_before_writes,
        merge_without_key_is_refused,
    );
}
