//! The JSON the API answers, pinned with insta snapshots: field names,
//! nesting and the values that do not change between runs. Ids of
//! snapshots, times, paths and stored sizes are redacted.

use insta::internals::Content;
use serde_json::{Value, json};
use tresor_testing::shapes::content;

use super::harness::{TestServer, workspace};

/// Redacts what differs between runs, wherever it appears.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_sort_maps(true);
    s.set_snapshot_path("shapes");
    s.set_prepend_module_to_snapshot(false);
    // snapshot ids are random; job and user ids are small counters
    s.add_redaction(
        ".**.id",
        insta::dynamic_redaction(|v, _| match v {
            Content::String(_) => Content::from("[snapshot id]"),
            other => other,
        }),
    );
    for key in [
        "short_id",
        "snapshot",
        "parent",
        "preview_id",
        "confirm",
        "time",
        "end_time",
        "snapshot_time",
        "target_url",
        "now",
        "started_at",
        "finished_at",
        "created_at",
        "measured_at",
        "next_run",
        "at",
        "url",
        "location",
        "hostname",
        "username",
        "version",
        "tresor_version",
        "server_version",
        "added_bytes",
        "stored_bytes",
        "new_chunks",
        "reused_chunks",
        "duration_ms",
        "took_ms",
        "seconds",
        "last_used_at",
        "prefix",
        "expires_at",
        "state_file",
        "log_file",
    ] {
        s.add_redaction(
            &format!(".**.{key}"),
            insta::dynamic_redaction(move |v, _| match v {
                Content::None | Content::Unit => v,
                Content::Some(inner) if matches!(*inner, Content::None | Content::Unit) => {
                    Content::Some(inner)
                }
                _ => Content::from(format!("[{key}]")),
            }),
        );
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_keep_their_shape() {
    let dir = workspace(50).await;
    let s = TestServer::start(dir.path(), "", "").await;
    let shot = |name: &str, v: &Value| {
        let v = content(v);
        settings().bind(|| insta::assert_json_snapshot!(name, v));
    };

    let (_, status) = s.get(&s.admin, "/api/v1/status").await;
    shot("status_before_backups", &status);
    let (_, counts) = s.get(&s.admin, "/api/v1/sources/app/counts").await;
    shot("source_counts", &counts);

    let job = s
        .backup(json!({"source": "app", "group": "user-data", "reason": "pinned", "tags": ["t1"]}))
        .await;
    shot("backup_job", &job);
    let full = s.backup(json!({"source": "app"})).await;
    let snap = full["figures"]["snapshot"]
        .as_str()
        .expect("id")
        .to_string();

    let (_, list) = s.get(&s.admin, "/api/v1/snapshots").await;
    shot("snapshot_list", &list);
    let (_, one) = s.get(&s.admin, &format!("/api/v1/snapshots/{snap}")).await;
    shot("snapshot_detail", &one);
    let (_, jobs) = s.get(&s.admin, "/api/v1/jobs?limit=5").await;
    shot("job_list", &jobs);
    let id = full["id"].as_i64().expect("job id");
    let (_, logs) = s.get(&s.admin, &format!("/api/v1/jobs/{id}/logs")).await;
    shot("job_logs", &logs);

    let (_, preview) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": snap, "target": "app", "mode": "replace"}),
        )
        .await;
    shot("restore_preview", &preview);

    let (_, status) = s.get(&s.admin, "/api/v1/status").await;
    shot("status_after_backups", &status);
    let (_, schedule) = s.get(&s.admin, "/api/v1/schedule").await;
    shot("schedule", &schedule);
    let (_, retention) = s.get(&s.admin, "/api/v1/sources/app/retention").await;
    shot("retention", &retention);
    let (_, users) = s.get(&s.admin, "/api/v1/users").await;
    shot("users", &users);
    let (_, tokens) = s.get(&s.admin, "/api/v1/tokens").await;
    shot("tokens", &tokens);
    let (_, settings) = s.get(&s.admin, "/api/v1/settings").await;
    shot("settings", &settings);

    let (code, missing) = s.get(&s.admin, "/api/v1/snapshots/ffffffff").await;
    assert_eq!(code, 404);
    shot("error_not_found", &missing);
    let (code, bad) = s
        .post(
            &s.admin,
            "/api/v1/restore/preview",
            json!({"snapshot": snap, "target": "app", "mode": "upsert"}),
        )
        .await;
    assert_eq!(code, 422, "{bad}");
    shot("error_unknown_restore_mode", &bad);
    s.stop().await;
}
