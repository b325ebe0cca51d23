//! Who is asking: users with Argon2id password hashes, login sessions
//! (cookie + CSRF token) for the pages, and API tokens (random, stored as
//! BLAKE3 hashes, scoped, revocable, optionally expiring) sent as
//! `Authorization: Bearer`.
//!
//! Permissions are three levels: `read` (everything that only looks),
//! `backup` (read, plus taking backups, checks and drills, which add but
//! never remove data) and `admin` (restore, delete, upload, forget, prune,
//! settings, users). A viewer has `backup`, an admin `admin`; a token has
//! the lower of its scope and its owner's level.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;

use crate::app::App;
use crate::error::ApiError;
use crate::store::{User, parse_ts};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tresor_session";

/// What a caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Look only.
    Read,
    /// Look, and take backups, checks and drills.
    Backup,
    /// Everything.
    Admin,
}

impl Level {
    /// The level of a user role.
    pub fn of_role(role: &str) -> Level {
        if role == "admin" {
            Level::Admin
        } else {
            Level::Backup
        }
    }

    /// The level of a token scope.
    pub fn of_scope(scope: &str) -> Option<Level> {
        match scope {
            "read" => Some(Level::Read),
            "backup" => Some(Level::Backup),
            "admin" => Some(Level::Admin),
            _ => None,
        }
    }

    /// The scope name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Backup => "backup",
            Level::Admin => "admin",
        }
    }
}

/// How the caller authenticated.
#[derive(Clone, Debug)]
pub enum Via {
    /// A login session with its CSRF token.
    Session {
        /// The session's CSRF token.
        csrf: String,
        /// The stored hash of the session id.
        hash: String,
    },
    /// An API token.
    Token {
        /// The token's id.
        id: i64,
        /// The token's label.
        name: String,
    },
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// What they may do now.
    pub level: Level,
    /// How.
    pub via: Via,
}

impl Caller {
    /// The name written to the audit log and job records.
    pub fn actor(&self) -> String {
        match &self.via {
            Via::Session { .. } => self.user.name.clone(),
            Via::Token { name, .. } => format!("{} (token {name})", self.user.name),
        }
    }

    /// The CSRF token of the session, if it is one.
    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf, .. } => csrf,
            Via::Token { .. } => "",
        }
    }

    /// Whether the caller may manage the account itself (its password and
    /// tokens): a signed-in person, or an admin token. A read or backup
    /// token that leaked must not be able to mint tokens that outlive it,
    /// revoke its owner's tokens or take the account over.
    pub fn holds_account(&self) -> bool {
        matches!(self.via, Via::Session { .. }) || self.level >= Level::Admin
    }

    /// Whether the caller is an admin (at the admin level now).
    pub fn is_admin(&self) -> bool {
        self.level >= Level::Admin
    }

    /// Checks the CSRF token a form sent.
    ///
    /// # Errors
    /// A missing or wrong token (403).
    pub fn check_csrf(&self, sent: &str) -> Result<(), ApiError> {
        match &self.via {
            Via::Token { .. } => Ok(()),
            Via::Session { csrf, .. } if constant_eq(csrf.as_bytes(), sent.as_bytes()) => Ok(()),
            Via::Session { .. } => Err(ApiError::new(
                crate::error::Kind::Forbidden,
                "the form's security token is missing or stale",
            )
            .hint("reload the page and try again")),
        }
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Random bytes, URL-safe base64.
pub fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::fill(&mut b[..]);
    URL_SAFE_NO_PAD.encode(b)
}

/// The stored hash of a token or session id.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;

/// Hashes a password with Argon2id (`argon2id$m,t,p$salt$hash`).
///
/// # Errors
/// Argon2 refusing the parameters (never with these).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt[..]);
    let hash = argon2_raw(password, &salt, M_COST, T_COST)?;
    Ok(format!(
        "argon2id$v=19$m={M_COST},t={T_COST},p=1${}${}",
        URL_SAFE_NO_PAD.encode(salt),
        URL_SAFE_NO_PAD.encode(hash)
    ))
}

