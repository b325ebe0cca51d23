//! The seed systems' workflows through the HTTP API: every backup keeps the
//! source's retention, whoever starts it; a group is kept apart and
//! accepted wherever tables are (counts, restore, download); the
//! deploy-safe restore leaves tables holding data alone; a backup taken by
//! URL is the source's. Scandy and FixGSM ran on MongoDB, and so do their
//! tests here (on SecantusDB); Scandy's schedule runs on the server's
//! paused clock, its database on real time (`offclock`).

use std::collections::BTreeMap;
use std::path::Path;

use super::harness::{TestServer, open_repo, workspace};
use serde_json::{Value, json};
use tresor_core::Connector as _;
use tresor_ops::{BackupOptions, NoProgress};

const RETENTION: &str = "[sources.app.retention]
keep-last = 3
[sources.app.retention.groups.user-data]
keep-last = 2
";

fn ids(list: &Value) -> Vec<String> {
    list["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect()
}

async fn snapshots(s: &TestServer, query: &str) -> Value {
    let (st, v) = s.get(&s.admin, &format!("/api/v1/snapshots?{query}")).await;
    assert_eq!(st, 200, "{v}");
    v
}

/// A backup of the workspace's database by another program (a script,
/// the CLI), by path, under `name` or none.
async fn backup_outside(dir: &Path, name: Option<&str>) -> tresor_ops::Snapshot {
    let repo = open_repo(dir).await;
    let path = dir.join("app.db");
    let source = tresor_sqlite::SqliteConnector
        .source(path.to_str().expect("utf-8"))
        .expect("source");
    tresor_ops::backup(
        &repo,
        source.as_ref(),
        &BackupOptions {
            source_name: name.map(str::to_string),
            url: path.display().to_string(),
            ..BackupOptions::default()
        },
        &NoProgress,
    )
    .await
    .expect("backup")
}

/// The newest snapshot of all the source's tables.
async fn newest_full(s: &TestServer) -> String {
    for id in ids(&snapshots(s, "source=app").await) {
        let (_, one) = s.get(&s.admin, &format!("/api/v1/snapshots/{id}")).await;
        if one["table_list"].as_array().map(Vec::len) == Some(3) {
            return id;
        }
    }
    panic!("no full snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_groups_and_the_deploy_safe_restore_through_the_api() {
    let dir = workspace(40).await;
    let s = TestServer::start(dir.path(), RETENTION, "").await;

    // backups from the API are kept like scheduled ones: the last 3
    let mut removed = 0;
    for i in 0..5 {
        let job = s
            .backup(json!({"source": "app", "reason": format!("manual {i}")}))
            .await;
        removed += job["figures"]["retention_removed"]
            .as_array()
            .map_or(0, Vec::len);
    }
    assert_eq!(removed, 2);
    // the user-data group is counted apart: its 2, and the 3 full stay
    for _ in 0..4 {
        s.backup(json!({"source": "app", "group": "user-data"}))
            .await;
    }
    let full = snapshots(&s, "source=app&tag=group:user-data").await;
    assert_eq!(full["total"], 2, "{full}");
    let all = snapshots(&s, "source=app").await;
    assert_eq!(all["total"], 5, "3 full and 2 user-data: {all}");
    // total counts every match; limit only shortens the list
    let one = snapshots(&s, "source=app&limit=1").await;
    assert_eq!(one["total"], 5, "{one}");
    assert_eq!(ids(&one).len(), 1);
    // forget without rules applies the configured ones: nothing left to do
    let (st, v) = s.post(&s.admin, "/api/v1/forget", json!({})).await;
    assert_eq!(st, 202, "{v}");
    let job = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["figures"]["removed"], json!([]), "{job}");

    // health check of the user data only
    let (st, counts) = s
        .get(&s.admin, "/api/v1/sources/app/counts?group=user-data")
        .await;
    assert_eq!(st, 200, "{counts}");
    assert_eq!(
        counts["tables"].as_array().map(Vec::len),
        Some(1),
        "{counts}"
    );
    assert_eq!(counts["total_rows"], 40);
    let (st, e) = s
        .get(&s.admin, "/api/v1/sources/app/counts?group=nope")
        .await;
    assert_eq!(st, 404, "{e}");
    assert!(
        e["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("user-data")),
        "{e}"
    );

    // a group download holds the group's tables only
    let full_id = newest_full(&s).await;
    let r = s
        .http
        .get(s.url(&format!(
            "/api/v1/snapshots/{full_id}/archive?group=user-data"
        )))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 200);
    let zip = r.bytes().await.expect("bytes");
    let names = String::from_utf8_lossy(&zip).into_owned();
    assert!(names.contains("customers.jsonl"));
    assert!(!names.contains("orders.jsonl"));

    // the deploy: events emptied, the rest holds data
    let db = dir.path().join("app.db");
    rusqlite::Connection::open(&db)
        .expect("db")
        .execute_batch("DELETE FROM events; UPDATE customers SET name = 'changed';")
        .expect("deploy");
    let (st, p) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": "latest:app", "target": "app", "only_missing": true}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    let restored: Vec<&str> = p["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    // latest:app is the newest backup, a user-data one here: only
    // customers, which holds data
    assert_eq!(restored, Vec::<&str>::new(), "{p}");
    assert_eq!(p["skipped"][0]["name"], "customers", "{p}");
    assert_eq!(p["skipped"][0]["target_rows"], 40, "{p}");
    // from a full backup: events only
    let full_snapshot = full_id;
    let (st, p) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": full_snapshot, "target": "app", "only_missing": true}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["tables"].as_array().map(Vec::len), Some(1), "{p}");
    assert_eq!(p["tables"][0]["name"], "events", "{p}");
    assert_eq!(p["rehearsal"]["outcome"], "passed", "{p}");
    let skipped: Vec<&str> = p["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(skipped, ["customers", "orders"], "{p}");
    let pid = p["preview_id"].as_str().expect("id");
    let (st, v) = s.confirm_restore(pid, &full_snapshot[..8]).await;
    assert_eq!(st, 202, "{v}");
    let job = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["figures"]["skipped"].as_array().map(Vec::len), Some(2));
    let c = rusqlite::Connection::open(&db).expect("db");
    let events: i64 = c
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .expect("count");
    assert_eq!(events, 1);
    let changed: i64 = c
        .query_row(
            "SELECT count(*) FROM customers WHERE name = 'changed'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(changed, 40, "tables holding data are left alone");

    // restore_user_data=True: the group of a full backup
    let (st, p) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": full_snapshot, "target": "app", "group": "user-data"}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["tables"].as_array().map(Vec::len), Some(1), "{p}");
    assert_eq!(p["tables"][0]["name"], "customers");
    assert_eq!(p["tables"][0]["updated"], 40);
    let (st, e) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": full_snapshot, "target": "app", "group": "nope"}),
        )
        .await;
    assert_eq!(st, 404, "{e}");

    // an upgrade made a table: the whole-database restore drops it with
    // drop_extra_tables, which a restore of a group cannot take
    rusqlite::Connection::open(&db)
        .expect("db")
        .execute_batch(
            "CREATE TABLE coupons (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), code TEXT); \
             INSERT INTO coupons (customer_id, code) VALUES (1, 'a'), (2, 'b');",
        )
        .expect("upgrade");
    let (st, e) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": full_snapshot, "target": "app", "group": "user-data", "drop_extra_tables": true}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--drop-extra-tables")),
        "{e}"
    );
    let (st, p) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": full_snapshot, "target": "app"}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["extra_tables"], json!(["coupons"]), "{p}");
    let (st, p) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": full_snapshot, "target": "app", "drop_extra_tables": true}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(
        p["dropped"],
        json!([{"name": "coupons", "target_rows": 2}]),
        "{p}"
    );
    assert!(p.get("extra_tables").is_none(), "{p}");
    assert_eq!(p["rehearsal"]["outcome"], "passed", "{p}");
    let pid = p["preview_id"].as_str().expect("id");
    let (st, v) = s.confirm_restore(pid, &full_snapshot[..8]).await;
    assert_eq!(st, 202, "{v}");
    let job = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["figures"]["dropped"], json!(["coupons"]), "{job}");
    let left: i64 = rusqlite::Connection::open(&db)
        .expect("db")
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'coupons'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(left, 0, "coupons is still there");
    // the safety snapshot kept it, rows and all
    let safety = job["figures"]["safety_snapshot"].as_str().expect("safety");
    let (st, shown) = s
        .get(&s.admin, &format!("/api/v1/snapshots/{safety}"))
        .await;
    assert_eq!(st, 200, "{shown}");
    assert!(shown.to_string().contains("coupons"), "{shown}");

    s.stop().await;
}

