//! Signing in through an OpenID Connect provider (`[server.oidc]`): the
//! authorization code flow with PKCE. [`Provider::begin`] reads the
//! provider's discovery document and makes the URL the browser is sent
//! to, with a random state, nonce and PKCE verifier ([`Flow`], kept by the
//! caller); [`Provider::finish`] trades the code the browser brings back
//! for tokens and checks the ID token (signature against the provider's
//! published keys, issuer, audience, expiry, nonce, access token hash).
//! The claims then name the user and, through `roles-claim` and `roles`,
//! the role.
//!
//! The discovery document (with the provider's keys) is read again for
//! every code traded, so a provider that rotates its keys or moves an
//! endpoint needs no restart; starting a sign-in reuses a copy up to a
//! minute old, so a flood of started sign-ins does not become a flood of
//! requests to the provider. HTTP goes
//! through the server's reqwest client and never follows redirects (the
//! crate's advice against request forgery). Neither codes nor tokens nor
//! the client secret are ever logged.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AsyncHttpClient, AuthType, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    HttpRequest, HttpResponse, IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tresor_ops::{Config, OIDC_SECRET_ENV, OidcConfig};

use crate::error::{ApiError, Kind};

/// The claims besides the standard ones (where `groups` and the like are).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct OtherClaims(serde_json::Map<String, Value>);

impl AdditionalClaims for OtherClaims {}

type Fields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<Fields, CoreTokenType>;
type Client = openidconnect::Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a sign-in through the provider failed. Messages name the provider
/// and the step, never a code, token or secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The discovery document or the keys could not be read.
    #[error("the sign-in provider at {issuer} cannot be reached: {reason}")]
    Unreachable {
        /// The issuer URL.
        issuer: String,
        /// What went wrong.
        reason: String,
    },
    /// The provider sent the browser back with an error (consent denied,
    /// the user cancelled).
    #[error("the sign-in provider refused the sign-in: {0}")]
    Refused(String),
    /// The code could not be traded for tokens.
    #[error("the sign-in provider did not accept the sign-in code: {0}")]
    Exchange(String),
    /// The ID token is missing or does not verify.
    #[error("the sign-in provider's ID token is not valid: {0}")]
    IdToken(String),
    /// The state does not match a sign-in this browser started.
    #[error("this sign-in was not started here, was already used, or took too long")]
    State,
    /// `[server.oidc]` is unusable (a bad redirect URL).
    #[error("[server.oidc] is not usable: {0}")]
    Config(String),
}

impl From<OidcError> for ApiError {
    fn from(e: OidcError) -> Self {
        let (kind, hint) = match &e {
            OidcError::Unreachable { .. } => (
                Kind::Unavailable,
                "try again later, check [server.oidc] issuer, or sign in with a local user",
            ),
            OidcError::Refused(_) => (
                Kind::Forbidden,
                "sign in again and allow tresor at the provider, or sign in with a local user",
            ),
            OidcError::Exchange(_) | OidcError::IdToken(_) => (
                Kind::Forbidden,
                "sign in again; if it keeps failing, check [server.oidc] client-id, the client secret and redirect-url",
            ),
            OidcError::State => (
                Kind::Forbidden,
                "start the sign-in again from the login page",
            ),
            OidcError::Config(_) => (Kind::Unavailable, "fix [server.oidc] and restart"),
        };
        ApiError::new(kind, e.to_string()).hint(hint)
    }
}

/// A sign-in under way: what the callback must check.
pub struct Flow {
    nonce: Nonce,
    verifier: PkceCodeVerifier,
    /// Where to go afterwards (a path on this server).
    pub next: String,
}

/// Who the provider says signed in.
#[derive(Debug)]
pub struct Identity {
    /// `ISSUER#SUB`: the same person at the same provider.
    pub subject: String,
    /// The name in tresor.
    pub username: String,
    /// The values of `roles-claim`.
    pub groups: Vec<String>,
}

