//! One-time codes (TOTP) of local users: setting one up (a new secret,
//! shown once, confirmed with a code), checking a code at login, and
//! removing one (the user with a code, or an admin for anyone).
//!
//! The secrets are kept in the state file sealed under a key derived
//! from the repository's master key (`Repository::seal_secret`): a copy
//! of the state file alone does not give them away, and the server's own
//! state backup, restored next to the same repository, still reads them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::app::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Kind};
use crate::store::User;
use crate::totp;

/// A secret being set up, shown to its user this once.
pub struct Enrollment {
    /// Base32, to type into an authenticator app.
    pub secret: String,
    /// The `otpauth://` URI.
    pub uri: String,
    /// The URI as a QR code (SVG).
    pub qr_svg: Option<String>,
}

/// The context the secrets are sealed for.
const SEAL_CONTEXT: &str = "tresor-server 2026 one-time code keys";

fn seal(app: &App, secret: &str) -> ApiResult<String> {
    let sealed = app
        .repo
        .seal_secret(SEAL_CONTEXT, secret.as_bytes())
        .map_err(ApiError::internal)?;
    Ok(URL_SAFE_NO_PAD.encode(sealed))
}

fn unseal(app: &App, stored: &str, user: &User) -> ApiResult<String> {
    URL_SAFE_NO_PAD
        .decode(stored)
        .ok()
        .and_then(|b| app.repo.open_secret(SEAL_CONTEXT, &b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            ApiError::new(
                Kind::Conflict,
                format!(
                    "the one-time code key of {} cannot be read (the state file belongs to another repository, or is damaged)",
                    user.name
                ),
            )
            .hint("an admin can reset the one-time code on the Users page; then set it up again")
        })
}

fn local_only(user: &User) -> ApiResult<()> {
    if user.origin == "local" {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "one-time codes are for local users: a user of the sign-in provider sets up a second factor there",
    ))
}

/// Starts setting up a code for the caller: a new secret, unconfirmed
/// until [`confirm`].
///
/// # Errors
/// A user of the provider, a code already set up (remove it first), or
/// the state file.
pub fn enroll(app: &App, c: &Caller) -> ApiResult<Enrollment> {
    local_only(&c.user)?;
    let secret = totp::new_secret();
    if !app.store.start_totp(c.user.id, &seal(app, &secret)?)? {
        return Err(ApiError::new(
            Kind::Conflict,
            "a one-time code is already set up for this account",
        )
        .hint("remove it first to set up a new one"));
    }
    let uri = totp::otpauth_uri(&secret, &c.user.name);
    let qr_svg = totp::qr_svg(&uri);
    Ok(Enrollment {
        secret,
        uri,
        qr_svg,
    })
}

/// Confirms the secret being set up with a code from the app.
///
/// # Errors
/// No secret being set up, or a wrong code.
pub fn confirm(app: &App, c: &Caller, code: &str) -> ApiResult<()> {
    let row = app
        .store
        .totp(c.user.id)?
        .filter(|r| !r.confirmed)
        .ok_or_else(|| {
            ApiError::bad_request("no one-time code is being set up")
                .hint("start again on the account page")
        })?;
    let secret = unseal(app, &row.secret, &c.user)?;
    let Some(step) = totp::check(&secret, code, totp::now()) else {
        return Err(ApiError::bad_request("that code is not right").hint(
            "type the 6 digits the app shows now; check the phone's clock if it keeps failing",
        ));
    };
    if !app.store.confirm_totp(c.user.id, step)? {
        return Err(ApiError::bad_request("no one-time code is being set up"));
    }
    app.store
        .audit(&c.actor(), "totp.enable", Some(&c.user.name), None);
    Ok(())
}

/// Checks a code at login and uses up its time step (a code is accepted
/// once: a second use, even within its 30 seconds, is refused).
/// Failures count against the account like wrong passwords.
///
/// # Errors
/// No code, a wrong or used code (401), or too many failures (429).
pub fn check_login_code(
    app: &App,
    user: &User,
    code: &str,
    from: Option<std::net::IpAddr>,
) -> ApiResult<()> {
    let where_from = from.map(|a| format!("from {a}"));
    app.throttle.check(&user.name, from)?;
    let signed_in = |how: &str| {
        app.throttle.succeeded(&user.name);
        app.store
            .audit(&user.name, "login", Some(how), where_from.as_deref());
    };
    let row = app.store.totp(user.id)?.filter(|r| r.confirmed);
    let Some(row) = row else {
        // removed by an admin since the password was accepted
        signed_in("one-time code reset meanwhile");
        return Ok(());
    };
    let refuse = |why: &str, message: &str| {
        app.throttle.failed(&user.name, from);
        app.store.audit(
            &user.name,
            "login.code_failed",
            Some(why),
            where_from.as_deref(),
        );
        Err(ApiError::new(Kind::Unauthorized, message.to_string())
            .hint("type the 6 digits your authenticator app shows now"))
    };
    let secret = unseal(app, &row.secret, user)?;
    let Some(step) = totp::check(&secret, code, totp::now()) else {
        return refuse("wrong", "wrong one-time code");
    };
    if step <= row.last_step || !app.store.use_totp_step(user.id, step)? {
        return refuse(
            "replayed",
            "this one-time code was used already; wait for the next one",
        );
    }
    signed_in("with one-time code");
    Ok(())
}

/// Removes a user's code: their own (with a current code once it is
/// confirmed), or anyone's by an admin (a lost phone).
///
/// # Errors
/// Not allowed, a wrong code, or no code set up.
pub fn remove(app: &App, c: &Caller, user_id: i64, code: Option<&str>) -> ApiResult<User> {
    let user = app
        .store
        .user(user_id)?
        .ok_or_else(|| ApiError::not_found(format!("no user {user_id}")))?;
    let own = user.id == c.user.id;
    if !own && !c.is_admin() {
        return Err(ApiError::forbidden("remove other users' one-time codes"));
    }
    // your own confirmed code goes only with a current code from the app
    // (a session left open is not enough); one being set up just goes
    if own
        && let Some(row) = app.store.totp(user.id)?.filter(|r| r.confirmed)
        && totp::check(
            &unseal(app, &row.secret, &user)?,
            code.unwrap_or(""),
            totp::now(),
        )
        .is_none()
    {
        return Err(ApiError::bad_request("that code is not right")
            .hint("type the 6 digits the app shows now, or ask an admin to reset it"));
    }
    if !app.store.delete_totp(user.id)? {
        return Err(ApiError::bad_request(format!(
            "{} has no one-time code set up",
            user.name
        )));
    }
    let action = if own { "totp.disable" } else { "totp.reset" };
    app.store.audit(&c.actor(), action, Some(&user.name), None);
    Ok(user)
}
