//! Azurite's blob service, and the container made with a SharedKey-signed
//! request (Azurite requires one even to create a container).

use anyhow::Result;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use tokio::process::Command;

use super::{ServerKind, StorageServer, free_port, http, require, server, spawn};

/// The development account every Azurite has.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Its well-known key (public, documented by Microsoft).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub(super) async fn azurite() -> Result<StorageServer> {
    let bin = require("azurite-blob", "npm install -g azurite@3")?;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    let port = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
        .arg("--location")
        .arg(&data)
        .args(["--skipApiVersionCheck", "--silent"]);
    let child = spawn(cmd, port, &dir.path().join("log"), "azurite-blob").await?;
    let mut s = server(ServerKind::Azurite, dir, data, port, child);
    create_container(port, "tresor").await?;
    s.url = format!(
        "azure://tresor/repo?account={AZURITE_ACCOUNT}&endpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    );
    s.credentials = [("account-key".to_string(), AZURITE_KEY.to_string())].into();
    s.env = vec![("AZURE_STORAGE_KEY".into(), AZURITE_KEY.into())];
    Ok(s)
}

async fn create_container(port: u16, name: &str) -> Result<()> {
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let version = "2021-08-06";
    let resource = format!("/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{name}\nrestype:container");
    let to_sign =
        format!("PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n{resource}");
    let key = base64::engine::general_purpose::STANDARD.decode(AZURITE_KEY)?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key)?;
    mac.update(to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let auth = format!("SharedKey {AZURITE_ACCOUNT}:{sig}");
    http(
        port,
        "PUT",
        &format!("/{AZURITE_ACCOUNT}/{name}?restype=container"),
        &[
            ("x-ms-date", &date),
            ("x-ms-version", version),
            ("Authorization", &auth),
        ],
        b"",
    )
    .await?;
    Ok(())
}
