//! The whole life of a repository through the command line on every
//! storage backend, each a real server started on loopback: init, backup,
//! restore, check --read-data, forget, prune.

use tresor_testing::servers::{ServerKind, SftpLogin, StorageServer};

use super::support::{Env, dump, integrity_ok, rich_database, sql, stderr};

/// A server and the runtime its process is watched from.
struct Running {
    server: StorageServer,
    _rt: tokio::runtime::Runtime,
}

fn start(kind: ServerKind) -> Running {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(StorageServer::start(kind))
        .unwrap_or_else(|e| panic!("{e:#}"));
    Running { server, _rt: rt }
}

fn full_cycle(kind: ServerKind) {
    let running = start(kind);
    let s = &running.server;
    let env = Env::at(Some(s.url.clone()), s.env.clone());
    let db = env.path("app.db");
    rich_database(&db, 20_000);
    let first = env.json(&["backup", db.to_str().unwrap(), "--tag", "offsite"]);
    assert_eq!(first["totals"]["tables"], 4);
    sql(
        &db,
        "UPDATE big SET name = 'changed' WHERE id % 10 = 0; DELETE FROM kv WHERE k = 'a';",
    );
    env.json(&["backup", db.to_str().unwrap()]);
    assert_eq!(env.snapshot_ids().len(), 2);

    let restored = env.path("restored.db");
    env.ok(&[
        "restore",
        "latest",
        "--to",
        &format!("sqlite://{}", restored.display()),
    ]);
    assert_eq!(dump(&db), dump(&restored));
    integrity_ok(&restored);
    env.ok(&["check", "--read-data"]);

    env.ok(&["forget", "--keep-last", "1"]);
    env.ok(&["prune"]);
    assert_eq!(env.snapshot_ids().len(), 1);
    env.ok(&["check", "--read-data"]);
    let again = env.path("again.db");
    env.ok(&[
        "restore",
        "latest",
        "--to",
        &format!("sqlite://{}", again.display()),
    ]);
    assert_eq!(dump(&db), dump(&again));
}

macro_rules! cycle {
    ($($name:ident => $kind:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                full_cycle($kind);
            }
        )*
    };
}

cycle!(
    full_cycle_on_s3s_fs => ServerKind::S3sFs,
    full_cycle_on_moto => ServerKind::Moto,
    full_cycle_on_azurite => ServerKind::Azurite,
    full_cycle_on_gcs => ServerKind::Gcs,
    full_cycle_on_webdav => ServerKind::WebDav,
    full_cycle_on_sftp_with_a_password => ServerKind::Sftp(SftpLogin::Password),
    full_cycle_on_sftp_with_a_key => ServerKind::Sftp(SftpLogin::Key),
);

