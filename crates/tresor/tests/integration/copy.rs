//! `tresor copy`: snapshots into a second repository (local or S3), with
//! shared or independent blob ids; selection, errors, and kill -9 halfway.

use std::process::Output;
use std::time::Instant;

use tresor_testing::servers::{ServerKind, StorageServer};

use super::support::{Env, PASSWORD, dump, integrity_ok, kill_after, sql, stderr, succeeded};

/// The password of every destination, unlike the source's.
const B_PASSWORD: &str = "the offsite password";

/// A destination repository in a fresh directory (or at `remote`): made
/// with the blob ids of `a` when `shared`.
fn destination(a: &Env, shared: bool, remote: Option<(String, Vec<(String, String)>)>) -> Env {
    let (remote, remote_env) = match remote {
        Some((url, env)) => (Some(url), env),
        None => (None, Vec::new()),
    };
    let b = Env {
        dir: tempfile::tempdir().unwrap(),
        remote,
        remote_env,
    };
    let a_repo = a.repo();
    let mut args = vec!["init", "--kdf-memory-mib", "8"];
    if shared {
        args.extend(["--copy-ids-from", a_repo.to_str().unwrap()]);
    }
    let out = run_b(&b, &args);
    assert!(out.status.success(), "init failed: {}", stderr(&out));
    b
}

/// A command on `b` with `to` as its password and `from` as the source's.
fn with_passwords(b: &Env, to: &str, from: &str, args: &[&str]) -> std::process::Command {
    let mut c = b.command();
    c.env("TRESOR_PASSWORD", to)
        .env("TRESOR_FROM_PASSWORD", from)
        .args(args);
    c
}

/// Runs tresor on `b` (its own password), with `TRESOR_FROM_PASSWORD` set
/// to the source's.
fn run_b(b: &Env, args: &[&str]) -> Output {
    with_passwords(b, B_PASSWORD, PASSWORD, args)
        .output()
        .unwrap()
}

fn ok_b(b: &Env, args: &[&str]) -> String {
    succeeded(args, run_b(b, args))
}

/// Runs a command that must fail with `code`, saying `message`.
fn fails(mut command: std::process::Command, code: i32, message: &str) {
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
    assert!(stderr(&out).contains(message), "{}", stderr(&out));
}

fn json_b(b: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok_b(b, &all)).unwrap()
}

fn copy(a: &Env, b: &Env, extra: &[&str]) -> serde_json::Value {
    let a_repo = a.repo();
    let mut args = vec!["copy", "--from-repo", a_repo.to_str().unwrap()];
    args.extend_from_slice(extra);
    json_b(b, &args)
}

