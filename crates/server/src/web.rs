//! The web admin: server-rendered pages (minijinja templates embedded in
//! the binary), plain forms with CSRF tokens, and a little vanilla
//! JavaScript that polls a running job's progress and log.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, extract::DefaultBodyLimit};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{Environment, Value as J};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::actions;
use crate::app::App;
use crate::auth::{
    Admin, Caller, MaybeCaller, Viewer, is_loopback_host, random_token, session_cookie, token_hash,
};
use crate::error::ApiError;
use crate::store::{JobFilter, parse_ts};

mod chart;
mod form;

use form::{AdminForm, Empty, OperatorForm, ViewerForm};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("web/templates/base.html")),
    ("login.html", include_str!("web/templates/login.html")),
    (
        "dashboard.html",
        include_str!("web/templates/dashboard.html"),
    ),
    (
        "snapshots.html",
        include_str!("web/templates/snapshots.html"),
    ),
    ("snapshot.html", include_str!("web/templates/snapshot.html")),
    ("preview.html", include_str!("web/templates/preview.html")),
    ("jobs.html", include_str!("web/templates/jobs.html")),
    ("job.html", include_str!("web/templates/job.html")),
    ("users.html", include_str!("web/templates/users.html")),
    ("settings.html", include_str!("web/templates/settings.html")),
    ("upload.html", include_str!("web/templates/upload.html")),
    ("message.html", include_str!("web/templates/message.html")),
];

const STYLE: &str = include_str!("web/static/style.css");
const SCRIPT: &str = include_str!("web/static/app.js");

/// Formats a byte count for people.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

fn to_time(v: &J) -> Option<DateTime<Utc>> {
    v.as_str().and_then(parse_ts)
}

/// Builds the template environment (dates shown in `tz`).
///
/// # Errors
/// A template that does not parse (a build-time mistake).
pub fn templates(tz: Tz) -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    for (name, src) in TEMPLATES {
        env.add_template(name, src)?;
    }
    env.add_filter("bytes", |v: J| -> String {
        v.as_i64()
            .map(|n| human_bytes(u64::try_from(n).unwrap_or(0)))
            .unwrap_or_default()
    });
    env.add_filter("time", move |v: J| -> String {
        to_time(&v).map_or_else(
            || "–".to_string(),
            |t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
        )
    });
    env.add_filter("ago", |v: J| -> String {
        let Some(t) = to_time(&v) else {
            return String::new();
        };
        let d = Utc::now() - t;
        let (n, unit) = if d.num_seconds().abs() < 90 {
            (d.num_seconds(), "s")
        } else if d.num_minutes().abs() < 90 {
            (d.num_minutes(), "min")
        } else if d.num_hours().abs() < 48 {
            (d.num_hours(), "h")
        } else {
            (d.num_days(), "d")
        };
        if n >= 0 {
            format!("{n} {unit} ago")
        } else {
            format!("in {} {unit}", -n)
        }
    });
    env.add_filter("short", |v: J| -> String {
        v.as_str()
            .map(|s| s.chars().take(8).collect())
            .unwrap_or_default()
    });
    Ok(env)
}

/// A JSON value as a template value. The workspace builds serde_json with
/// `arbitrary_precision`, which serializes a number as a private one-key
/// map: handed to minijinja through serde, every number on a page would
/// read `{'$serde_json::private::Number': '1'}`. So numbers are converted
/// here, by hand.
fn template_value(v: &Value) -> J {
    match v {
        Value::Null => J::from(()),
        Value::Bool(b) => J::from(*b),
        Value::Number(n) => n
            .as_i64()
            .map(J::from)
            .or_else(|| n.as_u64().map(J::from))
            .or_else(|| n.as_f64().map(J::from))
            .unwrap_or_else(|| J::from(n.to_string())),
        Value::String(s) => J::from(s.as_str()),
        Value::Array(a) => a.iter().map(template_value).collect(),
        Value::Object(m) => J::from(
            m.iter()
                .map(|(k, v)| (k.clone(), template_value(v)))
                .collect::<std::collections::BTreeMap<String, J>>(),
        ),
    }
}

