//! One-time codes (TOTP) for local users, through the pages as a browser
//! sends them (forms, cookies, CSRF tokens): set up and confirm, then the
//! login asks for the code, a wrong code is refused, the right one signs
//! in, the same code again is refused; the API's password-for-token
//! exchange needs the code too, while API tokens work as before; an admin
//! resets another user's code; `require-totp-for-admins` sends an admin
//! without one to the set-up page first.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use totp_rs::{Algorithm, Builder, Secret};

use super::harness::{ADMIN_PASSWORD, TestServer, workspace};

/// The code of time step `step` for a base32 secret, as an authenticator
/// app computes it.
fn code(secret: &str, step: u64) -> String {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(secret).expect("base32"))
        .build()
        .expect("totp")
        .generate(step * 30)
        .to_string()
}

fn step_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs()
        / 30
}

/// An answer to a page request.
struct Page {
    status: u16,
    cookies: Vec<String>,
    location: String,
    cache_control: String,
    body: String,
}

impl Page {
    /// The value of cookie `name` this answer sets.
    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.iter().find_map(|c| {
            c.split(';')
                .next()
                .and_then(|kv| kv.strip_prefix(&format!("{name}=")))
                .filter(|v| !v.is_empty())
                .map(|v| format!("{name}={v}"))
        })
    }

    /// The CSRF token in the page's forms.
    fn csrf(&self) -> String {
        between(&self.body, "name=\"csrf\" value=\"", "\"")
    }
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in {text}"))
        + start.len();
    let len = text[from..].find(end).expect("end");
    text[from..from + len].to_string()
}

async fn send(s: &TestServer, path: &str, cookie: &str, form: Option<&[(&str, &str)]>) -> Page {
    let mut r = match form {
        Some(f) => s.http.post(s.url(path)).form(f),
        None => s.http.get(s.url(path)),
    };
    if !cookie.is_empty() {
        r = r.header("cookie", cookie);
    }
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    let cookies = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let cache_control = r
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = r.text().await.expect("body");
    Page {
        status,
        cookies,
        location,
        cache_control,
        body,
    }
}

/// Signs in with the password; returns the answer (a session cookie, or
/// the one-time code step).
async fn password_login(s: &TestServer, user: &str, password: &str) -> Page {
    send(
        s,
        "/login",
        "",
        Some(&[
            ("username", user),
            ("password", password),
            ("next", "/jobs"),
        ]),
    )
    .await
}

