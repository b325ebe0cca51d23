//! The main jobs through the command line.

use super::support::{Env, dump, files_under, integrity_ok, rich_database, sql, stderr};

#[test]
fn round_trip_of_a_million_rows_restores_identically() {
    let env = Env::new();
    let db = env.path("app.db");
    rich_database(&db, 1_000_000);
    let out = env.json(&[
        "backup",
        db.to_str().unwrap(),
        "--tag",
        "nightly",
        "--reason",
        "test",
    ]);
    assert_eq!(out["totals"]["tables"], 4);
    assert_eq!(out["tags"][0], "nightly");
    let restored = env.path("restored.db");
    env.ok(&[
        "restore",
        "latest",
        "--to",
        &format!("sqlite://{}", restored.display()),
    ]);
    assert_eq!(dump(&db), dump(&restored));
    integrity_ok(&restored);
    let pragma = |p: &str| -> i64 {
        rusqlite::Connection::open(&restored)
            .unwrap()
            .query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(pragma("user_version"), 7);
    assert_eq!(pragma("application_id"), 1234);
    env.ok(&["check", "--read-data"]);
}

#[test]
fn second_backup_stores_only_changes_and_show_reports_them() {
    let env = Env::new();
    let db = env.path("app.db");
    rich_database(&db, 50_000);
    let first = env.json(&["backup", db.to_str().unwrap()]);
    sql(
        &db,
        "UPDATE big SET name = 'changed' WHERE id % 100 = 3;
         DELETE FROM big WHERE id % 1000 = 7;
         INSERT INTO big (name) VALUES ('new 1'), ('new 2');",
    );
    let second = env.json(&["backup", db.to_str().unwrap()]);
    let added = |v: &serde_json::Value| v["totals"]["added_bytes"].as_u64().unwrap();
    assert!(
        added(&second) * 10 < added(&first),
        "second backup added {} bytes, first {}",
        added(&second),
        added(&first)
    );
    let show = env.json(&["show", "latest"]);
    let big = show["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"]["name"] == "big")
        .unwrap();
    assert_eq!(big["changes"]["updated"], 500);
    assert_eq!(big["changes"]["deleted"], 50);
    assert_eq!(big["changes"]["inserted"], 2);
    let text = env.ok(&["show", "latest"]);
    assert!(text.contains("Inserted"), "{text}");
    for (i, id) in env.snapshot_ids().iter().enumerate() {
        let target = env.path(&format!("r{i}.db"));
        env.ok(&["restore", &id[..8], "--to", target.to_str().unwrap()]);
    }
    assert_eq!(dump(&db), dump(&env.path("r1.db")));
}