fn render(app: &App, name: &str, caller: Option<&Caller>, ctx: Value) -> Response {
    let base = json!({
        "user": caller.map(|c| c.user.name.clone()),
        "role": caller.map(|c| c.user.role.clone()),
        "is_admin": caller.is_some_and(Caller::is_admin),
        "can_backup": caller.is_some_and(|c| c.level >= crate::auth::Level::Backup),
        "csrf": caller.map(|c| c.csrf().to_string()),
        "version": env!("CARGO_PKG_VERSION"),
        "timezone": app.tz.name(),
    });
    let mut merged = ctx;
    if let (Some(m), Some(b)) = (merged.as_object_mut(), base.as_object()) {
        for (k, v) in b {
            m.entry(k.clone()).or_insert(v.clone());
        }
    }
    match app
        .templates
        .get_template(name)
        .and_then(|t| t.render(template_value(&merged)))
    {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, template = name, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("page rendering failed: {e:#}"),
            )
                .into_response()
        }
    }
}

/// 404 for pages.
pub fn not_found_page() -> Response {
    crate::error::error_page(&ApiError::not_found("no such page"))
}

/// Wraps page handlers: errors become error pages.
struct Page(Response);

impl From<ApiError> for Page {
    fn from(e: ApiError) -> Self {
        Page(crate::error::error_page(&e))
    }
}

impl From<rusqlite::Error> for Page {
    fn from(e: rusqlite::Error) -> Self {
        Page::from(ApiError::from(e))
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        self.0
    }
}

type PageResult = Result<Response, Page>;

/// The web routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(dashboard))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/static/style.css", get(style))
        .route("/static/app.js", get(script))
        .route("/snapshots", get(snapshots))
        .route("/snapshots/{id}", get(snapshot))
        .route("/snapshots/{id}/download", get(download))
        .route("/snapshots/{id}/preview", post(preview))
        .route("/snapshots/{id}/delete", post(delete_snapshot))
        .route("/restore", post(start_restore))
        .route("/sources/{name}/backup", post(backup_now))
        .route("/sources/{name}/drill", post(drill))
        .route("/sources/{name}/{action}", post(source_switch))
        .route("/sources/{name}/counts", get(counts))
        .route("/jobs", get(jobs))
        .route("/jobs/{id}", get(job))
        .route("/jobs/{id}/cancel", post(cancel_job))
        .route("/maintenance/{what}", post(maintenance))
        .route("/users", get(users).post(create_user))
        .route("/users/{id}/delete", post(delete_user))
        .route("/account/password", post(change_password))
        .route("/tokens", post(create_token))
        .route("/tokens/{id}/revoke", post(revoke_token))
        .route("/settings", get(settings))
        .route("/scheduler/{what}", post(scheduler_switch))
        .route(
            "/upload",
            get(upload_page)
                .post(upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/uploads/{id}/import", post(import_upload))
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") => n.to_string(),
        _ => "/".to_string(),
    }
}

async fn login_page(
    State(app): State<Arc<App>>,
    MaybeCaller(c): MaybeCaller,
    Query(q): Query<NextQuery>,
) -> Response {
    if c.is_some() {
        return Redirect::to(&safe_next(q.next.as_deref())).into_response();
    }
    render(
        &app,
        "login.html",
        None,
        json!({"next": safe_next(q.next.as_deref())}),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

async fn login(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let Ok(user) = actions::admin::check_login(&app, &f.username, &f.password).await else {
        {
            return (
                StatusCode::UNAUTHORIZED,
                render(
                    &app,
                    "login.html",
                    None,
                    json!({"error": "wrong user name or password", "next": safe_next(f.next.as_deref()), "username": f.username}),
                ),
            )
                .into_response();
        }
    };
    let sid = random_token(32);
    let csrf = random_token(24);
    let life =
        chrono::Duration::from_std(app.session_lifetime).unwrap_or(chrono::Duration::hours(12));
    if let Err(e) = app
        .store
        .create_session(&token_hash(&sid), user.id, &csrf, Utc::now() + life)
    {
        return crate::error::error_page(&e.into());
    }
    let secure = app.config.server.secure_cookies && !is_loopback_host(&headers);
    (
        [(
            header::SET_COOKIE,
            session_cookie(&sid, life.num_seconds(), secure),
        )],
        Redirect::to(&safe_next(f.next.as_deref())),
    )
        .into_response()
}

async fn logout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    _: ViewerForm<Empty>,
) -> PageResult {
    if let Some(sid) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(';')
                .filter_map(|kv| kv.trim().split_once('='))
                .find(|(k, _)| *k == crate::auth::SESSION_COOKIE)
                .map(|(_, v)| v.to_string())
        })
    {
        app.store
            .delete_session(&token_hash(&sid))
            .map_err(ApiError::from)?;
    }
    Ok((
        [(header::SET_COOKIE, session_cookie("", 0, false))],
        Redirect::to("/login"),
    )
        .into_response())
}

