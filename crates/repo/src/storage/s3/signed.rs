//! The S3 requests OpenDAL cannot make, signed with the same SigV4
//! signer (reqsign) and sent on the shared reqwest client: a `PUT` with
//! Object Lock headers, a `HEAD` that reads an object's version and
//! retention, a versioned `DELETE` (which the server refuses while the
//! version is retained), and the bucket's Object Lock setting.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqsign_aws_v4::{
    Credential, DefaultCredentialProvider, ProfileCredentialProvider, RequestSigner,
    StaticCredentialProvider,
};
use reqsign_core::{Context, OsEnv, Signer};
use sha2::Digest as _;

use super::super::location::{Remote, invalid};
use super::super::retention::{ObjectLock, Retention};
use super::super::{StorageError, StorageOptions, dal::http_client};

/// Characters kept as they are in a key (RFC 3986 unreserved, and `/`).
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Characters kept as they are in a query value.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A signed S3 client for one bucket and prefix.
pub(crate) struct SignedS3 {
    /// `http://host:port/bucket` (path style) or `https://bucket.host`.
    base: String,
    /// The repository prefix inside the bucket, `""` or ending in `/`.
    prefix: String,
    signer: Signer<Credential>,
}

/// An object's current version and retention, from a `HEAD`.
pub(crate) struct Head {
    pub version: Option<String>,
    pub retention: Retention,
}

impl SignedS3 {
    pub(crate) fn new(
        remote: &Remote,
        options: &StorageOptions,
        region: &str,
        location: &str,
    ) -> Result<Self, StorageError> {
        let endpoint = remote
            .param("endpoint")
            .map(|e| e.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let bucket = &remote.authority;
        let base = if remote.flag("virtual_host_style", location)? {
            let mut url = url::Url::parse(&endpoint)
                .map_err(|e| invalid(location, format!("endpoint: {e}")))?;
            let host = url.host_str().unwrap_or_default().to_owned();
            url.set_host(Some(&format!("{bucket}.{host}")))
                .map_err(|e| invalid(location, format!("endpoint: {e}")))?;
            url.as_str().trim_end_matches('/').to_owned()
        } else {
            format!("{endpoint}/{bucket}")
        };
        let trimmed = remote.path.trim_matches('/');
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{trimmed}/")
        };
        let ctx = Context::new()
            .with_file_read(reqsign_file_read_tokio::TokioFileRead)
            .with_env(OsEnv);
        let request_signer = RequestSigner::new("s3", region);
        let signer = match (
            options.credential("access-key-id"),
            options.credential("secret-access-key"),
        ) {
            (Some(id), Some(secret)) => {
                let mut provider = StaticCredentialProvider::new(&id, &secret);
                if let Some(token) = options.credential("session-token") {
                    provider = provider.with_session_token(&token);
                }
                Signer::new(ctx, provider, request_signer)
            }
            _ => {
                let mut builder = DefaultCredentialProvider::builder();
                if let Some(profile) = remote.param("profile") {
                    builder = builder
                        .profile(ProfileCredentialProvider::new().with_profile(profile.to_owned()));
                }
                Signer::new(ctx, builder.build(), request_signer)
            }
        };
        Ok(SignedS3 {
            base,
            prefix,
            signer,
        })
    }

    fn object_url(&self, path: &str, query: &str) -> String {
        let key = utf8_percent_encode(&format!("{}{path}", self.prefix), KEY).to_string();
        format!("{}/{key}{query}", self.base)
    }

    /// Stores an object with `lock` retention (from now); with
    /// `only_new`, only when the name is free (`If-None-Match: *`).
    pub(crate) async fn put(
        &self,
        path: &str,
        data: &[u8],
        only_new: bool,
        lock: &ObjectLock,
    ) -> Result<(), StorageError> {
        let until = lock.until(Utc::now());
        let md5 = base64::engine::general_purpose::STANDARD
            .encode(<md5::Md5 as md5::Digest>::digest(data));
        let mut headers = vec![
            ("content-md5", md5),
            ("x-amz-object-lock-mode", lock.mode.header().to_owned()),
            (
                "x-amz-object-lock-retain-until-date",
                until.to_rfc3339_opts(SecondsFormat::Secs, true),
            ),
        ];
        if only_new {
            headers.push(("if-none-match", "*".to_owned()));
        }
        let url = self.object_url(path, "");
        let resp = self
            .send("write", path, http::Method::PUT, &url, &headers, data)
            .await?;
        expect_success("write", path, resp).await.map(|_| ())
    }

