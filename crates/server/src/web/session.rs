//! Logging in and out with a session cookie.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::actions;
use crate::app::App;
use crate::auth::{ClientAddr, MaybeCaller, random_token, same_origin, session_cookie, token_hash};
use crate::error::ApiError;

use super::PageResult;
use super::form::{Empty, ViewerForm};
use super::render::render;

#[derive(Deserialize, Default)]
pub(super) struct NextQuery {
    next: Option<String>,
}

/// Where to go after signing in: a path on this server only. The value
/// is parsed as a browser would resolve it (browsers read `\\` as `/` and
/// drop tabs and newlines, so `/\\evil.example` and `/<TAB>/evil.example`
/// are other sites); anything that is not a plain same-origin path gives
/// the dashboard.
pub(super) fn safe_next(next: Option<&str>) -> String {
    const HOME: &str = "/";
    let Some(n) = next else {
        return HOME.into();
    };
    if !n.starts_with('/')
        || n.chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    {
        return HOME.into();
    }
    let Ok(base) = url::Url::parse("http://tresor.invalid/") else {
        return HOME.into();
    };
    match base.join(n) {
        Ok(u) if u.origin() == base.origin() => {
            let mut out = u.path().to_string();
            if let Some(q) = u.query() {
                out.push('?');
                out.push_str(q);
            }
            out
        }
        _ => HOME.into(),
    }
}

pub(super) async fn login_page(
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
pub(super) struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub(super) async fn login(
    State(app): State<Arc<App>>,
    ClientAddr(from): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return crate::error::error_page(
            &ApiError::new(
                crate::error::Kind::Forbidden,
                "a sign-in form posted from another site",
            )
            .hint("sign in on this server's own login page"),
        );
    }
    let user = match actions::admin::check_login(&app, &f.username, &f.password, from).await {
        Ok(u) => u,
        Err(e) => {
            return (
                e.status(),
                render(
                    &app,
                    "login.html",
                    None,
                    json!({"error": e.message, "next": safe_next(f.next.as_deref()), "username": f.username}),
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
    // decided by the connection, not by the Host header a client or a
    // proxy chose: a browser on this machine talks plain HTTP; a local
    // reverse proxy that terminates TLS says so with X-Forwarded-Proto
    let local = from.is_some_and(|a| a.is_loopback());
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let secure = app.config.server.secure_cookies && (!local || forwarded_https);
    (
        [(
            header::SET_COOKIE,
            session_cookie(&sid, life.num_seconds(), secure),
        )],
        Redirect::to(&safe_next(f.next.as_deref())),
    )
        .into_response()
}

pub(super) async fn logout(
    State(app): State<Arc<App>>,
    ViewerForm(c, _): ViewerForm<Empty>,
) -> PageResult {
    if let crate::auth::Via::Session { hash, .. } = &c.via {
        app.store.delete_session(hash).map_err(ApiError::from)?;
    }
    Ok((
        [(header::SET_COOKIE, session_cookie("", 0, false))],
        Redirect::to("/login"),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    /// `next=/\\evil.example` and `next=/<TAB>/evil.example` once passed a
    /// prefix check and browsers followed them off-site.
    #[test]
    fn next_stays_on_this_server() {
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "\\\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example",
            "/ /evil.example",
            "/%09/evil.example/..",
        ] {
            let to = safe_next(Some(bad));
            assert!(
                to.starts_with('/') && !to.starts_with("//") && !to.contains('\\'),
                "{bad:?} -> {to:?}"
            );
            let resolved = url::Url::parse("http://tresor.invalid/")
                .and_then(|b| b.join(&to))
                .expect("joins");
            assert_eq!(resolved.host_str(), Some("tresor.invalid"), "{bad:?}");
        }
        assert_eq!(safe_next(Some("/jobs?x=1")), "/jobs?x=1");
        assert_eq!(safe_next(Some("/snapshots/abc")), "/snapshots/abc");
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("//evil.example")), "/");
    }
}
