//! An MLflow tracking store and model registry (`crates/testing/apps/mlflow`):
//! seventy tables made by SQLAlchemy and Alembic's migrations, filled
//! through MLflow's own client (experiments, runs and their metric
//! histories, logged models, traces with spans, registered models with
//! versions and aliases). Its SQLite schema is written the way SQLAlchemy
//! writes one: booleans as integers with a `CHECK (col IN (0, 1))`,
//! defaults quoted (`DEFAULT '0'`), a generated column
//! (`spans.duration_ns`) with an index over it, and a lookup index over
//! five long `varchar` columns; moving it off SQLite is what its users do
//! when one file no longer suffices.

use super::apps::App;
use super::cross_engine::{app_dump, app_writes, drilled_and_restored, first_difference};
use super::disasters::{Db, Kind};
use super::support::{Env, stderr};

fn store(kind: Kind, env: &Env, runs: &str) -> Db {
    Db::made_by(App::Mlflow, kind, env.dir.path(), runs)
}

/// Every engine: the drill passes, and a restore into a new database is
/// the same store through MLflow's client.
#[test]
fn an_mlflow_store_restores_and_drills_on_every_engine() {
    for kind in [Kind::Sqlite, Kind::Postgres, Kind::Mariadb] {
        let env = Env::new();
        let src = store(kind, &env, "12");
        let to = drilled_and_restored(App::Mlflow, kind, &env, &src);
        app_writes(App::Mlflow, &to.url());
    }
}

/// SQLite into an empty PostgreSQL and an empty MariaDB database, and into
/// the schema MLflow's migrations made on PostgreSQL. Into the empty ones
/// tresor makes the tables: the booleans' checks are PostgreSQL's boolean
/// itself and MariaDB's `IN (0, 1)`, the quoted defaults are kept, the
/// generated column is made (and computes the same durations) with its
/// index, and MariaDB indexes prefixes of the long lookup index's columns.
/// The dry run lists only the SQLite trigger as not made, and nothing into
/// the migrated schema, which has MLflow's own. MLflow's client reads
/// back exactly the same store and goes on writing in each.
#[test]
fn an_mlflow_store_moves_off_sqlite() {
    let env = Env::new();
    let src = store(Kind::Sqlite, &env, "12");
    let from = src.url();
    env.ok(&["backup", &from, "--quiet"]);
    let latest = format!("latest:{from}");
    let want = app_dump(App::Mlflow, &from);
    let durations = "SELECT count(*) FROM spans \
                     WHERE duration_ns = end_time_unix_nano - start_time_unix_nano";
    let spans = src.query_any(Kind::Sqlite, durations);
    assert_ne!(spans, "0", "the store has no finished spans");
    for (kind, migrated) in [
        (Kind::Postgres, false),
        (Kind::Mariadb, false),
        (Kind::Postgres, true),
    ] {
        let to = if migrated {
            store(kind, &env, "0")
        } else {
            Db::create(kind, env.dir.path())
        };
        let into = to.url();
        let preview = env.ok(&["restore", &latest, "--to", &into, "--dry-run"]);
        let listed = approximated(&preview);
        // the migrated schema has MLflow's own trigger
        let trigger: &[&str] = if migrated {
            &[]
        } else {
            &[
                "trigger prevent_secrets_aad_mutation: not created: written in the source \
               engine's SQL, which tresor does not translate",
            ]
        };
        assert_eq!(listed, trigger, "{into}: {preview}");
        // nothing approximated: --strict lets the move into MLflow's own
        // schema go ahead
        let mut restore = vec!["restore", &latest, "--to", &into, "--yes"];
        if migrated {
            restore.push("--strict");
        }
        env.ok(&restore);
        let got = app_dump(App::Mlflow, &into);
        assert!(want == got, "{into}: {}", first_difference(&want, &got));
        assert_eq!(to.query_any(kind, durations), spans, "{into}");
        if !migrated {
            let (bool_type, default) = match kind {
                Kind::Postgres => ("boolean", "false"),
                _ => ("tinyint(1)", "0"),
            };
            let column = |what: &str| {
                let sql = match kind {
                    Kind::Postgres => format!(
                        "SELECT {what} FROM information_schema.columns \
                         WHERE table_name = 'metrics' AND column_name = 'is_nan'"
                    ),
                    _ => format!(
                        "SELECT {what} FROM information_schema.columns \
                         WHERE table_schema = database() AND table_name = 'metrics' \
                         AND column_name = 'is_nan'"
                    ),
                };
                to.query_any(kind, &sql)
            };
            let ty = column(if kind == Kind::Postgres {
                "data_type"
            } else {
                "column_type"
            });
            assert_eq!(ty, bool_type, "{into}");
            assert_eq!(column("column_default"), default, "{into}");
            if kind == Kind::Mariadb {
                // the boolean's check, made in MariaDB's SQL, refuses a 2
                let refused = std::process::Command::new("mariadb")
                    .args(["-h", "127.0.0.1", "-u", "root", to.name(), "-e"])
                    .arg("UPDATE metrics SET is_nan = 2 LIMIT 1")
                    .output()
                    .expect("mariadb");
                assert!(
                    !refused.status.success(),
                    "{into}: a 2 in a boolean was taken"
                );
            }
        }
        app_writes(App::Mlflow, &into);
    }
}

