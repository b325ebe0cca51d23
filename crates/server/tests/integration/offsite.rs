//! Offsite repositories: every backup copied at once to a second
//! repository with its own password and retention, the copies' state in
//! the API, /metrics and the dashboard, prune reaching the copies, and an
//! offsite repository that cannot be opened failing its copies and raising
//! one `offsite-behind` notification until it is fixed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tresor_ops::list_snapshots;
use tresor_repo::{InitOptions, KdfParams, Password, Repository, Storage};

use super::harness::{TestServer, open_repo, smtp_catcher, workspace};

const OFFSITE_PASSWORD: &str = "offsite-password";

/// An empty repository at `dir/far` with its own password (and master key).
async fn offsite_repo(dir: &Path) -> Arc<Repository> {
    std::fs::write(dir.join("far-password"), OFFSITE_PASSWORD).expect("pw");
    Arc::new(
        Repository::init(
            Storage::local(dir.join("far")).expect("storage"),
            &Password::new(OFFSITE_PASSWORD),
            InitOptions {
                kdf: KdfParams::insecure_for_tests(),
                ..InitOptions::default()
            },
        )
        .await
        .expect("init"),
    )
}

fn offsite_section(dir: &Path, extra: &str) -> String {
    format!(
        "\n[offsite.far]\nsources = [\"app\"]\n{extra}\n[offsite.far.repository]\nurl = \"{}\"\npassword-file = \"{}\"\n",
        dir.join("far").display(),
        dir.join("far-password").display()
    )
}

/// The copy jobs, newest first.
async fn copy_jobs(server: &TestServer) -> Vec<Value> {
    let (_, v) = server.get(&server.admin, "/api/v1/jobs?kind=copy").await;
    v["jobs"].as_array().cloned().unwrap_or_default()
}

