//! Forms posted from the pages: the caller is authenticated at the level
//! the action needs and the form's CSRF token is checked before the form
//! itself is read, in one extractor instead of a check in every handler.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::auth::{AccountHolder, Admin, Caller, Operator, Viewer};
use crate::error::{ApiError, error_page};

/// A form with no fields besides its CSRF token.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Empty {}

#[derive(Deserialize)]
struct Token {
    #[serde(default)]
    csrf: String,
}

/// Reads the body of a form request as `T` after checking the caller's
/// CSRF token in it.
async fn checked<T: DeserializeOwned>(
    caller: &Caller,
    body: axum::body::Body,
    app: &Arc<App>,
) -> Result<T, Response> {
    let bytes = Bytes::from_request(Request::new(body), app)
        .await
        .map_err(IntoResponse::into_response)?;
    let token: Token = serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| error_page(&ApiError::bad_request(format!("bad form: {e}"))))?;
    caller.check_csrf(&token.csrf).map_err(|e| error_page(&e))?;
    serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| error_page(&ApiError::bad_request(format!("bad form: {e}"))))
}

macro_rules! form_extractor {
    ($(#[$doc:meta])* $name:ident, $level:ident) => {
        $(#[$doc])*
        pub(super) struct $name<T>(pub Caller, pub T);

        impl<T: DeserializeOwned + Send> FromRequest<Arc<App>> for $name<T> {
            type Rejection = Response;

            async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Response> {
                let (mut parts, body) = req.into_parts();
                let $level(caller) = $level::from_request_parts(&mut parts, app).await?;
                let form = checked(&caller, body, app).await?;
                Ok($name(caller, form))
            }
        }
    };
}

form_extractor!(
    /// A form any signed-in caller may post.
    ViewerForm,
    Viewer
);
form_extractor!(
    /// A form that starts jobs (backup level and above).
    OperatorForm,
    Operator
);
form_extractor!(
    /// A form only admins may post.
    AdminForm,
    Admin
);
form_extractor!(
    /// A form that manages the caller's own account (password, tokens):
    /// a signed-in person or an admin token, never a read or backup token.
    AccountForm,
    AccountHolder
);
