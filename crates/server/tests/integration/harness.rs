//! Starting a server for a test: a temp directory with a sample SQLite
//! database, an initialised repository, a config, and an admin token.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;
use tresor_ops::{Config, Engines};
use tresor_repo::{InitOptions, KdfParams, Password, Repository, Storage};

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const REPO_PASSWORD: &str = "repo-password";

/// A database with a few tables.
pub fn make_db(path: &Path, customers: u32) {
    let mut conn = rusqlite::Connection::open(path).expect("open db");
    conn.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total REAL);
         CREATE TABLE events (at TEXT, kind TEXT);",
    )
    .expect("schema");
    let tx = conn.transaction().expect("tx");
    for i in 1..=customers {
        tx.execute(
            "INSERT INTO customers VALUES (?1, ?2, ?3)",
            rusqlite::params![i, format!("Customer {i}"), format!("c{i}@example.com")],
        )
        .expect("customer");
        tx.execute(
            "INSERT INTO orders VALUES (?1, ?2, ?3)",
            rusqlite::params![i, i, f64::from(i) * 1.5],
        )
        .expect("order");
    }
    tx.execute("INSERT INTO events VALUES ('2025-01-01', 'start')", [])
        .expect("event");
    tx.commit().expect("commit");
}

/// A temp dir with `app.db`, an initialised `repo/` and a password file.
/// The CSRF token the forms of a page carry.
pub fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf token in the page")
        .to_string()
}

pub async fn workspace(customers: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    make_db(&dir.path().join("app.db"), customers);
    std::fs::write(dir.path().join("repo-password"), REPO_PASSWORD).expect("pw");
    let storage = Storage::local(dir.path().join("repo")).expect("storage");
    Repository::init(
        storage,
        &Password::new(REPO_PASSWORD),
        InitOptions {
            kdf: KdfParams::insecure_for_tests(),
            ..InitOptions::default()
        },
    )
    .await
    .expect("init repo");
    dir
}

/// The repository of a [`workspace`], opened outside the server.
pub async fn open_repo(dir: &Path) -> Arc<Repository> {
    Arc::new(
        Repository::open(
            Storage::local(dir.join("repo")).expect("storage"),
            &Password::new(REPO_PASSWORD),
        )
        .await
        .expect("open"),
    )
}

/// The base config for `dir`; `extra` is appended (more sections).
pub fn config_text(dir: &Path, source_extra: &str, extra: &str) -> String {
    server_config(
        dir,
        &format!(
            r#"[sources.app]
url = "sqlite://{db}"
{source_extra}

[sources.app.groups]
user-data = ["customers"]
"#,
            db = dir.join("app.db").display(),
        ),
        extra,
    )
}

/// A config over the [`workspace`] `dir`'s repository with `sources` (the
/// `[sources.*]` sections) and `extra` appended to `[server]`.
pub fn server_config(dir: &Path, sources: &str, extra: &str) -> String {
    format!(
        r#"
[repository]
url = "{repo}"
password-file = "{pw}"

{sources}

[server]
listen = "127.0.0.1:0"
state-file = "{state}"
log-file = "{log}"
upload-limit = "2 MiB"
{extra}
"#,
        repo = dir.join("repo").display(),
        pw = dir.join("repo-password").display(),
        state = dir.join("state.db").display(),
        log = dir.join("server.log").display(),
    )
}