/// Sets up a code for the session `cookie`; returns the secret.
async fn enroll(s: &TestServer, cookie: &str) -> String {
    let csrf = send(s, "/account/totp", cookie, None).await.csrf();
    let started = send(s, "/account/totp/start", cookie, Some(&[("csrf", &csrf)])).await;
    assert_eq!(started.status, 200, "{}", started.body);
    assert_eq!(started.cache_control, "no-store", "the key is never stored");
    let secret = between(&started.body, "id=\"totp-secret\" readonly value=\"", "\"");
    let uri = between(&started.body, "id=\"totp-uri\" readonly value=\"", "\"")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    assert!(uri.starts_with("otpauth://totp/tresor:"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(
        started
            .body
            .contains("id=\"totp-qr\" class=\"qr\" src=\"data:image"),
        "a QR code is shown"
    );
    let wrong = code(&secret, step_now() + 5);
    let refused = send(
        s,
        "/account/totp/confirm",
        cookie,
        Some(&[("csrf", &csrf), ("code", &wrong)]),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    // the previous step's code: still accepted (clock drift), and leaves
    // the current one for the login
    let ok = send(
        s,
        "/account/totp/confirm",
        cookie,
        Some(&[("csrf", &csrf), ("code", &code(&secret, step_now() - 1))]),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("One-time code set up"), "{}", ok.body);
    secret
}

#[tokio::test]
async fn login_asks_for_the_code_refuses_wrong_and_replayed_codes() {
    let dir = workspace(5).await;
    let s = TestServer::start(dir.path(), "", "").await;
    let session = s.session().await;
    let secret = enroll(&s, &session).await;

    // the secret is never shown again, nor listed
    let page = send(&s, "/account/totp", &session, None).await;
    assert!(
        page.body.contains("A one-time code is set up"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(&secret));
    let (_, users) = s.get(&s.admin, "/api/v1/users").await;
    assert!(!users.to_string().contains(&secret), "{users}");
    assert_eq!(users["users"][0]["totp"], true, "{users}");

    // the password alone no longer signs in: the code step comes
    let step = password_login(&s, "admin", ADMIN_PASSWORD).await;
    assert_eq!(step.status, 200, "{}", step.body);
    assert!(step.body.contains("One-time code"), "{}", step.body);
    assert!(
        step.cookie("tresor_session").is_none(),
        "{:?}",
        step.cookies
    );
    let pending = step.cookie("tresor_login").expect("the code step's cookie");

    // a wrong code is refused, and the step may be tried again
    let wrong = code(&secret, step_now() + 5);
    let r = send(&s, "/login/code", &pending, Some(&[("code", &wrong)])).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("wrong one-time code"), "{}", r.body);
    assert!(r.cookie("tresor_session").is_none());

    // the right one signs in and goes on to `next`
    let now = code(&secret, step_now());
    let r = send(&s, "/login/code", &pending, Some(&[("code", &now)])).await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/jobs"),
        "{}",
        r.body
    );
    let session2 = r.cookie("tresor_session").expect("a session");
    assert_eq!(send(&s, "/jobs", &session2, None).await.status, 200);
    // the code step's cookie is spent
    let again = send(&s, "/login/code", &pending, Some(&[("code", &now)])).await;
    assert_eq!(again.status, 401, "{}", again.body);

    // the same code in a new sign-in is a replay
    let step = password_login(&s, "admin", ADMIN_PASSWORD).await;
    let pending = step.cookie("tresor_login").expect("the code step's cookie");
    let r = send(&s, "/login/code", &pending, Some(&[("code", &now)])).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("used already"), "{}", r.body);

    // the API's password-for-token exchange needs the code as well
    let r = s
        .http
        .post(s.url("/api/v1/auth/token"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 401);
    let r = s
        .http
        .post(s.url("/api/v1/auth/token"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD,
                      "code": code(&secret, step_now() + 1)}))
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 201);
    // tokens made before work as they did
    let (status, _) = s.get(&s.admin, "/api/v1/users").await;
    assert_eq!(status, 200);

    let (_, audit) = s.get(&s.admin, "/api/v1/audit").await;
    let audit = audit.to_string();
    for action in [
        "totp.enable",
        "login.password",
        "login.code_failed",
        "with one-time code",
    ] {
        assert!(audit.contains(action), "{action} in {audit}");
    }
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(!log.contains(&secret), "the secret is in the log");
    // the state file keeps it sealed (under the repository's key)
    for file in ["state.db", "state.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{file} holds the secret in the clear"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn an_admin_resets_another_users_code() {
    let dir = workspace(5).await;
    let s = TestServer::start(dir.path(), "", "").await;
    let (status, carol) = s
        .post(
            &s.admin,
            "/api/v1/users",
            json!({"username": "carol", "role": "viewer", "password": "carols-password-1"}),
        )
        .await;
    assert_eq!(status, 201, "{carol}");
    let carol_id = carol["user"]["id"].as_i64().expect("id");
    let carol_session = password_login(&s, "carol", "carols-password-1")
        .await
        .cookie("tresor_session")
        .expect("session");
    enroll(&s, &carol_session).await;
    let step = password_login(&s, "carol", "carols-password-1").await;
    assert!(
        step.cookie("tresor_session").is_none(),
        "carol needs her code"
    );

    // a viewer cannot reset anyone's code
    let csrf = send(&s, "/users", &carol_session, None).await.csrf();
    let path = format!("/users/{carol_id}/totp/reset");
    let r = send(&s, &path, &carol_session, Some(&[("csrf", &csrf)])).await;
    assert_eq!(r.status, 403, "{}", r.body);

    // an admin can; carol signs in with her password alone again
    let admin = s.session().await;
    let users = send(&s, "/users", &admin, None).await;
    assert!(
        users.body.contains(&path),
        "the users page offers the reset"
    );
    let r = send(&s, &path, &admin, Some(&[("csrf", &users.csrf())])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let again = password_login(&s, "carol", "carols-password-1").await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert!(again.cookie("tresor_session").is_some());
    let (_, audit) = s.get(&s.admin, "/api/v1/audit").await;
    assert!(audit.to_string().contains("totp.reset"), "{audit}");
    s.stop().await;
}

#[tokio::test]
async fn required_codes_send_admins_to_set_one_up_first() {
    let dir = workspace(5).await;
    let s = TestServer::start(dir.path(), "", "require-totp-for-admins = true").await;
    let session = s.session().await;
    let r = send(&s, "/", &session, None).await;
    assert_eq!((r.status, r.location.as_str()), (303, "/account/totp"));
    let r = send(&s, "/account/totp", &session, None).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("requires admins to set up a one-time code"),
        "{}",
        r.body
    );
    // the API with the session cookie says why; tokens are not affected
    let r = send(&s, "/api/v1/users", &session, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("one-time code"), "{}", r.body);
    let (status, _) = s.get(&s.admin, "/api/v1/users").await;
    assert_eq!(status, 200);
    // once set up, the pages open
    enroll(&s, &session).await;
    assert_eq!(send(&s, "/", &session, None).await.status, 200);
    s.stop().await;
}