/// A backup taken by URL (a script, the CLI) shows on the dashboard as the
/// configured source's, and its retention counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_by_url_is_the_sources() {
    let dir = workspace(10).await;
    let snap = backup_outside(dir.path(), None).await;
    assert_eq!(snap.source.name, None);
    let s = TestServer::start(dir.path(), RETENTION, "").await;
    let (_, status) = s.get(&s.admin, "/api/v1/status").await;
    let app = &status["sources"][0];
    assert_eq!(app["name"], "app");
    assert_eq!(app["snapshots"], 1, "{status}");
    assert_eq!(app["last_backup"]["snapshot"], snap.id.as_str(), "{status}");
    let listed = snapshots(&s, "source=app").await;
    assert_eq!(listed["total"], 1, "{listed}");
    s.stop().await;
}

/// The same on MongoDB (Scandy's database): the configured source's URL
/// carries options of the connection (`authSource`, `appName`) that the
/// URL given to the CLI leaves out, and still they name one database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_by_url_is_the_sources_on_mongodb() {
    use mongodb::bson::{Document, doc};
    let mongo = tresor_testing::mongo::MongoServer::secantus().await;
    mongo
        .client()
        .await
        .database("scandy")
        .collection::<Document>("tools")
        .insert_one(doc! {"_id": 1, "name": "Hammer"})
        .await
        .expect("insert");
    let dir = workspace(1).await;
    let by_hand = mongo.url("scandy");
    let configured = format!("{by_hand}&authSource=admin&appName=scandy");
    let repo = open_repo(dir.path()).await;
    let source = tresor_mongo::MongoConnector
        .source(&by_hand)
        .expect("source");
    let snap = tresor_ops::backup(
        &repo,
        source.as_ref(),
        &BackupOptions {
            url: by_hand.clone(),
            ..BackupOptions::default()
        },
        &NoProgress,
    )
    .await
    .expect("backup");
    drop(repo);
    let text = super::harness::server_config(
        dir.path(),
        &format!("[sources.scandy]\nurl = \"{configured}\"\n"),
        "",
    );
    let s = TestServer::start_with(
        tresor_ops::Config::parse(&text, "test").expect("config"),
        tresor_ops::Engines::new().with(std::sync::Arc::new(tresor_mongo::MongoConnector)),
        dir.path(),
    )
    .await;
    let (_, status) = s.get(&s.admin, "/api/v1/status").await;
    let scandy = &status["sources"][0];
    assert_eq!(scandy["name"], "scandy");
    assert_eq!(scandy["snapshots"], 1, "{status}");
    assert_eq!(
        scandy["last_backup"]["snapshot"],
        snap.id.as_str(),
        "{status}"
    );
    assert_eq!(snapshots(&s, "source=scandy").await["total"], 1);
    s.stop().await;
}