/// The configured provider.
pub struct Provider {
    config: OidcConfig,
    secret: Option<String>,
    redirect: RedirectUrl,
    http: Http,
    /// The discovery document last read, and when.
    discovered: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

/// How long [`Provider::begin`] reuses a discovery document.
const DISCOVERY_REUSE: Duration = Duration::from_secs(60);

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// The provider `[server.oidc]` configures, if any; reads the client
    /// secret (`client-secret-file`, `client-secret-env`, else
    /// `TRESOR_OIDC_CLIENT_SECRET`, else none).
    ///
    /// # Errors
    /// An unreadable secret file, a missing variable, or a bad redirect URL.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Provider>> {
        let Some(o) = &config.server.oidc else {
            return Ok(None);
        };
        let secret = match (&o.client_secret_file, &o.client_secret_env) {
            (Some(path), _) => Some(tresor_ops::read_secret_file(path)?.expose().to_string()),
            (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                anyhow::anyhow!(
                    "[server.oidc] client-secret-env names {var}, which is not set (set it, or remove client-secret-env for a public client)"
                )
            })?),
            (None, None) => std::env::var(OIDC_SECRET_ENV).ok().filter(|s| !s.is_empty()),
        };
        let redirect = o
            .redirect_url(config.server.public_url.as_deref())
            .ok_or_else(|| OidcError::Config("set redirect-url or [server] public-url".into()))?;
        let redirect = RedirectUrl::new(redirect).map_err(|e| OidcError::Config(e.to_string()))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Some(Provider {
            config: o.clone(),
            secret,
            redirect,
            http: Http(http),
            discovered: Mutex::new(None),
        }))
    }

    /// The name on the login button.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Whether a client secret is set (the settings page says so, never
    /// what it is).
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// The provider's settings.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The client over the provider's discovery document: read now, or
    /// with `reuse` one read less than a minute ago.
    async fn client(&self, reuse: bool) -> Result<Client, OidcError> {
        let cached = || {
            let guard = self
                .discovered
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            guard
                .as_ref()
                .filter(|(at, _)| at.elapsed() < DISCOVERY_REUSE)
                .map(|(_, m)| m.clone())
        };
        let metadata = match cached().filter(|_| reuse) {
            Some(m) => m,
            None => {
                let issuer = IssuerUrl::new(self.config.issuer.clone())
                    .map_err(|e| OidcError::Config(format!("issuer: {e}")))?;
                let m = CoreProviderMetadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| OidcError::Unreachable {
                        issuer: self.config.issuer.clone(),
                        reason: error_chain(&e),
                    })?;
                *self
                    .discovered
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), m.clone()));
                m
            }
        };
        // client_secret_basic unless the provider only takes the secret
        // in the request body
        let post_only = metadata
            .token_endpoint_auth_methods_supported()
            .is_some_and(|m| {
                !m.contains(&CoreClientAuthMethod::ClientSecretBasic)
                    && m.contains(&CoreClientAuthMethod::ClientSecretPost)
            });
        let client = Client::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect.clone());
        Ok(if post_only {
            client.set_auth_type(AuthType::RequestBody)
        } else {
            client
        })
    }

    /// Starts a sign-in: the provider's URL to send the browser to, the
    /// state (the key the caller keeps `Flow` under) and the flow.
    ///
    /// # Errors
    /// The provider cannot be reached.
    pub async fn begin(&self, next: String) -> Result<(String, String, Flow), OidcError> {
        let client = self.client(true).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in self.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok((
            url.to_string(),
            state.secret().clone(),
            Flow {
                nonce,
                verifier,
                next,
            },
        ))
    }

    /// Finishes a sign-in with the code the browser brought back.
    ///
    /// # Errors
    /// The provider cannot be reached, refuses the code, or sends an ID
    /// token that does not verify.
    pub async fn finish(&self, flow: Flow, code: String) -> Result<Identity, OidcError> {
        let client = self.client(false).await?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| OidcError::Exchange(e.to_string()))?
            .set_pkce_verifier(flow.verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Exchange(error_chain(&e)))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::IdToken("the token answer has no ID token".into()))?;
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &flow.nonce)
            .map_err(|e| OidcError::IdToken(error_chain(&e)))?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|e| OidcError::IdToken(error_chain(&e)))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| OidcError::IdToken(error_chain(&e)))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
                .map_err(|e| OidcError::IdToken(error_chain(&e)))?;
            if actual != *expected {
                return Err(OidcError::IdToken(
                    "the access token does not match the ID token's at_hash".into(),
                ));
            }
        }
        let sub = claims.subject().as_str();
        let extra = &claims.additional_claims().0;
        let named = match self.config.username_claim.as_str() {
            "preferred_username" => claims.preferred_username().map(|u| u.as_str().to_string()),
            "email" => None,
            "sub" => Some(sub.to_string()),
            other => extra.get(other).and_then(Value::as_str).map(str::to_string),
        };
        let username = named
            .or_else(|| claims.email().map(|e| e.as_str().to_string()))
            .unwrap_or_else(|| sub.to_string());
        // standard claims are not among the extra ones: the few that make
        // sense as a role key (Google sends no groups) are read by name
        let standard = match self.config.roles_claim.as_str() {
            "email" => claims.email().map(|e| e.as_str().to_string()),
            "preferred_username" => claims.preferred_username().map(|u| u.as_str().to_string()),
            "sub" => Some(sub.to_string()),
            _ => None,
        };
        let groups = match extra.get(&self.config.roles_claim) {
            _ if standard.is_some() => standard.into_iter().collect(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        Ok(Identity {
            subject: format!("{}#{sub}", claims.issuer().as_str()),
            username,
            groups,
        })
    }
}

/// An error with its sources, one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

/// The server's reqwest client as the crate's HTTP client.
struct Http(reqwest::Client);

/// An HTTP request to the provider failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)
                .map_err(|e| HttpError(format!("bad request: {e}")))?;
            let response = self
                .0
                .execute(request)
                .await
                .map_err(|e| HttpError(error_chain(&e)))?;
            let mut out = openidconnect::http::Response::builder().status(response.status());
            for (k, v) in response.headers() {
                out = out.header(k, v);
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| HttpError(error_chain(&e)))?;
            out.body(body.to_vec())
                .map_err(|e| HttpError(format!("bad response: {e}")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workspace builds serde_json with `arbitrary_precision`; the
    /// claims (times are numbers) must still read.
    #[test]
    fn claims_with_numbers_and_groups_parse() {
        let v = serde_json::json!({
            "iss": "https://id.example.com", "sub": "u1", "aud": "tresor",
            "exp": 4_102_444_800u64, "iat": 1_700_000_000u64, "nonce": "n",
            "preferred_username": "ada", "groups": ["dba", "ops"], "level": 3
        });
        let c: openidconnect::IdTokenClaims<OtherClaims, CoreGenderClaim> =
            serde_json::from_str(&v.to_string()).expect("claims");
        assert_eq!(c.subject().as_str(), "u1");
        assert_eq!(c.additional_claims().0["groups"][1], "ops");
        assert_eq!(c.preferred_username().map(|u| u.as_str()), Some("ada"));
    }
}
