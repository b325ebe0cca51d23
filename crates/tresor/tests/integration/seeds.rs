//! The backup scripts tresor replaces, walked through the CLI the way their
//! users ran them: the wine-pairing app (a user-data group kept five deep
//! apart from the full backups, deploys that never overwrite user data)
//! and the shop (a backup with a reason before every risky step, the last
//! fifteen kept, restore latest in an emergency).

use std::collections::BTreeMap;

use serde_json::Value;

use super::disasters::{Db, Kind};
use super::support::{Env, sql, stderr};

/// The wine app's user data: seven collections that a deploy must never
/// overwrite.
const USER_DATA: [&str; 7] = [
    "users",
    "wines",
    "pairings",
    "chats",
    "wine_favorites",
    "user_sessions",
    "payment_transactions",
];

fn wine_schema(db: &std::path::Path, with_sessions: bool) {
    let mut script = String::from(
        "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT UNIQUE NOT NULL, password_hash TEXT, subscription TEXT);
         CREATE TABLE wines (id TEXT PRIMARY KEY, user_id TEXT REFERENCES users(id), name TEXT, vintage INTEGER, grape TEXT);
         CREATE TABLE pairings (id TEXT PRIMARY KEY, user_id TEXT REFERENCES users(id), dish TEXT, wine TEXT, created_at TEXT);
         CREATE TABLE chats (id TEXT PRIMARY KEY, user_id TEXT REFERENCES users(id), messages TEXT);
         CREATE TABLE wine_favorites (user_id TEXT REFERENCES users(id), wine_id TEXT REFERENCES wines(id), PRIMARY KEY (user_id, wine_id));
         CREATE TABLE payment_transactions (id TEXT PRIMARY KEY, user_id TEXT REFERENCES users(id), amount_cents INTEGER, status TEXT);
         CREATE TABLE grape_varieties (name TEXT PRIMARY KEY, color TEXT);
         CREATE TABLE regions (id INTEGER PRIMARY KEY, name TEXT);",
    );
    if with_sessions {
        script.push_str(
            "CREATE TABLE user_sessions (token TEXT PRIMARY KEY, user_id TEXT REFERENCES users(id), expires_at TEXT);",
        );
    }
    sql(db, &script);
}

fn wine_data(db: &std::path::Path, users: u32) {
    let mut script = String::from("BEGIN;");
    for u in 1..=users {
        script.push_str(&format!(
            "INSERT INTO users VALUES ('u{u}', 'user{u}@example.com', '$argon2id$v=19$hash{u}', 'premium');
             INSERT INTO wines VALUES ('w{u}', 'u{u}', 'Riesling Spätlese {u}', {}, 'Riesling');
             INSERT INTO pairings VALUES ('p{u}', 'u{u}', 'Forelle blau', 'w{u}', '2026-11-0{}T19:00:00Z');
             INSERT INTO chats VALUES ('c{u}', 'u{u}', '[{{\"role\":\"user\",\"text\":\"Was passt zu Käse?\"}}]');
             INSERT INTO wine_favorites VALUES ('u{u}', 'w{u}');
             INSERT INTO user_sessions VALUES ('t{u}', 'u{u}', '2027-01-01');
             INSERT INTO payment_transactions VALUES ('pay{u}', 'u{u}', 999, 'paid');",
            2000 + u,
            u % 9 + 1
        ));
    }
    script.push_str(
        "INSERT INTO grape_varieties VALUES ('Riesling', 'white'), ('Spätburgunder', 'red');
         INSERT INTO regions VALUES (1, 'Mosel'), (2, 'Rheingau');
         COMMIT;",
    );
    sql(db, &script);
}