fn argon2_raw(password: &str, salt: &[u8], m: u32, t: u32) -> Result<[u8; 32], ApiError> {
    let params = argon2::Params::new(m, t, 1, Some(32)).map_err(ApiError::internal)?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    a.hash_password_into(password.as_bytes(), salt, &mut out)
        .map_err(ApiError::internal)?;
    Ok(out)
}

/// Checks a password against a stored hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [alg, _v, params, salt, hash] = parts.as_slice() else {
        return false;
    };
    if *alg != "argon2id" {
        return false;
    }
    let mut m = M_COST;
    let mut t = T_COST;
    for kv in params.split(',') {
        match kv.split_once('=') {
            Some(("m", v)) => m = v.parse().unwrap_or(m),
            Some(("t", v)) => t = v.parse().unwrap_or(t),
            _ => {}
        }
    }
    let (Ok(salt), Ok(hash)) = (URL_SAFE_NO_PAD.decode(salt), URL_SAFE_NO_PAD.decode(hash)) else {
        return false;
    };
    argon2_raw(password, &salt, m, t).is_ok_and(|h| constant_eq(&h, &hash))
}

/// Whether a request addresses the JSON API (errors as JSON) rather than
/// a page (errors as redirects or HTML).
pub fn is_api(parts: &Parts) -> bool {
    let p = parts.uri.path();
    p.starts_with("/api/") || p == "/metrics"
}

/// A cookie's value.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Finds the caller of a request, if any.
///
/// # Errors
/// A bearer token that is unknown, revoked or expired (401).
pub fn authenticate(app: &App, parts: &Parts) -> Result<Option<Caller>, ApiError> {
    if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
        let value = auth.to_str().unwrap_or("");
        // `Token` is Django REST framework's word for the same thing
        let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("Token "))
            .map(str::trim)
        else {
            return Err(ApiError::unauthorized());
        };
        // One answer for unknown, revoked and expired tokens: the caller
        // learns nothing about a token it does not hold a valid copy of.
        let refused = || {
            ApiError::new(
                crate::error::Kind::Unauthorized,
                "this API token is not valid (unknown, revoked or expired)",
            )
            .hint("create a new token, or sign in")
        };
        let Some((row, user)) = app.store.token_by_hash(&token_hash(token))? else {
            return Err(refused());
        };
        if row.revoked_at.is_some()
            || row
                .expires_at
                .as_deref()
                .and_then(parse_ts)
                .is_some_and(|t| t <= Utc::now())
        {
            return Err(refused());
        }
        app.store.touch_token(row.id)?;
        let scope = Level::of_scope(&row.scope).unwrap_or(Level::Read);
        let level = scope.min(Level::of_role(&user.role));
        return Ok(Some(Caller {
            user,
            level,
            via: Via::Token {
                id: row.id,
                name: row.name,
            },
        }));
    }
    let Some(sid) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = token_hash(&sid);
    let Some((user, csrf)) = app.store.session(&hash)? else {
        return Ok(None);
    };
    let caller = Caller {
        level: Level::of_role(&user.role),
        user,
        via: Via::Session { csrf, hash },
    };
    // Script calls to the API with a session cookie must carry the CSRF
    // token in a header; the pages' forms carry it in a field instead.
    if is_api(parts) && !matches!(parts.method, Method::GET | Method::HEAD) {
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        caller.check_csrf(sent)?;
    }
    Ok(Some(caller))
}

