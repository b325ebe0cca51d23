//! `tresor drill`: a snapshot restored into a scratch database of its own
//! engine, compared table by table, and the scratch database dropped.

use super::disasters::{Db, Kind};
use super::support::{Env, stderr};

fn drills_pass_and_leave_nothing(kind: Kind) {
    let env = Env::new();
    let db = Db::create(kind, env.dir.path());
    db.fill();
    let url = db.url();
    env.ok(&["backup", &url, "--quiet"]);
    let report = env.json(&["drill", &format!("latest:{url}")]);
    assert_eq!(report["ok"], true, "{report}");
    let tables = report["tables"].as_array().expect("tables");
    assert_eq!(tables.len(), 17, "{report}");
    assert!(tables.iter().all(|t| t["ok"] == true), "{report}");
    assert!(report["restore_seconds"].as_f64().is_some());
    let scratch = report["scratch"].as_str().expect("scratch").to_string();
    assert!(scratch.contains("tresor_drill_"), "{scratch}");
    // the scratch database is gone
    let out = env.tresor(&["restore", "latest", "--to", &scratch, "--dry-run"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        !text
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some("replace")),
        "the scratch database {scratch} still holds tables:\n{text}"
    );
    // a target that holds tables is never a scratch database
    let out = env.tresor(&["drill", &format!("latest:{url}"), "--target", &url]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("holds tables"), "{}", stderr(&out));
}

#[test]
fn postgres_drill() {
    drills_pass_and_leave_nothing(Kind::Postgres);
}

#[test]
fn mariadb_drill() {
    drills_pass_and_leave_nothing(Kind::Mariadb);
}

#[test]
fn sqlite_drill() {
    drills_pass_and_leave_nothing(Kind::Sqlite);
}

/// A snapshot whose data was damaged in the repository fails its drill,
/// naming what could not be restored, and leaves no scratch database.
#[test]
fn a_damaged_snapshot_fails_its_drill() {
    let env = Env::new();
    let db = Db::create(Kind::Sqlite, env.dir.path());
    db.fill();
    let url = db.url();
    env.ok(&["backup", &url, "--quiet"]);
    for pack in env.packs() {
        let mut bytes = std::fs::read(&pack).expect("pack");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&pack, bytes).expect("write");
    }
    let out = env.tresor(&["drill", &format!("latest:{url}")]);
    assert!(!out.status.success(), "a damaged snapshot passed its drill");
    let err = stderr(&out);
    assert!(err.contains("damaged") || err.contains("corrupt"), "{err}");
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("tmp")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.path()
                .to_string_lossy()
                .contains(&format!("tresor_drill_{}", std::process::id()))
        })
        .collect();
    assert!(left.is_empty());
}
