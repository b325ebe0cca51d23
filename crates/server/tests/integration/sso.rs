//! Single sign-on against a real OpenID Connect provider: oidc-provider
//! (`tests/browser/provider.mjs`, a certified implementation) on a free
//! loopback port, with a confidential client that must use PKCE and
//! users whose `groups` claim maps to admin, to viewer, or to nothing.
//! Headless Chromium (`tests/browser/sso.mjs`) signs them in through the
//! provider's own login page, cancels there once, and signs in once more
//! after the provider publishes a wrong key; this test then checks what
//! the server recorded. A second test covers the failures that need no browser: the
//! provider down, a callback this browser did not start.
//!
//! Node, npm and Chromium are required: a missing one fails the test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use tresor_ops::Config;

use super::browser::{browser_dir, chromium, node_modules, require, run_node};
use super::harness::{TestServer, config_text, engines, free_port, workspace};

/// A running oidc-provider; stopped when dropped.
struct OidcProvider {
    child: Child,
    issuer: String,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the provider with one client whose redirect URL is `redirect`.
fn start_provider(redirect: &str, secret: &str) -> OidcProvider {
    require("node", "apt-get install -y nodejs (Node.js 20 or later)");
    node_modules();
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .current_dir(browser_dir())
        .env("OIDC_REDIRECT", redirect)
        .env("OIDC_CLIENT_SECRET", secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node provider.mjs (bash .ci/services installs node and its packages)");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(issuer) = line.strip_prefix("READY ") {
                let _ = tx.send(issuer.to_string());
            }
        }
    });
    let issuer = rx.recv_timeout(Duration::from_secs(30)).expect(
        "oidc-provider did not start (see its output above; bash .ci/services installs it)",
    );
    OidcProvider { child, issuer }
}

/// The `[server.oidc]` section for `issuer`.
fn oidc_section(dir: &std::path::Path, issuer: &str, base: &str, secret: &str) -> String {
    let secret_file = dir.join("oidc-secret");
    std::fs::write(&secret_file, format!("{secret}\n")).expect("secret file");
    format!(
        r#"
[server.oidc]
name = "Test ID"
issuer = "{issuer}"
client-id = "tresor"
client-secret-file = "{secret_file}"
redirect-url = "{base}/login/oidc/callback"
scopes = ["openid", "profile", "email", "groups"]
roles-claim = "groups"
roles = {{ "tresor-admins" = "admin", "staff" = "viewer" }}
"#,
        secret_file = secret_file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_through_a_real_provider_with_the_roles_their_groups_map_to() {
    let chromium = chromium();
    let dir = workspace(50).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let secret = "test-client-secret-0123456789";
    let provider = start_provider(&format!("{base}/login/oidc/callback"), secret);
    let text = config_text(
        dir.path(),
        "",
        &oidc_section(dir.path(), &provider.issuer, &base, secret),
    );
    let s = TestServer::start_on(
        Config::parse(&text, "test").expect("config"),
        engines(),
        listener,
    )
    .await;
    let backup = s.backup(json!({"source": "app"})).await;
    let snapshot = backup["figures"]["snapshot"]
        .as_str()
        .expect("snapshot")
        .to_string();

    let mut env = vec![
        ("TRESOR_URL", s.base.clone()),
        ("TRESOR_SNAPSHOT", snapshot),
        ("CHROMIUM", chromium.display().to_string()),
        ("OIDC_ISSUER", provider.issuer.clone()),
    ];
    // `TRESOR_BROWSER_OUT=DIR` keeps the screenshots
    if let Some(out) = std::env::var_os("TRESOR_BROWSER_OUT") {
        std::fs::create_dir_all(&out).expect("out dir");
        env.push(("TRESOR_OUT", out.to_string_lossy().into_owned()));
    }
    let (ok, stdout, stderr) =
        tokio::task::spawn_blocking(move || run_node("sso.mjs", &env, Duration::from_secs(90)))
            .await
            .expect("node");
    println!("{stdout}");
    eprintln!("{stderr}");
    if !ok {
        let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
        panic!("the single sign-on flow failed:\n{stdout}\n{stderr}\nthe server's log:\n{log}");
    }
    let result: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|l| serde_json::from_str(l).ok())
        .expect("the script prints its RESULT line");

    // ada's restore ran, started by her.
    let restore = s
        .wait_job(result["restoreJobId"].as_i64().expect("restore job"))
        .await;
    assert_eq!(restore["kind"], "restore", "{restore}");
    assert_eq!(restore["state"], "succeeded", "{restore}");
    assert_eq!(restore["started_by"], "ada", "{restore}");

    // ada and bob are recorded as users of the provider, eve is not.
    let (_, users) = s.get(&s.admin, "/api/v1/users").await;
    let users = users["users"].as_array().expect("users").clone();
    let find = |name: &str| users.iter().find(|u| u["username"] == name).cloned();
    let ada = find("ada").expect("ada is recorded");
    assert_eq!(
        (ada["role"].as_str(), ada["origin"].as_str()),
        (Some("admin"), Some("oidc"))
    );
    let bob = find("bob").expect("bob is recorded");
    assert_eq!(
        (bob["role"].as_str(), bob["origin"].as_str()),
        (Some("viewer"), Some("oidc"))
    );
    assert!(find("eve").is_none(), "{users:?}");

    // The audit log has the sign-ins and the refusal; no secret anywhere.
    let (_, audit) = s.get(&s.admin, "/api/v1/audit").await;
    let audit = audit.to_string();
    assert!(audit.contains("through Test ID"), "{audit}");
    assert!(audit.contains("login.refused"), "{audit}");
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(log.contains("single sign-on refused"), "{log}");
    assert!(log.contains("access_denied"), "{log}");
    assert!(log.contains("ID token is not valid"), "{log}");
    let (_, settings) = s.get(&s.admin, "/api/v1/settings").await;
    assert_eq!(
        settings["server"]["oidc"]["client_secret"], true,
        "{settings}"
    );
    assert_eq!(
        settings["server"]["oidc"]["issuer"],
        provider.issuer.as_str()
    );
    let settings = settings.to_string();
    for text in [&audit, &log, &settings] {
        assert!(!text.contains(secret), "the client secret leaked: {text}");
    }

    // ada has no password here: a password sign-in finds nothing.
    let r = s
        .http
        .post(s.url("/api/v1/auth/token"))
        .json(&json!({"username": "ada", "password": ""}))
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 401);
    s.stop().await;
    drop(provider);
}

