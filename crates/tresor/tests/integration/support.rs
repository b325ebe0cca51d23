//! Running the binary against a throwaway repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary directory with a repository in it (in the directory, or
/// at `remote` with the environment `remote_env`).
pub struct Env {
    pub dir: tempfile::TempDir,
    pub remote: Option<String>,
    pub remote_env: Vec<(String, String)>,
}

pub const PASSWORD: &str = "correct horse battery staple";

impl Env {
    /// A fresh directory and an initialised repository (small Argon2 cost
    /// to keep tests fast).
    pub fn new() -> Env {
        Env::at(None, Vec::new())
    }

    /// An initialised repository at `remote` (a storage URL), reached with
    /// the variables `env`; a local one when `None`.
    pub fn at(remote: Option<String>, env: Vec<(String, String)>) -> Env {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
            remote,
            remote_env: env,
        };
        let out = env.tresor(&["init", "--kdf-memory-mib", "8"]);
        assert!(out.status.success(), "init failed: {}", stderr(&out));
        env
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn repo(&self) -> PathBuf {
        self.path("repo")
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tresor"));
        match &self.remote {
            Some(url) => c.env("TRESOR_REPOSITORY", url),
            None => c.env("TRESOR_REPOSITORY", self.repo()),
        };
        c.envs(self.remote_env.iter().map(|(k, v)| (k, v)))
            .env("TRESOR_PASSWORD", PASSWORD)
            .env_remove("TRESOR_PASSWORD_FILE")
            .env_remove("TRESOR_CONFIG")
            .env("TRESOR_CACHE_DIR", self.dir.path().join("cache"))
            .current_dir(self.dir.path());
        c
    }

    pub fn tresor(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(args, self.tresor(args))
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    pub fn snapshot_ids(&self) -> Vec<String> {
        self.json(&["snapshots"])
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every pack file in the repository.
    pub fn packs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for d in std::fs::read_dir(self.repo().join("data")).unwrap() {
            for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
                out.push(f.unwrap().path());
            }
        }
        out.sort();
        out
    }
}

/// The files under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        if e.path().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Asserts that `tresor args` (which gave `out`) succeeded; its stdout.
pub fn succeeded(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "tresor {args:?} failed with {:?}:\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Starts `command` (output discarded), kills it with SIGKILL after
/// `delay`; whether it was still running then.
pub fn kill_after(mut command: Command, delay: std::time::Duration) -> bool {
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    running
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs SQL through rusqlite.
pub fn sql(db: &Path, script: &str) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(script).unwrap();
}

/// `sqlite3 DB .dump`: the acceptance criterion compares these. Bytes,
/// since text values need not be UTF-8; a digest, so that a failing
/// comparison does not print megabytes.
pub fn dump(db: &Path) -> String {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(".dump")
        .output()
        .expect("the sqlite3 command-line tool is needed (apt-get install sqlite3)");
    assert!(out.status.success(), "{}", stderr(&out));
    format!(
        "{} bytes, blake3 {}",
        out.stdout.len(),
        blake3::hash(&out.stdout)
    )
}

pub fn integrity_ok(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    let r: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(r, "ok");
}

/// A database with every storage class, awkward identifiers, a WITHOUT
/// ROWID table, a table without a key, blobs, and `rows` generated rows.
pub fn rich_database(db: &Path, rows: u32) {
    sql(
        db,
        &format!(
            r#"
PRAGMA journal_mode=WAL;
PRAGMA user_version=7;
PRAGMA application_id=1234;
CREATE TABLE "select" ("from" INTEGER PRIMARY KEY AUTOINCREMENT, "we""ird col" TEXT, "ünïcødé" REAL, "blob data" BLOB, dyn);
CREATE TABLE kv (k TEXT PRIMARY KEY, v ANY) WITHOUT ROWID;
CREATE TABLE "no key" (a, b);
CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount NUMERIC, at TEXT);
CREATE INDEX big_name ON big(name);
CREATE VIEW "v 1" AS SELECT "from", "we""ird col" FROM "select";
CREATE TRIGGER t1 AFTER INSERT ON kv BEGIN INSERT INTO "no key" VALUES ('trigger', new.k); END;
INSERT INTO "select" ("we""ird col", "ünïcødé", "blob data", dyn) VALUES
  ('text', 1.5, x'00ff', 42),
  ('', -0.0, x'', 'str'),
  (NULL, 1e308, NULL, x'deadbeef'),
  (CAST(x'fffe' AS TEXT), 9223372036854775807, zeroblob(3145728), -9223372036854775808),
  ('emoji 🦀', 2.2250738585072014e-308, randomblob(5000000), 0.1);
INSERT INTO kv VALUES ('a', 1), ('b', 'two'), ('c', x'03'), ('d', NULL), ('e', 4.5);
INSERT INTO "no key" VALUES (1, 1), (1, 1), (NULL, 'x');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
INSERT INTO big SELECT i, 'name ' || (i * 7919 % 100003), (i % 1000) || '.' || (i % 100), '2026-01-01T00:00:' || (i % 60) FROM n;
"#
        ),
    );
}
