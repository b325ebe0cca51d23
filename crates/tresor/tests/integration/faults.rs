//! Damage and crashes: flipped bytes, truncated and missing packs, kill -9
//! during backup and restore, concurrent backups, prune's cleanup.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::support::{Env, dump, rich_database, sql, stderr};

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
        let mut child = env
            .command()
            .args(["backup", db.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap();
        child.wait().unwrap();
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
}