/// Every engine the tests use.
pub fn engines() -> Engines {
    Engines::new()
        .with(Arc::new(tresor_sqlite::SqliteConnector))
        .with(Arc::new(tresor_postgres::PostgresConnector))
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub admin: String,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts a server over `config` with `engines`.
    pub async fn start_with(config: Config, engines: Engines, _dir: &Path) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self::start_on(config, engines, listener).await
    }

    /// Starts a server on a listener bound before (its address already
    /// given to another server, such as an OpenID Connect provider).
    pub async fn start_on(
        config: Config,
        engines: Engines,
        listener: tokio::net::TcpListener,
    ) -> TestServer {
        let options = tresor_server::Options {
            admin_password: Some(ADMIN_PASSWORD.into()),
            announce: false,
            ..tresor_server::Options::default()
        };
        let server = tresor_server::Server::new(config, engines, options)
            .await
            .expect("server starts");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut s = TestServer {
            base,
            http,
            admin: String::new(),
            stop: Some(stop),
            handle: Some(handle),
        };
        s.admin = s.login_token("admin", ADMIN_PASSWORD, None).await;
        s
    }

    /// Starts a server over the base config plus `extra`.
    pub async fn start(dir: &Path, source_extra: &str, extra: &str) -> TestServer {
        let config = Config::parse(&config_text(dir, source_extra, extra), "test").expect("config");
        Self::start_with(config, engines(), dir).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `head` (request line and headers, without the blank line) and
    /// `body` over a bare socket, then reads the answer: status and JSON
    /// body. For requests the server must refuse before it has read what
    /// the client announced, where a pooled HTTP client would race the
    /// server's close while still writing.
    pub async fn raw(&self, head: &str, body: &[u8]) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        sock.write_all(request.as_bytes()).await.expect("send head");
        sock.write_all(body).await.expect("send body");
        let mut answer = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(30), sock.read(&mut buf))
                .await
                .expect("an answer within 30 s")
                .expect("read");
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .expect("content-length in the answer");
                if answer.len() >= end + 4 + length {
                    let status = text[9..12].parse().expect("status");
                    let body = serde_json::from_slice(&answer[end + 4..end + 4 + length])
                        .expect("a JSON body");
                    return (status, body);
                }
            }
            assert!(n > 0, "connection closed mid-answer: {text}");
        }
    }

    /// A token for a user (via the password login endpoint).
    pub async fn login_token(&self, user: &str, password: &str, expires: Option<&str>) -> String {
        let r = self
            .http
            .post(self.url("/api/v1/auth/token"))
            .json(&json!({"username": user, "password": password, "name": "test", "expires_in": expires}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 201, "login as {user}");
        let v: Value = r.json().await.expect("json");
        v["token"].as_str().expect("token").to_string()
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A web session of the admin and the CSRF token its forms carry.
    pub async fn session_and_csrf(&self) -> (String, String) {
        let session = self.session().await;
        let html = self
            .http
            .get(self.url("/"))
            .header("cookie", &session)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        let csrf = csrf_in(&html);
        (session, csrf)
    }

    /// A web session of the admin: the `Cookie` header's value.
    pub async fn session(&self) -> String {
        let r = self
            .http
            .post(self.url("/login"))
            .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .expect("login");
        r.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("pair")
            .to_string()
    }

    /// Waits until job `id` ends; returns it.
    pub async fn wait_job(&self, id: i64) -> Value {
        for _ in 0..600 {
            let (s, j) = self.get(&self.admin, &format!("/api/v1/jobs/{id}")).await;
            assert_eq!(s, 200, "{j}");
            if !matches!(j["state"].as_str(), Some("queued" | "running")) {
                return j;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} did not finish");
    }

    /// Confirms the restore previewed as `preview_id` into `app`, typing
    /// `snapshot` as its id.
    pub async fn confirm_restore(&self, preview_id: &str, snapshot: &str) -> (u16, Value) {
        self.post(
            &self.admin,
            "/api/v1/restores",
            json!({"preview_id": preview_id, "confirm": {"target": "app", "snapshot": snapshot}}),
        )
        .await
    }

    /// Takes a backup through the API and returns the job.
    pub async fn backup(&self, body: Value) -> Value {
        let (s, v) = self.post(&self.admin, "/api/v1/snapshots", body).await;
        assert_eq!(s, 202, "{v}");
        let job = self.wait_job(v["job"].as_i64().expect("job id")).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        job
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(30), h)
                .await
                .expect("server stops in time")
                .expect("task")
                .expect("server ran cleanly");
        }
    }
}

/// A running SMTP catcher that stores what it receives in a maildir.
pub struct Smtp {
    child: Child,
    pub maildir: PathBuf,
    pub port: u16,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// Starts `python3 -m aiosmtpd` writing to a maildir; installs aiosmtpd
/// with pip when it is missing (.ci/services does too).
pub fn smtp_catcher(dir: &Path) -> Smtp {
    let have = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        let ok = Command::new("pip")
            .args(["install", "--quiet", "--break-system-packages", "aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success())
            || Command::new("pip")
                .args(["install", "--quiet", "aiosmtpd"])
                .status()
                .is_ok_and(|s| s.success());
        assert!(ok, "aiosmtpd is required: pip install aiosmtpd");
    }
    let maildir = dir.join("maildir");
    let port = free_port();
    let mut child = Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aiosmtpd");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Smtp {
                child,
                maildir,
                port,
            };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("aiosmtpd did not start");
}

/// The messages the catcher stored so far.
pub fn mails(maildir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(maildir.join(sub)) {
            for e in rd.flatten() {
                if let Ok(t) = std::fs::read_to_string(e.path()) {
                    out.push(t);
                }
            }
        }
    }
    out
}

/// The API of a server on paused time, called in process: no socket, so
/// no timer of an HTTP client runs on the paused clock.
pub struct InProcess {
    pub router: axum::Router,
    pub token: String,
}

impl InProcess {
    /// Signs in as the admin.
    pub async fn login(router: axum::Router) -> InProcess {
        let mut api = InProcess {
            router,
            token: String::new(),
        };
        let (st, v) = api
            .post(
                "/api/v1/auth/token",
                json!({"username": "admin", "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        api.token = v["token"].as_str().expect("token").to_string();
        api
    }

    /// Sends a request; the status, headers and body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, axum::http::HeaderMap, bytes::Bytes) {
        use tower::ServiceExt as _;
        let mut req = axum::http::Request::builder().method(method).uri(path);
        if !self.token.is_empty() {
            req = req.header("authorization", format!("Bearer {}", self.token));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(axum::body::Body::from(b.to_string())),
            None => req.body(axum::body::Body::empty()),
        }
        .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .expect("body");
        (status, headers, bytes)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (st, _, b) = self.send("GET", path, None).await;
        (st, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (st, _, b) = self.send("POST", path, Some(body)).await;
        (st, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// Waits until job `id` ends; returns it.
    pub async fn wait_job(&self, id: i64) -> Value {
        for _ in 0..2000 {
            let (s, j) = self.get(&format!("/api/v1/jobs/{id}")).await;
            assert_eq!(s, 200, "{j}");
            if !matches!(j["state"].as_str(), Some("queued" | "running")) {
                return j;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} did not finish");
    }
}