/// FixGSM's 300 s limit: a source's timeout holds for every job of it,
/// also one an admin starts by hand, and a job that runs out leaves
/// nothing behind (no snapshot; the restore's target as it was).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_job_of_a_source_has_its_timeout() {
    let dir = workspace(3000).await;
    let before = backup_outside(dir.path(), Some("app")).await;
    let path = dir.path().join("app.db");
    rusqlite::Connection::open(&path)
        .expect("db")
        .execute_batch("DELETE FROM events; UPDATE customers SET name = 'after'")
        .expect("change");
    let s = TestServer::start(dir.path(), "timeout = \"1ms\"", "").await;

    let (st, v) = s
        .post(&s.admin, "/api/v1/snapshots", json!({"source": "app"}))
        .await;
    assert_eq!(st, 202, "{v}");
    let job = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{job}"
    );
    assert_eq!(snapshots(&s, "source=app").await["total"], 1);

    let (st, p) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": before.id, "target": "app"}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    let (st, v) = s
        .confirm_restore(p["preview_id"].as_str().expect("id"), &before.id[..8])
        .await;
    assert_eq!(st, 202, "{v}");
    let job = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{job}"
    );
    let c = rusqlite::Connection::open(&path).expect("db");
    let after: i64 = c
        .query_row(
            "SELECT count(*) FROM customers WHERE name = 'after'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(after, 3000, "the timed-out restore changed nothing");
    assert_eq!(snapshots(&s, "source=app&trigger=manual").await["total"], 1);
    s.stop().await;
}

/// curl, as Baby Buddy's users called its restore API: the token sent
/// as `Authorization: Token ...`, the way Baby Buddy's API took it.
async fn curl(s: &TestServer, path: &str, fields: &[&str]) -> (u16, Value) {
    curl_as(s, &format!("Token {}", s.admin), path, fields).await
}

/// [`curl`] with another `Authorization` header.
async fn curl_as(s: &TestServer, auth: &str, path: &str, fields: &[&str]) -> (u16, Value) {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}"])
        .arg("-H")
        .arg(format!("Authorization: {auth}"));
    for f in fields {
        cmd.arg("-F").arg(f);
    }
    let out = cmd.arg(s.url(path)).output().await.expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (
        code.trim().parse().expect("status"),
        serde_json::from_str(body).unwrap_or(Value::String(body.to_string())),
    )
}

