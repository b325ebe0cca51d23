//! A bad network between tresor and S3: every command goes through a
//! fault-injecting proxy ([`FaultProxy`]) in front of s3s-fs, which drops
//! connections mid-request and mid-response, answers 500/503/429 in the
//! server's place, delays and stalls. Every command must either succeed or
//! fail cleanly (storage error exit code, a message, nothing half-visible);
//! afterwards, with the faults off, `check --read-data` passes and every
//! snapshot a backup reported restores to the exact data.
//!
//! The proxy prints its seed; `TRESOR_FAULT_SEED=N` replays it. The retry
//! budget is shortened with `TRESOR_RETRY_TIME` so that a failing command
//! gives up within seconds.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use tresor_testing::proxy::{FaultProxy, FaultStats, Faults};
use tresor_testing::servers::{ServerKind, StorageServer};

use super::support::{Env, dump, integrity_ok, sql, stderr};

/// An S3 server behind a fault proxy, and the runtime both run on.
pub struct FlakyS3 {
    pub proxy: FaultProxy,
    pub server: StorageServer,
    _rt: tokio::runtime::Runtime,
}

impl FlakyS3 {
    /// s3s-fs and a proxy in front of it, faults off.
    pub fn start() -> FlakyS3 {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let server = rt
            .block_on(StorageServer::start(ServerKind::S3sFs))
            .unwrap_or_else(|e| panic!("{e:#}"));
        let proxy = rt
            .block_on(FaultProxy::start(server.port))
            .unwrap_or_else(|e| panic!("{e:#}"));
        FlakyS3 {
            proxy,
            server,
            _rt: rt,
        }
    }

    /// An initialised repository at `prefix`, reached through the proxy
    /// with a retry budget of `retry` (initialised with the faults off).
    pub fn env(&self, prefix: &str, retry: &str) -> Env {
        let saved = self.proxy.faults();
        self.proxy.off();
        let mut vars = self.server.env.clone();
        vars.push(("TRESOR_RETRY_TIME".into(), retry.into()));
        let env = Env::at(Some(self.proxy.url(&self.server.url_for(prefix))), vars);
        self.proxy.set(saved);
        env
    }

    /// What the proxy did, for failure messages.
    pub fn report(&self) -> String {
        let journal = self.proxy.journal();
        let tail = journal.len().saturating_sub(40);
        format!(
            "seed {} (replay with TRESOR_FAULT_SEED={}), {:?}\nlast faults:\n{}",
            self.proxy.seed(),
            self.proxy.seed(),
            self.proxy.stats(),
            journal[tail..].join("\n")
        )
    }
}

/// Runs `tresor ARGS`, killing it (and failing) after `limit`: a command
/// that hangs on a bad network is a bug too.
fn run(env: &Env, args: &[&str], limit: Duration) -> Output {
    let mut child = env
        .command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "tresor {args:?} still running after {limit:?}:\n{}",
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A failed command failed cleanly: the storage exit code, one clear
/// message (with a hint), no panic.
fn failed_cleanly(out: &Output, what: &str, flaky: &FlakyS3) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(8),
        "{what} failed with {:?} instead of the storage error code:\n{err}\n{}",
        out.status.code(),
        flaky.report()
    );
    assert!(!err.contains("panicked"), "{what} panicked:\n{err}");
    assert!(
        err.contains("gave up after") || err.contains("storage"),
        "{what}: no clear message:\n{err}"
    );
}

/// A SQLite database of about 2 MB: 20 000 rows and two incompressible
/// files (the tests run a debug build on a busy machine: more data would
/// only make them slower).
fn small_database(db: &std::path::Path) {
    sql(
        db,
        "PRAGMA journal_mode=WAL;
         CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount NUMERIC, at TEXT);
         CREATE INDEX big_name ON big(name);
         CREATE TABLE files (id INTEGER PRIMARY KEY, name TEXT, data BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
         INSERT INTO big SELECT i, 'name ' || (i * 7919 % 100003), (i % 1000) || '.' || (i % 100), '2026-01-01T00:00:' || (i % 60) FROM n;
         INSERT INTO files (name, data) VALUES ('a', randomblob(500000)), ('b', randomblob(500000));",
    );
}

/// Changes old rows, deletes some, adds a new file of 200 KB.
fn churn(db: &std::path::Path, round: u32) {
    sql(
        db,
        &format!(
            "UPDATE big SET name = 'round {round} ' || id WHERE id % 7 = {m};
             DELETE FROM big WHERE id % 97 = {m};
             INSERT INTO files (name, data) VALUES ('round {round}', randomblob(200000));",
            m = round % 7
        ),
    );
}

/// A snapshot a backup reported, and the data it must restore to.
struct Reported {
    id: String,
    dump: String,
}

