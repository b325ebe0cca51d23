//! `tresor drill`: a snapshot restored into a scratch database of its own
//! engine, every table verified against the snapshot's manifest, the
//! source's assertions checked, and the scratch database dropped.

use std::path::{Path, PathBuf};

use super::disasters::{Db, Kind, unique};
use super::support::{Env, stderr};

/// A config naming `url` twice: `shop` with assertions that hold, and
/// `shop_bad` with one that does not and one whose SQL is wrong.
fn config(env: &Env, url: &str) -> PathBuf {
    let path = env.path("tresor.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[sources.shop]
url = "{url}"

[[sources.shop.drill.assert]]
name = "users exist"
sql = "SELECT count(*) FROM auth_user"
expect = ">= 1"

[[sources.shop.drill.assert]]
name = "no negative prices"
sql = "SELECT count(*) FROM shop_product WHERE price < 0"
expect = "= 0"

[sources.shop_bad]
url = "{url}"

[[sources.shop_bad.drill.assert]]
name = "a million users"
sql = "SELECT count(*) FROM auth_user"
expect = "> 1000000"

[[sources.shop_bad.drill.assert]]
name = "broken query"
sql = "SELECT nope FROM no_such_table"
expect = "1"
"#
        ),
    )
    .expect("config");
    path
}

/// Runs `tresor --json --config CONFIG ARGS` and parses stdout, whatever
/// the exit code.
fn drill_json(env: &Env, config: &Path, args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let mut all = vec![
        "--json",
        "--config",
        config.to_str().expect("path"),
        "drill",
    ];
    all.extend_from_slice(args);
    let out = env.tresor(&all);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "drill printed no report ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        )
    });
    (out.status.code(), report, stderr(&out))
}