async fn dashboard(State(app): State<Arc<App>>, Viewer(c): Viewer) -> PageResult {
    let all = app.snapshots().await?;
    let mut sources = Vec::new();
    for name in app.config.sources.keys() {
        sources.push(actions::sources::source_status(&app, name, &all).await?);
    }
    let stats = app.store.repo_stats(200)?;
    let latest = stats.last().cloned();
    let jobs = app.store.jobs(&JobFilter {
        limit: Some(8),
        ..Default::default()
    })?;
    let dedup = latest.as_ref().and_then(|s| {
        (s.stored_bytes > 0)
            .then(|| format!("{:.1}×", s.logical_bytes as f64 / s.stored_bytes as f64))
    });
    let paused = app
        .store
        .setting(crate::scheduler::GLOBAL_PAUSE)?
        .is_some_and(|v| v == "true");
    Ok(render(
        &app,
        "dashboard.html",
        Some(&c),
        json!({
            "sources": sources,
            "snapshot_count": all.len(),
            "stored_bytes": latest.as_ref().map(|s| s.stored_bytes),
            "logical_bytes": latest.as_ref().map(|s| s.logical_bytes),
            "dedup": dedup,
            "chart": chart::repository_chart(&stats),
            "jobs": jobs.iter().map(|j| actions::jobs::job_json(&app, j)).collect::<Vec<_>>(),
            "scheduler_paused": paused,
            "maintenance": app.schedules.all().into_iter().filter(|e| e.name.starts_with('[')).collect::<Vec<_>>(),
        }),
    ))
}

async fn snapshots(
    State(app): State<Arc<App>>,
    Viewer(c): Viewer,
    Query(q): Query<actions::snapshots::ListQuery>,
) -> PageResult {
    let all = app.snapshots().await?;
    let list = actions::snapshots::filter(&all, &q)?;
    Ok(render(
        &app,
        "snapshots.html",
        Some(&c),
        json!({
            "snapshots": list.iter().map(|s| actions::snapshots::snapshot_json(s, false)).collect::<Vec<_>>(),
            "sources": app.config.sources.keys().collect::<Vec<_>>(),
            "source": q.source,
            "tag": q.tag,
            "total": all.len(),
        }),
    ))
}

async fn snapshot(
    State(app): State<Arc<App>>,
    Viewer(c): Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let s = app.find_snapshot(&id).await?;
    let default_target = s
        .source
        .name
        .clone()
        .filter(|n| app.config.sources.contains_key(n));
    Ok(render(
        &app,
        "snapshot.html",
        Some(&c),
        json!({
            "s": actions::snapshots::snapshot_json(&s, true),
            "targets": app.config.sources.keys().collect::<Vec<_>>(),
            "default_target": default_target,
        }),
    ))
}

#[derive(Deserialize, Default)]
struct DownloadQuery {
    format: Option<String>,
}