#[test]
fn init_takes_a_compression_level_and_refuses_a_bad_one() {
    let env = Env::new();
    let repo = env.path("level9");
    let repo = repo.to_str().unwrap();
    let bad = env.tresor(&["--repo", repo, "init", "--compression", "23"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(!std::path::Path::new(repo).join("config").exists());
    let out = env.json(&[
        "--repo",
        repo,
        "init",
        "--compression",
        "9",
        "--kdf-memory-mib",
        "8",
    ]);
    assert_eq!(out["compression"], 9);
    let db = env.path("app.db");
    rich_database(&db, 2_000);
    env.json(&["--repo", repo, "backup", db.to_str().unwrap()]);
    let target = env.path("restored.db");
    env.ok(&[
        "--repo",
        repo,
        "restore",
        "latest",
        "--to",
        target.to_str().unwrap(),
    ]);
    assert_eq!(dump(&db), dump(&target));
}

#[test]
fn parent_and_force_choose_what_a_backup_compares_with() {
    let env = Env::new();
    let db = env.path("app.db");
    rich_database(&db, 20_000);
    let path = db.to_str().unwrap();
    let first = env.json(&["backup", path]);
    let first_id = first["id"].as_str().unwrap().to_string();
    sql(&db, "UPDATE big SET name = 'a' WHERE id % 100 = 3;");
    env.json(&["backup", path]);
    sql(&db, "UPDATE big SET name = 'b' WHERE id % 100 = 5;");
    let big_changes = |v: &serde_json::Value| {
        v["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"]["name"] == "big")
            .unwrap()["changes"]
            .clone()
    };
    // against the latest: only the second round of updates
    let latest = env.json(&["backup", path]);
    assert_eq!(big_changes(&latest)["updated"], 200);
    // against the first: both rounds
    let against_first = env.json(&["backup", path, "--parent", &first_id[..8]]);
    assert_eq!(big_changes(&against_first)["updated"], 400);
    // no parent: a full backup, so no change counts
    let full = env.json(&["backup", path, "--force"]);
    assert!(big_changes(&full).is_null(), "{full}");
    let target = env.path("full.db");
    env.ok(&["restore", "latest", "--to", target.to_str().unwrap()]);
    assert_eq!(dump(&db), dump(&target));
    let out = env.tresor(&["backup", path, "--parent", "ffffffff"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ffffffff"), "{}", stderr(&out));
}

#[test]
fn selected_tables_groups_and_unknown_tables() {
    let env = Env::new();
    let db = env.path("app.db");
    rich_database(&db, 100);
    std::fs::write(
        env.path("tresor.toml"),
        format!(
            "[sources.app]\nurl = \"sqlite://{}\"\n[sources.app.groups]\nuser-data = [\"kv\", \"select\"]\n",
            db.display()
        ),
    )
    .unwrap();
    let s = env.json(&["backup", "app", "--group", "user-data"]);
    let names: Vec<&str> = s["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["select", "kv"]);
    assert_eq!(s["source"]["name"], "app");
    assert_eq!(s["partial"], true);

    let out = env.tresor(&["backup", db.to_str().unwrap(), "--tables", "nope"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    let out = env.tresor(&["backup", "app", "--group", "nope"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // a selection that matches nothing once made an empty snapshot
    let before = env.snapshot_ids().len();
    for args in [vec!["--tables", "nosuch*"], vec!["--exclude", "*"]] {
        let mut a = vec!["backup", db.to_str().unwrap()];
        a.extend(args);
        let out = env.tresor(&a);
        assert_eq!(out.status.code(), Some(3), "{a:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("matches no table"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(env.snapshot_ids().len(), before);
    let out = env.tresor(&[
        "restore",
        "latest",
        "--to",
        env.path("x.db").to_str().unwrap(),
        "--tables",
        "big",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn restore_into_data_needs_confirmation_and_takes_a_safety_snapshot() {
    let env = Env::new();
    let db = env.path("app.db");
    rich_database(&db, 1000);
    env.ok(&["backup", db.to_str().unwrap()]);
    sql(
        &db,
        "DELETE FROM big WHERE id > 10; UPDATE kv SET v = 'oops';",
    );
    let damaged = dump(&db);

    let dry = env.json(&[
        "restore",
        "latest",
        "--to",
        db.to_str().unwrap(),
        "--dry-run",
    ]);
    let big = dry["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"]["name"] == "big")
        .unwrap();
    assert_eq!(big["inserted"], 990);
    assert_eq!(big["unchanged"], 10);
    let kv = dry["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"]["name"] == "kv")
        .unwrap();
    assert_eq!(kv["updated"], 5);
    assert_eq!(dry["rehearsal"]["outcome"], "passed", "{dry}");
    assert_eq!(dump(&db), damaged, "a dry run changes nothing");

    let out = env.tresor(&["restore", "latest", "--to", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"));
    assert_eq!(dump(&db), damaged);

    let before = env.snapshot_ids().len();
    let out = env.json(&["restore", "latest", "--to", db.to_str().unwrap(), "--yes"]);
    let safety = out["safety_snapshot"].as_str().unwrap().to_string();
    assert_eq!(env.snapshot_ids().len(), before + 1);
    let s = env.json(&["show", &safety[..12]]);
    assert_eq!(s["trigger"], "pre-restore");
    // `latest` is still the backup, not the safety snapshot of the damage
    let latest = env.json(&["show", "latest"]);
    assert_ne!(latest["id"], s["id"]);
    assert_eq!(latest["trigger"], "manual");
    assert_eq!(env.json(&["show", "latest:safety"])["id"], s["id"]);
    // and listed apart from the backups
    let listing = env.ok(&["snapshots"]);
    let (backups_part, safety_part) = listing
        .split_once("safety snapshots (")
        .expect("a section for safety snapshots");
    assert!(!backups_part.contains(&safety_id_prefix(&s)), "{listing}");
    assert!(safety_part.contains(&safety_id_prefix(&s)), "{listing}");
    assert!(listing.contains("(1 backups, 1 safety)"), "{listing}");

    // retention keeps the safety snapshot unless told otherwise
    env.ok(&["forget", "--keep-last", "1"]);
    assert!(env.snapshot_ids().contains(&safety));

    // undo: restoring the safety snapshot brings back the damaged state
    env.ok(&[
        "restore",
        &safety[..12],
        "--to",
        db.to_str().unwrap(),
        "--yes",
        "--no-safety-snapshot",
    ]);
    let c = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM big", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 10);
}

#[test]
fn merge_mode_upserts_and_keeps_other_rows() {
    let env = Env::new();
    let db = env.path("app.db");
    rich_database(&db, 100);
    let id = env.json(&["backup", db.to_str().unwrap()])["id"]
        .as_str()
        .unwrap()[..12]
        .to_string();
    sql(
        &db,
        "UPDATE big SET name = 'local' WHERE id <= 5; INSERT INTO big VALUES (5000, 'only here', 1, 'x'); DELETE FROM big WHERE id = 50;",
    );
    env.ok(&[
        "restore",
        &id,
        "--to",
        db.to_str().unwrap(),
        "--tables",
        "big",
        "--mode",
        "merge",
        "--yes",
    ]);
    let c = rusqlite::Connection::open(&db).unwrap();
    let local: i64 = c
        .query_row("SELECT count(*) FROM big WHERE name = 'local'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let kept: i64 = c
        .query_row("SELECT count(*) FROM big WHERE id = 5000", [], |r| r.get(0))
        .unwrap();
    let back: i64 = c
        .query_row("SELECT count(*) FROM big WHERE id = 50", [], |r| r.get(0))
        .unwrap();
    assert_eq!((local, kept, back), (0, 1, 1));
    // a table without a key gets back the rows it lacks, duplicates and
    // NULLs counted, and keeps the one written since
    let bag = |c: &rusqlite::Connection| -> Vec<String> {
        c.prepare("SELECT quote(a) || ',' || quote(b) FROM \"no key\" ORDER BY 1")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    // as in the snapshot, with the row written since
    let mut want = bag(&c);
    want.push("'local',2".to_string());
    want.sort();
    assert!(want.contains(&"NULL,'x'".to_string()), "{want:?}");
    drop(c);
    sql(
        &db,
        "DELETE FROM \"no key\" WHERE rowid IN (SELECT rowid FROM \"no key\" WHERE a = 1 LIMIT 1); \
         DELETE FROM \"no key\" WHERE a IS NULL; INSERT INTO \"no key\" VALUES ('local', 2);",
    );
    for _ in 0..2 {
        env.ok(&[
            "restore",
            &id,
            "--to",
            db.to_str().unwrap(),
            "--tables",
            "no key",
            "--mode",
            "merge",
            "--yes",
        ]);
        let c = rusqlite::Connection::open(&db).unwrap();
        assert_eq!(bag(&c), want);
    }
}

#[test]
fn export_import_round_trip_and_damaged_archives() {
    let env = Env::new();
    let db = env.path("app.db");
    rich_database(&db, 2000);
    env.ok(&["backup", db.to_str().unwrap(), "--tag", "t1"]);
    for name in ["a.zip", "a.tar.zst"] {
        env.ok(&["export", "latest", "-o", env.path(name).to_str().unwrap()]);
    }
    // a fresh repository imports the archive and restores it identically
    let other = Env::new();
    let s = other.json(&["import", env.path("a.tar.zst").to_str().unwrap()]);
    assert_eq!(s["trigger"], "import");
    assert!(s["tags"].as_array().unwrap().iter().any(|t| t == "t1"));
    let restored = other.path("r.db");
    other.ok(&["restore", "latest", "--to", restored.to_str().unwrap()]);
    assert_eq!(dump(&db), dump(&restored));
    let s = other.json(&["import", env.path("a.zip").to_str().unwrap()]);
    assert_eq!(
        s["totals"]["rows"],
        other.json(&["show", "latest"])["totals"]["rows"]
    );

    // truncated and flipped archives are refused, and nothing is imported
    let before = other.snapshot_ids().len();
    let zip = std::fs::read(env.path("a.zip")).unwrap();
    std::fs::write(other.path("cut.zip"), &zip[..zip.len() / 2]).unwrap();
    let mut flipped = zip;
    let mid = flipped.len() / 3;
    flipped[mid] ^= 0x20;
    std::fs::write(other.path("flip.zip"), &flipped).unwrap();
    std::fs::write(other.path("junk.zip"), b"not an archive at all").unwrap();
    for bad in ["cut.zip", "flip.zip", "junk.zip"] {
        let out = other.tresor(&["import", other.path(bad).to_str().unwrap()]);
        assert!(
            matches!(out.status.code(), Some(2 | 6)),
            "{bad}: {:?} {}",
            out.status.code(),
            stderr(&out)
        );
        assert!(
            stderr(&out).starts_with("error: "),
            "{bad}: {}",
            stderr(&out)
        );
    }
    assert_eq!(other.snapshot_ids().len(), before);
    // an export never leaves a partial file under its name
    let out = env.tresor(&[
        "export",
        "ffff",
        "-o",
        env.path("none.zip").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(!env.path("none.zip").exists());
}

#[test]
fn keys_rotate_and_wrong_passwords_fail_cleanly() {
    let env = Env::new();
    std::fs::write(env.path("new-pass"), "second password\n").unwrap();
    env.ok(&[
        "key",
        "add",
        "--new-password-file",
        env.path("new-pass").to_str().unwrap(),
    ]);
    let keys = env.json(&["key", "list"]);
    assert_eq!(keys.as_array().unwrap().len(), 2);
    let out = env
        .command()
        .env("TRESOR_PASSWORD", "second password")
        .args(["snapshots"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env
        .command()
        .env("TRESOR_PASSWORD", "wrong")
        .args(["snapshots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("wrong\n"),
        "the password is not echoed"
    );
    let current = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["current"] == true)
        .unwrap();
    let out = env.tresor(&["key", "remove", &current["id"].as_str().unwrap()[..8]]);
    assert!(!out.status.success(), "removing the key in use is refused");
    let other = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["current"] == false)
        .unwrap();
    env.ok(&["key", "remove", &other["id"].as_str().unwrap()[..8]]);
}

#[test]
fn bad_input_gets_clear_errors_and_exit_codes() {
    let env = Env::new();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["backup", "ftp://nowhere/db"], 2, "no database engine"),
        (&["backup", "does-not-exist.db"], 3, ""),
        (&["restore", "zz", "--to", "x.db"], 2, "not a snapshot id"),
        (&["restore", "latest", "--to", "x.db"], 3, "no snapshots"),
        (&["show", "abcd"], 3, "no snapshot matches"),
        (
            &["backup", "x.db", "--tables", "[bad"],
            2,
            "invalid table pattern",
        ),
        (&["forget"], 2, "no retention rule"),
        (&["backup", "x.db", "-j", "0"], 2, "from 1 to 64"),
        (
            &["backup", "x.db", "-o", "allow-global-lock=true"],
            2,
            "sqlite backups take no option \"allow-global-lock\"",
        ),
        (
            &[
                "backup",
                "mysql://root@127.0.0.1/nodb",
                "-o",
                "allow-global-lok=true",
            ],
            2,
            "options of this engine: allow-global-lock=true|false",
        ),
        (
            &["forget", "--keep-within", "100000000000d"],
            2,
            "longer than 1000 years",
        ),
    ];
    for (args, code, text) in cases {
        let out = env.tresor(args);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(text), "{args:?}: {}", stderr(&out));
    }
    let out = env
        .command()
        .env_remove("TRESOR_PASSWORD")
        .args(["snapshots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("TRESOR_PASSWORD"), "{}", stderr(&out));
    let out = env
        .command()
        .env("TRESOR_REPOSITORY", env.path("nothing-here"))
        .args(["snapshots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = env.tresor(&["--json", "show", "abcd"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["exit_code"], 3);
    let url = "postgres://app:s3cr3t@127.0.0.1:1/db";
    let out = env.tresor(&["backup", url]);
    assert!(!stderr(&out).contains("s3cr3t"), "{}", stderr(&out));
}

#[test]
fn a_database_made_by_another_tool_restores_identically() {
    let env = Env::new();
    let db = env.path("babybuddy.db");
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/django_app.sql"
    ))
    .unwrap();
    let out = std::process::Command::new("sqlite3")
        .arg(&db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(script.as_bytes())?;
            c.wait_with_output()
        })
        .expect("the sqlite3 command-line tool is needed");
    assert!(out.status.success(), "{}", stderr(&out));
    env.ok(&["backup", db.to_str().unwrap()]);
    let restored = env.path("restored.db");
    env.ok(&["restore", "latest", "--to", restored.to_str().unwrap()]);
    assert_eq!(dump(&db), dump(&restored));
    integrity_ok(&restored);
    let hits: i64 = rusqlite::Connection::open(&restored)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM notes_search WHERE notes_search MATCH 'spat'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hits > 0, "the full-text index answers after the restore");
}

/// A dry run approved a restore that the commit then refused: restoring
/// `orders` alone into a database that lost a customer the orders
/// reference. The dry run now rehearses the restore and fails as the
/// restore would, naming why.
#[test]
fn a_dry_run_fails_when_the_restore_would_fail() {
    let env = Env::new();
    let db = env.path("shop.db");
    sql(
        &db,
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE orders (id INTEGER PRIMARY KEY,
                              customer_id INTEGER NOT NULL REFERENCES customers(id));
         INSERT INTO customers VALUES (1, 'ada'), (2, 'grace');
         INSERT INTO orders VALUES (10, 1), (11, 2);",
    );
    env.ok(&["backup", db.to_str().unwrap()]);
    sql(
        &db,
        "DELETE FROM orders WHERE customer_id = 2; DELETE FROM customers WHERE id = 2;",
    );
    let before = dump(&db);
    let args = [
        "restore",
        "latest",
        "--to",
        db.to_str().unwrap(),
        "--tables",
        "orders",
        "--dry-run",
    ];
    let out = env.tresor(&args);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(5), "{text}{}", stderr(&out));
    assert!(text.contains("the restore would fail"), "{text}");
    assert!(text.contains("foreign key"), "{text}");
    let mut json_args = vec!["--json"];
    json_args.extend_from_slice(&args);
    let out = env.tresor(&json_args);
    assert_eq!(out.status.code(), Some(5));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rehearsal"]["outcome"], "failed");
    assert!(
        v["rehearsal"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("foreign key")
    );
    assert_eq!(dump(&db), before, "nothing was changed");
    let out = env.tresor(&[
        "restore",
        "latest",
        "--to",
        db.to_str().unwrap(),
        "--tables",
        "orders",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(dump(&db), before);
    // and the failed restore left no safety snapshot
    assert_eq!(env.snapshot_ids().len(), 1);
}

fn safety_id_prefix(snapshot: &serde_json::Value) -> String {
    snapshot["id"].as_str().unwrap_or_default()[..8].to_string()
}

/// A restore into a database that does not exist yet says it creates it,
/// before anything happens.
#[test]
fn a_missing_target_database_is_named_in_the_dry_run() {
    let env = Env::new();
    super::support::sql(
        &env.path("app.db"),
        "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);",
    );
    env.ok(&["backup", "app.db"]);
    let out = env.ok(&["restore", "latest", "--to", "new.db", "--dry-run"]);
    assert!(
        out.contains("the target database does not exist yet: the restore creates it"),
        "{out}"
    );
    assert!(!env.path("new.db").exists(), "a dry run creates nothing");
    let json = env.json(&["restore", "latest", "--to", "new.db", "--dry-run"]);
    assert_eq!(json["creates_database"], true, "{json}");
    let json = env.json(&["restore", "latest", "--to", "app.db", "--dry-run"]);
    assert!(json.get("creates_database").is_none(), "{json}");
}

/// An export to a place that cannot take it says which, with the exit
/// code of its kind, and leaves nothing behind.
#[test]
fn export_to_an_unusable_path_fails_with_its_own_exit_code() {
    let env = Env::new();
    sql(
        &env.path("app.db"),
        "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);",
    );
    env.ok(&["backup", "app.db"]);
    let missing = env.tresor(&["export", "latest", "-o", "no/such/dir/out.zip"]);
    assert_eq!(missing.status.code(), Some(3), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("does not exist"),
        "{}",
        stderr(&missing)
    );
    std::fs::write(env.path("a-file"), b"x").unwrap();
    let not_dir = env.tresor(&["export", "latest", "-o", "a-file/out.zip"]);
    assert_eq!(not_dir.status.code(), Some(2), "{}", stderr(&not_dir));
    assert!(
        stderr(&not_dir).contains("try: give -o"),
        "{}",
        stderr(&not_dir)
    );
}

/// Repository files, key files first, are for their owner only.
#[test]
fn repository_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    sql(
        &env.path("app.db"),
        "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);",
    );
    env.ok(&["backup", "app.db"]);
    let mut seen = 0;
    for dir in ["keys", "snapshots", "index", "data"] {
        for f in files_under(&env.repo().join(dir)) {
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}: {mode:o}", f.display());
            seen += 1;
        }
    }
    let config = std::fs::metadata(env.repo().join("config")).unwrap();
    assert_eq!(config.permissions().mode() & 0o777, 0o600);
    assert!(seen >= 4, "{seen} files");
}

/// A snapshot of an empty database restores nothing and says why, for a
/// restore and a drill alike, instead of blaming a table selection.
#[test]
fn a_snapshot_of_an_empty_database_says_there_is_nothing_to_restore() {
    let env = Env::new();
    let db = env.path("empty.db");
    sql(&db, "PRAGMA user_version = 1;");
    env.ok(&["backup", db.to_str().unwrap()]);
    let target = format!("sqlite://{}", env.path("restored.db").display());
    for args in [
        &["restore", "latest", "--to", target.as_str(), "--yes"][..],
        &["drill", "latest"][..],
    ] {
        let out = env.tresor(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("holds no table (the database was empty"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert!(!env.path("restored.db").exists());
}

/// `tresor snapshots | head -1`: a reader that goes away is no error. The
/// command used to panic ("failed printing to stdout: Broken pipe", exit
/// 101); it now ends as it would have, and a restore whose report nobody
/// reads still restores.
#[test]
fn a_reader_that_goes_away_is_no_error() {
    use std::process::Stdio;
    let env = Env::new();
    let db = env.path("app.db");
    rich_database(&db, 200);
    let url = db.to_str().expect("path");
    env.ok(&["backup", url]);
    sql(&db, "UPDATE big SET name = 'changed' WHERE id % 10 = 3");
    env.ok(&["backup", url]);
    let ids = env.snapshot_ids();
    let closed = |args: &[&str]| {
        let mut child = env
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tresor");
        // the reader goes away before anything is printed
        drop(child.stdout.take());
        child.wait_with_output().expect("tresor")
    };
    for args in [
        vec!["snapshots"],
        vec!["--json", "snapshots"],
        vec!["diff", ids[0].as_str(), ids[1].as_str(), "--rows"],
        vec!["show", "latest"],
    ] {
        let out = closed(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !err.contains("panicked"),
            "{args:?}: {:?}\n{err}",
            out.status.code()
        );
    }
    // an archive cut short is an error, and only the one: the unfinished
    // ZIP is not finished on its way out (which printed its own failure)
    for format in ["zip", "tar-zst"] {
        let out = closed(&["export", "latest", "-o", "-", "--format", format]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(8), "{format}: {err}");
        assert!(
            err.contains("error: cannot write archive") && !err.contains("ZipWriter"),
            "{format}: {err}"
        );
    }
    sql(&db, "DELETE FROM big WHERE id <= 10");
    let out = closed(&["restore", "latest", "--to", url, "--yes"]);
    assert!(
        out.status.success(),
        "{:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let back: i64 = rusqlite::Connection::open(&db)
        .expect("db")
        .query_row("SELECT count(*) FROM big WHERE id <= 10", [], |r| r.get(0))
        .expect("count");
    assert_eq!(
        back, 10,
        "the restore whose report nobody read did not restore"
    );
}

/// The runbook's undo (`restore latest:safety`) after a restore into a
/// table that was empty: the safety snapshot keeps the empty table, so the
/// undo empties it again and leaves the other tables' later work alone.
/// It used to take no safety snapshot at all, so `latest:safety` was an
/// earlier restore's and the undo put back that restore's tables instead.
/// A restore that made the table prints how to undo it instead.
#[test]
fn the_undo_of_a_restore_into_an_empty_table_empties_it_again() {
    let env = Env::new();
    let db = env.path("u.db");
    let url = db.to_str().expect("path");
    let read = |sql: &str| -> String {
        rusqlite::Connection::open(&db)
            .expect("db")
            .query_row(sql, [], |r| r.get::<_, String>(0))
            .expect("read")
    };
    sql(
        &db,
        "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);
         CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO a VALUES (1, 'a1'); INSERT INTO b VALUES (1, 'b1');",
    );
    env.ok(&["backup", url]);
    let latest = format!("latest:{url}");
    sql(&db, "UPDATE a SET v = 'a-changed'");
    env.ok(&["restore", &latest, "--to", url, "--tables", "a", "--yes"]);
    sql(&db, "UPDATE a SET v = 'a-new-work'; DELETE FROM b;");
    let out = env.ok(&["restore", &latest, "--to", url, "--tables", "b", "--yes"]);
    assert!(out.contains("undo with: tresor restore "), "{out}");
    assert_eq!(read("SELECT v FROM b"), "b1");
    env.ok(&["restore", "latest:safety", "--to", url, "--yes"]);
    assert_eq!(
        read("SELECT v FROM a"),
        "a-new-work",
        "the undo put back an earlier restore's table"
    );
    assert_eq!(
        read("SELECT count(*) || '' FROM b"),
        "0",
        "the undo left the restored rows in a table that was empty"
    );
    sql(&db, "DROP TABLE b");
    let out = env.ok(&["restore", &latest, "--to", url, "--tables", "b", "--yes"]);
    assert!(
        out.contains("no safety snapshot: the target had none of the restored tables, this restore made them (b)"),
        "{out}"
    );
}

/// `latest:SOURCE` names a database however its URL is spelled: a SQLite
/// file by its path, as `sqlite:///path` or `sqlite:////path` (as
/// SQLAlchemy writes it), and PostgreSQL with `postgresql://` or the
/// default port left out. Only the spelling the backup used matched
/// (`no backup of source ...`, exit 3).
#[test]
fn latest_names_a_source_however_its_url_is_spelled() {
    let env = Env::new();
    let db = env.path("app.db");
    rich_database(&db, 20);
    let path = db.to_str().expect("path");
    env.ok(&["backup", &format!("sqlite:///{path}")]);
    let id = env.snapshot_ids()[0].clone();
    for spelling in [
        path.to_string(),
        format!("sqlite://{path}"),
        format!("sqlite:///{path}"),
        "app.db".to_string(),
    ] {
        let shown = env.json(&["show", &format!("latest:{spelling}")]);
        assert_eq!(shown["id"], id.as_str(), "{spelling}");
    }
    let out = env.tresor(&["show", "latest:other.db"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let pg = super::disasters::Db::create(super::disasters::Kind::Postgres, env.dir.path());
    pg.exec("CREATE TABLE t (id int PRIMARY KEY)");
    let url = pg.url();
    assert!(
        url.starts_with("postgres://") && url.contains(":5432/"),
        "{url}"
    );
    env.ok(&["backup", &url]);
    let spelled = url
        .replacen("postgres://", "postgresql://", 1)
        .replacen(":5432/", "/", 1);
    let shown = env.json(&["show", &format!("latest:{spelled}")]);
    assert_eq!(shown["source"]["url"], url.as_str());
    let backup = shown["id"].clone();
    // a restore through the other spelling records its safety snapshot
    // under it: latest:SPELLING is still the backup, and the safety
    // snapshot is found through either spelling
    pg.exec("INSERT INTO t VALUES (1)");
    env.ok(&[
        "restore",
        &format!("latest:{url}"),
        "--to",
        &spelled,
        "--yes",
    ]);
    for spelling in [&url, &spelled] {
        let shown = env.json(&["show", &format!("latest:{spelling}")]);
        assert_eq!(shown["id"], backup, "{spelling}");
        let safety = env.json(&["show", &format!("latest:safety:{spelling}")]);
        assert_eq!(safety["trigger"], "pre-restore", "{spelling}: {safety}");
    }
}

/// A URL with a password names the same database as one without, and the
/// password is never printed: `latest:URL` and `snapshots --source URL`
/// found only the backups spelled the same way (an older snapshot was
/// restored), and the `undo with:` line after a restore repeated the
/// target's URL with its password.
#[test]
fn a_password_in_a_url_is_the_same_database_and_never_printed() {
    let env = Env::new();
    let pg = super::disasters::Db::create(super::disasters::Kind::Postgres, env.dir.path());
    pg.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)");
    let url = pg.url();
    // the test server trusts its clients: the password is not checked
    let secret = "S3cretPW";
    let with = url.replacen("postgres@", &format!("postgres:{secret}@"), 1);
    env.ok(&["backup", &url]);
    pg.exec("INSERT INTO t VALUES (2)");
    env.ok(&["backup", &with]);
    let newest = env.snapshot_ids().pop().expect("two backups");
    for spelling in [&url, &with] {
        let shown = env.json(&["show", &format!("latest:{spelling}")]);
        assert_eq!(shown["id"], newest.as_str(), "{spelling}");
        let listed = env.json(&["snapshots", "--source", spelling]);
        assert_eq!(
            listed.as_array().map(Vec::len),
            Some(2),
            "{spelling}: {listed}"
        );
    }
    pg.exec("DELETE FROM t");
    let latest = format!("latest:{url}");
    for args in [
        vec!["restore", &latest, "--to", &with, "--dry-run"],
        vec!["restore", &latest, "--to", &with, "--yes"],
        vec!["undo", "--to", &with, "--dry-run"],
        vec!["diff", &latest, "--live", &with],
        vec!["drill", &latest],
        vec!["snapshots"],
    ] {
        let out = env.tresor(&args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!text.contains(secret), "{args:?}:\n{text}");
        if args[0] == "restore" && args[4] == "--yes" {
            assert!(out.status.success(), "{text}");
            assert!(text.contains("undo with: tresor restore"), "{text}");
        }
    }
    assert_eq!(pg.query("SELECT count(*) FROM t"), "2");
}

/// A snapshot records its source without its password. A drill of it on
/// the source's server tried the redacted URL and failed with "check the
/// user name and password in the url", though the user gave none. It now
/// tries without a password, and where the server wants one says what to
/// give instead; the password is never printed.
#[test]
fn a_drill_of_a_source_backed_up_with_a_password_says_what_to_give() {
    let env = Env::new();
    let db = super::disasters::Db::create(super::disasters::Kind::Mariadb, env.dir.path());
    let user = format!("dr_{}", std::process::id());
    let secret = "S3cretPW";
    let admin = |sql: &str| {
        let out = std::process::Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-u", "root", "-e", sql])
            .output()
            .expect("mariadb runs");
        assert!(out.status.success(), "{sql}: {}", stderr(&out));
    };
    admin(&format!(
        "DROP USER IF EXISTS '{user}'@'%'; CREATE USER '{user}'@'%' IDENTIFIED BY '{secret}'; \
         GRANT ALL ON *.* TO '{user}'@'%'"
    ));
    db.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)");
    let with = db.url().replacen("root@", &format!("{user}:{secret}@"), 1);
    env.ok(&["backup", &with, "--quiet"]);
    let out = env.tresor(&["drill", "latest"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(7), "{text}");
    assert!(
        text.contains("records its source without its password"),
        "{text}"
    );
    assert!(text.contains("--target URL"), "{text}");
    assert!(!text.contains(secret), "{text}");
    // a scratch database given with its password is drilled
    let scratch_db = format!("{}_scratch", db.name());
    let scratch = with.replacen(db.name(), &scratch_db, 1);
    let out = env.tresor(&["drill", "latest", "--target", &scratch]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    admin(&format!(
        "DROP USER IF EXISTS '{user}'@'%'; DROP DATABASE IF EXISTS {scratch_db}"
    ));
    assert!(out.status.success(), "{text}");
    assert!(!text.contains(secret), "{text}");
}