    /// The current version of an object and its retention.
    pub(crate) async fn head(&self, path: &str) -> Result<Head, StorageError> {
        let url = self.object_url(path, "");
        let resp = self
            .send("stat", path, http::Method::HEAD, &url, &[], &[])
            .await?;
        let resp = expect_success("stat", path, resp).await?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Head {
            version: header("x-amz-version-id").filter(|v| v != "null"),
            retention: Retention {
                mode: header("x-amz-object-lock-mode").and_then(|m| m.parse().ok()),
                until: header("x-amz-object-lock-retain-until-date")
                    .and_then(|d| DateTime::parse_from_rfc3339(&d).ok())
                    .map(|d| d.with_timezone(&Utc)),
            },
        })
    }

    /// Deletes one version of an object for good. The server refuses
    /// while the version is retained: [`StorageError::Locked`].
    pub(crate) async fn delete_version(
        &self,
        path: &str,
        version: &str,
        until: Option<DateTime<Utc>>,
    ) -> Result<(), StorageError> {
        let query = format!("?versionId={}", utf8_percent_encode(version, QUERY));
        let url = self.object_url(path, &query);
        let resp = self
            .send("delete", path, http::Method::DELETE, &url, &[], &[])
            .await?;
        match expect_success("delete", path, resp).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_denied() => Err(StorageError::Locked {
                path: path.to_owned(),
                until,
            }),
            Err(e) => Err(e),
        }
    }

    /// Whether the bucket has Object Lock enabled.
    pub(crate) async fn bucket_lock_enabled(&self) -> Result<bool, StorageError> {
        let url = format!("{}/?object-lock=", self.base);
        let resp = self
            .send("stat", "", http::Method::GET, &url, &[], &[])
            .await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        let resp = expect_success("stat", "", resp).await?;
        let body = resp.text().await.map_err(|e| transport("stat", "", &e))?;
        Ok(body.contains("<ObjectLockEnabled>Enabled</ObjectLockEnabled>"))
    }

    async fn send(
        &self,
        op: &'static str,
        path: &str,
        method: http::Method,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<reqwest::Response, StorageError> {
        let failed = |what: String| {
            StorageError::from_opendal(
                op,
                path,
                opendal::Error::new(opendal::ErrorKind::Unexpected, what),
            )
        };
        let mut builder = http::Request::builder().method(method).uri(url).header(
            "x-amz-content-sha256",
            hex::encode(sha2::Sha256::digest(body)),
        );
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let (mut parts, ()) = builder
            .body(())
            .map_err(|e| failed(format!("cannot build the request: {e}")))?
            .into_parts();
        self.signer.sign(&mut parts, None).await.map_err(|e| {
            StorageError::from_opendal(
                op,
                path,
                opendal::Error::new(
                    opendal::ErrorKind::PermissionDenied,
                    format!("cannot sign the request: {e}"),
                ),
            )
        })?;
        let request = http::Request::from_parts(parts, body.to_vec());
        let request = reqwest::Request::try_from(request)
            .map_err(|e| failed(format!("cannot build the request: {e}")))?;
        let client =
            http_client().ok_or_else(|| failed("no HTTP client could be built".to_owned()))?;
        client
            .execute(request)
            .await
            .map_err(|e| transport(op, path, &e))
    }
}

fn transport(op: &'static str, path: &str, e: &reqwest::Error) -> StorageError {
    StorageError::from_opendal(
        op,
        path,
        opendal::Error::new(opendal::ErrorKind::Unexpected, e.to_string()).set_temporary(),
    )
}

/// The response when it says success, else the failure as a storage
/// error sorted like OpenDAL's (not found, exists, denied, retryable).
async fn expect_success(
    op: &'static str,
    path: &str,
    resp: reqwest::Response,
) -> Result<reqwest::Response, StorageError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    let kind = match status.as_u16() {
        404 => opendal::ErrorKind::NotFound,
        409 | 412 => opendal::ErrorKind::ConditionNotMatch,
        403 => opendal::ErrorKind::PermissionDenied,
        429 => opendal::ErrorKind::RateLimited,
        _ => opendal::ErrorKind::Unexpected,
    };
    let code = between(&body, "<Code>", "</Code>").unwrap_or_default();
    let message = between(&body, "<Message>", "</Message>").unwrap_or_default();
    let mut err = opendal::Error::new(kind, format!("S3 answered {status} {code}: {message}"));
    if status.is_server_error() {
        err = err.set_temporary();
    }
    Err(StorageError::from_opendal(op, path, err))
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

impl std::fmt::Debug for SignedS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedS3")
            .field("base", &self.base)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}
