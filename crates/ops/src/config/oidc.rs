//! `[server.oidc]`: signing in to the web admin through an OpenID Connect
//! provider (Keycloak, Authentik, Google, ...), with the provider's claims
//! mapped to tresor's roles.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The roles a provider's claim value may map to.
pub const OIDC_ROLES: &[&str] = &["viewer", "admin"];

/// The environment variable read for the client secret when neither
/// `client-secret-file` nor `client-secret-env` is set.
pub const OIDC_SECRET_ENV: &str = "TRESOR_OIDC_CLIENT_SECRET";

/// `[server.oidc]`: one OpenID Connect provider.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OidcConfig {
    /// The name on the login page's button ("Sign in with NAME").
    #[serde(default = "default_name")]
    pub name: String,
    /// The issuer URL; its `/.well-known/openid-configuration` is read at
    /// each sign-in.
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// A file whose first line is the client secret.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The name of an environment variable holding the client secret
    /// (default: `TRESOR_OIDC_CLIENT_SECRET`; no secret at all makes a
    /// public client, which PKCE still protects).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// The URL the provider sends the browser back to; default
    /// `[server] public-url` + `/login/oidc/callback`.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// Scopes asked for; `openid` is always added.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID token claim naming the user's groups or roles (a string or a
    /// list of strings).
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Claim value -> tresor role (`viewer` or `admin`); a user holding
    /// several gets the highest, one holding none is refused.
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    /// The claim that names the user in tresor (falls back to `email`,
    /// then to the subject).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
}

fn default_name() -> String {
    "single sign-on".into()
}
fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}
fn default_roles_claim() -> String {
    "groups".into()
}
fn default_username_claim() -> String {
    "preferred_username".into()
}

impl OidcConfig {
    /// The redirect URL in force: `redirect-url`, else the public URL's
    /// `/login/oidc/callback`.
    pub fn redirect_url(&self, public_url: Option<&str>) -> Option<String> {
        self.redirect_url.clone().or_else(|| {
            public_url.map(|p| format!("{}/login/oidc/callback", p.trim_end_matches('/')))
        })
    }

    /// The role a user holding the claim values `values` gets: the highest
    /// mapped one, none when no value is mapped.
    pub fn role_for<'a>(&self, values: impl IntoIterator<Item = &'a str>) -> Option<&str> {
        let mut best: Option<&str> = None;
        for v in values {
            if let Some(role) = self.roles.get(v).map(String::as_str) {
                let rank = |r: &str| OIDC_ROLES.iter().position(|x| *x == r);
                if best.is_none_or(|b| rank(role) > rank(b)) {
                    best = Some(role);
                }
            }
        }
        best
    }

    /// Adds every problem of this section to `problems`.
    pub(crate) fn validate(&self, public_url: Option<&str>, problems: &mut Vec<String>) {
        let p = "[server.oidc]";
        match url::Url::parse(&self.issuer) {
            Ok(u) if u.scheme() == "https" => {}
            Ok(u) if u.scheme() == "http" && is_loopback(&u) => {}
            Ok(_) => problems.push(format!(
                "{p} issuer {:?} must be an https URL (plain http only on this machine)",
                self.issuer
            )),
            Err(e) => problems.push(format!("{p} issuer {:?} is not a URL: {e}", self.issuer)),
        }
        if self.client_id.trim().is_empty() {
            problems.push(format!("{p} client-id must not be empty"));
        }
        if self.client_secret_file.is_some() && self.client_secret_env.is_some() {
            problems.push(format!(
                "{p} give client-secret-file or client-secret-env, not both"
            ));
        }
        match self.redirect_url(public_url) {
            None => problems.push(format!(
                "{p} needs redirect-url, or [server] public-url to derive it from"
            )),
            Some(r) => {
                if let Err(e) = url::Url::parse(&r) {
                    problems.push(format!("{p} redirect-url {r:?} is not a URL: {e}"));
                }
            }
        }
        if self.roles_claim.trim().is_empty() {
            problems.push(format!("{p} roles-claim must not be empty"));
        }
        if self.roles.is_empty() {
            problems.push(format!(
                "{p} roles maps no claim value to a role: nobody could sign in (e.g. roles = {{ \"tresor-admins\" = \"admin\" }})"
            ));
        }
        for (value, role) in &self.roles {
            if !OIDC_ROLES.contains(&role.as_str()) {
                problems.push(format!(
                    "{p} roles: {value:?} maps to {role:?}; use {}",
                    OIDC_ROLES.join(" or ")
                ));
            }
        }
    }
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(roles: &[(&str, &str)]) -> OidcConfig {
        OidcConfig {
            name: default_name(),
            issuer: "https://id.example.com/realms/ops".into(),
            client_id: "tresor".into(),
            client_secret_file: None,
            client_secret_env: None,
            redirect_url: None,
            scopes: default_scopes(),
            roles_claim: default_roles_claim(),
            roles: roles
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            username_claim: default_username_claim(),
        }
    }

    #[test]
    fn the_highest_mapped_role_wins() {
        let c = config(&[("ops", "viewer"), ("dba", "admin")]);
        assert_eq!(c.role_for(["ops", "dba"]), Some("admin"));
        assert_eq!(c.role_for(["dba", "ops"]), Some("admin"));
        assert_eq!(c.role_for(["ops", "sales"]), Some("viewer"));
        assert_eq!(c.role_for(["sales"]), None);
        assert_eq!(c.role_for([]), None);
    }

    #[test]
    fn problems_are_reported_together() {
        let mut c = config(&[("dba", "root")]);
        c.issuer = "http://id.example.com".into();
        c.client_secret_env = Some("X".into());
        c.client_secret_file = Some("/x".into());
        let mut problems = Vec::new();
        c.validate(None, &mut problems);
        let all = problems.join("\n");
        for needle in ["https", "not both", "redirect-url", "\"root\""] {
            assert!(all.contains(needle), "{needle} in {all}");
        }
        let mut problems = Vec::new();
        let mut ok = config(&[("dba", "admin")]);
        ok.issuer = "http://127.0.0.1:9000/".into();
        ok.validate(Some("https://backup.example.com/"), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            ok.redirect_url(Some("https://backup.example.com/"))
                .as_deref(),
            Some("https://backup.example.com/login/oidc/callback")
        );
    }
}
