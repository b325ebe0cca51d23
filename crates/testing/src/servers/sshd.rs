//! A private OpenSSH server: its own host key, config and port, logging
//! in the local user `tresor-sftp` (made when missing) by password or by
//! key, serving internal-sftp.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context as _, Result, bail};
use tokio::process::Command;

use super::{ServerKind, StorageServer, free_port, require, server, spawn};

/// The local account the SFTP tests log in as.
pub const SFTP_USER: &str = "tresor-sftp";

/// How the client logs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SftpLogin {
    /// The user's password (set at random once per test process).
    Password,
    /// An ed25519 key in the server's authorized keys.
    Key,
    /// A key login to an append-only `internal-sftp`
    /// ([`APPEND_ONLY_SFTP`]): files can be added, not removed, renamed,
    /// rewritten or have their mode changed.
    KeyAppendOnly,
}

/// The `internal-sftp` arguments of an append-only SFTP account
/// (docs/storage.md): no remove, rmdir, rename or attribute changes, and
/// every new file (and directory) read-only to its owner, so that a file
/// cannot be opened for writing again. The repository's directories are
/// made beforehand, writable, as an administrator would.
pub const APPEND_ONLY_SFTP: &str =
    "-P remove,rmdir,rename,posix-rename,setstat,fsetstat,lsetstat -u 0222";

pub(super) async fn sshd(login: SftpLogin) -> Result<StorageServer> {
    let bin = require("sshd", "apt-get install openssh-server")?;
    require("ssh-keygen", "apt-get install openssh-client")?;
    let password = user_password()?;
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let d = dir.path();
    keygen(&d.join("host_key")).await?;
    keygen(&d.join("client_key")).await?;
    std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys"))?;
    let data = d.join("data");
    std::fs::create_dir_all(&data)?;
    if login == SftpLogin::KeyAppendOnly {
        let repo = data.join("repo");
        for dir in ["keys", "index", "snapshots", "locks", ".tmp"] {
            std::fs::create_dir_all(repo.join(dir))?;
        }
        for i in 0..=255u8 {
            std::fs::create_dir_all(repo.join("data").join(format!("{i:02x}")))?;
        }
    }
    run(
        "chown",
        &["-R", SFTP_USER, data.to_str().unwrap_or_default()],
    )
    .await?;
    std::fs::create_dir_all("/run/sshd").context("making /run/sshd")?;
    let port = free_port()?;
    let config = d.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "ListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication {pw}\nPubkeyAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM yes\nStrictModes no\nAllowUsers {SFTP_USER}\nSubsystem sftp internal-sftp {sftp_args}\n",
            d = d.display(),
            sftp_args = if login == SftpLogin::KeyAppendOnly {
                APPEND_ONLY_SFTP
            } else {
                ""
            },
            pw = if login == SftpLogin::Password {
                "yes"
            } else {
                "no"
            },
        ),
    )?;
    let host_pub = std::fs::read_to_string(d.join("host_key.pub"))?;
    let known_hosts = d.join("known_hosts");
    std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}"))?;
    let mut cmd = Command::new(bin);
    cmd.args(["-D", "-e", "-f"])
        .arg(&config)
        .args(["-p", &port.to_string()]);
    let child = spawn(cmd, port, &d.join("log"), "sshd").await?;
    let data_path = data.display().to_string();
    let client_key = d.join("client_key");
    let mut s = server(ServerKind::Sftp(login), dir, data, port, child);
    let base = format!(
        "sftp://{SFTP_USER}@127.0.0.1:{port}{data_path}/repo?known_hosts={}",
        known_hosts.display()
    );
    match login {
        SftpLogin::Password => {
            s.url = base;
            s.credentials = [("password".to_string(), password.clone())].into();
            s.env = vec![("TRESOR_SFTP_PASSWORD".into(), password)];
        }
        SftpLogin::Key | SftpLogin::KeyAppendOnly => {
            s.url = format!("{base}&key={}", client_key.display());
        }
    }
    Ok(s)
}

/// Makes the test user when missing and gives it a random password, once
/// per process.
fn user_password() -> Result<String> {
    static PASSWORD: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    PASSWORD
        .get_or_init(|| {
            let exists = std::process::Command::new("id")
                .arg(SFTP_USER)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if !exists {
                let made = std::process::Command::new("useradd")
                    .args(["--create-home", "--shell", "/bin/sh", SFTP_USER])
                    .status()
                    .map_err(|e| e.to_string())?;
                if !made.success() {
                    return Err(format!(
                        "useradd {SFTP_USER} failed (the SFTP tests run as root)"
                    ));
                }
            }
            let mut raw = [0u8; 12];
            getrandom_fill(&mut raw);
            let pw: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            let mut child = std::process::Command::new("chpasswd")
                .stdin(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| e.to_string())?;
            if let Some(stdin) = child.stdin.as_mut() {
                use std::io::Write as _;
                stdin
                    .write_all(format!("{SFTP_USER}:{pw}\n").as_bytes())
                    .map_err(|e| e.to_string())?;
            }
            let status = child.wait().map_err(|e| e.to_string())?;
            if !status.success() {
                return Err("chpasswd failed (the SFTP tests run as root)".into());
            }
            Ok(pw)
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

fn getrandom_fill(buf: &mut [u8]) {
    use std::io::Read as _;
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(buf);
    }
}

async fn keygen(path: &Path) -> Result<()> {
    run(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            path.to_str().unwrap_or_default(),
        ],
    )
    .await
}

async fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program).args(args).output().await?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
