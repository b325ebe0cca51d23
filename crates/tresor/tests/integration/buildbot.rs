//! A Buildbot master's database (`crates/testing/apps/buildbot`): forty
//! tables made by Buildbot's own model and Alembic migrations, filled by a
//! running master whose builds run on a local worker (changes, build
//! requests and their claims, builds, steps, properties, test results,
//! build data, and logs stored as gzip-compressed chunks in a table
//! without a primary key). Buildbot reads everything back through its
//! data API, which uncompresses every log.

use super::apps::App;
use super::cross_engine::{
    app_dump, app_writes, drilled_and_restored, first_difference, moves_from,
};
use super::disasters::{Db, Kind};
use super::support::{Env, stderr};

/// Changes each test's master builds (each on two builders).
const CHANGES: &str = "3";

fn master(kind: Kind, env: &Env) -> Db {
    Db::made_by(App::Buildbot, kind, env.dir.path(), CHANGES)
}

/// Every engine: the drill passes, a restore into a new database reads
/// back as the same builds, logs and all, and the master goes on building
/// in it.
#[test]
fn a_buildbot_master_restores_and_drills_on_every_engine() {
    for kind in [Kind::Sqlite, Kind::Postgres, Kind::Mariadb] {
        let env = Env::new();
        let src = master(kind, &env);
        let to = drilled_and_restored(App::Buildbot, kind, &env, &src);
        app_writes(App::Buildbot, &to.url());
    }
}

/// A dump as it is: every value survives each direction (Buildbot's types
/// are integers, text, blobs and its own epoch seconds).
fn unchanged(dump: &str) -> String {
    dump.to_string()
}

#[test]
fn a_buildbot_master_moves_off_sqlite() {
    moves_from(App::Buildbot, Kind::Sqlite, CHANGES, unchanged);
}

#[test]
fn a_buildbot_master_moves_off_postgres() {
    moves_from(App::Buildbot, Kind::Postgres, CHANGES, unchanged);
}

#[test]
fn a_buildbot_master_moves_off_mariadb() {
    moves_from(App::Buildbot, Kind::Mariadb, CHANGES, unchanged);
}

/// The disaster Buildbot's users meet: the log janitor, its horizon set
/// too short, deleted the chunks of every log older than the newest
/// builds and marked those logs deleted. `logchunks` has no primary key,
/// so the two tables are merged back from last night's snapshot: every
/// chunk the live table lacks comes back (those of the builds since are
/// kept), the logs lose their deleted mark, Buildbot reads back every
/// log as it was, and the master goes on building.
#[test]
fn logs_buildbots_janitor_deleted_come_back() {
    for kind in [Kind::Sqlite, Kind::Postgres, Kind::Mariadb] {
        let env = Env::new();
        let src = master(kind, &env);
        let from = src.url();
        env.ok(&["backup", &from, "--quiet"]);
        let builds = App::Buildbot.count(&from, "builds");
        // builds after the snapshot, whose logs the janitor spares
        app_writes(App::Buildbot, &from);
        let want = app_dump(App::Buildbot, &from);
        let chunks = App::Buildbot.count(&from, "chunks");

        let first_new = (builds + 1).to_string();
        let out = App::Buildbot.shop(&["janitor", &from, &first_new]);
        assert!(out.status.success(), "janitor: {}", stderr(&out));
        let left = App::Buildbot.count(&from, "chunks");
        assert!(
            left > 0 && left < chunks,
            "{from}: {left} of {chunks} chunks left"
        );
        assert!(
            App::Buildbot.count(&from, "deleted-logs") > 0,
            "{from}: no log marked deleted"
        );

        let latest = format!("latest:{from}");
        let args = [
            "restore",
            &latest,
            "--to",
            &from,
            "--tables",
            "logs,logchunks",
            "--mode",
            "merge",
        ];
        let mut dry = args.to_vec();
        dry.push("--dry-run");
        let preview = env.ok(&dry);
        let lost = (chunks - left).to_string();
        let line = preview
            .lines()
            .find(|l| l.starts_with("logchunks"))
            .unwrap_or_else(|| panic!("{preview}"));
        let cells: Vec<&str> = line.split_whitespace().collect();
        // Action, Snapshot rows, Target rows, Insert, Update, Delete, Unchanged
        assert_eq!(cells[1], "merge", "{preview}");
        assert_eq!(cells[4], lost, "{from}: {preview}");
        assert_eq!(&cells[5..8], ["0", "0", &left.to_string()], "{preview}");
        assert!(preview.contains("every check passed"), "{preview}");

        let mut restore = args.to_vec();
        restore.push("--yes");
        env.ok(&restore);
        let got = app_dump(App::Buildbot, &from);
        assert!(want == got, "{from}: {}", first_difference(&want, &got));
        assert_eq!(App::Buildbot.count(&from, "chunks"), chunks, "{from}");
        assert_eq!(App::Buildbot.count(&from, "deleted-logs"), 0, "{from}");
        app_writes(App::Buildbot, &from);
    }
}
