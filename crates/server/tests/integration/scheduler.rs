//! The scheduler on paused tokio time: backups at 06:00 and 18:00 in
//! Europe/Berlin across the end of daylight saving time (2025-10-26),
//! retention keep-last 10 after each run.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tower::ServiceExt;
use tresor_ops::Config;

use super::harness::{ADMIN_PASSWORD, config_text, engines, workspace};

async fn call(
    router: &axum::Router,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Value,
) -> Value {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let resp = router.clone().oneshot(req).await.expect("response");
    let bytes = axum::body::to_bytes(resp.into_body(), 10 << 20)
        .await
        .expect("body");
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// A server over `config` whose clock starts at `start`, its router, and
/// an admin token.
async fn start_at(
    config: Config,
    start: DateTime<Utc>,
) -> (tresor_server::Server, axum::Router, String) {
    let server = tresor_server::Server::new(
        config,
        engines(),
        tresor_server::Options {
            clock: tresor_server::Clock::starting_at(start),
            admin_password: Some(ADMIN_PASSWORD.into()),
            announce: false,
            ..tresor_server::Options::default()
        },
    )
    .await
    .expect("server");
    let router = server.router();
    let login = call(
        &router,
        None,
        "POST",
        "/api/v1/auth/token",
        json!({"username": "admin", "password": ADMIN_PASSWORD}),
    )
    .await;
    let token = login["token"].as_str().expect("token").to_string();
    (server, router, token)
}

#[tokio::test(start_paused = true)]
async fn twice_a_day_in_berlin_across_the_dst_change() {
    let dir = workspace(50).await;
    let text = config_text(
        dir.path(),
        r#"schedule = ["0 6 * * *", "0 18 * * *"]
timezone = "Europe/Berlin"
timeout = "1h"
[sources.app.retention]
keep-last = 10"#,
        "",
    );
    let config = Config::parse(&text, "test").expect("config");
    // Friday 2025-10-24, 20:00 in Berlin.
    let start: DateTime<Utc> = "2025-10-24T18:00:00Z".parse().expect("time");
    let (_server, router, token) = start_at(config, start).await;

    let status = call(&router, Some(&token), "GET", "/api/v1/status", Value::Null).await;
    assert_eq!(
        status["sources"][0]["next_run"], "2025-10-25T04:00:00Z",
        "{status}"
    );

    // Seven days pass in moments.
    tokio::time::sleep(Duration::from_secs(7 * 24 * 3600 + 60)).await;

    let jobs = call(
        &router,
        Some(&token),
        "GET",
        "/api/v1/jobs?kind=backup&limit=100",
        Value::Null,
    )
    .await;
    let mut runs: Vec<String> = jobs["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            assert_eq!(j["state"], "succeeded", "{j}");
            assert_eq!(j["trigger"], "scheduled");
            j["scheduled_for"]
                .as_str()
                .expect("scheduled_for")
                .to_string()
        })
        .collect();
    runs.sort();
    let expected = [
        "2025-10-25T04:00:00.000000Z", // Sat 06:00 CEST
        "2025-10-25T16:00:00.000000Z", // Sat 18:00 CEST
        "2025-10-26T05:00:00.000000Z", // Sun 06:00 CET: the clocks went back at 03:00
        "2025-10-26T17:00:00.000000Z",
        "2025-10-27T05:00:00.000000Z",
        "2025-10-27T17:00:00.000000Z",
        "2025-10-28T05:00:00.000000Z",
        "2025-10-28T17:00:00.000000Z",
        "2025-10-29T05:00:00.000000Z",
        "2025-10-29T17:00:00.000000Z",
        "2025-10-30T05:00:00.000000Z",
        "2025-10-30T17:00:00.000000Z",
        "2025-10-31T05:00:00.000000Z",
        "2025-10-31T17:00:00.000000Z",
    ];
    assert_eq!(runs, expected);

    // Retention ran in each backup job: the last four removed one each,
    // and ten snapshots stay.
    let backups = call(
        &router,
        Some(&token),
        "GET",
        "/api/v1/jobs?kind=backup&limit=100",
        Value::Null,
    )
    .await;
    let removed: usize = backups["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            j["figures"]["retention_removed"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .sum();
    assert_eq!(removed, 4, "{backups}");
    let list = call(
        &router,
        Some(&token),
        "GET",
        "/api/v1/snapshots?source=app",
        Value::Null,
    )
    .await;
    assert_eq!(
        list["snapshots"].as_array().map(Vec::len),
        Some(10),
        "{list}"
    );

    // Pausing skips runs; the schedule says so.
    call(
        &router,
        Some(&token),
        "POST",
        "/api/v1/sources/app/pause",
        json!({}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    let jobs = call(
        &router,
        Some(&token),
        "GET",
        "/api/v1/jobs?kind=backup&limit=100",
        Value::Null,
    )
    .await;
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(14));
    let sched = call(
        &router,
        Some(&token),
        "GET",
        "/api/v1/schedule",
        Value::Null,
    )
    .await;
    assert_eq!(sched["sources"][0]["paused"], true, "{sched}");
    // it says paused, not waiting for a run that will not happen
    assert_eq!(sched["sources"][0]["state"], "paused", "{sched}");
    assert_eq!(sched["sources"][0]["next_run"], Value::Null, "{sched}");
    let status = call(&router, Some(&token), "GET", "/api/v1/status", Value::Null).await;
    assert_eq!(status["sources"][0]["schedule_state"], "paused", "{status}");
    assert_eq!(status["sources"][0]["next_run"], Value::Null, "{status}");
}

#[tokio::test(start_paused = true)]
async fn a_missed_run_is_caught_up_once_at_start() {
    let dir = workspace(10).await;
    let text = config_text(
        dir.path(),
        r#"schedule = "0 6 * * *"
timezone = "Europe/Berlin"
catch-up = true"#,
        "",
    );
    let t0: DateTime<Utc> = "2025-03-01T12:00:00Z".parse().expect("time");
    let options = |t| tresor_server::Options {
        clock: tresor_server::Clock::starting_at(t),
        admin_password: Some(ADMIN_PASSWORD.into()),
        announce: false,
        ..tresor_server::Options::default()
    };
    // First start records when scheduling began.
    let first = tresor_server::Server::new(
        Config::parse(&text, "t").expect("c"),
        engines(),
        options(t0),
    )
    .await
    .expect("server");
    drop(first);
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Three days later (two 06:00 runs missed): one catch-up run.
    let t1: DateTime<Utc> = "2025-03-04T12:00:00Z".parse().expect("time");
    let second = tresor_server::Server::new(
        Config::parse(&text, "t").expect("c"),
        engines(),
        options(t1),
    )
    .await
    .expect("server");
    let router = second.router();
    let login = call(
        &router,
        None,
        "POST",
        "/api/v1/auth/token",
        json!({"username": "admin", "password": ADMIN_PASSWORD}),
    )
    .await;
    let token = login["token"].as_str().expect("token").to_string();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let jobs = call(
        &router,
        Some(&token),
        "GET",
        "/api/v1/jobs?kind=backup",
        Value::Null,
    )
    .await;
    let jobs = jobs["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["trigger"], "catch-up");
    assert_eq!(jobs[0]["state"], "succeeded", "{:?}", jobs[0]);
}

/// A drill schedule proves the newest backup restores, every morning after
/// the backup: a scheduled drill job, and its outcome in /metrics.
#[tokio::test(start_paused = true)]
async fn drills_run_on_their_own_schedule() {
    let dir = workspace(20).await;
    let text = config_text(
        dir.path(),
        r#"schedule = "0 6 * * *"
drill-schedule = "30 6 * * *"
timezone = "Europe/Berlin""#,
        "",
    );
    let start: DateTime<Utc> = "2025-03-01T04:00:00Z".parse().expect("time");
    let (_server, router, token) =
        start_at(Config::parse(&text, "t").expect("config"), start).await;
    // 05:00 Berlin now: the backup runs at 06:00, the drill at 06:30
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    let drills = call(
        &router,
        Some(&token),
        "GET",
        "/api/v1/jobs?kind=drill",
        Value::Null,
    )
    .await;
    let drills = drills["jobs"].as_array().expect("jobs");
    assert_eq!(drills.len(), 1, "{drills:?}");
    assert_eq!(drills[0]["trigger"], "scheduled");
    assert_eq!(drills[0]["state"], "succeeded", "{:?}", drills[0]);
    assert_eq!(drills[0]["scheduled_for"], "2025-03-01T05:30:00.000000Z");

    let req = Request::builder()
        .uri("/metrics")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let resp = router.clone().oneshot(req).await.expect("response");
    let text = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body")
            .to_vec(),
    )
    .expect("utf-8");
    assert!(
        text.contains("tresor_drill_last_success_timestamp_seconds{source=\"app\"}"),
        "{text}"
    );
    assert!(
        text.contains("tresor_drill_last_failed{source=\"app\"} 0"),
        "{text}"
    );
}

/// The /metrics text.
async fn metrics_text(api: &super::harness::InProcess) -> String {
    let (_, _, body) = api.send("GET", "/metrics", None).await;
    String::from_utf8(body.to_vec()).expect("utf-8")
}

/// Email deliveries of `event` that were sent (waiting up to a minute of
/// real time for `n` of them, the paused clock standing still meanwhile).
async fn sent(api: &super::harness::InProcess, event: &str, n: usize) -> usize {
    let mut count = 0;
    for _ in 0..3000 {
        let (_, d) = api.get("/api/v1/notifications").await;
        count = d["deliveries"].as_array().map_or(0, |v| {
            v.iter()
                .filter(|d| d["event"] == event && d["state"] == "sent")
                .count()
        });
        if count >= n {
            break;
        }
        super::offclock::real_pause(20).await;
    }
    count
}

/// A scheduled drill whose assertion does not hold fails and is mailed
/// about, with the report kept; a drill-max-age of a day with no drill
/// passing makes the drill overdue once the first backup is a day old: one
/// `drill-overdue` mail for the whole stretch, and
/// `tresor_drill_overdue` in /metrics.
#[tokio::test(start_paused = true)]
async fn a_failing_scheduled_drill_is_mailed_and_then_overdue() {
    let dir = workspace(20).await;
    let smtp = super::harness::smtp_catcher(dir.path());
    let text = config_text(
        dir.path(),
        r#"schedule = "0 6 * * *"
timezone = "Europe/Berlin"

[sources.app.drill]
schedule = "30 6 * * *"
max-age = "1d"

[[sources.app.drill.assert]]
name = "a thousand customers"
sql = "SELECT count(*) FROM customers"
expect = ">= 1000""#,
        &format!(
            "[notifications]\nattempts = 2\nbackoff = \"100ms\"\n\
             [notifications.email]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             from = \"tresor <tresor@example.com>\"\nto = [\"ops@example.com\"]\non-failure = [\"*\"]\n",
            smtp.port
        ),
    );
    let start: DateTime<Utc> = "2025-03-01T04:00:00Z".parse().expect("time");
    let clock = tresor_server::Clock::starting_at(start);
    let (_server, router, token) =
        start_at(Config::parse(&text, "t").expect("config"), start).await;
    let api = super::harness::InProcess { router, token };
    let at = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
    // 06:00 Berlin the backup, 06:30 the drill, which fails on its
    // assertion and is mailed
    tokio::time::sleep(clock.until(at("2025-03-01T05:30:01Z"))).await;
    assert_eq!(
        sent(&api, "drill-failure", 1).await,
        1,
        "no drill-failure mail"
    );
    let (_, drills) = api.get("/api/v1/jobs?kind=drill").await;
    let drill = &drills["jobs"][0];
    assert_eq!(drill["trigger"], "scheduled", "{drill}");
    assert_eq!(drill["state"], "failed", "{drill}");
    let error = drill["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("assertion \"a thousand customers\" failed: expected >= 1000, got 20"),
        "{drill}"
    );
    let mail = super::harness::mails(&smtp.maildir)
        .into_iter()
        .find(|m| m.contains("drill of app failed"))
        .expect("the drill's failure mail");
    assert!(mail.contains("got 20"), "{mail}");
    let (_, job) = api
        .get(&format!(
            "/api/v1/jobs/{}",
            drill["id"].as_i64().expect("id")
        ))
        .await;
    let figures = &job["figures"];
    assert!(figures["restore_seconds"].as_f64().is_some(), "{job}");
    assert_eq!(figures["assertions"][0]["seen"], "20", "{job}");
    let text = metrics_text(&api).await;
    assert!(
        text.contains("tresor_drill_overdue{source=\"app\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("tresor_drill_last_failed{source=\"app\"} 1"),
        "{text}"
    );

    // a day after the first backup, no drill has passed: overdue, mailed
    // once, however long it lasts
    tokio::time::sleep(clock.until(at("2025-03-02T05:00:01Z"))).await;
    assert_eq!(
        sent(&api, "drill-overdue", 1).await,
        1,
        "no drill-overdue mail"
    );
    tokio::time::sleep(clock.until(at("2025-03-03T06:00:01Z"))).await;
    super::offclock::real_pause(500).await;
    assert_eq!(sent(&api, "drill-overdue", 1).await, 1);
    let mail = super::harness::mails(&smtp.maildir)
        .into_iter()
        .find(|m| m.contains("restore drill of app overdue"))
        .expect("the overdue mail");
    assert!(
        mail.contains("no restore drill of app has passed since its first backup"),
        "{mail}"
    );
    let text = metrics_text(&api).await;
    assert!(
        text.contains("tresor_drill_overdue{source=\"app\"} 1"),
        "{text}"
    );

    // the dashboard: the last drill failed, it is overdue, and the chart
    // shows the three drills' restore times
    let html = dashboard(&api.router).await;
    assert!(html.contains("Last drill"), "{html}");
    assert!(html.contains(">failed</span>"), "{html}");
    assert!(html.contains("badge overdue"), "{html}");
    assert!(html.contains("drill-chart"), "{html}");
    assert_eq!(html.matches(r#"class="fail""#).count(), 3, "{html}");
}

/// The dashboard's HTML, signed in as the admin.
async fn dashboard(router: &axum::Router) -> String {
    let login = Request::builder()
        .method("POST")
        .uri("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "username=admin&password={ADMIN_PASSWORD}"
        )))
        .expect("request");
    let resp = router.clone().oneshot(login).await.expect("login");
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let page = Request::builder()
        .uri("/")
        .header("cookie", cookie)
        .body(Body::empty())
        .expect("request");
    let resp = router.clone().oneshot(page).await.expect("page");
    assert_eq!(resp.status(), 200);
    String::from_utf8(
        axum::body::to_bytes(resp.into_body(), 4 << 20)
            .await
            .expect("body")
            .to_vec(),
    )
    .expect("utf-8")
}
