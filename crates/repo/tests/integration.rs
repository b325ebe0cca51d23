//! Integration tests of tresor-repo: a storage conformance suite that runs
//! every scenario against memory, a local directory, S3 (s3s-fs and moto),
//! Azure Blob (Azurite), Google Cloud Storage (gcp-storage-emulator),
//! WebDAV (wsgidav) and SFTP (OpenSSH, password and key logins).

#![allow(clippy::unwrap_used)]

mod integration {
    mod conformance;
    mod objects;
    mod protection;
    mod support;
}
