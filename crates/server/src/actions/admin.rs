//! Users, tokens, the audit log, notification deliveries and the settings
//! view.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::auth::{Caller, Level, Via, hash_password, random_token, token_hash, verify_password};
use crate::error::{ApiError, ApiResult, Kind};
use crate::store::User;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// The login name (`username`, as at login; `name` is accepted too).
    #[serde(alias = "name")]
    pub username: String,
    pub role: String,
    #[serde(default)]
    pub password: Option<String>,
}

/// Creates a user; returns it and the password if one was generated.
pub async fn add_user(app: &App, who: &str, r: CreateUser) -> ApiResult<(User, Option<String>)> {
    let name = r.username.trim().to_string();
    if name.is_empty() || name.len() > 64 || name.contains(char::is_whitespace) {
        return Err(ApiError::bad_request(
            "a user name is 1 to 64 characters without spaces",
        ));
    }
    if r.role != "admin" && r.role != "viewer" {
        return Err(ApiError::bad_request("role must be admin or viewer"));
    }
    let (password, generated) = match r.password {
        Some(p) if p.len() >= 10 => (p, false),
        Some(_) => {
            return Err(ApiError::bad_request(
                "a password needs at least 10 characters",
            ));
        }
        None => (random_token(15), true),
    };
    let hash = tokio::task::spawn_blocking(move || hash_password(&password).map(|h| (h, password)))
        .await
        .map_err(ApiError::internal)??;
    if app.store.user_by_name(&name)?.is_some() {
        return Err(ApiError::new(
            Kind::Conflict,
            format!("a user named {name:?} exists"),
        ));
    }
    let id = app.store.create_user(&name, &r.role, &hash.0)?;
    app.store.audit(
        who,
        "user.create",
        Some(&name),
        Some(&format!("role {}", r.role)),
    );
    let user = app
        .store
        .user(id)?
        .ok_or_else(|| ApiError::internal("user vanished"))?;
    Ok((user, generated.then_some(hash.1)))
}

/// Deletes a user, refusing to remove oneself or the last admin.
pub fn remove_user(app: &App, caller: &Caller, id: i64) -> ApiResult<User> {
    let user = app
        .store
        .user(id)?
        .ok_or_else(|| ApiError::not_found(format!("no user {id}")))?;
    if user.id == caller.user.id {
        return Err(ApiError::bad_request("you cannot delete yourself"));
    }
    if user.role == "admin"
        && app
            .store
            .users()?
            .iter()
            .filter(|u| u.role == "admin")
            .count()
            <= 1
    {
        return Err(ApiError::bad_request("the last admin cannot be deleted"));
    }
    app.store.delete_user(id)?;
    app.store
        .audit(&caller.actor(), "user.delete", Some(&user.name), None);
    Ok(user)
}

/// Sets a user's password.
///
/// Your own password needs the current one (a stolen session or admin
/// token alone cannot take the account over); another user's needs an
/// admin. Every other session and token of the user ends: whoever held
/// them must sign in again with the new password.
pub async fn change_password(
    app: &App,
    c: &Caller,
    id: i64,
    password: String,
    current: Option<String>,
) -> ApiResult<()> {
    if !c.holds_account() {
        return Err(ApiError::new(
            Kind::Forbidden,
            "a read or backup token cannot change passwords",
        )
        .hint("sign in, or use an admin token"));
    }
    let own = id == c.user.id;
    if !own && !c.is_admin() {
        return Err(ApiError::forbidden("change other users' passwords"));
    }
    if password.len() < 10 {
        return Err(ApiError::bad_request(
            "a password needs at least 10 characters",
        ));
    }
    if password.len() > 1024 {
        return Err(ApiError::bad_request(
            "a password has at most 1024 characters",
        ));
    }
    let user = app
        .store
        .user(id)?
        .ok_or_else(|| ApiError::not_found(format!("no user {id}")))?;
    if user.origin != "local" {
        return Err(ApiError::bad_request(format!(
            "{} signs in through the sign-in provider and has no password here",
            user.name
        )));
    }
    if own {
        let Some(current) = current.filter(|p| !p.is_empty()) else {
            return Err(ApiError::bad_request(
                "changing your own password needs your current password",
            )
            .hint("send current_password with the new one"));
        };
        if let Err(e) = check_login(app, &user.name, &current, None).await {
            if e.kind == Kind::TooMany {
                return Err(e);
            }
            return Err(ApiError::new(
                Kind::Forbidden,
                "the current password is wrong",
            ));
        }
    }
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(ApiError::internal)??;
    app.store.set_password(id, &hash)?;
    let (keep_session, keep_token) = match (&c.via, own) {
        (Via::Session { hash, .. }, true) => (Some(hash.as_str()), None),
        (Via::Token { id, .. }, true) => (None, Some(*id)),
        _ => (None, None),
    };
    let sessions = app.store.end_sessions_of(id, keep_session)?;
    let tokens = app.store.revoke_tokens_of(id, keep_token)?;
    app.store.audit(
        &c.actor(),
        "user.password",
        Some(&user.name),
        Some(&format!(
            "{sessions} other sessions ended, {tokens} tokens revoked"
        )),
    );
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// `read`, `backup` or `admin` (at most the user's own level).
    #[serde(default)]
    pub scope: Option<String>,
    /// Lifetime such as `30d`; no expiry when unset.
    #[serde(default)]
    pub expires_in: Option<String>,
}