/// The approximations a dry run lists, one a line.
fn approximated(preview: &str) -> Vec<&str> {
    preview
        .lines()
        .skip_while(|l| !l.starts_with("approximated in the target"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect()
}

/// The disaster MLflow's users meet: `mlflow gc` deletes the runs and
/// experiments in the deleted stage for good, with their metrics, params,
/// tags, metric summaries and model metrics, and a run was needed after
/// all. Chosen by their stage, they come back from the snapshot with every
/// row that belongs to them, merged into the live store: MLflow's client
/// reads back exactly the store as it was before the collection, a diff
/// against the snapshot finds every table unchanged (SQLite's rows keep
/// their rowids), and MLflow goes on writing.
#[test]
fn runs_mlflow_deleted_for_good_come_back_with_what_belongs_to_them() {
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let env = Env::new();
        let src = store(kind, &env, "12");
        let from = src.url();
        env.ok(&["backup", &from, "--quiet"]);
        let want = app_dump(App::Mlflow, &from);
        let deleted = App::Mlflow.count(&from, "deleted-runs");
        assert!(deleted > 0, "the store has no deleted runs");

        let gc = App::Mlflow.shop(&["gc", &from]);
        assert!(gc.status.success(), "gc of {from}: {}", stderr(&gc));
        assert_eq!(
            App::Mlflow.count(&from, "deleted-runs"),
            0,
            "gc left deleted runs"
        );

        let latest = format!("latest:{from}");
        let args = [
            "restore",
            &latest,
            "--to",
            &from,
            "--where",
            "runs: lifecycle_stage = 'deleted'",
            "--where",
            "experiments: lifecycle_stage = 'deleted'",
            "--with-related",
        ];
        let mut dry = args.to_vec();
        dry.push("--dry-run");
        let preview = env.ok(&dry);
        assert!(
            preview.contains(&format!("matches --where ({deleted})")),
            "{preview}"
        );
        let mut restore = args.to_vec();
        restore.push("--yes");
        env.ok(&restore);

        let got = app_dump(App::Mlflow, &from);
        assert!(want == got, "{from}: {}", first_difference(&want, &got));
        assert_eq!(App::Mlflow.count(&from, "deleted-runs"), deleted);
        let diff = env.json(&["diff", &latest, "--live"]);
        let changed: Vec<&serde_json::Value> = diff["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .filter(|t| t["status"] != "unchanged")
            .collect();
        assert!(changed.is_empty(), "{from}: {changed:?}");
        app_writes(App::Mlflow, &from);
    }
}

/// Between the servers: a store MLflow made on PostgreSQL into an empty
/// MariaDB database and an empty SQLite file (its `'0'::bigint` defaults,
/// as PostgreSQL prints SQLAlchemy's `DEFAULT '0'`, come along), and one
/// made on MariaDB into an empty PostgreSQL database. Only the trigger
/// (and on PostgreSQL the function it calls) is listed as not made, and
/// MLflow's client reads back the same store and goes on writing.
#[test]
fn an_mlflow_store_moves_between_servers() {
    let env = Env::new();
    let trigger = "trigger prevent_secrets_aad_mutation: not created";
    let function = "function public.prevent_secrets_aad_mutation: not created";
    for (from_kind, to_kind, listed) in [
        (Kind::Postgres, Kind::Mariadb, &[function, trigger][..]),
        (Kind::Postgres, Kind::Sqlite, &[function, trigger][..]),
        (Kind::Mariadb, Kind::Postgres, &[trigger][..]),
    ] {
        let src = store(from_kind, &env, "8");
        let from = src.url();
        env.ok(&["backup", &from, "--quiet"]);
        let latest = format!("latest:{from}");
        let to = Db::create(to_kind, env.dir.path());
        let into = to.url();
        let preview = env.ok(&["restore", &latest, "--to", &into, "--dry-run"]);
        let found: Vec<&str> = approximated(&preview)
            .into_iter()
            .map(|l| l.split(": written").next().unwrap_or(l))
            .collect();
        assert_eq!(found, listed, "{from} into {into}: {preview}");
        env.ok(&["restore", &latest, "--to", &into, "--yes"]);
        let (want, got) = (app_dump(App::Mlflow, &from), app_dump(App::Mlflow, &into));
        assert!(
            want == got,
            "{from} into {into}: {}",
            first_difference(&want, &got)
        );
        app_writes(App::Mlflow, &into);
    }
}