async fn download(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Path(id): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> PageResult {
    let format = actions::archives::parse_format(q.format.as_deref())?;
    Ok(actions::archives::stream_archive(&app, &c.actor(), &id, format, &[]).await?)
}

#[derive(Deserialize)]
struct PreviewForm {
    target: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    tables: Option<String>,
}

fn split_list(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("")
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

async fn preview(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AdminForm(c, f): AdminForm<PreviewForm>,
) -> PageResult {
    // a form without a mode restores the default way; an unknown one is
    // refused, never read as replace
    let mode = match f.mode.as_deref().filter(|m| !m.is_empty()) {
        None => tresor_core::RestoreMode::default(),
        Some(m) => m
            .parse()
            .map_err(|e: tresor_core::UnknownRestoreMode| ApiError::bad_request(e.to_string()))?,
    };
    let p = actions::restore::make_preview(
        &app,
        &c,
        actions::restore::PreviewRequest {
            snapshot: id,
            target: f.target,
            mode,
            tables: split_list(f.tables.as_deref()),
        },
    )
    .await?;
    Ok(render(&app, "preview.html", Some(&c), json!({"p": p})))
}

#[derive(Deserialize)]
struct RestoreForm {
    preview_id: String,
    confirm_target: String,
    confirm_snapshot: String,
}

async fn start_restore(
    State(app): State<Arc<App>>,
    AdminForm(c, f): AdminForm<RestoreForm>,
) -> PageResult {
    let id = actions::restore::start_restore(
        &app,
        &c,
        &actions::restore::StartRequest {
            preview_id: f.preview_id,
            confirm: actions::restore::Confirm {
                target: f.confirm_target,
                snapshot: f.confirm_snapshot,
            },
        },
    )?;
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}

#[derive(Deserialize)]
struct DeleteForm {
    confirm_id: String,
}

async fn delete_snapshot(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AdminForm(c, f): AdminForm<DeleteForm>,
) -> PageResult {
    let s = app.find_snapshot(&id).await?;
    let typed = f.confirm_id.trim();
    if typed.len() < 8 || !s.id.starts_with(typed) {
        return Err(ApiError::bad_request(
            "type the snapshot's id (its first 8 characters) to delete it",
        )
        .into());
    }
    let deleted = actions::snapshots::delete_snapshot(&app, &c.actor(), typed).await?;
    Ok(render(
        &app,
        "message.html",
        Some(&c),
        json!({"title": "Snapshot deleted", "message": format!("Snapshot {} was deleted. Its data is removed by the next prune.", &deleted[..8]), "link": "/snapshots", "link_text": "Back to snapshots"}),
    ))
}

#[derive(Deserialize)]
struct BackupForm {
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

async fn backup_now(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    OperatorForm(c, f): OperatorForm<BackupForm>,
) -> PageResult {
    let id = actions::snapshots::start_backup(
        &app,
        &c.actor(),
        actions::snapshots::CreateRequest {
            source: name,
            tables: Vec::new(),
            group: f.group.filter(|g| !g.is_empty()),
            reason: f.reason.filter(|r| !r.is_empty()).or(Some("web".into())),
            tags: Vec::new(),
        },
    )?;
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}

async fn drill(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    OperatorForm(c, _): OperatorForm<Empty>,
) -> PageResult {
    app.source_config(&name)?;
    let id = actions::jobs::start(
        &app,
        &c.actor(),
        crate::jobs::JobSpec::Drill {
            source: name,
            snapshot: None,
        },
    )?;
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}

/// `pause` or `resume` from the path, as "paused?".
fn pause_action(action: &str) -> Result<bool, ApiError> {
    match action {
        "pause" => Ok(true),
        "resume" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "unknown action {action:?} (pause or resume)"
        ))),
    }
}

async fn source_switch(
    State(app): State<Arc<App>>,
    Path((name, action)): Path<(String, String)>,
    AdminForm(c, _): AdminForm<Empty>,
) -> PageResult {
    actions::sources::set_paused(&app, &c.actor(), &name, pause_action(&action)?)?;
    Ok(Redirect::to("/").into_response())
}

async fn scheduler_switch(
    State(app): State<Arc<App>>,
    Path(what): Path<String>,
    AdminForm(c, _): AdminForm<Empty>,
) -> PageResult {
    actions::sources::set_global_pause(&app, &c.actor(), pause_action(&what)?)?;
    Ok(Redirect::to("/").into_response())
}

async fn counts(
    State(app): State<Arc<App>>,
    Viewer(c): Viewer,
    Path(name): Path<String>,
) -> PageResult {
    let v = actions::sources::live_counts(&app, &name).await?;
    Ok(render(
        &app,
        "message.html",
        Some(&c),
        json!({"title": format!("Live row counts of {name}"), "counts": v, "link": "/", "link_text": "Dashboard"}),
    ))
}

async fn maintenance(
    State(app): State<Arc<App>>,
    Path(what): Path<String>,
    OperatorForm(c, _): OperatorForm<Empty>,
) -> PageResult {
    let spec = match what.as_str() {
        "check" => crate::jobs::JobSpec::Check { read_data: false },
        "check-data" => crate::jobs::JobSpec::Check { read_data: true },
        "prune" if c.is_admin() => crate::jobs::JobSpec::Prune,
        "prune" => return Err(ApiError::forbidden("prune").into()),
        _ => return Err(ApiError::not_found("no such task").into()),
    };
    let id = actions::jobs::start(&app, &c.actor(), spec)?;
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}

