//! Diffs, guards and undo through the API: what an application does
//! around a risky operation (the shop's `safeDeleteProducts()`), and what
//! support does when a customer's data changed.

use serde_json::json;

use super::harness::{TestServer, csrf_in, workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_guard_and_undo_through_the_api() {
    let dir = workspace(20).await;
    let s = TestServer::start(dir.path(), "", "").await;
    let job = s.backup(json!({"source": "app"})).await;
    let snapshot = job["figures"]["snapshot"]
        .as_str()
        .expect("snapshot")
        .to_string();

    let db = rusqlite::Connection::open(dir.path().join("app.db")).expect("db");
    db.execute_batch(
        "UPDATE customers SET name = 'changed' WHERE id = 3;
         DELETE FROM orders WHERE id = 4;",
    )
    .expect("change");

    // counts for everyone who may read, rows for admins only
    let (st, v) = s
        .get(&s.admin, &format!("/api/v1/diff?from={snapshot}&to=live"))
        .await;
    assert_eq!(st, 200, "{v}");
    let table = |v: &serde_json::Value, name: &str| {
        v["tables"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["table"] == name))
            .cloned()
            .expect("table")
    };
    assert_eq!(table(&v, "customers")["updated"], 1, "{v}");
    assert_eq!(table(&v, "orders")["deleted"], 1, "{v}");
    let (st, v) = s
        .get(
            &s.admin,
            &format!(
                "/api/v1/diff?from={snapshot}&to=live&rows=true&where=customers:%20id%20%3D%203"
            ),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["rows"][0]["columns"]["name"]["new"], "changed", "{v}");
    let (_, ro) = s
        .post(
            &s.admin,
            "/api/v1/tokens",
            json!({"name": "ro", "scope": "read"}),
        )
        .await;
    let read_only = ro["token"].as_str().expect("token").to_string();
    let (st, _) = s
        .get(&read_only, &format!("/api/v1/diff?from={snapshot}&to=live"))
        .await;
    assert_eq!(st, 200);
    let (st, _) = s
        .get(
            &read_only,
            &format!("/api/v1/diff?from={snapshot}&to=live&rows=true"),
        )
        .await;
    assert_eq!(st, 403, "rows hold the data");
    let (st, v) = s
        .get(
            &s.admin,
            &format!("/api/v1/diff?from={snapshot}&to=live&where=nosuch:%20x%20=%201"),
        )
        .await;
    assert_eq!(st, 404, "{v}");

    // the shop's safe delete: guard, delete, close, look, undo
    let (st, g) = s
        .post(
            &s.admin,
            "/api/v1/guards",
            json!({"source": "app", "tables": ["orders"], "reason": "safe delete of test orders"}),
        )
        .await;
    assert_eq!(st, 201, "{g}");
    let guard = g["guard"].as_str().expect("guard").to_string();
    assert_eq!(g["closed"], false);
    db.execute_batch("DELETE FROM orders WHERE id > 10;")
        .expect("delete");
    let (st, g) = s
        .post(
            &s.admin,
            &format!("/api/v1/guards/{guard}/close"),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{g}");
    assert_eq!(g["closed"], true);
    let (st, list) = s.get(&read_only, "/api/v1/guards").await;
    assert_eq!(st, 200);
    assert_eq!(list[0]["guard"], guard.as_str());
    // the read-only token cannot take or undo guards
    let (st, _) = s
        .post(&read_only, "/api/v1/guards", json!({"source": "app"}))
        .await;
    assert_eq!(st, 403);

    let (st, p) = s
        .post(
            &s.admin,
            &format!("/api/v1/guards/{guard}/undo"),
            json!({"dry_run": true}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["tables"][0]["reverted"], 10, "{p}");
    assert_eq!(p["preview"]["rehearsal"]["outcome"], "passed", "{p}");
    let (st, e) = s
        .post(&s.admin, &format!("/api/v1/guards/{guard}/undo"), json!({}))
        .await;
    assert_eq!(st, 400, "the undo needs its confirmation: {e}");
    let (st, v) = s
        .post(
            &s.admin,
            &format!("/api/v1/guards/{guard}/undo"),
            json!({"confirm": &guard[..8]}),
        )
        .await;
    assert_eq!(st, 202, "{v}");
    let job = s.wait_job(v["job"].as_i64().expect("job")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let orders: i64 = db
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .expect("count");
    assert_eq!(
        orders, 19,
        "the guarded delete is undone; the earlier one stays"
    );

    let r = s
        .http
        .delete(s.url(&format!("/api/v1/guards/{guard}")))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("release");
    assert_eq!(r.status(), 200);
    let (_, list) = s.get(&s.admin, "/api/v1/guards").await;
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
    s.stop().await;
}

/// The pages: compare a snapshot with the source now (rows for admins),
/// and a restore preview of chosen rows with their reasons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_page_and_selective_restore_preview() {
    let dir = workspace(10).await;
    let s = TestServer::start(dir.path(), "", "").await;
    let job = s.backup(json!({"source": "app"})).await;
    let snapshot = job["figures"]["snapshot"]
        .as_str()
        .expect("snapshot")
        .to_string();
    let db = rusqlite::Connection::open(dir.path().join("app.db")).expect("db");
    db.execute_batch(
        "DELETE FROM orders WHERE customer_id = 2; DELETE FROM customers WHERE id = 2;",
    )
    .expect("delete");

    let r = s
        .http
        .post(s.url("/login"))
        .form(&[
            ("username", "admin"),
            ("password", super::harness::ADMIN_PASSWORD),
        ])
        .send()
        .await
        .expect("login");
    let session = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let page = |path: String| {
        let s = &s;
        let session = session.clone();
        async move {
            let r = s
                .http
                .get(s.url(&path))
                .header("cookie", &session)
                .send()
                .await
                .expect("page");
            let st = r.status();
            let html = r.text().await.expect("html");
            assert_eq!(st, 200, "{path}: {html}");
            html
        }
    };
    let html = page(format!("/snapshots/{snapshot}")).await;
    assert!(
        html.contains("id=\"compare-form\""),
        "the snapshot page offers a comparison"
    );
    let csrf = csrf_in(&html);
    let html = page(format!("/snapshots/{snapshot}/diff?to=live")).await;
    assert!(html.contains("id=\"diff-rows\""), "{html}");
    assert!(
        html.contains("Customer 2"),
        "the deleted customer is listed: {html}"
    );

    let r = s
        .http
        .post(s.url(&format!("/snapshots/{snapshot}/preview")))
        .header("cookie", &session)
        .form(&[
            ("csrf", csrf.as_str()),
            ("target", "app"),
            ("mode", "replace"),
            ("where", "customers: id = 2"),
            ("with_related", "1"),
        ])
        .send()
        .await
        .expect("preview");
    let st = r.status();
    let html = r.text().await.expect("html");
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("id=\"selection-table\""), "{html}");
    assert!(
        html.contains("belongs to customers") || html.contains("matches --where"),
        "{html}"
    );
    assert!(
        html.contains("every check of the restore passed") || html.contains("Rehearsed"),
        "{html}"
    );
    s.stop().await;
}
