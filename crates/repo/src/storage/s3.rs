//! Amazon S3 and S3-compatible servers (MinIO, Ceph, Garage, s3s, moto).
//!
//! `s3://BUCKET/PREFIX?endpoint=URL&region=R&virtual_host_style=true`.
//! Credentials, first found wins: `access-key-id` + `secret-access-key`
//! (+ `session-token`) in the repository's credentials (tresor.toml);
//! `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`;
//! the profile named by `?profile=` or `AWS_PROFILE` in
//! `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`) and
//! `AWS_CONFIG_FILE`; the EC2 instance metadata service only with
//! `?ec2_metadata=true`.
//!
//! Object Lock headers, retention and versioned deletes go through
//! [`signed`], which signs with the same credentials.

mod signed;

use opendal::{Operator, services};

pub(crate) use signed::SignedS3;

use super::location::{Remote, invalid};
use super::{StorageError, StorageOptions};

/// The OpenDAL operator for every ordinary request, and the signed
/// client for what it cannot send.
pub(crate) fn operator(
    remote: &Remote,
    options: &StorageOptions,
    location: &str,
) -> Result<(Operator, SignedS3), StorageError> {
    let mut b = services::S3::default()
        .bucket(&remote.authority)
        .root(&format!("/{}", remote.path));
    if let Some(endpoint) = remote.param("endpoint") {
        b = b.endpoint(endpoint);
    }
    let region = remote
        .param("region")
        .map(str::to_owned)
        .or_else(|| options.credential("region"))
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_owned());
    b = b.region(&region);
    if remote.flag("virtual_host_style", location)? {
        b = b.enable_virtual_host_style();
    }
    if let Some(profile) = remote.param("profile") {
        b = b.profile(profile);
    }
    if !remote.flag("ec2_metadata", location)? {
        // never reach for 169.254.169.254 unless asked: outside EC2 it
        // only delays the "no credentials" error
        b = b.disable_ec2_metadata();
    }
    if let Some(class) = remote.param("storage_class") {
        b = b.default_storage_class(class);
    }
    match (
        options.credential("access-key-id"),
        options.credential("secret-access-key"),
    ) {
        (Some(id), Some(secret)) => {
            b = b.access_key_id(&id).secret_access_key(&secret);
            if let Some(token) = options.credential("session-token") {
                b = b.session_token(&token);
            }
        }
        (None, None) => {}
        _ => {
            return Err(invalid(
                location,
                "the credentials name only one of access-key-id and secret-access-key (try: set both)",
            ));
        }
    }
    let op = Operator::new(b).map_err(|e| invalid(location, e.to_string()))?;
    let signed = SignedS3::new(remote, options, &region, location)?;
    Ok((op, signed))
}
