//! Users, tokens, the audit log, notification deliveries and the settings
//! view.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::id_param;
use crate::actions::admin::{
    CreateToken, CreateUser, add_user, change_password, check_login, mint_token, remove_user,
    revoke, settings_json,
};
use crate::app::App;
use crate::auth::{AccountHolder, Admin, ClientAddr, Level, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::store::{AuditRow, DeliveryRow, TokenRow, User};
use serde::Serialize;

/// The answer of `GET /api/v1/users`.
#[derive(Serialize)]
pub struct Users {
    users: Vec<User>,
}

/// A new user, with the password made for it when none was given.
#[derive(Serialize)]
pub struct CreatedUser {
    user: User,
    password: Option<String>,
}

/// The answer of `GET /api/v1/tokens` (never a token's secret).
#[derive(Serialize)]
pub struct Tokens {
    tokens: Vec<TokenRow>,
}

/// The answer of `GET /api/v1/audit`.
#[derive(Serialize)]
pub struct Audit {
    entries: Vec<AuditRow>,
}

/// The answer of `GET /api/v1/notifications`.
#[derive(Serialize)]
pub struct Deliveries {
    deliveries: Vec<DeliveryRow>,
}

pub async fn users(State(app): State<Arc<App>>, _a: Admin) -> ApiResult<Json<Users>> {
    Ok(Json(Users {
        users: app.store.users()?,
    }))
}

pub async fn create_user(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Json(r): Json<CreateUser>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    let (user, password) = add_user(&app, &c.actor(), r).await?;
    Ok((StatusCode::CREATED, Json(CreatedUser { user, password })))
}

pub async fn delete_user(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    id: Path<String>,
) -> ApiResult<Json<Value>> {
    let u = remove_user(&app, &c, id_param(id)?)?;
    Ok(Json(json!({"deleted": u.name})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    pub password: String,
    /// Needed to change one's own password.
    #[serde(default)]
    pub current_password: Option<String>,
}

pub async fn set_password(
    State(app): State<Arc<App>>,
    AccountHolder(c): AccountHolder,
    id: Path<String>,
    Json(r): Json<SetPassword>,
) -> ApiResult<Json<Value>> {
    let id = id_param(id)?;
    if id != c.user.id && !c.is_admin() {
        return Err(ApiError::forbidden("change other users' passwords"));
    }
    change_password(&app, &c, id, r.password, r.current_password).await?;
    Ok(Json(json!({"changed": true})))
}

pub async fn tokens(State(app): State<Arc<App>>, Viewer(c): Viewer) -> ApiResult<Json<Tokens>> {
    let tokens = app
        .store
        .tokens(if c.is_admin() { None } else { Some(c.user.id) })?;
    Ok(Json(Tokens { tokens }))
}

pub async fn create_token(
    State(app): State<Arc<App>>,
    AccountHolder(c): AccountHolder,
    Json(r): Json<CreateToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let v = mint_token(&app, &c.actor(), &c.user, c.level, &r)?;
    Ok((StatusCode::CREATED, Json(v)))
}

pub async fn revoke_token(
    State(app): State<Arc<App>>,
    AccountHolder(c): AccountHolder,
    id: Path<String>,
) -> ApiResult<Json<Value>> {
    let id = id_param(id)?;
    revoke(&app, &c, id)?;
    Ok(Json(json!({"revoked": id})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginToken {
    pub username: String,
    pub password: String,
    /// The current one-time code, for users who set one up.
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub expires_in: Option<String>,
}

pub async fn login_token(
    State(app): State<Arc<App>>,
    ClientAddr(from): ClientAddr,
    Json(r): Json<LoginToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user = check_login(&app, &r.username, &r.password, from).await?;
    if user.totp {
        let Some(code) = r.code.as_deref().filter(|c| !c.is_empty()) else {
            return Err(ApiError::new(
                crate::error::Kind::Unauthorized,
                "this account also needs its one-time code",
            )
            .hint("send \"code\" with the 6 digits the authenticator app shows"));
        };
        crate::actions::totp::check_login_code(&app, &user, code, from)?;
    }
    let req = CreateToken {
        name: r.name.unwrap_or_else(|| "api".into()),
        scope: r.scope,
        expires_in: r.expires_in,
    };
    let v = mint_token(&app, &user.name, &user, Level::of_role(&user.role), &req)?;
    Ok((StatusCode::CREATED, Json(v)))
}

pub async fn audit(State(app): State<Arc<App>>, _a: Admin) -> ApiResult<Json<Audit>> {
    Ok(Json(Audit {
        entries: app.store.audit_log(500)?,
    }))
}

pub async fn notifications(State(app): State<Arc<App>>, _v: Viewer) -> ApiResult<Json<Deliveries>> {
    Ok(Json(Deliveries {
        deliveries: app.store.deliveries(200)?,
    }))
}

pub async fn settings(State(app): State<Arc<App>>, _v: Viewer) -> ApiResult<Json<Value>> {
    Ok(Json(settings_json(&app)))
}
