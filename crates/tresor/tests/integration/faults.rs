//! Damage and crashes: flipped bytes, truncated and missing packs, kill -9
//! during backup and restore, concurrent backups, prune's cleanup.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::support::{Env, dump, files_under, kill_after, rich_database, sql, stderr};

fn damaged_restore_is_refused(env: &Env, damage: impl FnOnce(&std::path::Path)) {
    let db = env.path("app.db");
    rich_database(&db, 20_000);
    env.ok(&["backup", db.to_str().unwrap()]);
    let packs = env.packs();
    let biggest = packs
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    damage(biggest);
    let out = env.tresor(&["check", "--read-data"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let err = stderr(&out);
    let pack_name = biggest.file_name().unwrap().to_str().unwrap();
    assert!(
        err.contains(&pack_name[..16]) || err.contains("missing"),
        "{err}"
    );
    assert!(err.contains("cannot be fully restored"), "{err}");
    let target = env.path("restored.db");
    let out = env.tresor(&["restore", "latest", "--to", target.to_str().unwrap()]);
    assert!(
        matches!(out.status.code(), Some(6 | 8)),
        "{:?}: {}",
        out.status.code(),
        stderr(&out)
    );
    assert!(!target.exists(), "a failed restore leaves no file");
    assert!(
        std::fs::read_dir(env.dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("tresor-tmp")),
        "no temporary file is left"
    );
}

/// One damaged or foreign manifest hides no other snapshot: listing and
/// restoring go on (with a warning), `check` names it (exit 6), and
/// `forget ID` removes it.
#[test]
fn a_damaged_manifest_hides_nothing_else() {
    let env = Env::new();
    let db = env.path("app.db");
    rich_database(&db, 50);
    env.ok(&["backup", "app.db"]);
    sql(&db, "DELETE FROM big WHERE id % 2 = 0");
    env.ok(&["backup", "app.db"]);
    let ids = env.snapshot_ids();
    assert_eq!(ids.len(), 2);
    let older = &ids[0];
    let manifest = env.repo().join("snapshots").join(older);
    std::fs::write(&manifest, b"not a manifest at all").unwrap();

    let out = env.tresor(&["snapshots"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("skipping a snapshot manifest"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.snapshot_ids(), vec![ids[1].clone()]);
    env.ok(&["restore", "latest", "--to", "copy.db"]);

    let check = env.tresor(&["check"]);
    assert_eq!(check.status.code(), Some(6), "{}", stderr(&check));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        stderr(&check)
    );
    assert!(report.contains(&older[..8]), "{report}");

    env.ok(&["forget", &older[..12]]);
    assert!(!manifest.exists());
    let check = env.tresor(&["check"]);
    assert!(check.status.success(), "{}", stderr(&check));
}

/// A truncated index file is damage (exit 6) with the way out named;
/// `repair index` rebuilds the index from the packs and everything
/// restores again; so it does after every index file is lost.
#[test]
fn a_damaged_or_lost_index_is_rebuilt_from_the_packs() {
    let env = Env::new();
    let db = env.path("app.db");
    rich_database(&db, 200);
    env.ok(&["backup", "app.db"]);
    sql(&db, "DELETE FROM big WHERE id % 3 = 0");
    env.ok(&["backup", "app.db"]);
    let before = dump(&db);
    let index_dir = env.repo().join("index");
    let files: Vec<_> = std::fs::read_dir(&index_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let b = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &b[..b.len() / 3]).unwrap();

    let out = env.tresor(&["snapshots"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("tresor repair index"),
        "{}",
        stderr(&out)
    );

    let repaired = env.ok(&["repair", "index"]);
    assert!(repaired.contains("index rebuilt from"), "{repaired}");
    env.ok(&["check", "--read-data"]);
    env.ok(&["restore", "latest", "--to", "copy.db"]);
    assert_eq!(dump(&env.path("copy.db")), before);

    for f in std::fs::read_dir(&index_dir).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    env.ok(&["repair", "index"]);
    env.ok(&["check", "--read-data"]);
    env.ok(&["restore", "latest", "--to", "again.db"]);
    assert_eq!(dump(&env.path("again.db")), before);
}

/// What a killed write or a full disk left in `.tmp/` goes at the next
/// prune (which holds the exclusive lock, so no write is under way).
#[test]
fn prune_removes_temporary_files_of_interrupted_writes() {
    let env = Env::new();
    sql(
        &env.path("app.db"),
        "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);",
    );
    env.ok(&["backup", "app.db"]);
    let tmp = env.repo().join(".tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("new-0123456789abcdef"), vec![7u8; 4096]).unwrap();
    let dry = env.ok(&["prune", "--dry-run"]);
    assert!(dry.contains("would remove 1 temporary file(s)"), "{dry}");
    assert!(tmp.join("new-0123456789abcdef").exists());
    let out = env.ok(&["prune"]);
    assert!(out.contains("removed 1 temporary file(s)"), "{out}");
    assert!(!tmp.join("new-0123456789abcdef").exists());
    env.ok(&["check"]);
    env.ok(&["restore", "latest", "--to", "copy.db"]);
}

#[test]
fn a_flipped_byte_is_detected() {
    let env = Env::new();
    damaged_restore_is_refused(&env, |p| {
        let mut b = std::fs::read(p).unwrap();
        let i = b.len() / 2;
        b[i] ^= 1;
        std::fs::write(p, b).unwrap();
    });
}

#[test]
fn a_truncated_pack_is_detected() {
    let env = Env::new();
    damaged_restore_is_refused(&env, |p| {
        // cut into the blob data, not just the pack's trailer (blobs
        // before the cut are still intact and restorable)
        let b = std::fs::read(p).unwrap();
        std::fs::write(p, &b[..b.len() / 2]).unwrap();
    });
}

#[test]
fn a_missing_pack_is_detected() {
    let env = Env::new();
    damaged_restore_is_refused(&env, |p| std::fs::remove_file(p).unwrap());
    let out = env.tresor(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "structure check alone sees a missing pack: {}",
        stderr(&out)
    );
}

#[test]
fn kill_during_backup_leaves_no_snapshot_and_prune_cleans_up() {
    let env = Env::new();
    let db = env.path("app.db");
    rich_database(&db, 600_000);
    env.ok(&["backup", db.to_str().unwrap()]);
    sql(&db, "UPDATE big SET name = name || '!' WHERE id % 2 = 0;");
    let before = env.snapshot_ids();
    for delay_ms in [150u64, 600, 1500] {
        let mut backup = env.command();
        backup.args(["backup", db.to_str().unwrap()]);
        let finished = !kill_after(backup, Duration::from_millis(delay_ms));
        if finished {
            // too fast to interrupt on this machine: forget what it made
            let now = env.snapshot_ids();
            for id in now.iter().filter(|i| !before.contains(i)) {
                env.ok(&["forget", &id[..12]]);
            }
        }
        assert_eq!(env.snapshot_ids(), before, "no visible half snapshot");
        let out = env.tresor(&["check"]);
        assert!(
            out.status.success(),
            "check passes after kill -9 ({delay_ms} ms): {}",
            stderr(&out)
        );
    }
    // the killed backup's lock is stale (its process is gone) and ignored
    env.ok(&["prune"]);
    let out = env.tresor(&["check", "--read-data"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("unreferenced"),
        "prune removed the leftovers"
    );
    let restored = env.path("r.db");
    env.ok(&["restore", "latest", "--to", restored.to_str().unwrap()]);
}

#[test]
fn two_backups_at_once_both_succeed() {
    let env = Env::new();
    let a = env.path("a.db");
    let b = env.path("b.db");
    rich_database(&a, 200_000);
    rich_database(&b, 150_000);
    let spawn = |db: &std::path::Path| {
        env.command()
            .args(["--json", "backup", db.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (ca, cb) = (spawn(&a), spawn(&b));
    let (oa, ob) = (
        ca.wait_with_output().unwrap(),
        cb.wait_with_output().unwrap(),
    );
    assert!(oa.status.success(), "{}", stderr(&oa));
    assert!(ob.status.success(), "{}", stderr(&ob));
    assert_eq!(env.snapshot_ids().len(), 2);
    env.ok(&["check", "--read-data"]);
    for (i, db) in [&a, &b].into_iter().enumerate() {
        let r = env.path(&format!("r{i}.db"));
        env.ok(&[
            "restore",
            &format!("latest:{}", db.display()),
            "--to",
            r.to_str().unwrap(),
        ]);
        assert_eq!(dump(db), dump(&r));
    }
}

#[test]
fn kill_during_restore_leaves_the_target_unchanged() {
    let env = Env::new();
    let db = env.path("app.db");
    rich_database(&db, 400_000);
    env.ok(&["backup", db.to_str().unwrap()]);
    let backed_up = dump(&db);
    sql(
        &db,
        "DELETE FROM big WHERE id % 3 = 0; UPDATE kv SET v = 'local';",
    );
    let local = dump(&db);
    let mut interrupted = false;
    for delay_ms in [300u64, 900, 2000] {
        let started = Instant::now();
        let mut child = env
            .command()
            .args([
                "restore",
                "latest",
                "--to",
                db.to_str().unwrap(),
                "--yes",
                "--no-safety-snapshot",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            child.wait().unwrap();
            interrupted = true;
            assert_eq!(dump(&db), local, "killed after {:?}", started.elapsed());
        } else {
            child.wait().unwrap();
            break;
        }
    }
    assert!(
        interrupted,
        "the restore was never interrupted; make the database bigger"
    );
    // the killed restores' locks go at the next command that locks
    env.ok(&["check"]);
    let locks = files_under(&env.repo().join("locks"));
    assert!(locks.is_empty(), "locks left: {locks:?}");
    // and the same restore run again completes
    env.ok(&["restore", "latest", "--to", db.to_str().unwrap(), "--yes"]);
    assert!(
        dump(&db) == backed_up,
        "the restore run again after a kill differs"
    );
}

/// A throwaway database on the local server, dropped at the end.
struct ServerDb {
    name: String,
    engine: &'static str,
}

impl ServerDb {
    fn new(engine: &'static str) -> ServerDb {
        let name = format!(
            "tresor_cli_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
                % 1_000_000_000
        );
        let db = ServerDb { name, engine };
        db.admin(&format!("CREATE DATABASE {}", db.name));
        db
    }

    fn url(&self) -> String {
        match self.engine {
            "postgres" => format!("postgres://postgres@127.0.0.1:5432/{}", self.name),
            _ => format!("mysql://root@127.0.0.1:3306/{}", self.name),
        }
    }

    fn admin(&self, sql: &str) {
        self.run(None, sql);
    }

    fn sql(&self, sql: &str) -> String {
        self.run(Some(&self.name), sql)
    }

    fn run(&self, db: Option<&str>, sql: &str) -> String {
        let mut c = match self.engine {
            "postgres" => {
                let mut c = std::process::Command::new("psql");
                c.args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-qAt",
                    "-d",
                    db.unwrap_or("postgres"),
                    "-c",
                    sql,
                ]);
                c
            }
            _ => {
                let mut c = std::process::Command::new("mariadb");
                c.args(["-h", "127.0.0.1", "-u", "root", "-N", "-B", "-e", sql]);
                if let Some(d) = db {
                    c.arg(d);
                }
                c
            }
        };
        let out = c.output().expect("psql / mariadb client");
        assert!(out.status.success(), "{sql}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A fingerprint of every row of `t`.
    fn fingerprint(&self, t: &str) -> String {
        match self.engine {
            "postgres" => self.sql(&format!("SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, ',' ORDER BY id)), '') FROM {t} x")),
            _ => self.sql(&format!("SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS(',', id, name, amount))), 0)) FROM {t}")),
        }
    }
}

impl Drop for ServerDb {
    fn drop(&mut self) {
        let drop = match self.engine {
            "postgres" => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        self.admin(&drop);
    }
}

fn kill_during_server_restore(engine: &'static str) {
    let env = Env::new();
    let db = ServerDb::new(engine);
    let fill = match engine {
        "postgres" => "CREATE TABLE big (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2));
             INSERT INTO big SELECT g, 'name ' || g || repeat('x', 80), g / 7.0 FROM generate_series(1, 400000) g;
             CREATE TABLE small (id int PRIMARY KEY, name text, amount int); INSERT INTO small VALUES (1, 'a', 1);",
        _ => "CREATE TABLE big (id bigint PRIMARY KEY, name varchar(200) NOT NULL, amount decimal(12,2)) ENGINE=InnoDB;
             INSERT INTO big WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
               SELECT i, CONCAT('name ', i, REPEAT('x', 80)), i / 7 FROM n;
             CREATE TABLE small (id int PRIMARY KEY, name varchar(20), amount int); INSERT INTO small VALUES (1, 'a', 1);",
    };
    if engine == "mysql" {
        db.sql(&format!(
            "SET SESSION max_recursive_iterations = 1000000; {fill}"
        ));
    } else {
        db.sql(fill);
    }
    env.ok(&["backup", &db.url()]);
    let restored = (db.fingerprint("big"), db.fingerprint("small"));
    db.sql("DELETE FROM big WHERE id % 3 = 0; UPDATE small SET name = 'local';");
    let before = (db.fingerprint("big"), db.fingerprint("small"));
    let mut interrupted = false;
    'kills: for delay_ms in [400u64, 1200, 2500] {
        let mut child = env
            .command()
            .args([
                "restore",
                "latest",
                "--to",
                &db.url(),
                "--yes",
                "--no-safety-snapshot",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // the server notices the dropped connection and rolls back; a
        // kill that lands after the commit, while the process exits,
        // finds the whole snapshot restored: all or nothing either way
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = (db.fingerprint("big"), db.fingerprint("small"));
            if now == before {
                interrupted = true;
                break;
            }
            if now == restored {
                break 'kills;
            }
            assert!(
                Instant::now() < deadline,
                "{engine}: target changed after kill at {delay_ms} ms: {now:?} is neither \
                 {before:?} (as it was) nor {restored:?} (restored)"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert!(
        interrupted,
        "{engine}: the restore was never interrupted; make the table bigger"
    );
    // and a complete restore afterwards works
    env.ok(&[
        "restore",
        "latest",
        "--to",
        &db.url(),
        "--yes",
        "--no-safety-snapshot",
    ]);
    let rows = if engine == "postgres" {
        "400000"
    } else {
        "300000"
    };
    assert_eq!(db.sql("SELECT count(*) FROM big"), rows);
}

#[test]
fn kill_during_postgres_restore_leaves_the_target_unchanged() {
    kill_during_server_restore("postgres");
}

#[test]
fn kill_during_mysql_restore_leaves_the_target_unchanged() {
    kill_during_server_restore("mysql");
}

/// A small tmpfs, unmounted at the end: a disk that really fills up.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(mib: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root: {}",
            stderr(&out)
        );
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// A backup that fills the disk fails with a message that says so, leaves
/// no temporary file behind, and the repository goes on working: the
/// snapshots before it restore, the next backup that fits succeeds.
#[test]
fn a_full_disk_fails_cleanly_and_the_repository_goes_on() {
    let disk = SmallDisk::new(24);
    let repo = disk.dir.path().join("repo");
    let env = Env::at(Some(repo.to_str().unwrap().to_string()), Vec::new());
    sql(
        &env.path("small.db"),
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'kept');",
    );
    env.ok(&["backup", "small.db"]);
    // 48 MiB that no compression shrinks, twice the disk
    sql(
        &env.path("big.db"),
        "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 48)
         INSERT INTO blobs SELECT i, randomblob(1048576) FROM n;",
    );
    let out = env.tresor(&["backup", "big.db"]);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "a backup larger than the disk succeeded"
    );
    assert!(err.contains("storage is full: no space left"), "{err}");
    assert!(
        !err.contains("gave up after"),
        "a full disk was retried: {err}"
    );
    assert!(err.contains("free space"), "no hint: {err}");
    assert!(err.contains("more needed"), "no size: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(8), "{err}");
    let leftovers = files_under(&repo.join(".tmp"));
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    assert_eq!(env.snapshot_ids().len(), 1);
    env.ok(&["check"]);
    // what the failed backup stored goes at the prune the hint names
    let pruned = env.ok(&["prune"]);
    assert!(
        pruned.contains("remove 1 leftover packs of interrupted backups"),
        "{pruned}"
    );
    sql(&env.path("small.db"), "INSERT INTO t VALUES (2, 'after');");
    env.ok(&["backup", "small.db"]);
    env.ok(&["check", "--read-data"]);
    env.ok(&["restore", "latest", "--to", "copy.db"]);
    assert_eq!(dump(&env.path("copy.db")), dump(&env.path("small.db")));
}

/// A damaged config is damaged data (exit 6), not a storage failure.
#[test]
fn a_damaged_config_is_reported_as_damage() {
    let env = Env::new();
    std::fs::write(env.repo().join("config"), b"garbage").unwrap();
    let out = env.tresor(&["snapshots"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("config"), "{}", stderr(&out));
}

/// A PostgreSQL URL without a database is refused, not a backup of the
/// user's own (usually empty) database.
#[test]
fn a_postgres_url_without_a_database_is_refused() {
    let env = Env::new();
    let out = env
        .command()
        .env_remove("PGDATABASE")
        .args(["backup", "postgres://postgres@127.0.0.1:5432/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("names no database"),
        "{}",
        stderr(&out)
    );
    assert!(env.snapshot_ids().is_empty());
}
