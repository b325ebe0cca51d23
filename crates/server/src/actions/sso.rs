//! Users the OpenID Connect provider vouches for: the claims decide the
//! role at every sign-in, and the user is recorded (origin `oidc`, no
//! password) so jobs, tokens and the audit log can name them.

use crate::app::App;
use crate::error::{ApiError, ApiResult, Kind};
use crate::oidc::Identity;
use crate::store::User;

/// The user `who` signs in as: found by the provider's subject, or
/// recorded now; the role follows the claims of this sign-in.
///
/// # Errors
/// No claim value maps to a role (403), or the name belongs to another
/// user of this server (409).
pub fn sign_in(app: &App, who: &Identity, from: Option<std::net::IpAddr>) -> ApiResult<User> {
    let where_from = from.map(|a| format!("from {a}"));
    let Some(provider) = app.oidc.as_ref() else {
        return Err(ApiError::not_found("single sign-on is not configured"));
    };
    let config = provider.config();
    let Some(role) = config.role_for(who.groups.iter().map(String::as_str)) else {
        app.store.audit(
            &who.username,
            "login.refused",
            Some(provider.name()),
            Some(&format!(
                "no role for {} {:?}{}",
                config.roles_claim,
                who.groups,
                where_from
                    .as_deref()
                    .map(|w| format!(" {w}"))
                    .unwrap_or_default()
            )),
        );
        return Err(ApiError::new(
            Kind::Forbidden,
            format!(
                "{} signed you in as {}, but none of your {} ({}) has access to tresor",
                provider.name(),
                who.username,
                config.roles_claim,
                if who.groups.is_empty() {
                    "none".to_string()
                } else {
                    who.groups.join(", ")
                }
            ),
        )
        .hint(format!(
            "ask an administrator to add you to one of: {}",
            config.roles.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    };
    let user = match app.store.user_by_subject(&who.subject)? {
        Some(u) => {
            if u.role != role {
                app.store.set_role(u.id, role)?;
                app.store.audit(
                    &u.name,
                    "user.role",
                    Some(&u.name),
                    Some(&format!("{} -> {role} (from {})", u.role, provider.name())),
                );
            }
            app.store
                .user(u.id)?
                .ok_or_else(|| ApiError::internal("the user just found is gone"))?
        }
        None => {
            if app.store.user_by_name(&who.username)?.is_some() {
                app.store.audit(
                    &who.username,
                    "login.refused",
                    Some(provider.name()),
                    Some("the name belongs to another user"),
                );
                return Err(ApiError::new(
                    Kind::Conflict,
                    format!(
                        "the user name {} belongs to another user of this server",
                        who.username
                    ),
                )
                .hint("an admin can rename or delete that user, or set [server.oidc] username-claim to another claim"));
            }
            let id = app
                .store
                .create_oidc_user(&who.username, role, &who.subject)?;
            app.store.audit(
                &who.username,
                "user.create",
                Some(&who.username),
                Some(&format!("{role}, signed in through {}", provider.name())),
            );
            app.store
                .user(id)?
                .ok_or_else(|| ApiError::internal("the user just created is gone"))?
        }
    };
    let detail = match &where_from {
        Some(w) => format!("{w} through {}", provider.name()),
        None => format!("through {}", provider.name()),
    };
    app.store.audit(&user.name, "login", None, Some(&detail));
    Ok(user)
}
