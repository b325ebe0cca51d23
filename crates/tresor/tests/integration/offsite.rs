//! `tresor copy --offsite NAME`: the config's offsite repository brought up
//! to date from the primary, as the server does after each backup: only
//! its sources, its own password (never TRESOR_PASSWORD), its retention,
//! and a copy its retention removed is not sent again.

use super::support::{Env, PASSWORD, dump, sql, stderr};

const FAR_PASSWORD: &str = "the far password";

#[test]
fn copy_offsite_follows_the_config() {
    let env = Env::new();
    let db = env.path("app.db");
    let other = env.path("other.db");
    sql(
        &db,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a');",
    );
    sql(
        &other,
        "CREATE TABLE o (id INTEGER PRIMARY KEY); INSERT INTO o VALUES (1);",
    );
    let far = env.path("far");
    std::fs::write(env.path("far-password"), FAR_PASSWORD).unwrap();
    let config = env.path("tresor.toml");
    std::fs::write(
        &config,
        format!(
            "[sources.app]\nurl = \"sqlite://{}\"\n[sources.other]\nurl = \"sqlite://{}\"\n\
             [offsite.far]\nsources = [\"app\"]\n[offsite.far.repository]\nurl = \"{}\"\npassword-file = \"{}\"\n\
             [offsite.far.retention]\nkeep-last = 2\n",
            db.display(),
            other.display(),
            far.display(),
            env.path("far-password").display()
        ),
    )
    .unwrap();
    let with_config = |args: &[&str]| {
        let mut c = env.command();
        c.env("TRESOR_CONFIG", &config).args(args);
        c.output().unwrap()
    };
    let ok = |args: &[&str]| {
        let out = with_config(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // the offsite repository, made with its own password
    let mut init = env.command();
    init.env("TRESOR_REPOSITORY", &far)
        .env("TRESOR_PASSWORD", FAR_PASSWORD)
        .args(["init", "--kdf-memory-mib", "8"]);
    assert!(init.output().unwrap().status.success());

    for i in 0..3 {
        sql(&db, &format!("INSERT INTO t VALUES ({}, 'x')", i + 10));
        ok(&["backup", "app"]);
    }
    ok(&["backup", "other"]);
    let dry = ok(&["copy", "--offsite", "far", "--dry-run"]);
    assert!(
        dry.contains("2 snapshots would be copied to far, which holds 0"),
        "keep-last 2 of app only: {dry}"
    );
    let out = ok(&["copy", "--offsite", "far"]);
    assert!(out.contains("far: 2 snapshots copied"), "{out}");
    let again = ok(&["copy", "--offsite", "far"]);
    assert!(again.contains("far: 0 snapshots copied"), "{again}");

    // the copies are the newest two of app, under the same ids, and restore
    let home: Vec<serde_json::Value> =
        serde_json::from_str(&ok(&["snapshots", "--json", "--source", "app"])).unwrap();
    let mut far_cmd = env.command();
    far_cmd
        .env("TRESOR_REPOSITORY", &far)
        .env("TRESOR_PASSWORD", FAR_PASSWORD)
        .args(["snapshots", "--json"]);
    let there: Vec<serde_json::Value> =
        serde_json::from_slice(&far_cmd.output().unwrap().stdout).unwrap();
    let ids = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let mut home = ids(&home);
    let mut there = ids(&there);
    home.sort();
    there.sort();
    assert_eq!(there.len(), 2, "{there:?}");
    for id in &there {
        assert!(home.contains(id), "{id} is one of app's");
    }
    let restored = env.path("restored.db");
    let mut restore = env.command();
    restore
        .env("TRESOR_REPOSITORY", &far)
        .env("TRESOR_PASSWORD", FAR_PASSWORD)
        .args([
            "restore",
            "latest",
            "--to",
            restored.to_str().unwrap(),
            "--yes",
        ]);
    let out = restore.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(dump(&restored), dump(&db));

    // (TRESOR_PASSWORD, the primary's, was set all along: the offsite
    // repository took its own password-file.) A wrong one is refused,
    // naming the offsite repository
    std::fs::write(env.path("far-password"), PASSWORD).unwrap();
    let out = with_config(&["copy", "--offsite", "far"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("offsite repository far"),
        "{}",
        stderr(&out)
    );
    let out = with_config(&["copy", "--offsite", "nowhere"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("configured: far"), "{}", stderr(&out));
}
