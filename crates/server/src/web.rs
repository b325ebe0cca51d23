//! The web admin: server-rendered pages (minijinja templates embedded in
//! the binary), plain forms with CSRF tokens, and a little vanilla
//! JavaScript that polls a running job's progress and log. People sign
//! in with a password and, when they set one up, a one-time code
//! (`session`, `totp`), or through the OpenID Connect provider (`oidc`).

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::App;
use crate::error::ApiError;

mod chart;
mod dashboard;
mod form;
mod jobs;
mod oidc;
mod render;
mod session;
mod settings;
mod snapshots;
mod sources;
mod totp;
mod uploads;
mod users;

pub use render::{human_bytes, not_found_page, templates};

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
        .route("/", get(dashboard::dashboard))
        .route("/login", get(session::login_page).post(session::login))
        .route("/login/code", post(session::login_code))
        .route("/login/oidc", get(oidc::begin))
        .route("/login/oidc/callback", get(oidc::callback))
        .route("/account/totp", get(totp::page))
        .route("/account/totp/start", post(totp::start))
        .route("/account/totp/confirm", post(totp::confirm))
        .route("/account/totp/remove", post(totp::remove))
        .route("/users/{id}/totp/reset", post(totp::reset))
        .route("/logout", post(session::logout))
        .route("/static/style.css", get(render::style))
        .route("/static/app.js", get(render::script))
        .route("/snapshots", get(snapshots::snapshots))
        .route("/snapshots/{id}", get(snapshots::snapshot))
        .route("/snapshots/{id}/download", get(snapshots::download))
        .route("/snapshots/{id}/preview", post(snapshots::preview))
        .route("/snapshots/{id}/diff", get(snapshots::compare))
        .route("/snapshots/{id}/delete", post(snapshots::delete_snapshot))
        .route("/restore", post(snapshots::start_restore))
        .route("/sources/{name}/backup", post(sources::backup_now))
        .route("/sources/{name}/drill", post(sources::drill))
        .route("/sources/{name}/{action}", post(sources::source_switch))
        .route("/sources/{name}/counts", get(sources::counts))
        .route("/jobs", get(jobs::jobs))
        .route("/jobs/{id}", get(jobs::job))
        .route("/jobs/{id}/cancel", post(jobs::cancel_job))
        .route("/maintenance/{what}", post(jobs::maintenance))
        .route("/offsite/{name}/copy", post(jobs::offsite_copy))
        .route("/users", get(users::users).post(users::create_user))
        .route("/users/{id}/delete", post(users::delete_user))
        .route("/account/password", post(users::change_password))
        .route("/tokens", post(users::create_token))
        .route("/tokens/{id}/revoke", post(users::revoke_token))
        .route("/settings", get(settings::settings))
        .route("/scheduler/{what}", post(sources::scheduler_switch))
        .route(
            "/upload",
            get(uploads::upload_page)
                .post(uploads::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/uploads/{id}/import", post(uploads::import_upload))
}

#[cfg(test)]
mod tests {
    use super::render::{human_bytes, template_value, templates};
    use super::session::safe_next;
    use serde_json::json;

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
