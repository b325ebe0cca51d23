//! The API end to end: backup, list, show, live counts, download, upload
//! (size limit, damage, preview, import), restore with preview and
//! confirmation, drill, jobs and logs, metrics, graceful shutdown.

use serde_json::{Value, json};

use super::harness::{TestServer, csrf_in, workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_download_upload_and_restore() {
    let dir = workspace(300).await;
    let s = TestServer::start(dir.path(), "", "").await;

    // health and status
    let r = s.http.get(s.url("/healthz")).send().await.expect("healthz");
    assert_eq!(r.status(), 200);
    let (st, status) = s.get(&s.admin, "/api/v1/status").await;
    assert_eq!(st, 200);
    assert_eq!(status["sources"][0]["name"], "app");
    assert_eq!(status["sources"][0]["health"], "never");

    // live counts
    let (st, counts) = s.get(&s.admin, "/api/v1/sources/app/counts").await;
    assert_eq!(st, 200, "{counts}");
    assert_eq!(counts["total_rows"], 601);

    // a full backup and a group backup
    let job = s.backup(json!({"source": "app", "reason": "test"})).await;
    let snap = job["figures"]["snapshot"]
        .as_str()
        .expect("snapshot")
        .to_string();
    assert_eq!(job["figures"]["rows"], 601);
    let group = s
        .backup(json!({"source": "app", "group": "user-data"}))
        .await;
    assert_eq!(group["figures"]["tables"], 1);

    let (_, list) = s.get(&s.admin, "/api/v1/snapshots?source=app").await;
    assert_eq!(list["snapshots"].as_array().map(Vec::len), Some(2));
    let (_, tagged) = s
        .get(&s.admin, "/api/v1/snapshots?tag=group:user-data")
        .await;
    assert_eq!(tagged["snapshots"].as_array().map(Vec::len), Some(1));
    let (st, one) = s
        .get(&s.admin, &format!("/api/v1/snapshots/{}", &snap[..10]))
        .await;
    assert_eq!(st, 200);
    assert_eq!(one["table_list"].as_array().map(Vec::len), Some(3));
    let (st, bad) = s.get(&s.admin, "/api/v1/snapshots?since=yesterday").await;
    assert_eq!(st, 400);
    assert!(bad["error"]["message"].is_string(), "{bad}");

    // logs of the job
    let (_, logs) = s
        .get(&s.admin, &format!("/api/v1/jobs/{}/logs", job["id"]))
        .await;
    assert!(
        logs["lines"].as_array().is_some_and(|l| l.len() > 2),
        "{logs}"
    );

    // download, streamed as a ZIP
    let r = s
        .http
        .get(s.url(&format!("/api/v1/snapshots/{snap}/archive")))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let zip = r.bytes().await.expect("bytes");
    assert_eq!(&zip[..2], b"PK");

    // upload: too large -> 413 with a JSON error, answered from the
    // announced length before any of the body is read
    let (st, e) = s
        .raw(
            &format!(
                "POST /api/v1/archives HTTP/1.1\r\nAuthorization: Bearer {}\r\nContent-Length: {}",
                s.admin,
                3 << 20
            ),
            b"",
        )
        .await;
    assert_eq!(st, 413, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("limit")),
        "{e}"
    );
    // and without a length (chunked): refused once the limit is passed;
    // the client stops sending there and waits for the answer
    let over = (2 << 20) + 1;
    let mut chunk = format!("{over:x}\r\n").into_bytes();
    chunk.resize(chunk.len() + over, b'x');
    let (st, e) = s
        .raw(
            &format!(
                "POST /api/v1/archives HTTP/1.1\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked",
                s.admin
            ),
            &chunk,
        )
        .await;
    assert_eq!(st, 413, "{e}");
    assert!(
        e["error"]["hint"]
            .as_str()
            .is_some_and(|m| m.contains("upload-limit")),
        "{e}"
    );

    // upload: damaged -> refused
    let mut damaged = zip.to_vec();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0xff;
    let r = s
        .http
        .post(s.url("/api/v1/archives"))
        .bearer_auth(&s.admin)
        .body(damaged)
        .send()
        .await
        .expect("upload");
    assert!(r.status().is_client_error(), "{}", r.status());

    // upload: valid -> preview -> import
    let r = s
        .http
        .post(s.url("/api/v1/archives"))
        .bearer_auth(&s.admin)
        .header("x-file-name", "backup.zip")
        .body(zip.to_vec())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 201);
    let up: Value = r.json().await.expect("json");
    assert_eq!(up["rows"], 601, "{up}");
    let (st, v) = s
        .post(
            &s.admin,
            &format!(
                "/api/v1/archives/{}/import",
                up["upload"].as_str().expect("id")
            ),
            json!({}),
        )
        .await;
    assert_eq!(st, 202, "{v}");
    let import = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(import["state"], "succeeded", "{import}");

    // damage the live database, then restore: preview first
    let conn = rusqlite::Connection::open(dir.path().join("app.db")).expect("db");
    conn.execute("DELETE FROM orders WHERE id > 200", [])
        .expect("delete");
    conn.execute("UPDATE customers SET name = 'x' WHERE id <= 5", [])
        .expect("update");
    drop(conn);
    let (st, p) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": snap, "target": "app", "mode": "replace"}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    let orders = p["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "orders"))
        .expect("orders");
    assert_eq!(orders["inserted"], 100, "{p}");
    let customers = p["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "customers"))
        .expect("customers");
    assert_eq!(customers["updated"], 5, "{p}");

    // a wrong confirmation is refused, the right one restores
    let pid = p["preview_id"].as_str().expect("preview id");
    let (st, e) = s
        .post(
            &s.admin,
            "/api/v1/restores",
            json!({"preview_id": pid, "confirm": {"target": "other", "snapshot": &snap[..8]}}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.contains(&snap[..8])),
        "{e}"
    );
    let (st, v) = s
        .post(
            &s.admin,
            "/api/v1/restores",
            json!({"preview_id": pid, "confirm": {"target": "app", "snapshot": &snap[..8]}}),
        )
        .await;
    assert_eq!(st, 202, "{v}");
    let restore = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(restore["state"], "succeeded", "{restore}");
    assert!(
        restore["figures"]["safety_snapshot"].is_string(),
        "{restore}"
    );
    let (_, counts) = s.get(&s.admin, "/api/v1/sources/app/counts").await;
    assert_eq!(counts["total_rows"], 601);
    // the preview was used up
    let (st, _) = s
        .post(
            &s.admin,
            "/api/v1/restores",
            json!({"preview_id": pid, "confirm": {"target": "app", "snapshot": &snap[..8]}}),
        )
        .await;
    assert_eq!(st, 404);

    // a drill restores into a scratch database and compares counts
    let (st, v) = s
        .post(&s.admin, "/api/v1/drills", json!({"source": "app"}))
        .await;
    assert_eq!(st, 202);
    let drill = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(drill["state"], "succeeded", "{drill}");

    // check, retention through forget, prune
    let (_, v) = s
        .post(&s.admin, "/api/v1/checks", json!({"read_data": true}))
        .await;
    assert_eq!(
        s.wait_job(v["job"].as_i64().expect("job")).await["state"],
        "succeeded"
    );
    let (st, v) = s
        .post(
            &s.admin,
            "/api/v1/forget",
            json!({"source": "app", "retention": {"keep-last": 1}}),
        )
        .await;
    assert_eq!(st, 202, "{v}");
    let forget = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(forget["state"], "succeeded", "{forget}");
    let (_, v) = s.post(&s.admin, "/api/v1/prune", json!({})).await;
    assert_eq!(
        s.wait_job(v["job"].as_i64().expect("job")).await["state"],
        "succeeded"
    );

    // delete needs the id spelt out
    let (_, list) = s.get(&s.admin, "/api/v1/snapshots?source=app").await;
    let last = list["snapshots"][0]["id"].as_str().expect("id").to_string();
    let r = s
        .http
        .delete(s.url("/api/v1/snapshots/latest"))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 400);
    let r = s
        .http
        .delete(s.url(&format!("/api/v1/snapshots/{last}")))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 200);

    // metrics and audit
    let r = s
        .http
        .get(s.url("/metrics"))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("metrics");
    let text = r.text().await.expect("text");
    assert!(
        text.contains("tresor_backup_last_success_timestamp_seconds{source=\"app\"}"),
        "{text}"
    );
    let (_, audit) = s.get(&s.admin, "/api/v1/audit").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "backup.start",
        "restore.preview",
        "restore.start",
        "snapshot.download",
        "snapshot.delete",
        "archive.upload",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    // the OpenAPI document is served
    let (st, doc) = s.get(&s.admin, "/api/v1/openapi.json").await;
    assert_eq!(st, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    // the log file got one text line per event, without colour codes
    let log = std::fs::read_to_string(dir.path().join("server.log")).expect("log");
    let finished: Vec<&str> = log.lines().filter(|l| l.contains("job finished")).collect();
    assert!(!finished.is_empty(), "no job finished line: {log}");
    assert!(
        finished
            .iter()
            .all(|l| l.starts_with('[') && l.contains("] info  job finished job=")),
        "{log}"
    );
    let jobs: std::collections::HashSet<&str> = finished
        .iter()
        .filter_map(|l| l.split("job=").nth(1))
        .filter_map(|r| r.split(' ').next())
        .collect();
    assert_eq!(jobs.len(), finished.len(), "one line per event: {log}");
    assert!(!log.contains('\u{1b}'), "{log}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_can_be_cancelled_and_shutdown_is_clean() {
    let dir = workspace(20_000).await;
    let s = TestServer::start(dir.path(), "", "").await;
    let (st, v) = s
        .post(&s.admin, "/api/v1/snapshots", json!({"source": "app"}))
        .await;
    assert_eq!(st, 202);
    let id = v["job"].as_i64().expect("job");
    let (st, _) = s
        .post(&s.admin, &format!("/api/v1/jobs/{id}/cancel"), json!({}))
        .await;
    // It may have finished already on a fast machine; then 409.
    assert!(st == 200 || st == 409, "{st}");
    let j = s.wait_job(id).await;
    if st == 200 {
        assert_eq!(j["state"], "cancelled", "{j}");
        let (_, list) = s.get(&s.admin, "/api/v1/snapshots").await;
        assert_eq!(list["total"], 0, "a cancelled backup leaves no snapshot");
    }
    // Start another and stop the server while it runs: it finishes or is
    // cancelled, and the server returns.
    let (_, v) = s
        .post(&s.admin, "/api/v1/snapshots", json!({"source": "app"}))
        .await;
    assert!(v["job"].is_i64());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_login_and_work_with_one() {
    let dir = workspace(10).await;
    let s = TestServer::start(dir.path(), "", "").await;
    let r = s.http.get(s.url("/")).send().await.expect("get");
    assert_eq!(r.status(), 303);
    let r = s
        .http
        .get(s.url("/login"))
        .send()
        .await
        .expect("login page");
    assert_eq!(r.status(), 200);
    let r = s
        .http
        .get(s.url("/static/style.css"))
        .send()
        .await
        .expect("css");
    assert_eq!(r.status(), 200);
    let r = s
        .http
        .post(s.url("/login"))
        .form(&[("username", "admin"), ("password", "wrong-password")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 401);
    let r = s
        .http
        .post(s.url("/login"))
        .form(&[
            ("username", "admin"),
            ("password", super::harness::ADMIN_PASSWORD),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().expect("pair").to_string();
    for page in ["/", "/snapshots", "/jobs", "/users", "/settings", "/upload"] {
        let r = s
            .http
            .get(s.url(page))
            .header("cookie", &session)
            .send()
            .await
            .expect("page");
        let st = r.status();
        assert_eq!(st, 200, "{page}: {}", r.text().await.unwrap_or_default());
    }
    // pages with data: a backup through the form, its job, the snapshot,
    // the restore preview
    let page = s
        .http
        .get(s.url("/"))
        .header("cookie", &session)
        .send()
        .await
        .expect("page");
    let html = page.text().await.expect("html");
    let csrf = csrf_in(&html);
    // a form the page posts: the session cookie and a CSRF token
    let form_post = |path: &str, token: &str| {
        s.http
            .post(s.url(path))
            .header("cookie", &session)
            .form(&[("csrf", token)])
    };
    let r = form_post("/sources/app/backup", &csrf)
        .send()
        .await
        .expect("backup form");
    assert_eq!(r.status(), 303);
    let job_page = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let id: i64 = job_page
        .trim_start_matches("/jobs/")
        .parse()
        .expect("job id");
    let job = s.wait_job(id).await;
    let snap = job["figures"]["snapshot"]
        .as_str()
        .expect("snapshot")
        .to_string();
    for page in [
        job_page.clone(),
        format!("/snapshots/{snap}"),
        "/".into(),
        "/jobs".into(),
        "/settings".into(),
        "/sources/app/counts".into(),
    ] {
        let r = s
            .http
            .get(s.url(&page))
            .header("cookie", &session)
            .send()
            .await
            .expect("page");
        let st = r.status();
        assert_eq!(st, 200, "{page}: {}", r.text().await.unwrap_or_default());
    }
    let preview_form = |mode: &'static str| {
        s.http
            .post(s.url(&format!("/snapshots/{snap}/preview")))
            .header("cookie", &session)
            .form(&[("csrf", csrf.as_str()), ("target", "app"), ("mode", mode)])
            .send()
    };
    let r = preview_form("merge").await.expect("preview form");
    let st = r.status();
    let html = r.text().await.unwrap_or_default();
    assert_eq!(st, 200, "{html}");
    assert!(
        html.contains("preview-table") && html.contains("customers"),
        "{html}"
    );
    // the restore form used to read an unknown mode as replace; it is
    // refused with the mode named
    let r = preview_form("upsert").await.expect("preview form");
    let st = r.status();
    let html = r.text().await.unwrap_or_default();
    assert_eq!(st, 400, "{html}");
    assert!(html.contains("unknown restore mode"), "{html}");
    // a table made since the backup: left alone, or dropped when the box
    // is ticked
    rusqlite::Connection::open(dir.path().join("app.db"))
        .expect("db")
        .execute_batch("CREATE TABLE coupons (code TEXT); INSERT INTO coupons VALUES ('x');")
        .expect("a new table");
    for (tick, says) in [
        (
            None,
            "Left alone (the snapshot does not have them): coupons",
        ),
        (
            Some("1"),
            "Dropped (the snapshot does not have them): coupons (1 rows)",
        ),
    ] {
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("target", "app"),
            ("mode", "replace"),
        ];
        if let Some(t) = tick {
            form.push(("drop_extra_tables", t));
        }
        let r = s
            .http
            .post(s.url(&format!("/snapshots/{snap}/preview")))
            .header("cookie", &session)
            .form(&form)
            .send()
            .await
            .expect("preview form");
        let html = r.text().await.unwrap_or_default();
        assert!(html.contains(says), "{says}: {html}");
    }
    let snapshot_page = s
        .http
        .get(s.url(&format!("/snapshots/{snap}")))
        .header("cookie", &session)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .unwrap_or_default();
    assert!(
        snapshot_page.contains("name=\"drop_extra_tables\"")
            && snapshot_page.contains("name=\"lock_wait\""),
        "{snapshot_page}"
    );
    // the form's lock wait: taken as the API takes it, refused when malformed
    for (wait, status, says) in [("5s", 200, "preview-table"), ("soon", 400, "lock_wait")] {
        let r = s
            .http
            .post(s.url(&format!("/snapshots/{snap}/preview")))
            .header("cookie", &session)
            .form(&[
                ("csrf", csrf.as_str()),
                ("target", "app"),
                ("mode", "replace"),
                ("lock_wait", wait),
            ])
            .send()
            .await
            .expect("preview form");
        let st = r.status();
        let html = r.text().await.unwrap_or_default();
        assert_eq!(st, status, "lock_wait {wait}: {html}");
        assert!(html.contains(says), "lock_wait {wait}: {html}");
    }

    // pausing and resuming a source from its page
    for (action, paused) in [("pause", true), ("resume", false)] {
        let r = form_post(&format!("/sources/app/{action}"), &csrf)
            .send()
            .await
            .expect("pause form");
        assert_eq!(r.status(), 303, "{action}");
        let (st, sched) = s.get(&s.admin, "/api/v1/schedule").await;
        assert_eq!(st, 200, "{sched}");
        assert_eq!(sched["sources"][0]["paused"], paused, "{action}: {sched}");
    }
    let r = form_post("/sources/app/explode", &csrf)
        .send()
        .await
        .expect("unknown action");
    assert_eq!(r.status(), 400);

    // a form POST without the CSRF token is refused
    let r = form_post("/sources/app/backup", "forged")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    // an API POST with only the cookie needs X-CSRF-Token
    let r = s
        .http
        .post(s.url("/api/v1/checks"))
        .header("cookie", &session)
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    s.stop().await;
}

fn psql(db: &str, sql: &str) {
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args(["-d", db, "-c", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A server whose source `pg` is a new PostgreSQL database (named
/// `prefix` and the process id) made by `sql`, backed up once.
async fn backed_up_pg(prefix: &str, sql: &str) -> (tempfile::TempDir, TestServer, String) {
    let dir = workspace(3).await;
    let db = format!("{prefix}_{}", std::process::id());
    psql("postgres", &format!("DROP DATABASE IF EXISTS {db}"));
    psql("postgres", &format!("CREATE DATABASE {db}"));
    psql(&db, sql);
    let s = TestServer::start(
        dir.path(),
        "",
        &format!("\n[sources.pg]\nurl = \"postgres://postgres@127.0.0.1:5432/{db}\"\n"),
    )
    .await;
    s.backup(json!({"source": "pg"})).await;
    (dir, s, db)
}

/// A preview into another engine lists what the target cannot keep, and
/// `strict` refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_into_another_engine_lists_approximations_and_strict_refuses() {
    let (_dir, s, db) = backed_up_pg(
        "tresor_srv_approx",
        "CREATE TABLE stamps (id integer PRIMARY KEY, at timestamptz NOT NULL);
         INSERT INTO stamps VALUES (1, '2024-05-01 10:00+02');",
    )
    .await;
    let (st, p) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": "latest:pg", "target": "app"}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    let a = &p["approximations"][0];
    assert_eq!(a["table"], "stamps", "{p}");
    assert_eq!(a["column"], "at", "{p}");
    assert_eq!(a["to"], "DATETIME", "{p}");
    let (st, e) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": "latest:pg", "target": "app", "strict": true}),
        )
        .await;
    assert_eq!(st, 409, "{e}");
    assert!(e.to_string().contains("--strict"), "{e}");
    s.stop().await;
    psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    );
}

/// A preview into a PostgreSQL database the application is still
/// connected to names its session and says what the restore does to its
/// writes (held from the safety snapshot until the commit), in the API and
/// on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_names_the_connected_application_and_what_happens_to_its_writes() {
    let (_dir, s, db) = backed_up_pg(
        "tresor_srv_sessions",
        "CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL);
         INSERT INTO notes VALUES (1, 'kept');",
    )
    .await;
    let mut app = std::process::Command::new("psql")
        .env("PGAPPNAME", "shop-web")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-X", "-q", "-d", &db])
        .args(["-c", "SELECT pg_sleep(60)"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    let body = json!({"snapshot": "latest:pg", "target": "pg"});
    let mut p = Value::Null;
    for _ in 0..50 {
        let (st, got) = s
            .post(&s.admin, "/api/v1/restore/preview", body.clone())
            .await;
        assert_eq!(st, 200, "{got}");
        p = got;
        if p["other_sessions"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(p["other_sessions"][0]["application"], "shop-web", "{p}");
    let writes = p["other_sessions_writes"].as_str().unwrap_or_default();
    assert!(
        writes.starts_with("their writes to the restored tables wait from the safety snapshot"),
        "{p}"
    );
    let (session, csrf) = s.session_and_csrf().await;
    let snap = p["snapshot"].as_str().expect("snapshot id").to_string();
    let html = s
        .http
        .post(s.url(&format!("/snapshots/{snap}/preview")))
        .header("cookie", &session)
        .form(&[
            ("csrf", csrf.as_str()),
            ("target", "pg"),
            ("mode", "replace"),
        ])
        .send()
        .await
        .expect("preview form")
        .text()
        .await
        .unwrap_or_default();
    assert!(
        html.contains("id=\"other-sessions\"")
            && html.contains("(shop-web, user postgres")
            && html.contains("Their writes to the restored tables wait from the safety snapshot"),
        "{html}"
    );
    let _ = app.kill();
    let _ = app.wait();
    s.stop().await;
    psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    );
}
