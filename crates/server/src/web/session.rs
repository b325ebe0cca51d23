//! Logging in and out with a session cookie: the password, then the
//! one-time code when the user set one up (the two steps tied together by
//! a short-lived cookie), and the session every way of signing in ends
//! with.

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
use crate::tickets::PendingLogin;

use super::PageResult;
use super::form::{Empty, ViewerForm};
use super::render::render;

#[derive(Deserialize, Default)]
pub(super) struct NextQuery {
    next: Option<String>,
}

impl NextQuery {
    /// The `next` parameter as sent.
    pub(super) fn next(&self) -> Option<&str> {
        self.next.as_deref()
    }
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

/// The cookie that ties the one-time code step to the browser whose
/// password was accepted.
const PENDING_COOKIE: &str = "tresor_login";

pub(super) async fn login_page(
    State(app): State<Arc<App>>,
    MaybeCaller(c): MaybeCaller,
    Query(q): Query<NextQuery>,
) -> Response {
    if c.is_some() {
        return Redirect::to(&safe_next(q.next.as_deref())).into_response();
    }
    login_form(&app, json!({"next": safe_next(q.next.as_deref())}))
}

/// The login page with `ctx` (the error, `next`, the name typed), and the
/// provider's button when single sign-on is configured.
fn login_form(app: &App, mut ctx: serde_json::Value) -> Response {
    if let Some(m) = ctx.as_object_mut() {
        m.insert("oidc".into(), json!(app.oidc.as_ref().map(|o| o.name())));
    }
    render(app, "login.html", None, ctx)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

fn foreign_form() -> Response {
    crate::error::error_page(
        &ApiError::new(
            crate::error::Kind::Forbidden,
            "a sign-in form posted from another site",
        )
        .hint("sign in on this server's own login page"),
    )
}

pub(super) async fn login(
    State(app): State<Arc<App>>,
    ClientAddr(from): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return foreign_form();
    }
    let next = safe_next(f.next.as_deref());
    let user = match actions::admin::check_login(&app, &f.username, &f.password, from).await {
        Ok(u) => u,
        Err(e) => {
            return (
                e.status(),
                login_form(
                    &app,
                    json!({"error": e.message, "next": next, "username": f.username}),
                ),
            )
                .into_response();
        }
    };
    if user.totp {
        let ticket = random_token(24);
        app.pending_logins.put(
            &ticket,
            PendingLogin {
                user_id: user.id,
                next: next.clone(),
                failures: 0,
            },
        );
        let life = app.pending_logins.life().as_secs();
        let cookie = format!(
            "{PENDING_COOKIE}={ticket}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={life}{}",
            if secure_cookie(&app, from, &headers) {
                "; Secure"
            } else {
                ""
            }
        );
        return (
            [(header::SET_COOKIE, cookie)],
            render(&app, "login_code.html", None, json!({"next": next})),
        )
            .into_response();
    }
    start_session(&app, user.id, from, &headers, &next, false)
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    code: String,
}

/// The second step of a local sign-in: the one-time code.
pub(super) async fn login_code(
    State(app): State<Arc<App>>,
    ClientAddr(from): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    if !same_origin(&headers) {
        return foreign_form();
    }
    let ticket = crate::auth::cookie(&headers, PENDING_COOKIE).unwrap_or_default();
    let pending = app.pending_logins.take_aged(&ticket);
    let user = pending
        .as_ref()
        .and_then(|(_, p)| app.store.user(p.user_id).ok().flatten());
    let (Some((age, mut p)), Some(user)) = (pending, user) else {
        let e = ApiError::new(
            crate::error::Kind::Unauthorized,
            "this sign-in took too long or was already finished",
        )
        .hint("sign in again with your password");
        return (
            e.status(),
            login_form(&app, json!({"error": e.message, "next": "/"})),
        )
            .into_response();
    };
    match actions::totp::check_login_code(&app, &user, &f.code, from) {
        Ok(()) => {
            let mut resp = start_session(&app, user.id, from, &headers, &p.next, false);
            // the half-done sign-in's cookie is spent
            if let Ok(v) =
                format!("{PENDING_COOKIE}=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0")
                    .parse()
            {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => {
            p.failures += 1;
            // a few tries per password; then the password again
            let again = p.failures < 5 && e.kind != crate::error::Kind::TooMany;
            let next = p.next.clone();
            if again {
                app.pending_logins.put_back(&ticket, age, p);
            }
            let ctx = json!({"error": e.message, "next": next});
            let page = if again {
                render(&app, "login_code.html", None, ctx)
            } else {
                login_form(&app, ctx)
            };
            (e.status(), page).into_response()
        }
    }
}

/// Whether cookies get `Secure`: decided by the connection, not by the
/// Host header a client or a proxy chose: a browser on this machine
/// talks plain HTTP; a local reverse proxy that terminates TLS says so
/// with X-Forwarded-Proto.
pub(super) fn secure_cookie(
    app: &App,
    from: Option<std::net::IpAddr>,
    headers: &HeaderMap,
) -> bool {
    let local = from.is_some_and(|a| a.is_loopback());
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    app.config.server.secure_cookies && (!local || forwarded_https)
}

/// Signs the user in: a new session, its cookie, and on to `next`. After
/// a sign-in that came back from another site (the provider) the browser
/// would not send the new `SameSite=Strict` cookie on a redirect, so
/// `interstitial` answers a page that moves on by itself instead.
pub(super) fn start_session(
    app: &App,
    user_id: i64,
    from: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    next: &str,
    interstitial: bool,
) -> Response {
    let sid = random_token(32);
    let csrf = random_token(24);
    let life =
        chrono::Duration::from_std(app.session_lifetime).unwrap_or(chrono::Duration::hours(12));
    if let Err(e) = app
        .store
        .create_session(&token_hash(&sid), user_id, &csrf, Utc::now() + life)
    {
        return crate::error::error_page(&e.into());
    }
    let secure = secure_cookie(app, from, headers);
    let cookie = [(
        header::SET_COOKIE,
        session_cookie(&sid, life.num_seconds(), secure),
    )];
    if interstitial {
        let page = render(app, "signed_in.html", None, json!({"next": next}));
        return (cookie, page).into_response();
    }
    (cookie, Redirect::to(next)).into_response()
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