fn reject(parts: &Parts, e: ApiError) -> Response {
    if is_api(parts) {
        return e.into_response();
    }
    match e.kind {
        crate::error::Kind::Unauthorized => {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            Redirect::to(&format!("/login?next={}", url_encode(next))).into_response()
        }
        _ => crate::error::error_page(&e),
    }
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn require(
    parts: &Parts,
    app: &Arc<App>,
    level: Level,
    what: &str,
) -> Result<Caller, Response> {
    match authenticate(app, parts) {
        Ok(Some(c)) if must_enroll(app, &c) && !enrollment_path(parts.uri.path()) => {
            if is_api(parts) {
                return Err(reject(
                    parts,
                    ApiError::new(
                        crate::error::Kind::Forbidden,
                        "this server requires admins to set up a one-time code first",
                    )
                    .hint("set it up on the page /account/totp"),
                ));
            }
            Err(Redirect::to("/account/totp").into_response())
        }
        Ok(Some(c)) if c.level >= level => Ok(c),
        Ok(Some(_)) => Err(reject(parts, ApiError::forbidden(what))),
        Ok(None) => Err(reject(parts, ApiError::unauthorized())),
        Err(e) => Err(reject(parts, e)),
    }
}

/// Whether the caller is a local admin signed in on the pages who must
/// set up a one-time code before anything else
/// (`[server] require-totp-for-admins`). Tokens are not affected.
pub fn must_enroll(app: &App, c: &Caller) -> bool {
    app.config.server.require_totp_for_admins
        && matches!(c.via, Via::Session { .. })
        && c.user.role == "admin"
        && c.user.origin == "local"
        && !c.user.totp
}

/// The pages such an admin may still reach: setting up the code, and
/// logging out.
fn enrollment_path(path: &str) -> bool {
    path == "/account/totp" || path.starts_with("/account/totp/") || path == "/logout"
}

/// Any authenticated caller.
pub struct Viewer(pub Caller);
/// A caller at the backup level or above.
pub struct Operator(pub Caller);
/// An admin.
pub struct Admin(pub Caller);
/// A caller who may manage its own account (password, tokens): a
/// signed-in person or an admin token, never a read or backup token.
pub struct AccountHolder(pub Caller);

impl FromRequestParts<Arc<App>> for Viewer {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        require(parts, app, Level::Read, "do this")
            .await
            .map(Viewer)
    }
}

impl FromRequestParts<Arc<App>> for Operator {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let what = "do this (a read-only token cannot start jobs)";
        require(parts, app, Level::Backup, what).await.map(Operator)
    }
}

impl FromRequestParts<Arc<App>> for Admin {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let what = "restore, delete, upload, or change settings and users";
        require(parts, app, Level::Admin, what).await.map(Admin)
    }
}

impl FromRequestParts<Arc<App>> for AccountHolder {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let c = require(parts, app, Level::Read, "do this").await?;
        if c.holds_account() {
            return Ok(AccountHolder(c));
        }
        Err(reject(
            parts,
            ApiError::new(
                crate::error::Kind::Forbidden,
                "a read or backup token cannot change passwords or manage tokens",
            )
            .hint("sign in, or use an admin token"),
        ))
    }
}

/// The address a request came from, when the server knows it.
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Whether a form post comes from this server's own pages: a browser
/// sends `Origin` (or at least `Referer`) with a cross-site post, and it
/// must name the host the request went to. Stops login CSRF (a foreign
/// page signing the victim in to the attacker's account). Clients that
/// send neither (scripts) pass.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok());
    match from {
        None => true,
        Some(o) => url::Url::parse(o).is_ok_and(|u| {
            let authority = match (u.host_str(), u.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_string(),
                _ => return false,
            };
            authority.eq_ignore_ascii_case(host)
        }),
    }
}

/// The optional caller (for the login page).
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<Arc<App>> for MaybeCaller {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        Ok(MaybeCaller(authenticate(app, parts).ok().flatten()))
    }
}

/// The `Set-Cookie` value for a new session.
pub fn session_cookie(value: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "garbage"));
    }

    #[test]
    fn levels_take_the_lower_of_scope_and_role() {
        assert_eq!(Level::Admin.min(Level::of_role("viewer")), Level::Backup);
        assert_eq!(Level::Read.min(Level::of_role("admin")), Level::Read);
        assert_eq!(Level::of_scope("nope"), None);
    }
}
