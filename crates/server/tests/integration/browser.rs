//! The web admin in a real browser: headless Chromium (Debian's
//! `/usr/bin/chromium`) driven by playwright-core from
//! `tests/browser/flow.mjs`, against a server on an ephemeral port with a
//! real SMTP catcher. The script logs in, backs up and watches the job's
//! live progress, downloads the ZIP and checks its `metadata.json`,
//! restores through the preview and the typed confirmation, and finds the
//! email in the delivery lists; this test then checks the catcher got it.
//!
//! Chromium, node and npm are required: a missing one fails the test.
//! `TRESOR_BROWSER_OUT=DIR` keeps the download and the screenshots there
//! (default: the test's temp dir, removed at the end).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tresor_ops::Config;

use super::harness::{
    ADMIN_PASSWORD, TestServer, config_text, engines, mails, smtp_catcher, workspace,
};

pub(super) fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

pub(super) fn chromium() -> PathBuf {
    let path =
        std::env::var_os("CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from);
    assert!(
        path.exists(),
        "headless Chromium is required at {}: apt-get install -y chromium (.ci/services installs it)",
        path.display()
    );
    path
}

pub(super) fn require(tool: &str, install: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{tool} is required for the browser test: {install}");
}

/// Installs playwright-core and oidc-provider into
/// `tests/browser/node_modules` when they are not there yet (`npm ci` from
/// the lock file).
pub(super) fn node_modules() {
    let dir = browser_dir();
    if ["playwright-core", "oidc-provider"]
        .iter()
        .all(|p| dir.join(format!("node_modules/{p}/package.json")).exists())
    {
        return;
    }
    require("npm", "apt-get install -y npm (or Node.js 20 with npm)");
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .expect("run npm ci");
    assert!(
        out.status.success(),
        "npm ci in {} failed: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `node SCRIPT` (in `tests/browser`) with `env`, killed after
/// `limit`; returns (success, stdout, stderr).
pub(super) fn run_node(
    script: &str,
    env: &[(&str, String)],
    limit: Duration,
) -> (bool, String, String) {
    let mut cmd = Command::new("node");
    cmd.arg(script)
        .current_dir(browser_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start node");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, mut err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    if status.is_none() {
        err.push_str(&format!("\nkilled after {limit:?}"));
    }
    (status.is_some_and(|s| s.success()), out, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_backs_up_downloads_and_restores_in_chromium() {
    let chromium = chromium();
    require("node", "apt-get install -y nodejs (Node.js 20 or later)");
    require("sqlite3", "apt-get install -y sqlite3");
    node_modules();

    // Enough rows that the backup runs for a moment, to be watched live.
    let dir = workspace(150_000).await;
    let out_dir = std::env::var_os("TRESOR_BROWSER_OUT")
        .map_or_else(|| dir.path().join("browser"), PathBuf::from);
    std::fs::create_dir_all(&out_dir).expect("out dir");
    let smtp = smtp_catcher(dir.path());
    let text = config_text(
        dir.path(),
        "",
        &format!(
            r#"
[notifications]
attempts = 3
backoff = "100ms"

[notifications.email]
host = "127.0.0.1"
port = {port}
tls = "none"
from = "tresor <tresor@example.com>"
to = ["ops@example.com"]
on-success = ["app"]
on-failure = ["*"]
"#,
            port = smtp.port
        ),
    );
    let s = TestServer::start_with(
        Config::parse(&text, "test").expect("config"),
        engines(),
        dir.path(),
    )
    .await;

    let env = vec![
        ("TRESOR_URL", s.base.clone()),
        ("TRESOR_USER", "admin".to_string()),
        ("TRESOR_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("TRESOR_SOURCE", "app".to_string()),
        ("TRESOR_DB", dir.path().join("app.db").display().to_string()),
        ("TRESOR_OUT", out_dir.display().to_string()),
        ("CHROMIUM", chromium.display().to_string()),
    ];
    let (ok, stdout, stderr) =
        tokio::task::spawn_blocking(move || run_node("flow.mjs", &env, Duration::from_secs(90)))
            .await
            .expect("node");
    println!("{stdout}");
    eprintln!("{stderr}");
    if !ok {
        let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = log
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        panic!(
            "the browser flow failed:\n{stdout}\n{stderr}\nthe server's log ends with:\n{}",
            tail.join("\n")
        );
    }
    let result: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|l| serde_json::from_str(l).ok())
        .expect("the script prints its RESULT line");

    // What the browser did, as the API sees it.
    let backup_id = result["backupJobId"].as_i64().expect("backup job");
    let restore_id = result["restoreJobId"].as_i64().expect("restore job");
    let backup = s.wait_job(backup_id).await;
    assert_eq!(backup["kind"], "backup");
    assert_eq!(backup["state"], "succeeded", "{backup}");
    assert_eq!(backup["started_by"], "admin", "{backup}");
    let snapshot = result["snapshotId"].as_str().expect("snapshot");
    assert_eq!(backup["figures"]["snapshot"], snapshot);
    let restore = s.wait_job(restore_id).await;
    assert_eq!(restore["kind"], "restore");
    assert_eq!(restore["state"], "succeeded", "{restore}");
    let (_, audit) = s.get(&s.admin, "/api/v1/audit").await;
    let audit = audit.to_string();
    assert!(audit.contains("restore.start"), "{audit}");

    // The catcher got the backup's email, naming the snapshot.
    let mut got = Vec::new();
    for _ in 0..100 {
        got = mails(&smtp.maildir);
        if got.iter().any(|m| m.contains("backup of app succeeded")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mail = got
        .iter()
        .find(|m| m.contains("backup of app succeeded"))
        .unwrap_or_else(|| panic!("no success mail in {got:?}"));
    assert!(mail.contains("To: ops@example.com"), "{mail}");
    assert!(mail.contains(snapshot), "{mail}");

    // The screenshots, phone-sized and desktop, are PNG files.
    let shots = result["screenshots"].as_array().expect("screenshots");
    assert!(shots.len() >= 6, "{shots:?}");
    for p in shots {
        let bytes = std::fs::read(p.as_str().expect("path")).expect("screenshot");
        assert_eq!(&bytes[..4], b"\x89PNG", "{p}");
    }
    s.stop().await;
}