fn customers(dir: &Path) -> Vec<(i64, String)> {
    let c = rusqlite::Connection::open(dir.join("app.db")).expect("db");
    let mut st = c
        .prepare("SELECT id, name FROM customers ORDER BY id")
        .expect("query");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Baby Buddy: `curl -F backup_file=@backup.zip -F clear_existing_data=false`
/// uploads, checks and previews in one request; with the confirmation field
/// it restores, merging or clearing; the archive's application version is
/// compared with the one the source runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_preview_and_restore_in_one_request() {
    let dir = workspace(30).await;
    let s = TestServer::start(dir.path(), "app-version = \"2.0.1\"", "").await;
    let job = s
        .backup(json!({"source": "app", "reason": "backup", "app_version": "2.0.0"}))
        .await;
    let snap = job["figures"]["snapshot"].as_str().expect("id").to_string();
    let zip = s
        .http
        .get(s.url(&format!("/api/v1/snapshots/{snap}/archive")))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    let file = dir.path().join("backup.zip");
    std::fs::write(&file, &zip).expect("write");
    let before = customers(dir.path());
    rusqlite::Connection::open(dir.path().join("app.db"))
        .expect("db")
        .execute_batch(
            "DELETE FROM orders WHERE customer_id = 3; DELETE FROM customers WHERE id = 3;
             UPDATE customers SET name = 'renamed' WHERE id = 4;
             INSERT INTO customers VALUES (100, 'new since the backup', NULL);",
        )
        .expect("changes");
    let backup_file = format!("backup_file=@{}", file.display());
    let merge = [
        backup_file.as_str(),
        "clear_existing_data=false",
        "tables=customers,orders",
    ];

    // the snapshot shows the version it was taken by, in the API and on
    // its page
    let (_, one) = s.get(&s.admin, &format!("/api/v1/snapshots/{snap}")).await;
    assert_eq!(one["app_version"], "2.0.0", "{one}");
    let listed = snapshots(&s, "source=app").await;
    assert_eq!(listed["snapshots"][0]["app_version"], "2.0.0", "{listed}");
    let page = s
        .http
        .get(s.url(&format!("/snapshots/{snap}")))
        .header("cookie", s.session().await)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("<dd id=\"app-version\">2.0.0</dd>"), "{page}");

    // the same version required: the archive (2.0.0) is refused for the
    // source running 2.0.1 before anything is imported or restored
    let strict = [
        &merge[..],
        &["require_same_app_version=true", "confirm=app"],
    ]
    .concat();
    let (st, e) = curl(&s, "/api/v1/restores/upload", &strict).await;
    assert_eq!(st, 400, "{e}");
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("application version 2.0.0") && message.contains("runs 2.0.1"),
        "{e}"
    );
    assert_eq!(snapshots(&s, "").await["total"], 1, "nothing imported");
    assert_eq!(customers(dir.path()).len(), 30);
    // the target says it runs the archive's version: accepted
    let (st, v) = curl(
        &s,
        "/api/v1/restores/upload",
        &[
            &merge[..],
            &["app_version=2.0.0", "require_same_app_version=true"],
        ]
        .concat(),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["preview"]["app_version"]["target"], "2.0.0", "{v}");
    assert_eq!(v["preview"]["app_version"]["differs"], false, "{v}");
    // the two-step preview refuses the same way (400), and accepts the
    // version passed in
    let (st, e) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": snap, "target": "app", "require_same_app_version": true}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("application version 2.0.0")),
        "{e}"
    );
    let (st, p) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": snap, "target": "app", "app_version": "2.0.0", "require_same_app_version": true}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["app_version"]["differs"], false, "{p}");

    // preview only: nothing changes
    let (st, v) = curl(&s, "/api/v1/restores/upload", &merge).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["upload"]["valid"], true, "{v}");
    let p = &v["preview"];
    assert_eq!(p["mode"], "merge", "{v}");
    assert_eq!(p["app_version"]["snapshot"], "2.0.0", "{v}");
    assert_eq!(p["app_version"]["target"], "2.0.1", "{v}");
    assert_eq!(p["app_version"]["differs"], true, "{v}");
    assert_eq!(p["totals"]["inserted"], 2, "customer 3 and its order: {v}");
    assert_eq!(p["totals"]["updated"], 1, "{v}");
    assert_eq!(p["rehearsal"]["outcome"], "passed", "{v}");
    assert!(v.get("job").is_none());
    assert_eq!(customers(dir.path()).len(), 30);

    // a confirmation that names another target is refused
    let (st, e) = curl(
        &s,
        "/api/v1/restores/upload",
        &[&merge[..], &["confirm=other"]].concat(),
    )
    .await;
    assert_eq!(st, 400, "{e}");

    // merge: what came after the backup stays
    let (st, v) = curl(
        &s,
        "/api/v1/restores/upload",
        &[&merge[..], &["confirm=app"]].concat(),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    let job = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let merged = customers(dir.path());
    assert_eq!(merged.len(), 31);
    assert!(merged.contains(&(100, "new since the backup".into())));
    assert!(merged.contains(&(4, "Customer 4".into())));

    // clear_existing_data=true: exactly the backup
    let (st, v) = curl(
        &s,
        "/api/v1/restores/upload",
        &[&backup_file, "clear_existing_data=true", "confirm=app"],
    )
    .await;
    assert_eq!(st, 202, "{v}");
    let job = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(customers(dir.path()), before);

    // another word than Bearer or Token, or a wrong token: refused
    for auth in [
        format!("Basic {}", s.admin),
        "Token not-a-token".to_string(),
    ] {
        let (st, e) = curl_as(&s, &auth, "/api/v1/restores/upload", &["confirm=app"]).await;
        assert_eq!(st, 401, "{auth}: {e}");
    }

    // bad input: no file, a damaged file, an unknown field
    let (st, e) = curl(&s, "/api/v1/restores/upload", &["confirm=app"]).await;
    assert_eq!(st, 400, "{e}");
    let mut damaged = zip.to_vec();
    let mid = damaged.len() / 2;
    damaged.truncate(mid);
    let bad = dir.path().join("damaged.zip");
    std::fs::write(&bad, damaged).expect("write");
    let (st, e) = curl(
        &s,
        "/api/v1/restores/upload",
        &[&format!("backup_file=@{}", bad.display()), "confirm=app"],
    )
    .await;
    assert_eq!(st, 422, "{e}");
    let (st, e) = curl(
        &s,
        "/api/v1/restores/upload",
        &[&backup_file, "clear_everything=yes"],
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(
        customers(dir.path()),
        before,
        "bad requests changed nothing"
    );
    s.stop().await;
}

/// FixGSM's database: tenants, their users, tickets and payments.
async fn fixgsm_data(db: &mongodb::Database) {
    use mongodb::bson::{DateTime, Document, doc};
    let at = DateTime::from_millis(1_760_875_200_000);
    let put = |name: &str, docs: Vec<Document>| {
        let c = db.collection::<Document>(name);
        async move { c.insert_many(docs).await.expect("insert") }
    };
    put(
        "tenants",
        (1..=3)
            .map(|t| doc! {"_id": format!("tenant-{t}"), "company_name": format!("Service GSM {t}"), "subscription": {"plan": "pro", "active": true}, "created_at": at})
            .collect(),
    )
    .await;
    put(
        "users",
        (1..=5)
            .map(|u| {
                let kind = if u == 1 { "admin" } else { "technician" };
                doc! {"_id": format!("user-{u}"), "tenant_id": format!("tenant-{}", u % 3 + 1), "email": format!("u{u}@fixgsm.example"), "user_type": kind}
            })
            .collect(),
    )
    .await;
    put(
        "tickets",
        (1..=10)
            .map(|t| doc! {"_id": format!("ticket-{t}"), "tenant_id": "tenant-1", "device": "iPhone 13", "problem": "ecran spart", "status": "in lucru", "price": 350.5, "created_at": at})
            .collect(),
    )
    .await;
    put(
        "payments",
        (1..=6)
            .map(|p| doc! {"_id": format!("payment-{p}"), "ticket_id": format!("ticket-{p}"), "amount": 350.5, "method": "card", "paid_at": at})
            .collect(),
    )
    .await;
}

/// Every document of `collection`, by `_id`.
async fn documents(db: &mongodb::Database, collection: &str) -> Vec<mongodb::bson::Document> {
    use futures::TryStreamExt as _;
    use mongodb::bson::{Document, doc};
    db.collection::<Document>(collection)
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("documents")
}

/// FixGSM (seed 003) on MongoDB, as its admin page did it: list the
/// backups newest first with their size and contents, download one named
/// `fixgsm_backup_YYYYMMDD_HHMMSS.zip` in the server's time zone, restore
/// with two confirmations (the preview, then the id typed again), the
/// collections replaced as `mongorestore --drop` did (a dropped one comes
/// back, changed documents are as they were, new ones go), delete with its
/// full id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixgsm_list_download_restore_and_delete_as_the_admin_page_did() {
    use mongodb::bson::{Document, doc};
    let mongo = tresor_testing::mongo::MongoServer::secantus().await;
    let client = mongo.client().await;
    let db = client.database("fixgsm_db");
    fixgsm_data(&db).await;
    let dir = workspace(1).await;
    let text = super::harness::server_config(
        dir.path(),
        &format!(
            "[sources.fixgsm]\nurl = \"{}\"\ntimeout = \"300s\"\n",
            mongo.url("fixgsm_db")
        ),
        "timezone = \"Europe/Bucharest\"\n[export]\nfile-name = \"fixgsm_backup_{time:%Y%m%d_%H%M%S}\"\n",
    );
    let engines =
        tresor_ops::Engines::new().with(std::sync::Arc::new(tresor_mongo::MongoConnector));
    let s = TestServer::start_with(
        tresor_ops::Config::parse(&text, "test").expect("config"),
        engines,
        dir.path(),
    )
    .await;
    for i in 0..3 {
        s.backup(json!({"source": "fixgsm", "reason": format!("manual {i}")}))
            .await;
    }
    let list = snapshots(&s, "source=fixgsm").await;
    let listed = list["snapshots"].as_array().expect("list");
    assert_eq!(listed.len(), 3);
    let times: Vec<&str> = listed
        .iter()
        .map(|x| x["time"].as_str().expect("time"))
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    // what the page showed: how much, of what, when, made how
    for x in listed {
        assert_eq!(x["source"], "fixgsm", "{x}");
        assert_eq!(x["engine"], "mongodb", "{x}");
        assert_eq!(x["tables"], 4, "four collections: {x}");
        assert_eq!(
            x["rows"], 24,
            "3 tenants, 5 users, 10 tickets, 6 payments: {x}"
        );
        assert!(x["bytes"].as_u64().is_some_and(|b| b > 1000), "{x}");
        assert_eq!(x["trigger"], "manual", "{x}");
    }
    assert_eq!(listed[0]["reason"], "manual 2");
    let newest = listed[0]["id"].as_str().expect("id").to_string();

    let r = s
        .http
        .get(s.url(&format!("/api/v1/snapshots/{newest}/archive")))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 200);
    let local = chrono::DateTime::parse_from_rfc3339(times[0])
        .expect("time")
        .with_timezone(&chrono_tz::Europe::Bucharest);
    let expected = format!("fixgsm_backup_{}.zip", local.format("%Y%m%d_%H%M%S"));
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .expect("header")
        .to_string();
    assert!(
        disposition.contains(&expected),
        "{disposition} lacks {expected}"
    );
    let zip = r.bytes().await.expect("zip");
    let names = String::from_utf8_lossy(&zip).into_owned();
    for c in ["tenants", "users", "tickets", "payments"] {
        assert!(names.contains(&format!("{c}.jsonl")), "{c} in the download");
    }

    // after the backup: payments dropped, a ticket changed, one added
    let tickets = documents(&db, "tickets").await;
    let payments = documents(&db, "payments").await;
    db.collection::<Document>("payments")
        .drop()
        .await
        .expect("drop");
    db.collection::<Document>("tickets")
        .update_one(
            doc! {"_id": "ticket-3"},
            doc! {"$set": {"status": "anulat", "price": 0}},
        )
        .await
        .expect("update");
    db.collection::<Document>("tickets")
        .insert_one(doc! {"_id": "ticket-99", "tenant_id": "tenant-2", "device": "Pixel 7"})
        .await
        .expect("insert");

    // restore: the preview, then the confirmation typed again
    let (st, p) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": newest, "target": "fixgsm"}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    let table = |name: &str| {
        p["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {p}"))
    };
    assert_eq!(table("payments")["inserted"], 6, "{p}");
    assert_eq!(table("tickets")["updated"], 1, "{p}");
    assert_eq!(table("tickets")["deleted"], 1, "{p}");
    assert_eq!(table("users")["unchanged"], 5, "{p}");
    assert_eq!(p["safety_snapshot"], true, "{p}");
    let pid = p["preview_id"].as_str().expect("id");
    let confirm = |typed: &str| json!({"preview_id": pid, "confirm": {"target": "fixgsm", "snapshot": typed}});
    let (st, _) = s
        .post(&s.admin, "/api/v1/restores", confirm(&newest[..4]))
        .await;
    assert_eq!(st, 400, "a short id is no confirmation");
    assert_eq!(
        documents(&db, "payments").await.len(),
        0,
        "nothing restored without the confirmation"
    );
    let (st, v) = s
        .post(&s.admin, "/api/v1/restores", confirm(&newest[..8]))
        .await;
    assert_eq!(st, 202, "{v}");
    let job = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(
        documents(&db, "payments").await,
        payments,
        "payments are back"
    );
    assert_eq!(
        documents(&db, "tickets").await,
        tickets,
        "tickets exactly as backed up"
    );
    assert!(job["figures"]["safety_snapshot"].is_string(), "{job}");

    // delete: only by its id
    let oldest = listed[2]["id"].as_str().expect("id").to_string();
    let r = s
        .http
        .delete(s.url(&format!("/api/v1/snapshots/{}", &oldest[..6])))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 400);
    let r = s
        .http
        .delete(s.url(&format!("/api/v1/snapshots/{oldest}")))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 200);
    assert_eq!(
        snapshots(&s, "source=fixgsm&trigger=manual").await["total"],
        2
    );
    s.stop().await;
}