/// The longest `expires_in` a token may ask for.
const MAX_TOKEN_LIFETIME: std::time::Duration =
    std::time::Duration::from_secs(10 * 366 * 24 * 3600);

/// Mints a token for `user`; the secret is returned once and only its
/// hash is stored.
pub fn mint_token(
    app: &App,
    actor: &str,
    user: &User,
    max: Level,
    r: &CreateToken,
) -> ApiResult<Value> {
    let name = r.name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::bad_request("a token name is 1 to 64 characters"));
    }
    let scope = match r.scope.as_deref() {
        None => max,
        Some(s) => Level::of_scope(s)
            .ok_or_else(|| ApiError::bad_request("scope must be read, backup or admin"))?,
    };
    if scope > max {
        return Err(ApiError::forbidden(&format!(
            "create {} tokens",
            scope.as_str()
        )));
    }
    let expires_at = match &r.expires_in {
        None => None,
        Some(t) => {
            let d = tresor_ops::parse_duration(t).map_err(ApiError::bad_request)?;
            if d > MAX_TOKEN_LIFETIME {
                return Err(ApiError::bad_request(format!(
                    "a token lives at most 10 years, not {t}"
                ))
                .hint("leave expires_in out for a token that never expires"));
            }
            let d =
                chrono::Duration::from_std(d).map_err(|e| ApiError::bad_request(e.to_string()))?;
            Some(
                chrono::Utc::now()
                    .checked_add_signed(d)
                    .ok_or_else(|| ApiError::bad_request("expires_in is too far away"))?,
            )
        }
    };
    let token = format!("trs_{}", random_token(32));
    let prefix: String = token.chars().take(10).collect();
    let id = app.store.create_token(
        user.id,
        name,
        &prefix,
        &token_hash(&token),
        scope.as_str(),
        expires_at,
    )?;
    app.store.audit(
        actor,
        "token.create",
        Some(&format!("{} / {name}", user.name)),
        Some(&format!("scope {}", scope.as_str())),
    );
    Ok(json!({
        "id": id,
        "token": token,
        "name": name,
        "scope": scope.as_str(),
        "expires_at": expires_at,
        "note": "this is the only time the token is shown",
    }))
}

/// Revokes a token of the caller (or any, for an admin).
pub fn revoke(app: &App, c: &Caller, id: i64) -> ApiResult<()> {
    let t = app
        .store
        .token(id)?
        .ok_or_else(|| ApiError::not_found(format!("no token {id}")))?;
    if !c.holds_account() {
        return Err(ApiError::new(
            Kind::Forbidden,
            "a read or backup token cannot revoke tokens",
        )
        .hint("sign in, or use an admin token"));
    }
    if t.user_id != c.user.id && !c.is_admin() {
        return Err(ApiError::forbidden("revoke other users' tokens"));
    }
    app.store.revoke_token(id)?;
    app.store.audit(
        &c.actor(),
        "token.revoke",
        Some(&format!("{} / {}", t.user, t.name)),
        None,
    );
    Ok(())
}