/// The first thing a new user tried: `init` on S3 failed with "default
/// HTTP transport is not installed" (exit 8) before talking to the server.
#[test]
fn init_on_s3_reaches_the_server() {
    let running = start(ServerKind::S3sFs);
    let s = &running.server;
    let env = Env::at(Some(s.url.clone()), s.env.clone());
    assert!(env.snapshot_ids().is_empty());
    let objects = walk(&s.data_dir);
    assert!(
        objects.iter().any(|p| p.ends_with("repo/config")),
        "{objects:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

#[test]
fn permanent_failures_fail_at_once_with_a_hint() {
    let running = start(ServerKind::S3sFs);
    let s = &running.server;
    let url = s.url.clone();
    // wrong secret: refused, exit 4, a hint about credentials, no retries
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
        remote: Some(url),
        remote_env: vec![
            ("AWS_ACCESS_KEY_ID".into(), "tresor-test-key".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "wrong-secret".into()),
        ],
    };
    let started = std::time::Instant::now();
    let out = env.tresor(&["init", "--kdf-memory-mib", "8"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("credentials"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("wrong-secret"),
        "secrets stay out of errors"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "not retried"
    );
    // a bucket that does not exist (moto: s3s-fs makes buckets on write)
    let moto = start(ServerKind::Moto);
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
        remote: Some(
            moto.server
                .url
                .replace("s3://tresor/", "s3://no-such-bucket/"),
        ),
        remote_env: moto.server.env.clone(),
    };
    let out = env.tresor(&["init", "--kdf-memory-mib", "8"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    // an SFTP host that is not in the known-hosts file
    let sftp = start(ServerKind::Sftp(SftpLogin::Key));
    let unknown = sftp
        .server
        .url
        .replace("known_hosts=", "known_hosts=/nonexistent");
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
        remote: Some(unknown),
        remote_env: Vec::new(),
    };
    let out = env.tresor(&["init", "--kdf-memory-mib", "8"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ssh-keyscan"), "{}", stderr(&out));
}

/// `--append-only`: backup and restore work; forget, prune and unlock stop
/// at once with exit 4 and the hint; with the full credentials they run,
/// and the lock files the append-only runs left go.
#[test]
fn append_only_runs_backups_and_refuses_what_deletes() {
    let env = super::support::Env::new();
    let db = env.path("app.db");
    rich_database(&db, 500);
    env.ok(&["--append-only", "backup", db.to_str().unwrap()]);
    sql(&db, "DELETE FROM kv WHERE k = 'a';");
    env.ok(&["backup", db.to_str().unwrap(), "--append-only"]);
    let restored = env.path("restored.db");
    env.ok(&[
        "--append-only",
        "restore",
        "latest",
        "--to",
        &format!("sqlite://{}", restored.display()),
    ]);
    assert_eq!(dump(&db), dump(&restored));
    let locks_before = std::fs::read_dir(env.repo().join("locks")).unwrap().count();
    assert!(locks_before >= 2, "{locks_before}");
    for args in [
        &["--append-only", "forget", "--keep-last", "1"][..],
        &["--append-only", "prune"][..],
        &["--append-only", "unlock"][..],
    ] {
        let out = env.tresor(args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("with the full credentials"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(env.snapshot_ids().len(), 2);
    env.ok(&["forget", "--keep-last", "1"]);
    env.ok(&["prune"]);
    // the lock files the append-only runs left are gone (here those of
    // ended processes on this host, which any full-credential lock removes)
    assert_eq!(
        std::fs::read_dir(env.repo().join("locks")).unwrap().count(),
        0
    );
    assert_eq!(env.snapshot_ids().len(), 1);
}

/// `init --object-lock-days` on moto: refused on a bucket without object
/// lock; on one with it, forget keeps the retained snapshot and says why.
#[test]
fn object_lock_through_the_command_line() {
    let running = start(ServerKind::Moto);
    let s = &running.server;
    let env = Env::at(Some(s.url.clone()), s.env.clone());
    let out = env
        .command()
        .args(["init", "--kdf-memory-mib", "8", "--object-lock-days", "1"])
        .env("TRESOR_REPOSITORY", s.url_for("other"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("does not have object lock enabled"),
        "{}",
        stderr(&out)
    );
    let locked = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(s.moto_bucket("locked", true))
        .unwrap();
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
        remote: Some(locked),
        remote_env: s.env.clone(),
    };
    let init = env.json(&[
        "init",
        "--kdf-memory-mib",
        "8",
        "--object-lock-days",
        "1",
        "--object-lock-mode",
        "governance",
    ]);
    assert_eq!(init["object_lock"]["days"], 1, "{init}");
    let db = env.path("app.db");
    rich_database(&db, 200);
    env.ok(&["backup", db.to_str().unwrap()]);
    env.ok(&["backup", db.to_str().unwrap()]);
    let out = env.ok(&["forget", "--keep-last", "1"]);
    assert!(out.contains("object lock until"), "{out}");
    assert_eq!(env.snapshot_ids().len(), 2);
    let out = env.ok(&["prune"]);
    assert!(!out.contains("delete 1"), "{out}");
    env.ok(&["check", "--read-data"]);
}
