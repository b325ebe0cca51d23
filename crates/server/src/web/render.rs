//! Templates, the page frame every page shares, static files, and the
//! page for unknown paths.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{Environment, Value as J};
use serde_json::{Value, json};

use crate::app::App;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::parse_ts;

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("login_code.html", include_str!("templates/login_code.html")),
    ("signed_in.html", include_str!("templates/signed_in.html")),
    ("totp.html", include_str!("templates/totp.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("snapshots.html", include_str!("templates/snapshots.html")),
    ("snapshot.html", include_str!("templates/snapshot.html")),
    ("preview.html", include_str!("templates/preview.html")),
    ("diff.html", include_str!("templates/diff.html")),
    ("jobs.html", include_str!("templates/jobs.html")),
    ("job.html", include_str!("templates/job.html")),
    ("users.html", include_str!("templates/users.html")),
    ("settings.html", include_str!("templates/settings.html")),
    ("upload.html", include_str!("templates/upload.html")),
    ("message.html", include_str!("templates/message.html")),
];

pub(super) const STYLE: &str = include_str!("static/style.css");

pub(super) const SCRIPT: &str = include_str!("static/app.js");

/// Formats a byte count for people.
pub fn human_bytes(n: u64) -> String {
    pub(super) const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
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

pub(super) fn to_time(v: &J) -> Option<DateTime<Utc>> {
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
    env.add_filter("urlencode", |v: J| -> String {
        crate::auth::url_encode(v.as_str().unwrap_or_default())
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
pub(super) fn template_value(v: &Value) -> J {
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

pub(super) fn render(app: &App, name: &str, caller: Option<&Caller>, ctx: Value) -> Response {
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

pub(super) async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

pub(super) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}