fn ids_b(b: &Env) -> Vec<String> {
    json_b(b, &["snapshots"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn restore_b(b: &Env, snapshot: &str, name: &str) -> std::path::PathBuf {
    let target = b.path(name);
    ok_b(b, &["restore", snapshot, "--to", target.to_str().unwrap()]);
    integrity_ok(&target);
    target
}

/// A table of `rows` rows with text, numbers and 60 random bytes each
/// (about 110 bytes a row), and a small keyless one.
fn database(db: &std::path::Path, rows: u32) {
    sql(
        db,
        &format!(
            "CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount NUMERIC, at TEXT, b BLOB);
             CREATE TABLE kv (k TEXT, v);
             INSERT INTO kv VALUES ('a', 1), ('b', x'00ff'), ('c', NULL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
             INSERT INTO big SELECT i, 'name ' || (i * 7919 % 100003), (i % 1000) || '.' || (i % 100),
               '2026-01-01T00:00:' || (i % 60), randomblob(60) FROM n;"
        ),
    );
}

fn round_trip(shared: bool) {
    let a = Env::new();
    let db = a.path("app.db");
    database(&db, 20_000);
    a.ok(&["backup", db.to_str().unwrap(), "--tag", "daily"]);
    let first_dump = dump(&db);
    sql(
        &db,
        "UPDATE big SET name = 'changed' WHERE id % 10 = 0; DELETE FROM kv WHERE k = 'a';",
    );
    let second = a.json(&["backup", db.to_str().unwrap()]);
    assert!(second["parent"].is_string(), "row-level incremental");
    let second_dump = dump(&db);
    let a_ids = a.snapshot_ids();

    let b = destination(&a, shared, None);
    let report = copy(&a, &b, &[]);
    assert_eq!(report["shared_ids"], shared);
    assert_eq!(report["copied"].as_array().unwrap().len(), 2);
    let first_bytes = report["bytes_sent"].as_u64().unwrap();
    assert!(first_bytes > 1_000_000, "{report}");
    if shared {
        // the rest is covered by the independent case and by the
        // library's tests of both modes
        let again = copy(&a, &b, &[]);
        assert_eq!(again["blobs_sent"], 0);
        assert_eq!(ids_b(&b), a_ids);
        let r = restore_b(&b, "latest", "r.db");
        assert_eq!(dump(&r), second_dump);
        sql(&db, "UPDATE big SET amount = 1 WHERE id = 77;");
        a.ok(&["backup", db.to_str().unwrap()]);
        let third = copy(&a, &b, &[]);
        let bytes = third["bytes_sent"].as_u64().unwrap();
        assert!(bytes * 20 < first_bytes, "{third}");
        // the new chunks, and the table-data trees whose chunks are checked
        let read = third["blobs_read"].as_u64().unwrap();
        assert!(read <= third["blobs_sent"].as_u64().unwrap() + 2, "{third}");
        ok_b(&b, &["check", "--read-data"]);
        return;
    }
    assert_eq!(ids_b(&b), a_ids, "ids stay the same");

    let listed = json_b(&b, &["snapshots"]);
    for s in listed.as_array().unwrap() {
        assert!(s["copied_from"]["repository"].is_string(), "{s}");
        assert!(s["copied_from"]["time"].is_string(), "{s}");
    }
    assert!(ok_b(&b, &["snapshots"]).contains("(copy "));

    // each copy restores on its own, the incremental one too
    let r1 = restore_b(&b, &a_ids[0][..12], "r1.db");
    assert_eq!(dump(&r1), first_dump);
    let r2 = restore_b(&b, &a_ids[1][..12], "r2.db");
    assert_eq!(dump(&r2), second_dump);
    ok_b(&b, &["check", "--read-data"]);

    // again: nothing to send
    let again = copy(&a, &b, &[]);
    assert!(again["copied"].as_array().unwrap().is_empty());
    assert_eq!(again["skipped"].as_array().unwrap().len(), 2);
    assert_eq!(again["blobs_sent"], 0);

    // a small change: only the new chunks travel
    sql(&db, "UPDATE big SET amount = 1 WHERE id = 77;");
    a.ok(&["backup", db.to_str().unwrap()]);
    let third = copy(&a, &b, &[]);
    assert_eq!(third["copied"].as_array().unwrap().len(), 1);
    let bytes = third["bytes_sent"].as_u64().unwrap();
    assert!(
        bytes * 20 < first_bytes,
        "{bytes} bytes sent for a one-row change, {first_bytes} the first time"
    );
    let r3 = restore_b(&b, "latest", "r3.db");
    assert_eq!(dump(&r3), dump(&db));

    // retention and prune in the destination work on copies
    ok_b(&b, &["forget", "--keep-last", "1"]);
    ok_b(&b, &["prune"]);
    assert_eq!(ids_b(&b).len(), 1);
    ok_b(&b, &["check", "--read-data"]);
    let r4 = restore_b(&b, "latest", "r4.db");
    assert_eq!(dump(&r4), dump(&db));
    // the forgotten ones come back with the next copy
    let back = copy(&a, &b, &[]);
    assert_eq!(back["copied"].as_array().unwrap().len(), 2);
    assert_eq!(ids_b(&b), a.snapshot_ids());
}

#[test]
fn copy_between_independent_repositories() {
    round_trip(false);
}

#[test]
fn copy_between_repositories_sharing_ids() {
    round_trip(true);
}

#[test]
fn copy_selects_by_id_source_and_tag() {
    let a = Env::new();
    let one = a.path("one.db");
    let two = a.path("two.db");
    for db in [&one, &two] {
        sql(
            db,
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'x');",
        );
    }
    let s1 = a.json(&["backup", one.to_str().unwrap(), "--tag", "keep"]);
    let s2 = a.json(&["backup", two.to_str().unwrap()]);
    sql(&two, "INSERT INTO t VALUES (2, 'y');");
    let s3 = a.json(&["backup", two.to_str().unwrap(), "--tag", "other"]);
    let id = |s: &serde_json::Value| s["id"].as_str().unwrap().to_string();
    let b = destination(&a, false, None);

    let dry = copy(&a, &b, &["--dry-run", "--tag", "keep", "--tag", "other"]);
    assert_eq!(dry["pending"].as_array().unwrap().len(), 2);
    assert!(ids_b(&b).is_empty(), "a dry run writes nothing");

    let r = copy(&a, &b, &[&id(&s2)[..10]]);
    assert_eq!(r["copied"][0]["id"], id(&s2).as_str());
    assert_eq!(ids_b(&b), vec![id(&s2)]);

    let url = s3["source"]["url"].as_str().unwrap().to_string();
    let r = copy(&a, &b, &["--source", &url]);
    assert_eq!(r["copied"][0]["id"], id(&s3).as_str());
    assert_eq!(r["skipped"][0], id(&s2).as_str());

    let r = copy(&a, &b, &["--tag", "keep"]);
    assert_eq!(r["copied"][0]["id"], id(&s1).as_str());
    let mut want = vec![id(&s1), id(&s2), id(&s3)];
    want.sort();
    let mut got = ids_b(&b);
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn copy_errors_name_the_repository_at_fault() {
    let a = Env::new();
    let db = a.path("app.db");
    sql(
        &db,
        "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);",
    );
    a.ok(&["backup", db.to_str().unwrap()]);
    let b = destination(&a, false, None);
    let a_repo = a.repo();
    let from = a_repo.to_str().unwrap();

    let copy_from = ["copy", "--from-repo", from];
    fails(
        with_passwords(&b, B_PASSWORD, "wrong", &copy_from),
        4,
        "repository to copy from",
    );
    fails(
        with_passwords(&b, "wrong", PASSWORD, &copy_from),
        4,
        "repository to copy to",
    );
    let nowhere = b.path("not-a-repo");
    std::fs::create_dir(&nowhere).unwrap();
    let mut elsewhere = with_passwords(&b, B_PASSWORD, PASSWORD, &copy_from);
    elsewhere.env("TRESOR_REPOSITORY", &nowhere);
    fails(elsewhere, 3, "copy to");
    fails(
        with_passwords(
            &b,
            B_PASSWORD,
            PASSWORD,
            &["copy", "--from-repo", from, "deadbeef"],
        ),
        3,
        "deadbeef",
    );
    assert!(ids_b(&b).is_empty());
    let b_repo = b.repo();
    fails(
        with_passwords(
            &b,
            B_PASSWORD,
            B_PASSWORD,
            &["copy", "--from-repo", b_repo.to_str().unwrap()],
        ),
        2,
        "same repository",
    );
}

/// kill -9 at varying moments: the destination never shows a half
/// snapshot, passes check, every snapshot in it restores, and the next copy
/// finishes. The destination's upload is throttled so that the copy takes
/// a few seconds without a big database.
#[test]
fn kill_during_copy_leaves_the_destination_consistent() {
    let a = Env::new();
    let db = a.path("app.db");
    database(&db, 20_000);
    a.ok(&["backup", db.to_str().unwrap()]);
    sql(&db, "UPDATE big SET b = randomblob(60) WHERE id % 3 = 0;");
    a.ok(&["backup", db.to_str().unwrap()]);
    sql(&db, "UPDATE big SET b = randomblob(60) WHERE id % 3 = 1;");
    a.ok(&["backup", db.to_str().unwrap()]);
    let a_ids = a.snapshot_ids();
    let a_repo = a.repo();
    let args = [
        "--limit-upload",
        "2MiB",
        "copy",
        "--from-repo",
        a_repo.to_str().unwrap(),
    ];
    // how long a whole copy takes on this machine, so that the kills fall
    // within one, from its first moments to its last
    let probe = destination(&a, false, None);
    let started = Instant::now();
    let out = with_passwords(&probe, B_PASSWORD, PASSWORD, &args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let whole = started.elapsed();
    let mut b = destination(&a, false, None);
    let mut restored: Vec<String> = Vec::new();
    let mut interrupted = 0;
    for n in 0..10u32 {
        let delay = whole.mul_f64(f64::from(n + 1) / 11.0);
        let delay_ms = delay.as_millis();
        let copy = with_passwords(&b, B_PASSWORD, PASSWORD, &args);
        if kill_after(copy, delay) {
            interrupted += 1;
        }
        let out = run_b(&b, &["check"]);
        assert!(
            out.status.success(),
            "check after kill -9 at {delay_ms} ms: {}",
            stderr(&out)
        );
        let now = ids_b(&b);
        for id in &now {
            assert!(a_ids.contains(id));
            if !restored.contains(id) {
                restore_b(&b, &id[..12], &format!("k{n}-{}.db", &id[..8]));
                restored.push(id.clone());
            }
        }
        if now.len() == a_ids.len() {
            // complete: start over with an empty destination
            b = destination(&a, false, None);
            restored.clear();
        }
    }
    assert!(
        interrupted >= 5,
        "only {interrupted} copies were interrupted (a whole copy took {whole:?})"
    );
    copy(&a, &b, &[]);
    assert_eq!(ids_b(&b), a_ids);
    ok_b(&b, &["check", "--read-data"]);
    let r = restore_b(&b, "latest", "final.db");
    assert_eq!(dump(&r), dump(&db));
}

#[test]
fn copy_to_s3() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(StorageServer::start(ServerKind::S3sFs))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let a = Env::new();
    let db = a.path("app.db");
    database(&db, 5_000);
    a.ok(&["backup", db.to_str().unwrap()]);
    let b = destination(&a, true, Some((server.url.clone(), server.env.clone())));
    let report = copy(&a, &b, &[]);
    assert_eq!(report["copied"].as_array().unwrap().len(), 1);
    assert_eq!(ids_b(&b), a.snapshot_ids());
    ok_b(&b, &["check", "--read-data"]);
    let r = restore_b(&b, "latest", "r.db");
    assert_eq!(dump(&r), dump(&db));
    let again = copy(&a, &b, &[]);
    assert_eq!(again["blobs_sent"], 0);
    drop(server);
}