fn drills_pass_and_leave_nothing(kind: Kind) {
    let env = Env::new();
    let db = Db::create(kind, env.dir.path());
    db.fill();
    let url = db.url();
    let config = config(&env, &url);
    env.ok(&[
        "--config",
        config.to_str().expect("path"),
        "backup",
        "shop",
        "--quiet",
    ]);
    let (code, report, err) = drill_json(&env, &config, &["latest:shop"]);
    assert_eq!(code, Some(0), "{report}\n{err}");
    assert_eq!(report["ok"], true, "{report}");
    let tables = report["tables"].as_array().expect("tables");
    assert_eq!(tables.len(), 17, "{report}");
    // every table is proven by its digest, none needs a second read of
    // the snapshot
    assert!(
        tables
            .iter()
            .all(|t| t["ok"] == true && t["check"] == "digest"),
        "{report}"
    );
    assert!(report["restore_seconds"].as_f64().is_some());
    let asserted = report["assertions"].as_array().expect("assertions");
    assert_eq!(asserted.len(), 2, "{report}");
    assert!(asserted.iter().all(|a| a["ok"] == true), "{report}");
    assert_eq!(asserted[0]["seen"], "25", "{report}");
    assert_eq!(asserted[1]["seen"], "0", "{report}");
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

    // assertions that do not hold fail the drill, each with what it saw or
    // the database's message; the tables themselves still pass
    let (code, report, err) = drill_json(&env, &config, &["latest:shop", "--source", "shop_bad"]);
    assert_eq!(code, Some(6), "{report}\n{err}");
    assert_eq!(report["ok"], false, "{report}");
    let tables = report["tables"].as_array().expect("tables");
    assert!(tables.iter().all(|t| t["ok"] == true), "{report}");
    let asserted = report["assertions"].as_array().expect("assertions");
    assert_eq!(asserted[0]["ok"], false, "{report}");
    assert_eq!(asserted[0]["seen"], "25", "{report}");
    assert_eq!(asserted[1]["ok"], false, "{report}");
    let message = asserted[1]["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("no_such_table") || message.contains("nope"),
        "the database's message is missing: {report}"
    );
    assert!(
        err.contains("assertion \"a million users\" failed: expected > 1000000, got 25"),
        "{err}"
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
/// naming the table that could not be restored, and leaves no scratch
/// database.
fn a_damaged_snapshot_fails_its_drill(kind: Kind) {
    let env = Env::new();
    let db = Db::create(kind, env.dir.path());
    db.fill();
    // a table of a few megabytes of hex that hardly compresses: the bulk
    // of the largest pack, so the damage lands in its rows
    db.exec(match kind {
        Kind::Postgres => {
            "CREATE TABLE big_blob (id integer PRIMARY KEY, data text NOT NULL);
             INSERT INTO big_blob SELECT g, md5(g::text) || md5((-g)::text) || md5((g * 7)::text)
                 || md5((g * 13)::text) FROM generate_series(1, 40000) g"
        }
        Kind::Mariadb => {
            "CREATE TABLE big_blob (id integer PRIMARY KEY, data text NOT NULL);
             INSERT INTO big_blob SELECT seq, CONCAT(MD5(seq), MD5(-seq), MD5(seq * 7), MD5(seq * 13))
                 FROM seq_1_to_40000"
        }
        Kind::Sqlite => {
            "CREATE TABLE big_blob (id integer PRIMARY KEY, data text NOT NULL);
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 40000)
             INSERT INTO big_blob SELECT x, hex(randomblob(64)) FROM c"
        }
    });
    let url = db.url();
    env.ok(&["backup", &url, "--quiet"]);
    let largest = env
        .packs()
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).expect("pack").len())
        .expect("a pack");
    let mut bytes = std::fs::read(&largest).expect("pack");
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0xff;
    }
    std::fs::write(&largest, bytes).expect("write");
    let out = env.tresor(&["--json", "drill", &format!("latest:{url}")]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["ok"], false, "{report}");
    let failed: Vec<&serde_json::Value> = report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter(|t| t["problem"].is_string())
        .collect();
    assert_eq!(failed.len(), 1, "one table is named: {report}");
    let problem = failed[0]["problem"].as_str().expect("problem");
    assert!(problem.contains("cannot be restored"), "{report}");
    let name = failed[0]["name"].as_str().expect("name");
    assert_eq!(name, "big_blob", "{report}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("table {name}: cannot be restored")),
        "{err}"
    );
    assert!(err.contains("damaged") || err.contains("corrupt"), "{err}");
    if kind == Kind::Sqlite {
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
}

#[test]
fn a_damaged_sqlite_snapshot_fails_its_drill() {
    a_damaged_snapshot_fails_its_drill(Kind::Sqlite);
}

#[test]
fn a_damaged_postgres_snapshot_fails_its_drill() {
    a_damaged_snapshot_fails_its_drill(Kind::Postgres);
}

#[test]
fn a_damaged_mariadb_snapshot_fails_its_drill() {
    a_damaged_snapshot_fails_its_drill(Kind::Mariadb);
}

/// MongoDB (SecantusDB): collections proven by their digests, and
/// assertions that count the documents a filter matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_drill() {
    use mongodb::bson::{Document, doc};
    let server = tresor_testing::mongo::MongoServer::secantus().await;
    let client = server.client().await;
    let name = unique("drill");
    let db = client.database(&name);
    let users = db.collection::<Document>("users");
    for i in 0..30 {
        users
            .insert_one(doc! {"_id": i, "name": format!("user {i}"), "admin": i % 10 == 0})
            .await
            .expect("insert");
    }
    db.collection::<Document>("orders")
        .insert_one(doc! {"_id": "o-1", "lines": [{"sku": "x", "qty": 2}]})
        .await
        .expect("insert");
    let env = Env::new();
    let url = server.url(&name);
    let config = env.path("tresor.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[sources.app]
url = "{url}"

[[sources.app.drill.assert]]
name = "three admins"
collection = "users"
filter = '{{"admin": true}}'
expect = "= 3"

[[sources.app.drill.assert]]
name = "every order"
collection = "orders"
expect = ">= 1"

[sources.app_bad]
url = "{url}"

[[sources.app_bad.drill.assert]]
name = "ten admins"
collection = "users"
filter = '{{"admin": true}}'
expect = ">= 10"
"#
        ),
    )
    .expect("config");
    env.ok(&[
        "--config",
        config.to_str().expect("path"),
        "backup",
        "app",
        "--quiet",
    ]);
    let (code, report, err) = drill_json(&env, &config, &["latest:app"]);
    assert_eq!(code, Some(0), "{report}\n{err}");
    let tables = report["tables"].as_array().expect("tables");
    assert_eq!(tables.len(), 2, "{report}");
    assert!(
        tables
            .iter()
            .all(|t| t["ok"] == true && t["check"] == "digest"),
        "{report}"
    );
    let asserted = report["assertions"].as_array().expect("assertions");
    assert_eq!(asserted[0]["seen"], "3", "{report}");
    assert!(asserted.iter().all(|a| a["ok"] == true), "{report}");

    let (code, report, err) = drill_json(&env, &config, &["latest:app", "--source", "app_bad"]);
    assert_eq!(code, Some(6), "{report}\n{err}");
    assert_eq!(report["assertions"][0]["seen"], "3", "{report}");
    assert!(err.contains("ten admins"), "{err}");
    db.drop().await.expect("drop");
}

