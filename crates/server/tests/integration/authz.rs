//! The authorization matrix: every operation of the OpenAPI document ×
//! {no credentials, viewer, admin, expired token, read-only token}.

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::{TestServer, workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_by_every_caller() {
    let dir = workspace(5).await;
    let s = TestServer::start(dir.path(), "", "").await;
    let job = s.backup(json!({"source": "app"})).await;
    let snap = job["figures"]["snapshot"]
        .as_str()
        .expect("snap")
        .to_string();
    let job_id = job["id"].as_i64().expect("id");

    let (st, _) = s
        .post(
            &s.admin,
            "/api/v1/users",
            json!({"username": "vera", "role": "viewer", "password": "viewer-password"}),
        )
        .await;
    assert_eq!(st, 201);
    let viewer = s.login_token("vera", "viewer-password", None).await;
    let expired = s
        .login_token("admin", super::harness::ADMIN_PASSWORD, Some("1s"))
        .await;
    let (st, ro) = s
        .post(
            &s.admin,
            "/api/v1/tokens",
            json!({"name": "ro", "scope": "read"}),
        )
        .await;
    assert_eq!(st, 201);
    let read_only = ro["token"].as_str().expect("token").to_string();
    let revoked_v = s
        .post(&s.admin, "/api/v1/tokens", json!({"name": "gone"}))
        .await
        .1;
    let revoked = revoked_v["token"].as_str().expect("token").to_string();
    let r = s
        .http
        .delete(s.url(&format!("/api/v1/tokens/{}", revoked_v["id"])))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let (_, doc) = s.get(&s.admin, "/api/v1/openapi.json").await;
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    let mut failures = Vec::new();
    // Destructive admin calls run last so the others see the snapshot.
    let mut ops: Vec<(String, String, String)> = Vec::new();
    for (path, methods) in paths {
        for (method, op) in methods.as_object().expect("methods") {
            let perm = op["x-tresor-permission"]
                .as_str()
                .expect("permission")
                .to_string();
            ops.push((method.clone(), path.clone(), perm));
        }
    }
    ops.sort_by_key(|(m, p, _)| {
        (
            m == "delete" || p.contains("prune") || p.contains("pause"),
            p.clone(),
        )
    });
    for (method, path, perm) in &ops {
        let concrete = path
            .replace(
                "{id}",
                if path.starts_with("/api/v1/snapshots") {
                    &snap
                } else if path.starts_with("/api/v1/jobs") {
                    "JOB"
                } else if path.starts_with("/api/v1/archives") {
                    "no-such-upload"
                } else {
                    "999999"
                },
            )
            .replace("JOB", &job_id.to_string())
            .replace("{name}", "app");
        let callers: [(&str, Option<&str>); 6] = [
            ("anonymous", None),
            ("expired", Some(&expired)),
            ("revoked", Some(&revoked)),
            ("read-only token", Some(&read_only)),
            ("viewer", Some(&viewer)),
            ("admin", Some(&s.admin)),
        ];
        for (who, token) in callers {
            // Never delete the snapshot before every caller has been tried.
            if who == "admin" && method == "delete" && path == "/api/v1/snapshots/{id}" {
                continue;
            }
            let mut req = match method.as_str() {
                "get" => s.http.get(s.url(&concrete)),
                "post" => s.http.post(s.url(&concrete)).json(&json!({})),
                "put" => s.http.put(s.url(&concrete)).json(&json!({})),
                "delete" => s.http.delete(s.url(&concrete)),
                m => panic!("unexpected method {m}"),
            };
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let status = req.send().await.expect("request").status().as_u16();
            let ok = match (perm.as_str(), who) {
                ("public", _) => status != 401 && status != 403,
                (_, "anonymous" | "expired" | "revoked") => status == 401,
                ("read", _) => status != 401 && status != 403,
                ("backup", "read-only token") => status == 403,
                ("backup", _) => status != 401 && status != 403,
                ("account", "admin") => status != 401 && status != 403,
                ("account", _) => status == 403,
                ("admin", "admin") => status != 401 && status != 403,
                ("admin", _) => status == 403,
                (p, w) => panic!("unknown {p} {w}"),
            };
            checked += 1;
            if !ok {
                failures.push(format!("{method} {concrete} as {who} ({perm}): {status}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "unexpected statuses:\n{}",
        failures.join("\n")
    );
    assert!(checked > 200, "{checked}");
    // Pages behave the same way: a viewer cannot reach the upload page.
    let r = s
        .http
        .get(s.url("/upload"))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), 403);
    let _: Value = Value::Null;
    s.stop().await;
}
