//! The API's error: a message, an optional hint, and a class that decides
//! the HTTP status in exactly one place ([`IntoResponse`]).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use tresor_ops::{ErrorClass, OpsError};

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An operation failed; its class decides the status.
    Ops(ErrorClass),
    /// No or invalid credentials.
    Unauthorized,
    /// Authenticated, but not allowed.
    Forbidden,
    /// Too large a body.
    TooLarge,
    /// The request is fine but the state says no (a job already running).
    Conflict,
    /// The server is stopping, or too busy.
    Unavailable,
    /// Too many attempts: wait.
    TooMany,
}

/// An error answered as `{"error": {"message": ..., "hint": ...}}`.
#[derive(Debug)]
pub struct ApiError {
    /// Decides the status.
    pub kind: Kind,
    /// Lowercase, no trailing period.
    pub message: String,
    /// What the caller can do.
    pub hint: Option<String>,
}

impl ApiError {
    /// A new error.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Kind::Ops(ErrorClass::Usage), message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::Ops(ErrorClass::NotFound), message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(Kind::Unauthorized, "authentication required").hint(
            "send Authorization: Bearer TOKEN (create one on the Users page or with POST /api/v1/auth/token)",
        )
    }

    /// 403.
    pub fn forbidden(what: &str) -> Self {
        Self::new(Kind::Forbidden, format!("only admins may {what}"))
            .hint("ask an admin, or use a token with the admin scope")
    }

    /// 500 for failures of the server's own machinery.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::new(
            Kind::Ops(ErrorClass::Internal),
            format!("internal error: {e}"),
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::TooMany => StatusCode::TOO_MANY_REQUESTS,
            Kind::Ops(class) => match class {
                ErrorClass::Usage => StatusCode::BAD_REQUEST,
                ErrorClass::Auth => StatusCode::FORBIDDEN,
                ErrorClass::NotFound => StatusCode::NOT_FOUND,
                ErrorClass::Conflict | ErrorClass::Cancelled => StatusCode::CONFLICT,
                ErrorClass::Corrupt => StatusCode::UNPROCESSABLE_ENTITY,
                ErrorClass::Database => StatusCode::BAD_GATEWAY,
                ErrorClass::Repository => StatusCode::SERVICE_UNAVAILABLE,
                ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> Self {
        ApiError {
            kind: Kind::Ops(e.class()),
            hint: e.hint(),
            message: e.to_string(),
        }
    }
}

impl From<tresor_core::SourceError> for ApiError {
    fn from(e: tresor_core::SourceError) -> Self {
        OpsError::from(e).into()
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(format!("state database: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self.message, "request failed");
        }
        let body = json!({"error": {"message": self.message, "hint": self.hint}});
        (status, axum::Json(body)).into_response()
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

/// An error as a small page.
pub fn error_page(e: &ApiError) -> Response {
    let body = format!(
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'><link rel=icon href='data:,'><link rel=stylesheet href=/static/style.css><main class=narrow><h1>{}</h1><p>{}</p>{}<p><a href='/' data-back>Back</a> · <a href='/'>Dashboard</a></p></main><script src=/static/app.js defer></script>",
        e.status().as_u16(),
        escape(&e.message),
        e.hint
            .as_deref()
            .map(|h| format!("<p class=hint>try: {}</p>", escape(h)))
            .unwrap_or_default()
    );
    (e.status(), Html(body)).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