#[derive(Deserialize, Default)]
struct JobsQuery {
    source: Option<String>,
    kind: Option<String>,
    state: Option<String>,
}

async fn jobs(
    State(app): State<Arc<App>>,
    Viewer(c): Viewer,
    Query(q): Query<JobsQuery>,
) -> PageResult {
    let rows = app.store.jobs(&JobFilter {
        source: q.source.clone().filter(|s| !s.is_empty()),
        kind: q.kind.clone().filter(|s| !s.is_empty()),
        state: q.state.clone().filter(|s| !s.is_empty()),
        limit: Some(200),
    })?;
    let active = !app.jobs.active().is_empty();
    Ok(render(
        &app,
        "jobs.html",
        Some(&c),
        json!({
            "jobs": rows.iter().map(|j| actions::jobs::job_json(&app, j)).collect::<Vec<_>>(),
            "active": active,
            "q": {"source": q.source, "kind": q.kind, "state": q.state},
            "sources": app.config.sources.keys().collect::<Vec<_>>(),
        }),
    ))
}

async fn job(State(app): State<Arc<App>>, Viewer(c): Viewer, Path(id): Path<String>) -> PageResult {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("not a job id"))?;
    let j = actions::jobs::find_job(&app, id)?;
    let logs = app.store.logs(id, 0)?;
    let deliveries: Vec<_> = app
        .store
        .deliveries(500)?
        .into_iter()
        .filter(|d| d.job_id == Some(id))
        .collect();
    Ok(render(
        &app,
        "job.html",
        Some(&c),
        json!({
            "j": actions::jobs::job_json(&app, &j),
            "logs": logs,
            "deliveries": deliveries,
            "active": matches!(j.state.as_str(), "queued" | "running"),
        }),
    ))
}

async fn cancel_job(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AdminForm(c, _): AdminForm<Empty>,
) -> PageResult {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("not a job id"))?;
    if app.jobs.cancel(id) {
        app.store
            .audit(&c.actor(), "job.cancel", Some(&id.to_string()), None);
    }
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}

async fn users(State(app): State<Arc<App>>, Viewer(c): Viewer) -> PageResult {
    let users = if c.is_admin() {
        app.store.users()?
    } else {
        Vec::new()
    };
    let tokens = app
        .store
        .tokens(if c.is_admin() { None } else { Some(c.user.id) })?;
    Ok(render(
        &app,
        "users.html",
        Some(&c),
        json!({"users": users, "tokens": tokens, "me": c.user.id}),
    ))
}

#[derive(Deserialize)]
struct UserForm {
    name: String,
    role: String,
    #[serde(default)]
    password: Option<String>,
}

async fn create_user(
    State(app): State<Arc<App>>,
    AdminForm(c, f): AdminForm<UserForm>,
) -> PageResult {
    let (user, password) = actions::admin::add_user(
        &app,
        &c.actor(),
        actions::admin::CreateUser {
            name: f.name,
            role: f.role,
            password: f.password.filter(|p| !p.is_empty()),
        },
    )
    .await?;
    Ok(render(
        &app,
        "message.html",
        Some(&c),
        json!({
            "title": format!("User {} created", user.name),
            "message": password.map_or_else(|| "The user can log in with the password you chose.".to_string(), |p| format!("Their password (shown once): {p}")),
            "link": "/users", "link_text": "Back to users",
        }),
    ))
}

/// A user or token id from the path.
fn numeric_id(id: &str, what: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("not a {what} id")))
}

async fn delete_user(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AdminForm(c, _): AdminForm<Empty>,
) -> PageResult {
    actions::admin::remove_user(&app, &c, numeric_id(&id, "user")?)?;
    Ok(Redirect::to("/users").into_response())
}

#[derive(Deserialize)]
struct PasswordForm {
    password: String,
}

async fn change_password(
    State(app): State<Arc<App>>,
    ViewerForm(c, f): ViewerForm<PasswordForm>,
) -> PageResult {
    actions::admin::change_password(&app, &c, c.user.id, f.password).await?;
    Ok(render(
        &app,
        "message.html",
        Some(&c),
        json!({"title": "Password changed", "link": "/users", "link_text": "Back"}),
    ))
}

