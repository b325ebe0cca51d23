//! Signing in through the OpenID Connect provider: `/login/oidc` sends
//! the browser there, `/login/oidc/callback` takes it back. The state
//! the provider returns must match a sign-in started here and a cookie
//! of this browser (so nobody can finish a sign-in they started in a
//! victim's browser); the flow is used once.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::actions;
use crate::app::App;
use crate::auth::ClientAddr;
use crate::error::{ApiError, error_page};
use crate::oidc::OidcError;

use super::session::{NextQuery, safe_next, secure_cookie, start_session};

/// The cookie holding the state of the sign-in this browser started.
/// `SameSite=Lax`: it must come along when the provider sends the
/// browser back (a top-level navigation from another site).
const FLOW_COOKIE: &str = "tresor_oidc";

fn failed(app: &App, e: OidcError) -> Response {
    app.log_event(
        "warn",
        "single sign-on failed",
        &[("error", &e.to_string())],
    );
    error_page(&ApiError::from(e))
}

pub(super) async fn begin(
    State(app): State<Arc<App>>,
    ClientAddr(from): ClientAddr,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let Some(provider) = app.oidc.as_ref() else {
        return error_page(
            &ApiError::not_found("single sign-on is not configured")
                .hint("set [server.oidc] in tresor.toml, or sign in with a local user"),
        );
    };
    let next = safe_next(q.next());
    let (url, state, flow) = match provider.begin(next).await {
        Ok(v) => v,
        Err(e) => return failed(&app, e),
    };
    app.oidc_flows.put(&state, flow);
    let cookie = format!(
        "{FLOW_COOKIE}={state}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age={}{}",
        app.oidc_flows.life().as_secs(),
        if secure_cookie(&app, from, &headers) {
            "; Secure"
        } else {
            ""
        }
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(&url)).into_response()
}

#[derive(Deserialize)]
pub(super) struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    /// The issuer that answers (RFC 9207), when the provider says.
    #[serde(default)]
    iss: Option<String>,
}

pub(super) async fn callback(
    State(app): State<Arc<App>>,
    ClientAddr(from): ClientAddr,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let Some(provider) = app.oidc.as_ref() else {
        return error_page(&ApiError::not_found("single sign-on is not configured"));
    };
    let state = q.state.unwrap_or_default();
    let ours = crate::auth::cookie(&headers, FLOW_COOKIE).is_some_and(|c| c == state);
    let flow = if ours && !state.is_empty() {
        app.oidc_flows.take(&state)
    } else {
        None
    };
    let Some(flow) = flow else {
        return failed(&app, OidcError::State);
    };
    // an answer naming another issuer is not our provider's (a mix-up)
    if let Some(iss) = q.iss.as_deref()
        && iss != provider.config().issuer
    {
        return failed(
            &app,
            OidcError::Refused(format!("the answer names another issuer ({iss})")),
        );
    }
    if let Some(error) = q.error {
        let what = match q.error_description {
            Some(d) if !d.is_empty() => format!("{error} ({d})"),
            _ => error,
        };
        return failed(&app, OidcError::Refused(what));
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return failed(
            &app,
            OidcError::Exchange("the provider sent no code".into()),
        );
    };
    let next = flow.next.clone();
    let who = match provider.finish(flow, code).await {
        Ok(who) => who,
        Err(e) => return failed(&app, e),
    };
    match actions::sso::sign_in(&app, &who, from) {
        Ok(user) => {
            app.log_event(
                "info",
                "signed in through single sign-on",
                &[("user", &user.name), ("role", &user.role)],
            );
            let mut resp = start_session(&app, user.id, from, &headers, &next, true);
            if let Ok(v) =
                format!("{FLOW_COOKIE}=; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age=0")
                    .parse()
            {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => {
            app.log_event(
                "warn",
                "single sign-on refused",
                &[("user", &who.username), ("error", &e.message)],
            );
            error_page(&e)
        }
    }
}