fn count(db: &std::path::Path, table: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Snapshots per series (`full`, the group, or `tables a, b` for another
/// selection of tables), from `tresor snapshots`.
fn series(env: &Env) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for s in env.json(&["snapshots"]).as_array().unwrap() {
        if s["trigger"] != "manual" {
            continue;
        }
        let group = s["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find_map(|t| t.strip_prefix("group:"));
        let key = match group {
            Some(g) => g.to_string(),
            None if s["partial"] == true => {
                let mut tables: Vec<&str> = s["tables"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["name"]["name"].as_str().unwrap())
                    .collect();
                tables.sort_unstable();
                format!("tables {}", tables.join(", "))
            }
            None => "full".to_string(),
        };
        out.entry(key).or_default().push(s.clone());
    }
    out
}

#[test]
fn wine_app_keeps_user_data_apart_and_deploys_never_overwrite_it() {
    let env = Env::new();
    let live = env.path("wine.db");
    wine_schema(&live, true);
    wine_data(&live, 12);
    let url = format!("sqlite://{}", live.display());
    std::fs::write(
        env.path("tresor.toml"),
        format!(
            "[sources.wine]\nurl = {url:?}\napp-version = \"2.4.0\"\n\n\
             [sources.wine.groups]\nuser-data = {:?}\n\n\
             [sources.wine.retention]\nkeep-last = 2\n\n\
             [sources.wine.retention.groups.user-data]\nkeep-last = 5\n",
            USER_DATA
        ),
    )
    .unwrap();

    // POST /api/backup/create?user_data_only=false, then the quick
    // user-data-only backups before each deploy
    env.ok(&["backup", "wine", "--reason", "full"]);
    for i in 0..7 {
        sql(
            &live,
            &format!(
                "INSERT INTO pairings VALUES ('extra{i}', 'u1', 'Käsespätzle', 'w1', '2026-12-01')"
            ),
        );
        let out = env.ok(&[
            "backup",
            "wine",
            "--group",
            "user-data",
            "--reason",
            "deploy",
        ]);
        if i >= 5 {
            assert!(
                out.contains("retention removed 1 older snapshot(s) of wine"),
                "{out}"
            );
        }
    }
    let s = series(&env);
    assert_eq!(s["user-data"].len(), 5, "max. 5 user-data backups: {s:#?}");
    assert_eq!(
        s["full"].len(),
        1,
        "the user-data count must never remove the full backup"
    );
    for snap in &s["user-data"] {
        let tables = snap["tables"].as_array().map_or(0, Vec::len);
        assert_eq!(tables, 7, "a user-data backup holds the 7 collections");
    }

    // a backup by URL or by path of the same file is the wine source's
    env.ok(&["backup", &url, "--reason", "by url"]);
    env.ok(&["backup", "wine.db", "--reason", "by path"]);
    let s = series(&env);
    assert_eq!(s["full"].len(), 2, "keep-last 2 for full backups: {s:#?}");
    assert!(
        s["full"].iter().all(|x| x["source"]["name"] == "wine"),
        "backups by URL are filed under the source: {s:#?}"
    );
    assert_eq!(s["user-data"].len(), 5);
    // the configured rules again, by hand: nothing more to remove
    let f = env.json(&["forget", "--dry-run"]);
    assert_eq!(f["removed"].as_array().unwrap().len(), 0, "{f}");
    assert!(f["groups"]["wine (group user-data)"].is_array(), "{f}");

    // the first deploy on a new machine: the app's migrations made the
    // tables (user_sessions not yet) and seeded the catalog anew
    let deployed = env.path("deployed.db");
    wine_schema(&deployed, false);
    sql(
        &deployed,
        "INSERT INTO grape_varieties VALUES ('Riesling', 'white'), ('Silvaner', 'white'), ('Dornfelder', 'red');",
    );
    let target = format!("sqlite://{}", deployed.display());
    let dry = env.ok(&[
        "restore",
        "latest:wine",
        "--to",
        &target,
        "--only-missing",
        "--dry-run",
    ]);
    assert!(
        dry.contains("left alone (they hold data, --only-missing): grape_varieties (3 rows)"),
        "{dry}"
    );
    assert!(dry.contains("every check passed"), "{dry}");
    // from a deploy script: no terminal, no --yes
    let out = env.ok(&["restore", "latest:wine", "--to", &target, "--only-missing"]);
    assert!(out.contains("left alone"), "{out}");
    assert_eq!(
        count(&deployed, "grape_varieties"),
        3,
        "the new catalog stays"
    );
    assert_eq!(count(&deployed, "users"), 12);
    assert_eq!(count(&deployed, "wines"), 12);
    assert_eq!(
        count(&deployed, "user_sessions"),
        12,
        "a missing table is made"
    );
    assert_eq!(count(&deployed, "pairings"), 19);
    assert_eq!(count(&deployed, "regions"), 2, "an empty table is filled");
    // users sign up; the next deploy touches none of their data
    sql(
        &deployed,
        "INSERT INTO users VALUES ('u13', 'new@example.com', 'x', 'free');
         DELETE FROM user_sessions WHERE token = 't1';",
    );
    let again = env.ok(&["restore", "latest:wine", "--to", &target, "--only-missing"]);
    assert!(again.contains("0 tables, 0 rows"), "{again}");
    assert_eq!(count(&deployed, "users"), 13);
    assert_eq!(count(&deployed, "user_sessions"), 11);

    // every backup recorded the app version; a deploy of another version
    // is told, and a strict deploy script refuses
    let shown = env.ok(&["show", "latest:wine"]);
    assert!(shown.contains("2.4.0"), "{shown}");
    let deploy_of_2_5 = [
        "restore",
        "latest:wine",
        "--to",
        &target,
        "--only-missing",
        "--app-version",
        "2.5.0",
    ];
    let newer = env.ok(&[&deploy_of_2_5[..], &["--dry-run"]].concat());
    assert!(
        newer.contains(
            "warning: the snapshot was taken by application version 2.4.0; the target runs 2.5.0"
        ),
        "{newer}"
    );
    let strict = env.tresor(&[&deploy_of_2_5[..], &["--require-same-app-version"]].concat());
    assert_eq!(strict.status.code(), Some(2), "{}", stderr(&strict));
    assert!(
        stderr(&strict).contains("application version 2.4.0"),
        "{}",
        stderr(&strict)
    );

    // restore_from_backup(restore_user_data=True): the user-data group of
    // the newest user-data backup, over the deployed database
    let newest_user_data = s["user-data"].last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let group_restore = [
        "restore",
        &newest_user_data,
        "--to",
        &target,
        "--group",
        "user-data",
    ];
    let refused = env.tresor(&group_restore);
    assert_eq!(refused.status.code(), Some(5), "overwriting asks first");
    env.ok(&[&group_restore[..], &["--yes"]].concat());
    assert_eq!(count(&deployed, "users"), 12);
    assert_eq!(count(&deployed, "user_sessions"), 12);
    assert_eq!(count(&deployed, "grape_varieties"), 3, "not in the group");
    let unknown = env.tresor(&["restore", "latest:wine", "--to", &target, "--group", "nope"]);
    assert_eq!(unknown.status.code(), Some(3), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("user-data (wine)"),
        "{}",
        stderr(&unknown)
    );

    // the current users.json & co: an export of the group
    let e = env.json(&[
        "export",
        "latest:wine",
        "-o",
        "user-data.zip",
        "--group",
        "user-data",
    ]);
    let exported: Vec<&str> = e["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[0]["name"].as_str().unwrap())
        .collect();
    let mut expected = USER_DATA.to_vec();
    expected.sort_unstable();
    let mut got = exported.clone();
    got.sort_unstable();
    assert_eq!(got, expected);
}

/// Ids per series, oldest first.
fn series_ids(env: &Env) -> BTreeMap<String, Vec<String>> {
    series(env)
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
            let ids = v
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
                .collect();
            (k, ids)
        })
        .collect()
}

/// Backups taken with `--no-retention` pile up; `tresor forget` without a
/// rule then applies the configured ones series by series, removing
/// exactly the oldest snapshots past each series' count and no other. A
/// selection of tables that is no group is a series of its own.
#[test]
fn forget_without_rules_removes_the_excess_of_each_series() {
    let env = Env::new();
    let live = env.path("wine.db");
    wine_schema(&live, true);
    wine_data(&live, 3);
    std::fs::write(
        env.path("tresor.toml"),
        format!(
            "[sources.wine]\nurl = {:?}\n\n\
             [sources.wine.groups]\nuser-data = {:?}\n\n\
             [sources.wine.retention]\nkeep-last = 2\n\n\
             [sources.wine.retention.groups.user-data]\nkeep-last = 3\n",
            format!("sqlite://{}", live.display()),
            USER_DATA
        ),
    )
    .unwrap();
    for _ in 0..5 {
        env.ok(&["backup", "wine", "--no-retention"]);
    }
    for _ in 0..4 {
        env.ok(&["backup", "wine", "--group", "user-data", "--no-retention"]);
    }
    let before = series_ids(&env);
    assert_eq!(before["full"].len(), 5, "{before:#?}");
    assert_eq!(before["user-data"].len(), 4, "{before:#?}");

    let f = env.json(&["forget"]);
    let mut removed: Vec<String> = f["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    removed.sort();
    let mut expected: Vec<String> = before["full"][..3]
        .iter()
        .chain(&before["user-data"][..1])
        .cloned()
        .collect();
    expected.sort();
    assert_eq!(removed, expected, "the oldest 3 full and 1 user-data: {f}");
    let after = series_ids(&env);
    assert_eq!(after["full"], before["full"][3..], "{after:#?}");
    assert_eq!(after["user-data"], before["user-data"][1..], "{after:#?}");
    // nothing more to do
    let again = env.json(&["forget"]);
    assert_eq!(
        again["removed"].as_array().map(Vec::len),
        Some(0),
        "{again}"
    );

    // backups of one table, which is no group, are a series of their own:
    // three of them under keep-last 2 leave the full backups alone
    for _ in 0..3 {
        env.ok(&["backup", "wine", "--tables", "regions"]);
    }
    let s = series_ids(&env);
    assert_eq!(s["full"], after["full"], "{s:#?}");
    assert_eq!(s["tables regions"].len(), 2, "{s:#?}");
    assert_eq!(s["user-data"], after["user-data"], "{s:#?}");
    let f = env.json(&["forget", "--dry-run"]);
    assert!(f["groups"]["wine (tables regions)"].is_array(), "{f}");
}

#[test]
fn shop_keeps_fifteen_reasoned_backups_and_restores_latest_in_an_emergency() {
    let env = Env::new();
    let db = Db::create(Kind::Postgres, env.dir.path());
    db.fill();
    std::fs::write(
        env.path("tresor.toml"),
        format!(
            "[sources.shop]\nurl = {:?}\n\n[sources.shop.retention]\nkeep-last = 15\n\n\
             [export]\nfile-name = \"backup_{{time}}_{{reason}}\"\n",
            db.url()
        ),
    )
    .unwrap();
    // backupService.createBackup('before_migration') & co, 17 times
    for i in 0..17 {
        env.ok(&[
            "backup",
            "shop",
            "--reason",
            &format!("before_migration_{i}"),
            "--log-file",
            "app.log",
        ]);
    }
    // app.log: one line per thing done, no colour codes
    let log = std::fs::read_to_string(env.path("app.log")).unwrap();
    let saved = log.lines().filter(|l| l.contains("backup saved")).count();
    assert_eq!(saved, 17, "{log}");
    assert!(log.contains("reason=\"before_migration_16\""), "{log}");
    let retained = log
        .lines()
        .filter(|l| l.contains("retention removed 1 snapshot(s) of shop"))
        .count();
    assert_eq!(retained, 2, "{log}");
    assert!(!log.contains('\u{1b}'));
    let snaps = env.json(&["snapshots", "--source", "shop"]);
    let reasons: Vec<&str> = snaps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 15, "keep the last 15: {reasons:?}");
    assert_eq!(reasons[0], "before_migration_2");
    assert_eq!(reasons[14], "before_migration_16");

    // safeDeleteProducts(): a guard first, then the delete
    let before = db.query("SELECT count(*) FROM shop_product");
    let guard = env.tresor(&[
        "guard",
        "shop",
        "--tables",
        "shop_product,shop_product_tags,shop_orderline,shop_image",
        "--",
        "psql",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-X",
        "-q",
        "-d",
        db.name(),
        "-c",
        "DELETE FROM shop_orderline; DELETE FROM shop_image; DELETE FROM shop_product_tags; DELETE FROM shop_product",
    ]);
    assert!(guard.status.success(), "{}", stderr(&guard));
    assert_eq!(db.query("SELECT count(*) FROM shop_product"), "0");
    // the guard is no backup: the fifteen stay fifteen
    env.ok(&["backup", "shop", "--reason", "after_cleanup"]);
    let snaps = env.json(&["snapshots", "--source", "shop"]);
    let manual = snaps
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["trigger"] == "manual")
        .count();
    assert_eq!(manual, 15);

    // emergencyRestore(): the newest backup before the cleanup
    let target = snaps
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["trigger"] == "manual")
        .find(|s| s["reason"] == "before_migration_16")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["restore", &target, "--to", "shop", "--yes"]);
    assert_eq!(db.query("SELECT count(*) FROM shop_product"), before);

    // backups/backup_[timestamp]_[reason]: an export into a directory
    std::fs::create_dir(env.path("backups")).unwrap();
    env.ok(&["export", "latest:shop", "-o", "backups"]);
    let names: Vec<String> = std::fs::read_dir(env.path("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with("backup_20") && names[0].ends_with("_after_cleanup.zip"),
        "{names:?}"
    );
}