/// A backup with the faults off, and what it must restore to.
fn backed_up(env: &Env, db: &std::path::Path) -> Reported {
    Reported {
        id: env.json(&["backup", db.to_str().unwrap()])["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        dump: dump(db),
    }
}

fn restore_exact(env: &Env, snap: &Reported, name: &str) {
    let target = env.path(name);
    env.ok(&[
        "restore",
        &snap.id,
        "--to",
        &format!("sqlite://{}", target.display()),
    ]);
    assert_eq!(
        dump(&target),
        snap.dump,
        "snapshot {} restores exactly",
        snap.id
    );
    integrity_ok(&target);
}

#[test]
fn every_command_on_a_flaky_network_succeeds_or_fails_cleanly() {
    let flaky = FlakyS3::start();
    let env = flaky.env("flaky", "15s");
    let db = env.path("app.db");
    small_database(&db);
    flaky.proxy.set(Faults::mixed());
    let limit = Duration::from_secs(60);

    let mut reported: Vec<Reported> = Vec::new();
    let mut failures = 0;
    for round in 0..3 {
        churn(&db, round);
        let expected = dump(&db);
        let out = run(&env, &["--json", "backup", db.to_str().unwrap()], limit);
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            reported.push(Reported {
                id: v["id"].as_str().unwrap().to_owned(),
                dump: expected,
            });
        } else {
            failures += 1;
            failed_cleanly(&out, "backup", &flaky);
        }
    }
    assert!(
        !reported.is_empty(),
        "no backup got through: {}",
        flaky.report()
    );

    // a restore under faults: the exact data, or no file at all
    let latest = reported.last().unwrap();
    let target = env.path("flaky-restore.db");
    let out = run(
        &env,
        &[
            "restore",
            &latest.id,
            "--to",
            &format!("sqlite://{}", target.display()),
        ],
        limit,
    );
    if out.status.success() {
        assert_eq!(dump(&target), latest.dump);
    } else {
        failures += 1;
        failed_cleanly(&out, "restore", &flaky);
        assert!(!target.exists(), "a failed restore leaves no file");
    }

    // check (a transient failure is never reported as damage), forget and
    // prune under faults
    let mut forgotten = false;
    for args in [
        &["check", "--read-data"][..],
        &["forget", "--keep-last", "2"][..],
        &["prune"][..],
    ] {
        let out = run(&env, args, limit);
        if out.status.success() {
            forgotten |= args[0] == "forget";
        } else {
            failures += 1;
            failed_cleanly(&out, args[0], &flaky);
        }
    }

    let stats = flaky.proxy.stats();
    flaky.proxy.off();
    eprintln!("{failures} commands failed cleanly; {stats:?}");
    assert_faults_happened(&stats, &flaky);

    // with the faults off: whole, and every reported snapshot restores
    env.ok(&["check", "--read-data"]);
    let present = env.snapshot_ids();
    let kept = reported.len().saturating_sub(2);
    for (i, snap) in reported.iter().enumerate() {
        if present.contains(&snap.id) {
            restore_exact(&env, snap, &format!("final-{i}.db"));
        } else {
            assert!(
                i < kept,
                "snapshot {} of a successful backup is gone (kept: the last 2)",
                snap.id
            );
        }
    }
    if forgotten {
        assert_eq!(present.len(), reported.len().min(2), "{present:?}");
    }
    // and the repository goes on
    churn(&db, 9);
    env.ok(&["backup", db.to_str().unwrap()]);
}

fn assert_faults_happened(stats: &FaultStats, flaky: &FlakyS3) {
    assert!(
        stats.errors > 0 && stats.dropped_requests > 0 && stats.dropped_responses > 0,
        "the proxy injected too few faults to mean anything: {}",
        flaky.report()
    );
}