#[derive(Deserialize)]
struct TokenForm {
    name: String,
    scope: String,
    #[serde(default)]
    expires_in: Option<String>,
}

async fn create_token(
    State(app): State<Arc<App>>,
    ViewerForm(c, f): ViewerForm<TokenForm>,
) -> PageResult {
    let v = actions::admin::mint_token(
        &app,
        &c.actor(),
        &c.user,
        c.level,
        &actions::admin::CreateToken {
            name: f.name,
            scope: Some(f.scope),
            expires_in: f.expires_in.filter(|e| !e.is_empty()),
        },
    )?;
    Ok(render(
        &app,
        "message.html",
        Some(&c),
        json!({
            "title": "Token created",
            "message": "Copy it now: it is shown only this once.",
            "secret": v["token"],
            "link": "/users", "link_text": "Back to users and tokens",
        }),
    ))
}

async fn revoke_token(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    ViewerForm(c, _): ViewerForm<Empty>,
) -> PageResult {
    actions::admin::revoke(&app, &c, numeric_id(&id, "token")?)?;
    Ok(Redirect::to("/users").into_response())
}

async fn settings(State(app): State<Arc<App>>, Viewer(c): Viewer) -> PageResult {
    let audit = if c.is_admin() {
        app.store.audit_log(100)?
    } else {
        Vec::new()
    };
    let settings = actions::admin::settings_json(&app);
    Ok(render(
        &app,
        "settings.html",
        Some(&c),
        json!({
            "settings": settings,
            "settings_text": serde_json::to_string_pretty(&settings).unwrap_or_default(),
            "deliveries": app.store.deliveries(50)?,
            "audit": audit,
            "schedules": app.schedules.all(),
        }),
    ))
}

async fn upload_page(State(app): State<Arc<App>>, Admin(c): Admin) -> PageResult {
    Ok(render(
        &app,
        "upload.html",
        Some(&c),
        json!({"limit": app.upload_limit}),
    ))
}

async fn upload(State(app): State<Arc<App>>, Admin(c): Admin, mut form: Multipart) -> PageResult {
    let mut csrf_ok = false;
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request(format!("bad upload form: {e}")))?;
        let Some(field) = field else { break };
        match field.name() {
            Some("csrf") => {
                let v = field
                    .text()
                    .await
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                c.check_csrf(&v)?;
                csrf_ok = true;
            }
            Some("archive") if csrf_ok => {
                let name = field.file_name().map(str::to_string);
                let stream = futures::StreamExt::map(field, |r| r.map_err(|e| e.to_string()));
                let preview = actions::archives::receive_upload(
                    &app,
                    c.user.id,
                    &c.actor(),
                    name.as_deref(),
                    Box::pin(stream),
                )
                .await?;
                return Ok(render(
                    &app,
                    "upload.html",
                    Some(&c),
                    json!({"preview": preview, "limit": app.upload_limit}),
                ));
            }
            _ => {}
        }
    }
    Err(ApiError::bad_request("the form had no archive (or no security token before it)").into())
}

async fn import_upload(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AdminForm(c, _): AdminForm<Empty>,
) -> PageResult {
    let job = actions::archives::start_import(&app, &c, &id)?;
    Ok(Redirect::to(&format!("/jobs/{job}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        templates(chrono_tz::UTC).expect("templates");
    }

    #[test]
    fn bytes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }

    #[test]
    fn numbers_render_as_numbers() {
        let env = templates(chrono_tz::UTC).expect("templates");
        let v = template_value(
            &json!({"n": 42, "big": u64::MAX, "f": 1.5, "b": 2048, "l": [1, null], "none": null}),
        );
        let out = env
            .render_str(
                "{{ n }} {{ n > 1 }} {{ big }} {{ f }} {{ b|bytes }} {{ l[0] + 1 }} {{ none is none }}",
                v,
            )
            .expect("render");
        assert_eq!(out, "42 True 18446744073709551615 1.5 2.0 KiB 2 True");
    }

    #[test]
    fn redirects_stay_on_this_site() {
        assert_eq!(safe_next(Some("/jobs/3")), "/jobs/3");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
    }
}