/// Checks a user name and password (on the blocking pool: Argon2 is slow
/// on purpose). Failed attempts back off per account and per address
/// (`from`), and only a few hashes run at once.
pub async fn check_login(
    app: &App,
    username: &str,
    password: &str,
    from: Option<std::net::IpAddr>,
) -> ApiResult<User> {
    let where_from = from.map(|a| format!("from {a}"));
    if let Err(e) = app.throttle.check(username, from) {
        app.store
            .audit(username, "login.throttled", None, where_from.as_deref());
        return Err(e);
    }
    let found = app.store.user_by_name(username)?;
    let pw = password.to_string();
    let turn = app.throttle.hashing().await?;
    let (user, ok) = match found {
        Some((user, hash)) => {
            let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
                .await
                .map_err(ApiError::internal)?;
            (Some(user), ok)
        }
        None => {
            // Spend the same time for unknown users.
            let _ = tokio::task::spawn_blocking(move || hash_password(&pw)).await;
            (None, false)
        }
    };
    drop(turn);
    match (user, ok) {
        (Some(u), true) if u.totp => {
            // the one-time code is still to come (`totp::check_login_code`
            // records the login and clears the failures)
            app.store
                .audit(&u.name, "login.password", None, where_from.as_deref());
            Ok(u)
        }
        (Some(u), true) => {
            app.throttle.succeeded(username);
            app.store
                .audit(&u.name, "login", None, where_from.as_deref());
            Ok(u)
        }
        _ => {
            app.throttle.failed(username, from);
            app.store
                .audit(username, "login.failed", None, where_from.as_deref());
            Err(ApiError::new(
                Kind::Unauthorized,
                "wrong user name or password",
            ))
        }
    }
}

/// The configuration without secrets.
pub fn settings_json(app: &App) -> Value {
    let c = &app.config;
    let sources: serde_json::Map<String, Value> = c
        .sources
        .iter()
        .map(|(n, s)| {
            (
                n.clone(),
                json!({
                    "url": tresor_core::redact_url(&s.url),
                    "password_file": s.password_file.is_some(),
                    "include": s.include, "exclude": s.exclude, "groups": s.groups,
                    "tags": s.tags, "jobs": s.jobs,
                    "schedule": s.schedule.expressions(), "timezone": app.tz_of(Some(n)).name(),
                    "jitter": s.jitter, "catch_up": s.catch_up, "timeout": s.timeout,
                    "retries": s.retries, "retry_backoff": s.retry_backoff,
                    "retention": crate::scheduler::retention_of(&app.scheduler, n), "paused": s.paused,
                }),
            )
        })
        .collect();
    let email = c.notifications.email.as_ref().map(|e| {
        json!({
            "host": e.host, "port": e.port, "tls": e.tls, "username": e.username,
            "password": e.password_file.is_some() || e.password_env.is_some(),
            "from": e.from, "to": e.to, "on_success": e.on_success, "on_failure": e.on_failure,
            "attach_archive_under": e.attach_archive_under,
        })
    });
    let hooks: Vec<Value> = c
        .notifications
        .webhooks
        .iter()
        .map(|w| {
            let host = w
                .url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_string));
            json!({"host": host, "from_env": w.url_env, "format": w.format, "events": w.events, "sources": w.sources})
        })
        .collect();
    json!({
        "repository": {"location": tresor_core::redact_url(app.repo.storage().location())},
        "offsite": app.offsites.all().iter().map(|o| json!({
            "name": o.name, "location": o.location, "sources": o.config.sources,
            "after_backup": o.config.after_backup, "schedule": o.config.schedule.expressions(),
            "max_lag": o.config.max_lag.as_deref().unwrap_or(tresor_ops::DEFAULT_MAX_LAG),
            "retention": o.config.retention,
        })).collect::<Vec<_>>(),
        "sources": sources,
        "prune": {"schedule": c.prune.schedule.expressions(), "timezone": c.prune.timezone, "timeout": c.prune.timeout},
        "check": {"schedule": c.check.schedule.expressions(), "timezone": c.check.timezone, "read_data": c.check.read_data},
        "server": {
            "listen": c.server.listen, "upload_limit": app.upload_limit,
            "state_file": c.server.state_file, "log_file": c.server.log_file,
            "timezone": c.server.timezone, "public_url": c.server.public_url,
            "secure_cookies": c.server.secure_cookies, "session_lifetime": c.server.session_lifetime,
            "shutdown_grace": c.server.shutdown_grace, "history_days": c.server.history_days,
            "require_totp_for_admins": c.server.require_totp_for_admins,
            "oidc": app.oidc.as_ref().map(|p| {
                let o = p.config();
                json!({
                    "name": o.name, "issuer": o.issuer, "client_id": o.client_id,
                    "client_secret": p.has_secret(),
                    "redirect_url": o.redirect_url(c.server.public_url.as_deref()),
                    "scopes": o.scopes, "roles_claim": o.roles_claim, "roles": o.roles,
                    "username_claim": o.username_claim,
                })
            }),
        },
        "notifications": {"email": email, "webhooks": hooks, "attempts": c.notifications.attempts, "backoff": c.notifications.backoff},
    })
}