/// Waits until `n` copy jobs have ended; returns them, newest first.
async fn copies_ended(server: &TestServer, n: usize) -> Vec<Value> {
    for _ in 0..600 {
        let jobs = copy_jobs(server).await;
        let ended = jobs
            .iter()
            .filter(|j| !matches!(j["state"].as_str(), Some("queued" | "running")))
            .count();
        if ended >= n {
            return jobs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} copy jobs did not end: {:?}", copy_jobs(server).await);
}

async fn metrics(server: &TestServer) -> String {
    server
        .http
        .get(server.url("/metrics"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

fn sql(db: &Path, statement: &str) {
    rusqlite::Connection::open(db)
        .expect("open")
        .execute_batch(statement)
        .expect("sql");
}

/// Three backups, each copied right after it; the offsite keeps the two
/// newest (its own rule), under the same ids, and verifies; a copy by hand
/// sends nothing again, not even the copy its retention removed; prune
/// cleans both repositories.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_backup_is_copied_offsite_under_its_own_retention() {
    let dir = workspace(300).await;
    let far = offsite_repo(dir.path()).await;
    let server = TestServer::start(
        dir.path(),
        "",
        &offsite_section(dir.path(), "[offsite.far.retention]\nkeep-last = 2\n"),
    )
    .await;
    let db = dir.path().join("app.db");
    for i in 0..3 {
        sql(
            &db,
            &format!("UPDATE customers SET name = 'round {i}' WHERE id % 7 = {i}"),
        );
        server.backup(json!({"source": "app"})).await;
        let jobs = copies_ended(&server, i + 1).await;
        assert_eq!(jobs[0]["state"], "succeeded", "{}", jobs[0]);
        assert_eq!(jobs[0]["trigger"], "after-backup", "{}", jobs[0]);
        assert_eq!(jobs[0]["source"], "far", "{}", jobs[0]);
    }
    let jobs = copy_jobs(&server).await;
    let last = &jobs[0]["figures"];
    assert_eq!(
        last["copy"]["copied"].as_array().map(Vec::len),
        Some(1),
        "{last}"
    );
    // the later copies sent only what changed
    let first_bytes = jobs[2]["figures"]["copy"]["bytes_sent"]
        .as_u64()
        .expect("bytes");
    let last_bytes = last["copy"]["bytes_sent"].as_u64().expect("bytes");
    assert!(last_bytes < first_bytes, "{last_bytes} >= {first_bytes}");
    assert_eq!(
        last["forget"]["removed"].as_array().map(Vec::len),
        Some(1),
        "keep-last 2 removes the first copy: {last}"
    );

    // the same ids, the two newest, and they verify
    let primary = open_repo(dir.path()).await;
    let home: Vec<String> = list_snapshots(&primary)
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.id)
        .collect();
    far.reload_index().await.expect("index");
    let there: Vec<String> = list_snapshots(&far)
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(home.len(), 3);
    assert_eq!(there, home[1..].to_vec());
    let checked = tresor_ops::check(&far, true).await.expect("check");
    assert!(checked.is_ok(), "{:?}", checked.errors);

    // the API, /metrics and the dashboard say it is up to date
    let (s, v) = server.get(&server.admin, "/api/v1/offsite").await;
    assert_eq!(s, 200, "{v}");
    let far_view = &v["repositories"][0];
    assert_eq!(far_view["name"], "far", "{v}");
    assert_eq!(far_view["status"]["copies"], 2, "{v}");
    assert_eq!(far_view["status"]["pending"], json!([]), "{v}");
    assert_eq!(far_view["behind"], false, "{v}");
    assert!(far_view["error"].is_null(), "{v}");
    assert!(
        !far_view["location"]
            .as_str()
            .unwrap_or("")
            .contains(OFFSITE_PASSWORD),
        "{v}"
    );
    let text = metrics(&server).await;
    for line in [
        "tresor_offsite_pending_snapshots{repository=\"far\"} 0",
        "tresor_offsite_snapshots{repository=\"far\"} 2",
        "tresor_offsite_lag_seconds{repository=\"far\"} 0",
        "tresor_offsite_reachable{repository=\"far\"} 1",
        "tresor_offsite_copy_failures_total{repository=\"far\"} 0",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    assert!(
        text.contains("tresor_offsite_last_copy_success_timestamp_seconds{repository=\"far\"}"),
        "{text}"
    );
    let cookie = server.session().await;
    let html = server
        .http
        .get(server.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("dashboard")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Offsite copies"), "{html}");
    assert!(html.contains("up to date"), "{html}");
    assert!(html.contains("/offsite/far/copy"), "{html}");

    // by hand: nothing to send, and the copy retention removed is not
    // sent back
    let (s, v) = server
        .post(&server.admin, "/api/v1/offsite/far/copy", json!({}))
        .await;
    assert_eq!(s, 202, "{v}");
    let job = server.wait_job(v["job"].as_i64().expect("id")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["figures"]["copy"]["copied"], json!([]), "{job}");
    assert_eq!(job["figures"]["copy"]["blobs_sent"], 0, "{job}");
    let (s, v) = server
        .post(&server.admin, "/api/v1/offsite/nowhere/copy", json!({}))
        .await;
    assert_eq!(s, 404, "{v}");

    // prune reaches the offsite repository too
    let (s, v) = server.post(&server.admin, "/api/v1/prune", json!({})).await;
    assert_eq!(s, 202, "{v}");
    let job = server.wait_job(v["job"].as_i64().expect("id")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(job["figures"]["offsite"]["far"].is_object(), "{job}");
    far.reload_index().await.expect("index");
    let checked = tresor_ops::check(&far, true).await.expect("check");
    assert!(checked.is_ok(), "{:?}", checked.errors);
    server.stop().await;
}

/// An offsite repository whose password changed: each copy fails and is
/// mailed about, one `offsite-behind` mail goes out once the copies are
/// over `max-lag` behind, /metrics shows it; with the right password the
/// next copy catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offsite_that_cannot_be_opened_is_reported_until_it_catches_up() {
    let dir = workspace(50).await;
    let _far = offsite_repo(dir.path()).await;
    std::fs::write(dir.path().join("far-password"), "rotated-elsewhere").expect("pw");
    let smtp = smtp_catcher(dir.path());
    let server = TestServer::start(
        dir.path(),
        "",
        &format!(
            "[notifications]\nattempts = 2\nbackoff = \"100ms\"\n\
             [notifications.email]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             from = \"tresor <tresor@example.com>\"\nto = [\"ops@example.com\"]\non-failure = [\"*\"]\n{}",
            smtp.port,
            offsite_section(dir.path(), "max-lag = \"1s\"")
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.backup(json!({"source": "app"})).await;
    let jobs = copies_ended(&server, 1).await;
    let failed = &jobs[0];
    assert_eq!(failed["state"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap_or("");
    assert!(error.contains("password"), "{failed}");
    assert!(!error.contains("rotated-elsewhere"), "{failed}");

    let mails = |what: &'static str| {
        let maildir = smtp.maildir.clone();
        async move {
            for _ in 0..200 {
                let found: Vec<String> = super::harness::mails(&maildir)
                    .into_iter()
                    .filter(|m| m.contains(what))
                    .collect();
                if !found.is_empty() {
                    return found;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Vec::new()
        }
    };
    assert_eq!(
        mails("copy of far failed").await.len(),
        1,
        "copy-failure mail"
    );
    let behind = mails("offsite copies to far behind").await;
    assert_eq!(behind.len(), 1, "offsite-behind mail");
    assert!(behind[0].contains("cannot be reached"), "{}", behind[0]);
    let text = metrics(&server).await;
    for line in [
        "tresor_offsite_reachable{repository=\"far\"} 0",
        "tresor_offsite_copy_failures_total{repository=\"far\"} 1",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let (_, v) = server.get(&server.admin, "/api/v1/offsite").await;
    assert_eq!(v["repositories"][0]["behind"], true, "{v}");

    // a second failure in the same stretch sends no second behind mail
    let (_, v) = server
        .post(&server.admin, "/api/v1/offsite/far/copy", json!({}))
        .await;
    let job = server.wait_job(v["job"].as_i64().expect("id")).await;
    assert_eq!(job["state"], "failed", "{job}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mails("offsite copies to far behind").await.len(), 1);

    // the right password: the next copy catches up
    std::fs::write(dir.path().join("far-password"), OFFSITE_PASSWORD).expect("pw");
    let (_, v) = server
        .post(&server.admin, "/api/v1/offsite/far/copy", json!({}))
        .await;
    let job = server.wait_job(v["job"].as_i64().expect("id")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(
        job["figures"]["copy"]["copied"].as_array().map(Vec::len),
        Some(1),
        "{job}"
    );
    let (_, v) = server.get(&server.admin, "/api/v1/offsite").await;
    let far_view = &v["repositories"][0];
    assert_eq!(far_view["behind"], false, "{v}");
    assert_eq!(far_view["lag_seconds"], 0, "{v}");
    assert!(far_view["error"].is_null(), "{v}");
    server.stop().await;
}
