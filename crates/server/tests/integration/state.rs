//! The server backs up its own state into the repository, and a server
//! whose state file was lost comes back from the repository alone.

use std::time::{Duration, Instant};

use serde_json::json;
use tresor_ops::Trigger;

use super::harness::{TestServer, config_text, engines, open_repo, workspace};

async fn state_snapshots(dir: &std::path::Path) -> usize {
    let repo = open_repo(dir).await;
    tresor_ops::list_snapshots(&repo)
        .await
        .expect("list")
        .iter()
        .filter(|s| s.trigger == Trigger::ServerState)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_server_comes_back_from_the_repository() {
    let dir = workspace(5).await;
    let s = TestServer::start(dir.path(), "", "state-backup = \"1s\"").await;
    let (st, v) = s
        .post(
            &s.admin,
            "/api/v1/users",
            json!({"name": "vera", "role": "viewer", "password": "viewer-password-1"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while state_snapshots(dir.path()).await == 0 {
        assert!(Instant::now() < deadline, "no state backup within 30 s");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // `latest` never picks the server's own state
    let (_, latest) = s.get(&s.admin, "/api/v1/snapshots/latest").await;
    assert_ne!(latest["trigger"], "server-state", "{latest}");
    s.stop().await;

    // the state file is lost
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", dir.path().join("state.db").display()));
    }
    let repo = open_repo(dir.path()).await;
    let restored = tresor_server::restore_state(&repo, &engines(), &dir.path().join("state.db"))
        .await
        .expect("restore the state");
    assert_eq!(restored.trigger, Trigger::ServerState);
    // and it refuses to overwrite a state file that is there
    let e = tresor_server::restore_state(&repo, &engines(), &dir.path().join("state.db"))
        .await
        .expect_err("the state file exists");
    assert!(e.to_string().contains("exists"), "{e}");

    let s = TestServer::start(dir.path(), "", "state-backup = \"1s\"").await;
    let token = s.login_token("vera", "viewer-password-1", None).await;
    let (st, _) = s.get(&token, "/api/v1/snapshots").await;
    assert_eq!(st, 200, "the restored user logs in");
    s.stop().await;
}

/// A server on append-only credentials keeps every backup of its state
/// (it cannot remove the oldest), and takes none while nothing changes
/// (the repository statistics a state backup itself refreshes are not a
/// change to back up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_only_server_keeps_every_state_backup() {
    let dir = workspace(5).await;
    let text = config_text(dir.path(), "", "state-backup = \"1s\"")
        .replace("[repository]\n", "[repository]\nappend-only = true\n");
    assert!(text.contains("append-only = true"), "{text}");
    let config = tresor_ops::Config::parse(&text, "test").expect("config");
    let s = TestServer::start_with(config, engines(), dir.path()).await;
    // more changes than the 10 state backups a server keeps otherwise
    let mut seen = state_snapshots(dir.path()).await;
    for i in 0..11 {
        let (st, v) = s
            .post(
                &s.admin,
                "/api/v1/users",
                json!({"name": format!("user{i}"), "role": "viewer", "password": "viewer-password-1"}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while state_snapshots(dir.path()).await == seen {
            assert!(Instant::now() < deadline, "no state backup within 30 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        seen = state_snapshots(dir.path()).await;
    }
    assert!(seen > 10, "{seen}");
    // nothing changes: no more backups
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(state_snapshots(dir.path()).await, seen);
    s.stop().await;
}
