//! Google Cloud Storage (and its emulators).
//!
//! `gs://BUCKET/PREFIX?endpoint=URL`. Credentials: `credential-path` (a
//! service account JSON file) or `token` (an OAuth2 access token) in the
//! repository's credentials, else `GOOGLE_APPLICATION_CREDENTIALS`; the
//! VM metadata server only with `?vm_metadata=true`; `?anonymous=true`
//! sends unsigned requests (emulators, public buckets).

use opendal::{Operator, services};

use super::location::{Remote, invalid};
use super::{StorageError, StorageOptions};

pub(crate) fn operator(
    remote: &Remote,
    options: &StorageOptions,
    location: &str,
) -> Result<Operator, StorageError> {
    let mut b = services::Gcs::default()
        .bucket(&remote.authority)
        .root(&format!("/{}", remote.path));
    if let Some(endpoint) = remote.param("endpoint") {
        b = b.endpoint(endpoint);
    }
    if !remote.flag("vm_metadata", location)? {
        b = b.disable_vm_metadata();
    }
    if remote.flag("anonymous", location)? {
        b = b.skip_signature().disable_config_load();
    } else if let Some(path) = options.credential("credential-path") {
        b = b.credential_path(&path);
    } else if let Some(token) = options.credential("token") {
        b = b.token(token);
    }
    Operator::new(b).map_err(|e| invalid(location, e.to_string()))
}