/// An outage starts when a backup writes its index, after its pack was
/// stored: the backup gives up within about one retry time (not one per
/// request it still makes) with a clear message and leaves no snapshot;
/// restore, check, forget and prune fail the same way (never as damage);
/// with the network back everything is whole and the next backup works.
#[test]
fn an_outage_mid_backup_fails_cleanly_and_the_repository_goes_on() {
    let flaky = FlakyS3::start();
    let env = flaky.env("outage", "3s");
    let db = env.path("app.db");
    small_database(&db);
    let first = backed_up(&env, &db);
    churn(&db, 1);

    flaky
        .proxy
        .set_from("PUT /tresor/outage/index/", Faults::outage());
    let started = Instant::now();
    let out = run(
        &env,
        &["backup", db.to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert!(!out.status.success(), "the backup succeeded in an outage");
    failed_cleanly(&out, "backup", &flaky);
    assert!(stderr(&out).contains("gave up after"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("check the network"),
        "{}",
        stderr(&out)
    );
    assert_eq!(flaky.proxy.faults(), Faults::outage(), "the outage came");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "gave up within about the retry time: {:?}\n{}",
        started.elapsed(),
        stderr(&out)
    );

    // restore and the repository commands in the outage: storage errors,
    // no file, never "damaged"
    let target = env.path("during.db");
    let out = run(
        &env,
        &["restore", "latest", "--to", target.to_str().unwrap()],
        Duration::from_secs(30),
    );
    failed_cleanly(&out, "restore", &flaky);
    assert!(!target.exists());
    for args in [
        &["check"][..],
        &["prune"][..],
        &["forget", "--keep-last", "1"][..],
    ] {
        let out = run(&env, args, Duration::from_secs(30));
        failed_cleanly(&out, args[0], &flaky);
        assert!(!stderr(&out).contains("damaged"), "{}", stderr(&out));
    }

    flaky.proxy.off();
    assert_eq!(
        env.snapshot_ids(),
        vec![first.id.clone()],
        "nothing half-visible"
    );
    env.ok(&["check", "--read-data"]);
    restore_exact(&env, &first, "after.db");
    let second = backed_up(&env, &db);
    env.ok(&["prune"]);
    env.ok(&["check", "--read-data"]);
    restore_exact(&env, &second, "second.db");
}

/// Every response is cut off one time in seven after the server acted:
/// retried writes find their own first attempt (create-if-absent of the
/// config, locks, index and packs, multipart uploads included) and succeed.
#[test]
fn responses_lost_after_the_server_acted_are_retried_to_success() {
    let flaky = FlakyS3::start();
    // (a lost response of a multipart upload's part restarts the whole
    // upload: at a third of responses lost, eight tries of a 9 MB pack
    // all failed about one run in ten)
    flaky.proxy.set(Faults {
        drop_response: 0.15,
        ..Faults::none()
    });
    let mut vars = flaky.server.env.clone();
    vars.push(("TRESOR_RETRY_TIME".into(), "30s".into()));
    // init itself goes through the faults
    let env = Env::at(Some(flaky.proxy.url(&flaky.server.url_for("lost"))), vars);
    let db = env.path("app.db");
    small_database(&db);
    // a pack above the multipart threshold (8 MiB)
    sql(
        &db,
        "INSERT INTO files (name, data) VALUES ('big', randomblob(9000000));",
    );
    // the faults are drawn at random: rounds of backup and restore go on
    // until several responses were lost, so that the test always proves
    // what it says (46 requests at 15% drew a single loss one run in 40)
    for round in 0..8u32 {
        if round > 0 {
            churn(&db, round);
        }
        let out = run(
            &env,
            &["--json", "backup", db.to_str().unwrap()],
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "{}\n{}", stderr(&out), flaky.report());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let snap = Reported {
            id: v["id"].as_str().unwrap().to_owned(),
            dump: dump(&db),
        };
        let target = env.path(&format!("restored-{round}.db"));
        let out = run(
            &env,
            &["restore", &snap.id, "--to", target.to_str().unwrap()],
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "{}\n{}", stderr(&out), flaky.report());
        assert_eq!(dump(&target), snap.dump, "round {round}");
        if flaky.proxy.stats().dropped_responses > 2 {
            break;
        }
    }
    let stats = flaky.proxy.stats();
    assert!(stats.dropped_responses > 2, "{}", flaky.report());
    flaky.proxy.off();
    env.ok(&["check", "--read-data"]);
}

/// `tresor copy` into S3 through the flaky network, run again after a
/// failure as a cron job would: each run copies or fails
/// cleanly, what a failed run stored is reused, and once a run succeeds
/// the destination checks whole and restores every copy exactly.
#[test]
fn copies_over_a_flaky_network_finish_and_verify() {
    let flaky = FlakyS3::start();
    let home = Env::new();
    let db = home.path("app.db");
    small_database(&db);
    let mut reported = vec![backed_up(&home, &db)];
    churn(&db, 1);
    reported.push(backed_up(&home, &db));
    let far = flaky.env("copies", "10s");
    // a copy makes few requests (about 20): more faults than `mixed` so
    // that some always happen
    flaky.proxy.set(Faults {
        error: 0.15,
        drop_request: 0.1,
        drop_response: 0.1,
        ..Faults::mixed()
    });
    let home_repo = home.repo();
    let copy_args = ["--json", "copy", "--from-repo", home_repo.to_str().unwrap()];
    let mut runs = 0;
    let copied = loop {
        runs += 1;
        let mut c = far.command();
        c.env("TRESOR_FROM_PASSWORD", super::support::PASSWORD)
            .args(copy_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = c.output().unwrap();
        if out.status.success() {
            break serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
        }
        failed_cleanly(&out, "copy", &flaky);
        assert!(
            runs < 6,
            "no copy got through in 5 runs: {}",
            flaky.report()
        );
    };
    let stats = flaky.proxy.stats();
    flaky.proxy.off();
    eprintln!("{runs} copy runs; {stats:?}; {copied}");
    assert!(
        stats.errors + stats.dropped_requests + stats.dropped_responses > 0,
        "no fault was injected: {}",
        flaky.report()
    );
    far.ok(&["check", "--read-data"]);
    let ids = far.snapshot_ids();
    for (i, snap) in reported.iter().enumerate() {
        assert!(
            ids.contains(&snap.id),
            "{} was not copied: {ids:?}",
            snap.id
        );
        restore_exact(&far, snap, &format!("copied-{i}.db"));
    }
    // a further copy sends nothing
    let mut c = far.command();
    c.env("TRESOR_FROM_PASSWORD", super::support::PASSWORD)
        .args(copy_args);
    let again: serde_json::Value = serde_json::from_slice(&c.output().unwrap().stdout).unwrap();
    assert_eq!(again["blobs_sent"], 0, "{again}");
}
