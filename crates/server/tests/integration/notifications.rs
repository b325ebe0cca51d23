//! Notifications against a real SMTP catcher (aiosmtpd) and a webhook
//! receiver: a scheduled backup fails for a reason that may pass, emails
//! and posts about it, is retried and succeeds, and the success mail
//! carries the backup as an attached archive. A webhook that fails once is
//! retried.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tresor_core::{
    Connector, Engine, ErrorKind, ReadOptions, Source, SourceError, SourceSnapshot, Target,
};
use tresor_ops::{Config, Engines};

use super::harness::{TestServer, config_text, free_port, mails, smtp_catcher, workspace};

/// `flaky:///path.db`: SQLite whose first `fail` opens fail with a
/// connection error (retryable).
struct Flaky {
    fail: u32,
    opens: Arc<AtomicU32>,
}

struct FlakySource {
    inner: Box<dyn Source>,
    fail: u32,
    opens: Arc<AtomicU32>,
}

#[async_trait]
impl Source for FlakySource {
    fn engine(&self) -> Engine {
        Engine::SQLITE
    }
    async fn open(&self, options: &ReadOptions) -> Result<Box<dyn SourceSnapshot>, SourceError> {
        if self.opens.fetch_add(1, Ordering::SeqCst) < self.fail {
            return Err(
                SourceError::new(ErrorKind::Connection, "connection reset by peer")
                    .with_hint("check the network"),
            );
        }
        self.inner.open(options).await
    }
}

impl Connector for Flaky {
    fn engine(&self) -> Engine {
        Engine::SQLITE
    }
    fn accepts(&self, url: &str) -> bool {
        url.starts_with("flaky://")
    }
    fn example_url(&self) -> &'static str {
        "flaky:///path/app.db"
    }
    fn default_jobs(&self) -> usize {
        tresor_sqlite::SqliteConnector.default_jobs()
    }
    fn source(&self, url: &str) -> Result<Box<dyn Source>, SourceError> {
        let inner =
            tresor_sqlite::SqliteConnector.source(&url.replacen("flaky://", "sqlite://", 1))?;
        Ok(Box::new(FlakySource {
            inner,
            fail: self.fail,
            opens: self.opens.clone(),
        }))
    }
    fn target(&self, url: &str) -> Result<Box<dyn Target>, SourceError> {
        tresor_sqlite::SqliteConnector.target(&url.replacen("flaky://", "sqlite://", 1))
    }
}

#[derive(Clone, Default)]
struct Hooks {
    received: Arc<Mutex<Vec<(String, HeaderMap, String)>>>,
    calls: Arc<AtomicU32>,
}

