//! The one list of scenarios, the one list of skips, and the
//! [`conformance!`](crate::conformance!) macro every engine's tests call.
//!
//! A scenario added to the list runs on every engine at once; an engine
//! that cannot run one says so in [`SKIPS`], with the reason, and nowhere
//! else.

/// A scenario an engine does not run, and why.
#[derive(Clone, Copy, Debug)]
pub struct Skip {
    /// The engine label given to [`conformance!`](crate::conformance!).
    pub engine: &'static str,
    /// The scenario's function name.
    pub scenario: &'static str,
    /// Why it cannot apply to this engine.
    pub why: &'static str,
}

/// Every skip of the suite.
pub const SKIPS: &[Skip] = &[
    Skip {
        engine: "sqlite-rollback-journal",
        scenario: "consistent_snapshot_under_writes",
        why: "in rollback-journal mode SQLite's writers wait for a reader by design, so no write can happen during the read",
    },
    Skip {
        engine: "mongodb",
        scenario: "failure_mid_restore_leaves_target_unchanged",
        why: "it breaks a stream with NULL in a `name` column, and documents have no such column; its MongoDB form (a short row, a document the validator rejects) is in the mongo crate's atomicity tests",
    },
    Skip {
        engine: "mongodb",
        scenario: "merge_without_key_adds_missing_rows",
        why: "every document has an `_id`, so the keyless `events` table does not exist in MongoDB: nothing there lacks a key to merge by",
    },
    Skip {
        engine: "mongodb",
        scenario: "consistent_snapshot_under_writes",
        why: "it reads balances from a `balance` column, which live inside documents here; its MongoDB form is the mongo crate's snapshot_under_writes, against a real mongod only (SecantusDB accepts atClusterTime but ignores it)",
    },
    Skip {
        engine: "mongodb",
        scenario: "a_held_table_stops_the_restore_in_time",
        why: "a MongoDB transaction that meets another session's open write fails with a write conflict within milliseconds (maxTransactionLockRequestTimeoutMillis, 5 ms by default) instead of queueing behind it, so there is no wait to bound",
    },
    Skip {
        engine: "mongodb",
        scenario: "a_hold_keeps_writes_out_until_the_commit",
        why: "MongoDB has no lock that keeps other sessions from writing a collection while they read it, so the restore cannot hold collections before its safety snapshot (documented in docs/restore.md)",
    },
];

/// Why `engine` skips `scenario`, if it does.
pub fn skipped(engine: &str, scenario: &str) -> Option<&'static str> {
    SKIPS
        .iter()
        .find(|s| s.engine == engine && s.scenario == scenario)
        .map(|s| s.why)
}

/// Runs the shared scenarios against an engine's [`Harness`](crate::Harness).
///
/// `conformance!(module_name, "engine", harness)` makes a module with one
/// test per scenario (each builds its harness with the expression, which
/// may `.await`); `conformance!(one test_name, "engine", harness)` makes
/// one test that runs every scenario against one harness and reports all
/// failures at once (for servers that are costly to start). Scenarios
/// listed for the engine in [`SKIPS`] print their reason and pass.
///
/// ```ignore
/// tresor_testing::conformance!(conformance, "postgres", PgHarness::default());
/// tresor_testing::conformance!(one secantus_conformance, "mongodb",
///     MongoHarness::new(TestServer::secantus().await).await);
/// ```
#[macro_export]
macro_rules! conformance {
    (one $test:ident, $engine:literal, $make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let h = $make;
            let mut failures: Vec<String> = Vec::new();
            $crate::conformance!(@scenarios [together h $engine failures]);
            assert!(
                failures.is_empty(),
                "{} conformance scenario(s) failed on {}:\n{}",
                failures.len(),
                $engine,
                failures.join("\n\n")
            );
        }
    };
    ($module:ident, $engine:literal, $make:expr) => {
        $crate::conformance!(@scenarios [apart $module $engine ($make)]);
    };
    // the one list of scenarios
    (@scenarios [$($how:tt)*]) => {
        $crate::conformance!(@ $($how)* ;
            round_trip,
            key_order_and_batches,
            replace_into_existing,
            merge_into_existing,
            rollback_leaves_target_unchanged,
            failure_mid_restore_leaves_target_unchanged,
            filters_select_tables,
            schema_mismatch_reported_before_writes,
            consistent_snapshot_under_writes,
            merge_without_key_adds_missing_rows,
            only_missing_refuses_tables_holding_rows,
            drop_extra_tables_leaves_what_the_backup_held,
            a_held_table_stops_the_restore_in_time,
            a_hold_keeps_writes_out_until_the_commit,
        );
    };
    (@ together $h:ident $engine:literal $failures:ident ; $($name:ident),* $(,)?) => {$(
        match $crate::skipped($engine, stringify!($name)) {
            Some(why) => eprintln!("skipped {} on {}: {why}", stringify!($name), $engine),
            None => {
                if let Err(e) = $crate::$name(&$h).await {
                    $failures.push(format!("{}: {e:#}", stringify!($name)));
                }
            }
        }
    )*};
    (@ apart $module:ident $engine:literal ($make:expr) ; $($name:ident),* $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(why) = $crate::skipped($engine, stringify!($name)) {
                        eprintln!("skipped on {}: {why}", $engine);
                        return;
                    }
                    let h = $make;
                    if let Err(e) = $crate::$name(&h).await {
                        panic!("{e:#}");
                    }
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_skip_names_a_scenario_and_a_reason() {
        let scenarios = [
            "round_trip",
            "key_order_and_batches",
            "replace_into_existing",
            "merge_into_existing",
            "rollback_leaves_target_unchanged",
            "failure_mid_restore_leaves_target_unchanged",
            "filters_select_tables",
            "schema_mismatch_reported_before_writes",
            "consistent_snapshot_under_writes",
            "merge_without_key_adds_missing_rows",
            "only_missing_refuses_tables_holding_rows",
            "drop_extra_tables_leaves_what_the_backup_held",
            "a_held_table_stops_the_restore_in_time",
            "a_hold_keeps_writes_out_until_the_commit",
        ];
        for s in SKIPS {
            assert!(scenarios.contains(&s.scenario), "{s:?}");
            assert!(s.why.len() > 20, "a skip needs its reason: {s:?}");
        }
        assert!(skipped("mongodb", "merge_without_key_adds_missing_rows").is_some());
        assert!(skipped("postgres", "round_trip").is_none());
    }
}