#[tokio::test]
async fn a_provider_that_is_down_or_a_foreign_callback_gives_a_clear_page() {
    let dir = workspace(5).await;
    // nothing listens on this port
    let issuer = format!("http://127.0.0.1:{}", free_port());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let text = config_text(
        dir.path(),
        "",
        &oidc_section(dir.path(), &issuer, &base, "never-shown-secret"),
    );
    let s = TestServer::start_on(
        Config::parse(&text, "test").expect("config"),
        engines(),
        listener,
    )
    .await;

    // the login page offers the provider
    let page = s
        .http
        .get(s.url("/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("body");
    assert!(page.contains("Sign in with Test ID"), "{page}");

    // the provider is down: 503 and a page that says so and what to do
    let r = s
        .http
        .get(s.url("/login/oidc?next=/jobs"))
        .send()
        .await
        .expect("begin");
    assert_eq!(r.status(), 503);
    let body = r.text().await.expect("body");
    assert!(
        body.contains(&format!(
            "the sign-in provider at {issuer} cannot be reached"
        )),
        "{body}"
    );
    assert!(body.contains("sign in with a local user"), "{body}");

    // a callback this browser did not start (no cookie, unknown state)
    let r = s
        .http
        .get(s.url("/login/oidc/callback?code=stolen&state=forged"))
        .header("cookie", "tresor_oidc=forged")
        .send()
        .await
        .expect("callback");
    assert_eq!(r.status(), 403);
    let body = r.text().await.expect("body");
    assert!(body.contains("was not started here"), "{body}");
    assert!(!body.contains("stolen"), "{body}");

    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(log.contains("single sign-on failed"), "{log}");
    assert!(
        !log.contains("never-shown-secret") && !log.contains("stolen"),
        "{log}"
    );
    s.stop().await;
}
