//! The shared conformance suite against SQLite files, in WAL mode and again
//! in rollback-journal mode (whose writers wait for a reader, by SQLite's
//! design; the skip is listed in tresor-testing).

use super::harness::SqliteHarness;

tresor_testing::conformance!(wal, "sqlite", SqliteHarness::new(true));
tresor_testing::conformance!(
    rollback_journal,
    "sqlite-rollback-journal",
    SqliteHarness::new(false)
);