/// The wine app as it ran, on MongoDB (SecantusDB here): documents written
/// by the driver into the seven user collections and the catalog; user-data
/// backups kept five deep apart from the full ones; a deploy into a fresh
/// database fills only what is missing; the current `users.json` is an
/// export whose lines MongoDB's bson crate reads back to the very
/// documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wine_app_on_mongodb() {
    use mongodb::bson::{Bson, DateTime, Document, doc, oid::ObjectId};
    let server = tresor_testing::mongo::MongoServer::secantus().await;
    let client = server.client().await;
    let db = client.database("wine");
    for u in 0..6 {
        let id = ObjectId::new();
        db.collection::<Document>("users")
            .insert_one(doc! {"_id": id, "email": format!("user{u}@example.com"), "subscription": {"plan": "premium", "since": DateTime::from_millis(1_700_000_000_000)}})
            .await
            .unwrap();
        for c in USER_DATA.iter().filter(|c| **c != "users") {
            db.collection::<Document>(c)
                .insert_one(
                    doc! {"user_id": id, "n": u, "note": "Käse & Riesling", "at": DateTime::now()},
                )
                .await
                .unwrap();
        }
    }
    db.collection::<Document>("grape_catalog")
        .insert_one(doc! {"_id": "riesling", "color": "white"})
        .await
        .unwrap();

    let env = Env::new();
    std::fs::write(
        env.path("tresor.toml"),
        format!(
            "[sources.wine]\nurl = {:?}\n\n[sources.wine.groups]\nuser-data = {:?}\n\n\
             [sources.wine.retention]\nkeep-last = 3\n\n\
             [sources.wine.retention.groups.user-data]\nkeep-last = 5\n",
            server.url("wine"),
            USER_DATA
        ),
    )
    .unwrap();
    env.ok(&["backup", "wine", "--reason", "full"]);
    for _ in 0..7 {
        env.ok(&["backup", "wine", "--group", "user-data"]);
    }
    env.ok(&["backup", "wine", "--reason", "nightly"]);
    let s = series(&env);
    assert_eq!(s["user-data"].len(), 5);
    assert_eq!(s["full"].len(), 2);

    // a deploy on a new machine: the app seeded its catalog, nothing else
    let fresh = client.database("wine_deployed");
    fresh
        .collection::<Document>("grape_catalog")
        .insert_many([
            doc! {"_id": "riesling", "color": "white"},
            doc! {"_id": "silvaner", "color": "white"},
        ])
        .await
        .unwrap();
    let target = server.url("wine_deployed");
    let out = env.ok(&["restore", "latest:wine", "--to", &target, "--only-missing"]);
    assert!(out.contains("grape_catalog (2 rows)"), "{out}");
    for c in USER_DATA {
        let n = fresh
            .collection::<Document>(c)
            .count_documents(doc! {})
            .await
            .unwrap();
        assert_eq!(n, 6, "{c}");
    }
    assert_eq!(
        fresh
            .collection::<Document>("grape_catalog")
            .count_documents(doc! {})
            .await
            .unwrap(),
        2
    );

    // the current users.json: mongoexport's lines, the very documents
    env.ok(&[
        "export",
        "latest:wine",
        "-o",
        "users.zip",
        "--tables",
        "users",
    ]);
    let lines = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read('tables/users.jsonl').decode())",
        ])
        .arg(env.path("users.zip"))
        .output()
        .unwrap();
    assert!(lines.status.success(), "{}", stderr(&lines));
    let text = String::from_utf8(lines.stdout).unwrap();
    let mut exported = Vec::new();
    for line in text.lines() {
        let json: serde_json::Value = serde_json::from_str(line).unwrap();
        let Bson::Document(d) = Bson::try_from(json).unwrap() else {
            panic!("{line}")
        };
        exported.push(d);
    }
    use futures::TryStreamExt;
    let mut stored: Vec<Document> = db
        .collection::<Document>("users")
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let key = |d: &Document| d.get_object_id("_id").unwrap();
    stored.sort_by_key(key);
    exported.sort_by_key(key);
    assert_eq!(exported, stored);
}
