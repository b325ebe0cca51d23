//! Azure Blob Storage (and Azurite).
//!
//! `azure://CONTAINER/PREFIX?account=NAME&endpoint=URL`. The account comes
//! from `?account=` or `AZURE_STORAGE_ACCOUNT`; the endpoint defaults to
//! `https://NAME.blob.core.windows.net`. Credentials: `account-key` or
//! `sas-token` in the repository's credentials, else
//! `AZURE_STORAGE_KEY` (or `AZURE_STORAGE_ACCOUNT_KEY`) or
//! `AZURE_STORAGE_SAS_TOKEN`.

use opendal::{Operator, services};

use super::location::{Remote, invalid};
use super::{StorageError, StorageOptions};

pub(crate) fn operator(
    remote: &Remote,
    options: &StorageOptions,
    location: &str,
) -> Result<Operator, StorageError> {
    let account = remote
        .param("account")
        .map(str::to_owned)
        .or_else(|| std::env::var("AZURE_STORAGE_ACCOUNT").ok())
        .ok_or_else(|| {
            invalid(
                location,
                "the storage account is missing (try: ?account=NAME or AZURE_STORAGE_ACCOUNT)",
            )
        })?;
    let endpoint = remote
        .param("endpoint")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
    let mut b = services::Azblob::default()
        .container(&remote.authority)
        .root(&format!("/{}", remote.path))
        .endpoint(&endpoint)
        .account_name(&account);
    let key = options
        .credential("account-key")
        .or_else(|| std::env::var("AZURE_STORAGE_KEY").ok())
        .or_else(|| std::env::var("AZURE_STORAGE_ACCOUNT_KEY").ok());
    let sas = options
        .credential("sas-token")
        .or_else(|| std::env::var("AZURE_STORAGE_SAS_TOKEN").ok());
    match (key, sas) {
        (Some(key), _) => b = b.account_key(&key),
        (None, Some(sas)) => b = b.sas_token(&sas),
        (None, None) => {
            return Err(invalid(
                location,
                "no Azure credentials (try: AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or account-key in the repository's credentials)",
            ));
        }
    }
    Operator::new(b).map_err(|e| invalid(location, e.to_string()))
}