async fn hook(
    State(h): State<Hooks>,
    axum::extract::Path(kind): axum::extract::Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    // The generic hook fails on its first call, to be retried.
    if kind == "generic" && h.calls.fetch_add(1, Ordering::SeqCst) == 0 {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if let Ok(mut r) = h.received.lock() {
        r.push((kind, headers, body));
    }
    StatusCode::OK
}

async fn webhook_receiver() -> (String, Hooks) {
    let hooks = Hooks::default();
    let app = axum::Router::new()
        .route("/hook/{kind}", axum::routing::post(hook))
        .with_state(hooks.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, hooks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_emails_and_retries_then_success_mails_the_archive() {
    let dir = workspace(40).await;
    let smtp = smtp_catcher(dir.path());
    let (hooks_base, hooks) = webhook_receiver().await;
    let text = config_text(
        dir.path(),
        r#"schedule = "*/2 * * * * *"
retries = 2
retry-backoff = "200ms""#,
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
attach-archive-under = "5 MiB"

[[notifications.webhooks]]
url = "{hooks_base}/hook/generic"
format = "generic"
events = ["backup-failure", "backup-success"]

[[notifications.webhooks]]
url = "{hooks_base}/hook/slack"
format = "slack"
events = ["failure"]

[[notifications.webhooks]]
url = "{hooks_base}/hook/discord"
format = "discord"
events = ["failure"]

[[notifications.webhooks]]
url = "{hooks_base}/hook/ntfy"
format = "ntfy"
events = ["failure"]
"#,
            port = smtp.port
        ),
    )
    .replace("url = \"sqlite://", "url = \"flaky://");
    let config = Config::parse(&text, "test").expect("config");
    let opens = Arc::new(AtomicU32::new(0));
    let engines = Engines::new()
        .with(Arc::new(Flaky {
            fail: 1,
            opens: opens.clone(),
        }))
        .with(Arc::new(tresor_sqlite::SqliteConnector));
    let s = TestServer::start_with(config, engines, dir.path()).await;

    // Wait for a scheduled failure and its successful retry.
    let mut ok = None;
    for _ in 0..200 {
        let (_, jobs) = s.get(&s.admin, "/api/v1/jobs?kind=backup&limit=20").await;
        let list = jobs["jobs"].as_array().cloned().unwrap_or_default();
        if let Some(j) = list.iter().find(|j| j["state"] == "succeeded") {
            ok = Some((list.clone(), j.clone()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (list, success) = ok.expect("a scheduled backup succeeded");
    let failed = list
        .iter()
        .find(|j| j["state"] == "failed")
        .expect("the first attempt failed");
    assert_eq!(failed["attempt"], 1, "{failed}");
    assert_eq!(failed["trigger"], "scheduled");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("connection reset")),
        "{failed}"
    );
    assert_eq!(success["attempt"], 2, "{success}");
    assert_eq!(success["scheduled_for"], failed["scheduled_for"]);
    // Stop further runs.
    let (st, _) = s
        .post(&s.admin, "/api/v1/sources/app/pause", json!({}))
        .await;
    assert_eq!(st, 200);

    // Mail: one about the failure, one about the success with the archive.
    let mut got = Vec::new();
    for _ in 0..100 {
        got = mails(&smtp.maildir);
        let failure = got.iter().any(|m| m.contains("backup of app failed"));
        let success = got.iter().any(|m| m.contains("backup of app succeeded"));
        if failure && success {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failure_mail = got
        .iter()
        .find(|m| m.contains("backup of app failed"))
        .expect("failure mail");
    assert!(failure_mail.contains("connection reset"), "{failure_mail}");
    let success_mail = got
        .iter()
        .find(|m| m.contains("backup of app succeeded"))
        .expect("success mail");
    assert!(
        success_mail.contains("Content-Disposition: attachment"),
        "{success_mail}"
    );
    assert!(success_mail.contains(".zip"), "{success_mail}");

    // Webhooks: every format got the failure; the generic one failed once
    // and was delivered on its second attempt.
    for _ in 0..100 {
        let kinds: Vec<String> = hooks
            .received
            .lock()
            .map(|r| r.iter().map(|(k, _, _)| k.clone()).collect())
            .unwrap_or_default();
        if ["generic", "slack", "discord", "ntfy"]
            .iter()
            .all(|k| kinds.iter().any(|x| x == k))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = hooks.received.lock().map(|r| r.clone()).unwrap_or_default();
    let body = |kind: &str| {
        received
            .iter()
            .find(|(k, _, _)| k == kind)
            .map(|(_, h, b)| (h.clone(), b.clone()))
            .unwrap_or_else(|| panic!("no {kind} webhook in {received:?}"))
    };
    let (_, generic) = body("generic");
    let g: Value = serde_json::from_str(&generic).expect("json");
    assert!(
        g["event"] == "backup-failure" || g["event"] == "backup-success",
        "{g}"
    );
    assert!(serde_json::from_str::<Value>(&body("slack").1).expect("json")["text"].is_string());
    assert!(
        serde_json::from_str::<Value>(&body("discord").1).expect("json")["content"].is_string()
    );
    let (ntfy_headers, ntfy_body) = body("ntfy");
    assert!(ntfy_headers.contains_key("title"), "{ntfy_headers:?}");
    assert!(ntfy_body.contains("failed"), "{ntfy_body}");

    // Deliveries are recorded, with the retried one visible.
    let (_, d) = s.get(&s.admin, "/api/v1/notifications").await;
    let deliveries = d["deliveries"].as_array().expect("deliveries");
    assert!(
        deliveries.iter().any(
            |d| d["channel"].as_str().is_some_and(|c| c.contains("generic"))
                && d["state"] == "sent"
                && d["attempts"].as_i64().is_some_and(|a| a >= 2)
        ),
        "{deliveries:?}"
    );
    assert!(
        deliveries
            .iter()
            .any(|d| d["channel"] == "email" && d["state"] == "sent"),
        "{deliveries:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_mail_server_is_logged_and_does_not_block_backups() {
    let dir = workspace(5).await;
    let text = config_text(
        dir.path(),
        "",
        &format!(
            r#"
[notifications]
attempts = 2
backoff = "50ms"
[notifications.email]
host = "127.0.0.1"
port = {port}
tls = "none"
from = "tresor@example.com"
to = ["ops@example.com"]
on-success = ["*"]
"#,
            port = free_port()
        ),
    );
    let s = TestServer::start_with(
        Config::parse(&text, "t").expect("c"),
        super::harness::engines(),
        dir.path(),
    )
    .await;
    let job = s.backup(json!({"source": "app"})).await;
    assert_eq!(job["state"], "succeeded");
    let mut failed = false;
    for _ in 0..100 {
        let (_, d) = s.get(&s.admin, "/api/v1/notifications").await;
        if d["deliveries"].as_array().is_some_and(|v| {
            v.iter().any(|d| {
                d["state"] == "failed" && d["attempts"] == 2 && d["last_error"].is_string()
            })
        }) {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(failed, "the failed delivery is recorded");
    s.stop().await;
}
