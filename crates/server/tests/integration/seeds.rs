//! The seed systems' workflows through the HTTP API: every backup keeps the
//! source's retention, whoever starts it; a group is kept apart and
//! accepted wherever tables are (counts, restore, download); the
//! deploy-safe restore leaves tables holding data alone; a backup taken by
//! URL is the source's.

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

/// curl, as Baby Buddy's users called its restore API.
async fn curl(s: &TestServer, path: &str, fields: &[&str]) -> (u16, Value) {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}"])
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", s.admin));
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

/// FixGSM's admin page: list the backups newest first, download one named
/// `fixgsm_backup_YYYYMMDD_HHMMSS.zip` in the server's time zone, restore
/// with a preview and a typed confirmation, delete with its full id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_download_restore_and_delete_as_the_admin_page_did() {
    let dir = workspace(20).await;
    let s = TestServer::start(
        dir.path(),
        "",
        "timezone = \"Europe/Bucharest\"\n[export]\nfile-name = \"fixgsm_backup_{time:%Y%m%d_%H%M%S}\"\n",
    )
    .await;
    for i in 0..3 {
        s.backup(json!({"source": "app", "reason": format!("manual {i}")}))
            .await;
    }
    let list = snapshots(&s, "source=app").await;
    let listed = list["snapshots"].as_array().expect("list");
    assert_eq!(listed.len(), 3);
    let times: Vec<&str> = listed
        .iter()
        .map(|x| x["time"].as_str().expect("time"))
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
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

    // restore: the preview, then the confirmation typed again
    let (st, p) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": newest, "target": "app"}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    let pid = p["preview_id"].as_str().expect("id");
    let (st, _) = s.confirm_restore(pid, &newest[..4]).await;
    assert_eq!(st, 400, "a short id is no confirmation");
    let (st, v) = s.confirm_restore(pid, &newest[..8]).await;
    assert_eq!(st, 202, "{v}");
    let job = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(job["state"], "succeeded", "{job}");

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
    assert_eq!(snapshots(&s, "source=app&trigger=manual").await["total"], 2);
    s.stop().await;
}

/// Scandy: after each backup the admin whose address the application
/// stores in its own database gets a mail saying what happened, linking
/// to the job, with the backup attached; the source's own recipients hear
/// about its failures only.
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
             from = \"tresor <tresor@example.com>\"\nto = []\nattach-archive-under = \"5 MiB\"\n",
            smtp.port
        ),
    )
    .await;
    let job = s
        .backup(json!({"source": "app", "reason": "morning"}))
        .await;
    let id = job["id"].as_i64().expect("id");
    let mut got = Vec::new();
    for _ in 0..100 {
        got = super::harness::mails(&smtp.maildir);
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(got.len(), 1, "{got:?}");
    let mail = &got[0];
    assert!(mail.contains("To: c2@example.com"), "{mail}");
    assert!(mail.contains("backup of app succeeded"), "{mail}");
    assert!(
        mail.contains(&format!("https://backup.example.com/jobs/{id}")),
        "{mail}"
    );
    assert!(mail.contains("Content-Disposition: attachment"), "{mail}");
    s.stop().await;
}