/// A MongoDB snapshot whose data was damaged in the repository fails its
/// drill, naming the collection that could not be restored, and leaves no
/// scratch database on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_mongodb_snapshot_fails_its_drill() {
    use mongodb::bson::{Document, doc};
    let server = tresor_testing::mongo::MongoServer::secantus().await;
    let client = server.client().await;
    let name = unique("drill_damaged");
    let db = client.database(&name);
    db.collection::<Document>("users")
        .insert_one(doc! {"_id": 1, "name": "ann"})
        .await
        .expect("insert");
    // a few megabytes of hex that hardly compresses: the bulk of the
    // largest pack, so the damage lands in its documents
    let blobs: Vec<Document> = (0..20_000u64)
        .map(|i| {
            let data = blake3::hash(&i.to_le_bytes()).to_hex().to_string()
                + blake3::hash(&(!i).to_le_bytes()).to_hex().as_str();
            doc! {"_id": i as i64, "data": data}
        })
        .collect();
    db.collection::<Document>("blobs")
        .insert_many(blobs)
        .await
        .expect("insert");
    let env = Env::new();
    let url = server.url(&name);
    env.ok(&["backup", &url, "--quiet"]);
    let largest = env
        .packs()
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).expect("pack").len())
        .expect("a pack");
    let mut bytes = std::fs::read(&largest).expect("pack");
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0xff;
    }
    std::fs::write(&largest, bytes).expect("write");
    let before = client.list_database_names().await.expect("databases");
    let out = env.tresor(&["--json", "drill", &format!("latest:{url}")]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["ok"], false, "{report}");
    let failed: Vec<&serde_json::Value> = report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter(|t| t["problem"].is_string())
        .collect();
    assert_eq!(failed.len(), 1, "one collection is named: {report}");
    assert_eq!(failed[0]["name"], "blobs", "{report}");
    let problem = failed[0]["problem"].as_str().expect("problem");
    assert!(problem.contains("cannot be restored"), "{report}");
    let err = stderr(&out);
    assert!(err.contains("table blobs: cannot be restored"), "{err}");
    assert!(err.contains("damaged") || err.contains("corrupt"), "{err}");
    // the scratch database is gone
    let scratch = report["scratch"].as_str().expect("scratch");
    let scratch_db = scratch
        .rsplit('/')
        .next()
        .and_then(|s| s.split('?').next())
        .expect("database name");
    assert!(scratch_db.starts_with("tresor_drill_"), "{scratch}");
    let after = client.list_database_names().await.expect("databases");
    assert!(!after.iter().any(|d| d == scratch_db), "{after:?}");
    assert!(
        after
            .iter()
            .filter(|d| d.starts_with("tresor_drill_"))
            .all(|d| before.contains(d)),
        "a scratch database was left: {after:?}"
    );
    db.drop().await.expect("drop");
}