/// Scandy on SQLite: after each backup the admin whose address the
/// application stores in its own database gets a mail saying what
/// happened, linking to the job, with the backup attached; the operators
/// of `[notifications.email] to` hear about the source's failures only
/// (the admin hears about those too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_the_application_stores_is_mailed_the_backup() {
    let dir = workspace(5).await;
    let smtp = super::harness::smtp_catcher(dir.path());
    let s = TestServer::start(
        dir.path(),
        "[sources.app.notify]\nevents = [\"backup-success\", \"failure\"]\nrecipients-from = \"customers: name = 'Customer 2'\"\nrecipients-column = \"email\"",
        &format!(
            "public-url = \"https://backup.example.com\"\n\
             [notifications]\nattempts = 2\nbackoff = \"100ms\"\n\
             [notifications.email]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             from = \"tresor <tresor@example.com>\"\nto = [\"ops@example.com\"]\n\
             on-failure = [\"app\"]\nattach-archive-under = \"5 MiB\"\n",
            smtp.port
        ),
    )
    .await;
    let wait_for = |n: usize| {
        let maildir = smtp.maildir.clone();
        async move {
            let mut got = Vec::new();
            for _ in 0..100 {
                got = super::harness::mails(&maildir);
                if got.len() >= n {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            got
        }
    };
    let job = s
        .backup(json!({"source": "app", "reason": "morning"}))
        .await;
    let id = job["id"].as_i64().expect("id");
    let got = wait_for(1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let mail = &got[0];
    assert!(mail.contains("To: c2@example.com"), "{mail}");
    assert!(
        !mail.contains("ops@example.com"),
        "a success is not theirs: {mail}"
    );
    assert!(mail.contains("backup of app succeeded"), "{mail}");
    assert!(
        mail.contains(&format!("https://backup.example.com/jobs/{id}")),
        "{mail}"
    );
    assert!(mail.contains("Content-Disposition: attachment"), "{mail}");

    // a backup that fails: both hear of it, without an attachment
    let (st, v) = s
        .post(
            &s.admin,
            "/api/v1/snapshots",
            json!({"source": "app", "tables": ["no_such_table"]}),
        )
        .await;
    assert_eq!(st, 202, "{v}");
    let failed = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let got = wait_for(2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let failure = got
        .iter()
        .find(|m| m.contains("backup of app failed"))
        .unwrap_or_else(|| panic!("no failure mail in {got:?}"));
    assert!(failure.contains("ops@example.com"), "{failure}");
    assert!(failure.contains("c2@example.com"), "{failure}");
    assert!(
        !failure.contains("Content-Disposition: attachment"),
        "{failure}"
    );
    s.stop().await;
}

/// Scandy's collections, all of them backed up.
const SCANDY: [&str; 9] = [
    "tools",
    "consumables",
    "workers",
    "lendings",
    "consumable_usages",
    "settings",
    "tickets",
    "ticket_messages",
    "ticket_notes",
];

/// Scandy's database as its application writes it, through the driver.
async fn scandy_data(client: mongodb::Client) {
    use mongodb::bson::{Bson, DateTime, Document, doc, oid::ObjectId};
    let db = client.database("scandy");
    let at = DateTime::from_millis(1_740_000_000_000);
    let put = |name: &str, docs: Vec<Document>| {
        let c = db.collection::<Document>(name);
        async move { c.insert_many(docs).await.expect("insert") }
    };
    put(
        "tools",
        (1..=12)
            .map(|i| {
                let status = if i % 3 == 0 {
                    "ausgeliehen"
                } else {
                    "verfügbar"
                };
                doc! {"_id": ObjectId::new(), "barcode": format!("T{i:04}"),
                "name": format!("Akkuschrauber {i}"), "category": "Elektrowerkzeug",
                "location": "Werkstatt", "status": status, "deleted": false, "created_at": at}
            })
            .collect(),
    )
    .await;
    put(
        "consumables",
        (1..=5)
            .map(|i| {
                doc! {"_id": ObjectId::new(), "barcode": format!("V{i:04}"),
                "name": format!("Schrauben M{i}"), "quantity": 100 * i, "min_quantity": 50, "unit": "Stück"}
            })
            .collect(),
    )
    .await;
    put(
        "workers",
        (1..=6)
            .map(|i| {
                doc! {"_id": ObjectId::new(), "barcode": format!("M{i:04}"),
                "firstname": "Anna", "lastname": format!("Müller {i}"), "department": "Technik",
                "email": format!("m{i}@scandy.example")}
            })
            .collect(),
    )
    .await;
    put(
        "lendings",
        (1..=4)
            .map(|i| {
                doc! {"_id": ObjectId::new(), "tool_barcode": format!("T{:04}", 3 * i),
                "worker_barcode": format!("M{i:04}"), "lent_at": at, "returned_at": Bson::Null}
            })
            .collect(),
    )
    .await;
    put(
        "consumable_usages",
        (1..=3)
            .map(|i| {
                doc! {"_id": ObjectId::new(), "consumable_barcode": format!("V{i:04}"),
                "worker_barcode": "M0001", "quantity": i, "used_at": at}
            })
            .collect(),
    )
    .await;
    put(
        "settings",
        vec![
            doc! {"_id": ObjectId::new(), "key": "admin_email", "value": "admin@scandy.example"},
            doc! {"_id": ObjectId::new(), "key": "label_tools_name", "value": "Werkzeuge"},
        ],
    )
    .await;
    let tickets: Vec<ObjectId> = (0..2).map(|_| ObjectId::new()).collect();
    put(
        "tickets",
        tickets
            .iter()
            .map(|id| doc! {"_id": id, "title": "Bohrmaschine defekt", "status": "offen", "priority": "hoch", "created_at": at})
            .collect(),
    )
    .await;
    put(
        "ticket_messages",
        (0..3)
            .map(|i| doc! {"_id": ObjectId::new(), "ticket_id": tickets[i % 2], "sender": "admin", "message": format!("Nachricht {i}")})
            .collect(),
    )
    .await;
    put(
        "ticket_notes",
        (0..2)
            .map(|i| doc! {"_id": ObjectId::new(), "ticket_id": tickets[i], "note": "Ersatzteil bestellt", "is_private": true})
            .collect(),
    )
    .await;
}

/// Documents per collection of the `scandy` database.
async fn scandy_counts(client: mongodb::Client) -> BTreeMap<String, u64> {
    use mongodb::bson::{Document, doc};
    let db = client.database("scandy");
    let mut out = BTreeMap::new();
    for c in SCANDY {
        let n = db
            .collection::<Document>(c)
            .count_documents(doc! {})
            .await
            .expect("count");
        out.insert(c.to_string(), n);
    }
    out
}

/// The bytes of a mail's attachment (base64 in the message).
fn attachment(mail: &str) -> Vec<u8> {
    use base64::Engine as _;
    let mail = mail.replace("\r\n", "\n");
    let at = mail
        .find("Content-Disposition: attachment")
        .unwrap_or_else(|| panic!("no attachment in {mail}"));
    let part = &mail[at..];
    let body = &part[part.find("\n\n").expect("part body") + 2..];
    let encoded: String = body
        .lines()
        .take_while(|l| !l.starts_with("--"))
        .map(str::trim)
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64")
}

/// Whether `n` mails were sent (within a minute of real time, the paused
/// clock standing still meanwhile).
async fn delivered(api: &super::harness::InProcess, n: usize) -> bool {
    for _ in 0..3000 {
        let (_, d) = api.get("/api/v1/notifications").await;
        let sent = d["deliveries"].as_array().map_or(0, |v| {
            v.iter()
                .filter(|d| d["channel"] == "email" && d["state"] == "sent")
                .count()
        });
        if sent >= n {
            return true;
        }
        super::offclock::real_pause(20).await;
    }
    false
}

/// Scandy (seed 001) on MongoDB: backups at 06:00 and 18:00 in Berlin on
/// the server's clock, the last 10 kept, and after each one the admin whose
/// address Scandy stores in its `settings` collection gets a mail with the
/// backup attached; the schedule paused and resumed; a backup made by hand,
/// downloaded, and restored after a bad day with a safety snapshot first.
#[tokio::test(start_paused = true)]
async fn scandy_twice_a_day_keeps_ten_and_mails_the_admin_the_archive() {
    use super::offclock::{OffClock, on_real_time};
    use chrono::{DateTime, Utc};
    use std::sync::Arc;

    let dir = workspace(1).await;
    let smtp = super::harness::smtp_catcher(dir.path());
    let mongo = on_real_time(tresor_testing::mongo::MongoServer::secantus()).await;
    let url = mongo.url("scandy");
    let client = on_real_time(async move {
        let c = mongodb::Client::with_uri_str(url).await.expect("client");
        scandy_data(c.clone()).await;
        c
    })
    .await;
    let counts = || {
        let c = client.clone();
        on_real_time(scandy_counts(c))
    };
    let original = counts().await;

    let text = super::harness::server_config(
        dir.path(),
        &format!(
            r#"[sources.scandy]
url = "{url}"
schedule = ["0 6 * * *", "0 18 * * *"]
timezone = "Europe/Berlin"

[sources.scandy.retention]
keep-last = 10

[sources.scandy.notify]
events = ["backup-success", "failure"]
recipients-from = "settings: key = 'admin_email'"
recipients-column = "value"
"#,
            url = mongo.url("scandy")
        ),
        &format!(
            "public-url = \"https://backup.scandy.example\"\n\
             [notifications]\nattempts = 2\nbackoff = \"100ms\"\n\
             [notifications.email]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             from = \"tresor <tresor@scandy.example>\"\nto = []\nattach-archive-under = \"5 MiB\"\n",
            smtp.port
        ),
    );
    let engines =
        tresor_ops::Engines::new().with(Arc::new(OffClock(Arc::new(tresor_mongo::MongoConnector))));
    // Monday 2025-03-03, 05:59 in Berlin
    let start: DateTime<Utc> = "2025-03-03T04:59:00Z".parse().expect("time");
    let clock = tresor_server::Clock::starting_at(start);
    let server = tresor_server::Server::new(
        tresor_ops::Config::parse(&text, "test").expect("config"),
        engines,
        tresor_server::Options {
            clock,
            admin_password: Some(super::harness::ADMIN_PASSWORD.into()),
            announce: false,
            ..tresor_server::Options::default()
        },
    )
    .await
    .expect("server");
    let api = super::harness::InProcess::login(server.router()).await;
    let mails_reach = |n: usize| delivered(&api, n);

    // the dashboard: active, and the next run is 06:00
    let (_, status) = api.get("/api/v1/status").await;
    assert_eq!(status["sources"][0]["name"], "scandy", "{status}");
    assert_eq!(
        status["sources"][0]["next_run"], "2025-03-03T05:00:00Z",
        "{status}"
    );

    // six days: twelve backups, each mailed
    let run = |k: i64| {
        DateTime::parse_from_rfc3339("2025-03-03T05:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
            + chrono::Duration::hours(12 * k)
    };
    for k in 0..12 {
        tokio::time::sleep(clock.until(run(k) + chrono::Duration::seconds(1))).await;
        assert!(
            mails_reach(k as usize + 1).await,
            "no mail after the backup of {}",
            run(k)
        );
    }
    let (_, jobs) = api.get("/api/v1/jobs?kind=backup&limit=100").await;
    let mut planned: Vec<String> = jobs["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            assert_eq!(j["state"], "succeeded", "{j}");
            assert_eq!(j["trigger"], "scheduled", "{j}");
            j["scheduled_for"]
                .as_str()
                .expect("scheduled_for")
                .to_string()
        })
        .collect();
    planned.sort();
    let expected: Vec<String> = (0..12)
        .map(|k| run(k).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .collect();
    assert_eq!(planned, expected, "06:00 and 18:00 in Berlin (CET)");
    let removed: usize = jobs["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            j["figures"]["retention_removed"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .sum();
    assert_eq!(removed, 2, "the last 10 kept: {jobs}");
    let (_, list) = api.get("/api/v1/snapshots?source=scandy").await;
    assert_eq!(list["total"], 10, "{list}");

    // each mail went to the admin Scandy stores, said what happened,
    // linked to its job and carried the backup
    let mails = super::harness::mails(&smtp.maildir);
    assert_eq!(mails.len(), 12);
    for m in &mails {
        assert!(m.contains("To: admin@scandy.example"), "{m}");
        assert!(m.contains("backup of scandy succeeded"), "{m}");
        assert!(m.contains("https://backup.scandy.example/jobs/"), "{m}");
    }
    let zip = attachment(&mails[0]);
    assert!(zip.starts_with(b"PK"), "a ZIP archive is attached");
    let names = String::from_utf8_lossy(&zip).into_owned();
    for c in SCANDY {
        assert!(
            names.contains(&format!("{c}.jsonl")),
            "{c} in the attachment"
        );
    }

    // the backup log of a run
    let first = jobs["jobs"][0]["id"].as_i64().expect("id");
    let (_, logs) = api.get(&format!("/api/v1/jobs/{first}/logs")).await;
    let lines: Vec<&str> = logs["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l["message"].as_str())
        .collect();
    assert!(
        lines.iter().any(|l| l.starts_with("table tools: 12 rows")),
        "{lines:?}"
    );

    // stopped: a day passes without a backup, and the page says paused
    let (st, v) = api.post("/api/v1/sources/scandy/pause", json!({})).await;
    assert_eq!(st, 200, "{v}");
    tokio::time::sleep(clock.until(run(14) + chrono::Duration::seconds(1))).await;
    let (_, jobs) = api.get("/api/v1/jobs?kind=backup&limit=100").await;
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(12), "{jobs}");
    let (_, sched) = api.get("/api/v1/schedule").await;
    assert_eq!(sched["sources"][0]["state"], "paused", "{sched}");
    assert_eq!(sched["sources"][0]["next_run"], Value::Null, "{sched}");
    // started again: the next 06:00 or 18:00 runs
    let (st, v) = api.post("/api/v1/sources/scandy/resume", json!({})).await;
    assert_eq!(st, 200, "{v}");
    let (_, status) = api.get("/api/v1/status").await;
    let next = run(15).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert_eq!(status["sources"][0]["next_run"], next.as_str(), "{status}");
    tokio::time::sleep(clock.until(run(15) + chrono::Duration::seconds(1))).await;
    assert!(mails_reach(13).await, "no mail after the resumed run");
    let (_, list) = api.get("/api/v1/snapshots?source=scandy").await;
    assert_eq!(list["total"], 10, "{list}");

    // a backup by hand, mailed too, downloaded
    let (st, v) = api
        .post(
            "/api/v1/snapshots",
            json!({"source": "scandy", "reason": "vor dem Update"}),
        )
        .await;
    assert_eq!(st, 202, "{v}");
    let job = api.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["trigger"], "manual", "{job}");
    let manual = job["figures"]["snapshot"].as_str().expect("id").to_string();
    assert!(mails_reach(14).await, "no mail after the manual backup");
    let (_, list) = api.get("/api/v1/snapshots?source=scandy").await;
    assert_eq!(list["total"], 10, "{list}");
    assert_eq!(list["snapshots"][0]["id"], manual.as_str(), "newest first");
    let (st, headers, zip) = api
        .send("GET", &format!("/api/v1/snapshots/{manual}/archive"), None)
        .await;
    assert_eq!(st, 200);
    assert!(
        headers["content-disposition"]
            .to_str()
            .is_ok_and(|d| d.contains(".zip")),
        "{headers:?}"
    );
    let names = String::from_utf8_lossy(&zip).into_owned();
    for c in SCANDY {
        assert!(names.contains(&format!("{c}.jsonl")), "{c} in the download");
    }

    // a bad day: lendings lost, a tool renamed, the ticket notes dropped
    on_real_time({
        let c = client.clone();
        async move {
            use mongodb::bson::{Document, doc};
            let db = c.database("scandy");
            db.collection::<Document>("lendings")
                .delete_many(doc! {})
                .await
                .expect("delete");
            db.collection::<Document>("tools")
                .update_one(doc! {"barcode": "T0001"}, doc! {"$set": {"name": "kaputt"}})
                .await
                .expect("update");
            db.collection::<Document>("ticket_notes")
                .drop()
                .await
                .expect("drop");
        }
    })
    .await;
    let damaged = counts().await;
    assert_eq!(damaged["lendings"], 0);
    assert_eq!(damaged["ticket_notes"], 0);

    // restore: the preview, then the confirmation
    let (st, p) = api
        .post(
            "/api/v1/restore/preview",
            json!({"snapshot": manual, "target": "scandy"}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["safety_snapshot"], true, "{p}");
    assert_eq!(p["rehearsal"]["outcome"], "passed", "{p}");
    let tables = p["tables"].as_array().expect("tables");
    let lendings = tables
        .iter()
        .find(|t| t["name"] == "lendings")
        .expect("lendings");
    assert_eq!(lendings["inserted"], 4, "{p}");
    let tools = tables.iter().find(|t| t["name"] == "tools").expect("tools");
    assert_eq!(tools["updated"], 1, "{p}");
    let (st, v) = api
        .post(
            "/api/v1/restores",
            json!({"preview_id": p["preview_id"], "confirm": {"target": "scandy", "snapshot": &manual[..8]}}),
        )
        .await;
    assert_eq!(st, 202, "{v}");
    let job = api.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(counts().await, original, "every collection as it was");
    let name: Option<String> = on_real_time({
        let c = client.clone();
        async move {
            use mongodb::bson::{Document, doc};
            c.database("scandy")
                .collection::<Document>("tools")
                .find_one(doc! {"barcode": "T0001"})
                .await
                .expect("find")
                .and_then(|d| d.get_str("name").ok().map(str::to_string))
        }
    })
    .await;
    assert_eq!(name.as_deref(), Some("Akkuschrauber 1"));
    // the bad day was kept first, in the safety snapshot
    let safety = job["figures"]["safety_snapshot"]
        .as_str()
        .expect("a safety snapshot")
        .to_string();
    let (st, s) = api.get(&format!("/api/v1/snapshots/{safety}")).await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["trigger"], "pre-restore", "{s}");
    let kept = s["table_list"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"] == "tools")
        .map(|t| t["rows"].clone());
    assert_eq!(kept, Some(json!(12)), "{s}");
    assert_eq!(super::harness::mails(&smtp.maildir).len(), 14);
    drop(server);
    drop(mongo);
}
