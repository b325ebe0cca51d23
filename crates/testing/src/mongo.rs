//! MongoDB-wire servers for tests: a SecantusDB child process per test, or
//! the real mongod named by `TRESOR_TEST_MONGODB_URL`.

use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mongodb::Client;
use mongodb::bson::doc;

/// Environment variable naming a real mongod for the `mongod_*` tests.
pub const MONGOD_ENV: &str = "TRESOR_TEST_MONGODB_URL";

/// A server to test against: where it is and what it is.
pub struct MongoServer {
    /// `mongodb://host:port` plus options, without a database.
    base: String,
    /// Query options appended to every URL.
    query: String,
    /// A real mongod (not SecantusDB).
    pub real: bool,
    child: Option<Child>,
}

impl MongoServer {
    /// Starts SecantusDB on a free loopback port with in-memory storage and
    /// waits until it answers `ping`. Panics (fails the test) when it
    /// cannot start.
    pub async fn secantus() -> MongoServer {
        Self::secantus_with("").await
    }

    /// [`MongoServer::secantus`] with extra `secantusd-py` flags (such as
    /// `--standalone`).
    pub async fn secantus_with(flags: &str) -> MongoServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        // `exec` so that the child is the server itself (SIGINT reaches it);
        // a watchdog shell kills it when this test process dies without
        // dropping us (its stdin pipe closes)
        let script = format!(
            "secantusd-py --host 127.0.0.1 --port {port} --storage-path :memory: --log-level WARNING {flags} \
             >/dev/null 2>&1 & pid=$!; echo $pid; read _; kill -INT $pid 2>/dev/null; \
             sleep 3; kill -KILL $pid 2>/dev/null; wait $pid"
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run sh to start secantusd-py");
        let server = MongoServer {
            base: format!("mongodb://127.0.0.1:{port}"),
            query: "directConnection=true".to_string(),
            real: false,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if server.ping().await.is_ok() {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "SecantusDB did not answer ping on port {port} within 60 s: is it installed \
                 (pip install --pre SecantusDB) and is secantusd-py on PATH?"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The real mongod of `TRESOR_TEST_MONGODB_URL`, or `None` after
    /// saying on stderr (past the test harness's capture) that `test` is
    /// skipped.
    pub async fn mongod(test: &str) -> Option<MongoServer> {
        let Ok(url) = std::env::var(MONGOD_ENV) else {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: real mongod run skipped because {MONGOD_ENV} is not set \
                 (e.g. {MONGOD_ENV}='mongodb://127.0.0.1:27017/?replicaSet=rs0')"
            );
            return None;
        };
        let (head, query) = url.split_once('?').unwrap_or((&url, ""));
        let scheme_end = head.find("://").map_or(0, |i| i + 3);
        let base = match head[scheme_end..].find('/') {
            Some(i) => head[..scheme_end + i].to_string(),
            None => head.to_string(),
        };
        let server = MongoServer {
            base,
            query: query.to_string(),
            real: true,
            child: None,
        };
        server
            .ping()
            .await
            .unwrap_or_else(|e| panic!("{MONGOD_ENV} is set but the server does not answer: {e}"));
        Some(server)
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        if self.query.is_empty() {
            format!("{}/{db}", self.base)
        } else {
            format!("{}/{db}?{}", self.base, self.query)
        }
    }

    /// A driver client for this server.
    pub async fn client(&self) -> Client {
        Client::with_uri_str(self.url("admin"))
            .await
            .expect("client options")
    }

    /// Whether the server answers `ping` within half a second.
    pub async fn ping(&self) -> Result<(), mongodb::error::Error> {
        let mut options = mongodb::options::ClientOptions::parse(self.url("admin")).await?;
        options.server_selection_timeout = Some(Duration::from_millis(500));
        let client = Client::with_options(options)?;
        client
            .database("admin")
            .run_command(doc! { "ping": 1 })
            .await?;
        Ok(())
    }
}

impl Drop for MongoServer {
    /// Stops SecantusDB: closing the watchdog's stdin makes it send SIGINT
    /// (then SIGKILL after 3 s).
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}
