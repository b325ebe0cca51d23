//! Hardening regressions: no credential becomes more than it was given.

use serde_json::{Value, json};

use super::harness::{ADMIN_PASSWORD, TestServer, csrf_in, workspace};

/// Signs in through the login form; returns the session cookie and the
/// CSRF token of the users page.
async fn sign_in(s: &TestServer, user: &str, password: &str) -> (String, String) {
    let r = s
        .http
        .post(s.url("/login"))
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303, "login as {user}");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let html = s
        .http
        .get(s.url("/users"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("users page")
        .text()
        .await
        .expect("html");
    let csrf = csrf_in(&html);
    (cookie, csrf)
}

async fn mint(s: &TestServer, by: &str, body: Value) -> (u16, Value) {
    s.post(by, "/api/v1/tokens", body).await
}

async fn status_of(s: &TestServer, token: &str) -> u16 {
    s.get(token, "/api/v1/status").await.0
}

/// A leaked read-only (or backup) token of an admin once set the admin's
/// password without knowing the old one, minted non-expiring tokens and
/// revoked its owner's admin tokens: read means only looking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_and_backup_tokens_cannot_take_over_their_owner() {
    let dir = workspace(3).await;
    let s = TestServer::start(dir.path(), "", "").await;
    let admin_id = s.get(&s.admin, "/api/v1/users").await.1["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "admin")
        .expect("admin")["id"]
        .as_i64()
        .expect("id");
    let (_, second) = mint(&s, &s.admin, json!({"name": "second", "scope": "admin"})).await;
    let second_id = second["id"].as_i64().expect("id");
    for scope in ["read", "backup"] {
        let (st, t) = mint(
            &s,
            &s.admin,
            json!({"name": scope, "scope": scope, "expires_in": "1h"}),
        )
        .await;
        assert_eq!(st, 201, "{t}");
        let leaked = t["token"].as_str().expect("token").to_string();
        let (st, body) = s
            .post(
                &leaked,
                &format!("/api/v1/users/{admin_id}/password"),
                json!({"password": "taken-over-12345", "current_password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(st, 403, "{scope} token changed a password: {body}");
        let (st, body) = mint(&s, &leaked, json!({"name": "forever", "scope": "read"})).await;
        assert_eq!(st, 403, "{scope} token minted a token: {body}");
        let r = s
            .http
            .delete(s.url(&format!("/api/v1/tokens/{second_id}")))
            .bearer_auth(&leaked)
            .send()
            .await
            .expect("revoke");
        assert_eq!(r.status(), 403, "{scope} token revoked its owner's token");
        // the pages' forms refuse the same
        let r = s
            .http
            .post(s.url("/account/password"))
            .bearer_auth(&leaked)
            .form(&[("password", "taken-over-12345"), ("current_password", "")])
            .send()
            .await
            .expect("form");
        assert_eq!(r.status(), 403, "{scope} token used the password form");
        // nothing changed: the old password still signs in, the admin
        // token still works
        s.login_token("admin", ADMIN_PASSWORD, None).await;
        assert_eq!(
            status_of(&s, second["token"].as_str().expect("t")).await,
            200
        );
    }
    s.stop().await;
}

/// Changing one's own password needs the current one; afterwards every
/// other session and token of the account is dead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_needs_the_current_one_and_ends_other_credentials() {
    let dir = workspace(3).await;
    let s = TestServer::start(dir.path(), "", "").await;
    let (st, v) = s
        .post(
            &s.admin,
            "/api/v1/users",
            json!({"username": "vera", "role": "viewer", "password": "viewer-password-1"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let vera_id = v["user"]["id"].as_i64().expect("id");
    let vera_token = s.login_token("vera", "viewer-password-1", None).await;
    let (other_session, _) = sign_in(&s, "vera", "viewer-password-1").await;
    let (session, csrf) = sign_in(&s, "vera", "viewer-password-1").await;

    // no current password, or a wrong one: refused, nothing changes
    for current in ["", "wrong-password-1"] {
        let r = s
            .http
            .post(s.url("/account/password"))
            .header("cookie", &session)
            .form(&[
                ("csrf", csrf.as_str()),
                ("current_password", current),
                ("password", "new-password-123"),
            ])
            .send()
            .await
            .expect("form");
        assert!(
            r.status() == 400 || r.status() == 403,
            "current {current:?}: {}",
            r.status()
        );
    }
    assert_eq!(status_of(&s, &vera_token).await, 200);
    let r = s
        .http
        .post(s.url("/account/password"))
        .header("cookie", &session)
        .form(&[
            ("csrf", csrf.as_str()),
            ("current_password", "viewer-password-1"),
            ("password", "new-password-123"),
        ])
        .send()
        .await
        .expect("form");
    assert_eq!(r.status(), 200);
    // the token and the other session are dead, this session lives
    assert_eq!(status_of(&s, &vera_token).await, 401);
    let page = |cookie: String| {
        let s = &s;
        async move {
            s.http
                .get(s.url("/users"))
                .header("cookie", cookie)
                .send()
                .await
                .expect("page")
        }
    };
    let r = page(other_session).await;
    assert_eq!(r.status(), 303, "the other session still works");
    assert_eq!(page(session).await.status(), 200);
    s.login_token("vera", "new-password-123", None).await;

    // an admin sets another user's password without knowing it; that
    // user's tokens end
    let vera_token = s.login_token("vera", "new-password-123", None).await;
    let (st, body) = s
        .post(
            &s.admin,
            &format!("/api/v1/users/{vera_id}/password"),
            json!({"password": "reset-by-admin-1"}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(status_of(&s, &vera_token).await, 401);
    s.login_token("vera", "reset-by-admin-1", None).await;

    // a viewer cannot set the admin's password even when signed in
    let (vera_session, vera_csrf) = sign_in(&s, "vera", "reset-by-admin-1").await;
    let admin_id = s.get(&s.admin, "/api/v1/users").await.1["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "admin")
        .expect("admin")["id"]
        .as_i64()
        .expect("id");
    let r = s
        .http
        .post(s.url(&format!("/api/v1/users/{admin_id}/password")))
        .header("cookie", &vera_session)
        .header("x-csrf-token", &vera_csrf)
        .json(&json!({"password": "taken-over-12345"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);

    // the audit log names the change
    let (_, audit) = s.get(&s.admin, "/api/v1/audit").await;
    let entries = audit["entries"].as_array().expect("entries");
    assert!(
        entries
            .iter()
            .filter(|e| e["action"] == "user.password")
            .count()
            >= 2,
        "{audit}"
    );
    s.stop().await;
}

/// Refused tokens all get the same answer (no telling revoked from
/// expired from unknown) and their last use does not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tokens_look_alike_and_leave_no_trace() {
    let dir = workspace(3).await;
    let s = TestServer::start(dir.path(), "", "").await;
    let (_, t) = mint(&s, &s.admin, json!({"name": "soon-gone"})).await;
    let id = t["id"].as_i64().expect("id");
    let token = t["token"].as_str().expect("token").to_string();
    let r = s
        .http
        .delete(s.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), 200);
    let (st_revoked, revoked) = s.get(&token, "/api/v1/status").await;
    let (st_unknown, unknown) = s.get("trs_not-a-token", "/api/v1/status").await;
    assert_eq!((st_revoked, st_unknown), (401, 401));
    assert_eq!(revoked, unknown);
    let (_, tokens) = s.get(&s.admin, "/api/v1/tokens").await;
    let row = tokens["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|r| r["id"] == id)
        .expect("row")
        .clone();
    assert!(row["last_used_at"].is_null(), "{row}");

    // a lifetime beyond any calendar is refused, not a crash
    for huge in ["100000000000d", "20000y"] {
        let (st, body) = mint(&s, &s.admin, json!({"name": "huge", "expires_in": huge})).await;
        assert_eq!(st, 400, "{huge}: {body}");
    }
    assert_eq!(status_of(&s, &s.admin).await, 200);
    s.stop().await;
}

/// Forty wrong passwords in under two seconds were all answered; now the
/// account backs off after five, the right password waits too, and every
/// failure is in the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_back_off() {
    let dir = workspace(3).await;
    let s = TestServer::start(dir.path(), "", "").await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = s
            .http
            .post(s.url("/api/v1/auth/token"))
            .json(&json!({"username": "admin", "password": "not-the-password"}))
            .send()
            .await
            .expect("login");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    // the right password is refused while the account backs off
    let r = s
        .http
        .post(s.url("/api/v1/auth/token"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("try again in")),
        "{body}"
    );
    // the login form says the same
    let r = s
        .http
        .post(s.url("/login"))
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("form");
    assert_eq!(r.status(), 429);
    let (_, audit) = s.get(&s.admin, "/api/v1/audit").await;
    let entries = audit["entries"].as_array().expect("entries");
    let failed = entries
        .iter()
        .filter(|e| e["action"] == "login.failed")
        .count();
    let throttled = entries
        .iter()
        .filter(|e| e["action"] == "login.throttled")
        .count();
    assert_eq!((failed, throttled), (5, 9), "{audit}");
    // other accounts are not locked out by admin's
    let (st, _) = s
        .post(
            &s.admin,
            "/api/v1/users",
            json!({"username": "vera", "role": "viewer", "password": "viewer-password-1"}),
        )
        .await;
    assert_eq!(st, 201);
    s.login_token("vera", "viewer-password-1", None).await;
    s.stop().await;
}

/// A login form posted from another site (login CSRF) is refused; pages
/// carry the security headers and the API's answers are not cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_csrf_and_security_headers() {
    let dir = workspace(3).await;
    let s = TestServer::start(dir.path(), "", "").await;
    let r = s
        .http
        .post(s.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("form");
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    let host = s.base.trim_start_matches("http://").to_string();
    let r = s
        .http
        .post(s.url("/login"))
        .header("origin", format!("http://{host}"))
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("form");
    assert_eq!(r.status(), 303);
    // the Secure flag comes from the connection: a browser on this machine
    // talks plain HTTP, a local TLS proxy says https; a Host header of
    // 127.0.0.1 sent through a proxy no longer turns it off
    let cookie_of = |r: &reqwest::Response| {
        r.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .to_string()
    };
    assert!(!cookie_of(&r).contains("Secure"), "{}", cookie_of(&r));
    let r = s
        .http
        .post(s.url("/login"))
        .header("x-forwarded-proto", "https")
        .header("host", "backup.example.com")
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("form");
    assert_eq!(r.status(), 303);
    assert!(cookie_of(&r).contains("; Secure"), "{}", cookie_of(&r));
    for path in ["/login", "/api/v1/status"] {
        let r = s
            .http
            .get(s.url(path))
            .bearer_auth(&s.admin)
            .send()
            .await
            .expect("get");
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().expect("csp");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        let want = if path.starts_with("/api/") {
            "no-store"
        } else {
            "private, no-cache"
        };
        assert_eq!(h["cache-control"], want, "{path}");
    }
    s.stop().await;
}
