//! SFTP, spoken by tresor (russh and russh-sftp).
//!
//! `sftp://USER@HOST[:PORT]/PATH?key=FILE&known_hosts=FILE`. The path is
//! absolute (`sftp://backup@nas/srv/tresor` is `/srv/tresor`); `~/PATH`
//! is relative to the login directory. Login, first that applies: the
//! `password` in the repository's credentials or `TRESOR_SFTP_PASSWORD`;
//! the private key named by `?key=` (`key-passphrase` in the credentials
//! when it is encrypted); else `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`.
//!
//! The server's host key must be in the known-hosts file (`?known_hosts=`,
//! default `~/.ssh/known_hosts`); `?accept_new_host=true` records the key
//! of a host seen for the first time (trust on first use), and a changed
//! key is always refused.
//!
//! Writes go to `<root>/.tmp/<random>` and are renamed into place: with
//! `posix-rename@openssh.com` to replace, and as a hard link (which refuses
//! an existing name) to create only when absent. One SSH connection is
//! kept and shared; a broken one is dropped and the failed request retried
//! on a new one.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use opendal::ErrorKind;
use russh::client;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::{RawSftpSession, SftpSession};
use russh_sftp::protocol::{Packet, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use super::location::{Remote, invalid};
use super::{ObjectMeta, StorageError, StorageOptions, TMP_DIR};

const POSIX_RENAME: &str = "posix-rename@openssh.com";

/// An SFTP repository: where it is, how to log in, and the connection.
pub(crate) struct Sftp {
    host: String,
    port: u16,
    user: String,
    root: String,
    login: Login,
    known_hosts: PathBuf,
    accept_new: bool,
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
}

enum Login {
    Password(String),
    Key(Arc<PrivateKey>),
}

struct Conn {
    _handle: client::Handle<HostCheck>,
    sftp: SftpSession,
    raw: RawSftpSession,
    posix_rename: bool,
}

impl Sftp {
    pub(crate) fn new(
        remote: &Remote,
        options: &StorageOptions,
        location: &str,
    ) -> Result<Self, StorageError> {
        let (host, port) = match remote.authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_owned(),
                p.parse()
                    .map_err(|_| invalid(location, format!("port {p:?} is not a number")))?,
            ),
            None => (remote.authority.clone(), 22),
        };
        let user = remote
            .user
            .clone()
            .or_else(|| options.credential("user"))
            .or_else(|| std::env::var("USER").ok())
            .ok_or_else(|| invalid(location, "no user name (try: sftp://USER@host/path)"))?;
        let root = match remote.path.strip_prefix('~') {
            Some(rest) => rest.trim_start_matches('/').to_owned(),
            None => format!("/{}", remote.path),
        };
        let home = std::env::home_dir().unwrap_or_default();
        let known_hosts = remote
            .param("known_hosts")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".ssh/known_hosts"));
        let login = login(remote, options, location, &home)?;
        Ok(Sftp {
            host,
            port,
            user,
            root,
            login,
            known_hosts,
            accept_new: remote.flag("accept_new_host", location)?,
            conn: tokio::sync::Mutex::new(None),
        })
    }

    fn full(&self, path: &str) -> String {
        let path = path.trim_start_matches('/');
        match (self.root.as_str(), path) {
            ("", p) => p.to_owned(),
            (r, "") => r.to_owned(),
            (r, p) => format!("{}/{p}", r.trim_end_matches('/')),
        }
    }

    /// The shared connection, made when there is none.
    async fn conn(&self) -> Result<Arc<Conn>, opendal::Error> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let conn = Arc::new(self.connect().await?);
        *slot = Some(conn.clone());
        Ok(conn)
    }

    async fn connect(&self) -> Result<Conn, opendal::Error> {
        let verdict = Arc::new(Mutex::new(None));
        let check = HostCheck {
            host: self.host.clone(),
            port: self.port,
            known_hosts: self.known_hosts.clone(),
            accept_new: self.accept_new,
            verdict: verdict.clone(),
        };
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(std::time::Duration::from_secs(300)),
            keepalive_interval: Some(std::time::Duration::from_secs(30)),
            ..client::Config::default()
        });
        let connected = client::connect(config, (self.host.as_str(), self.port), check).await;
        let mut handle = match connected {
            Ok(h) => h,
            Err(e) => {
                let problem = verdict.lock().ok().and_then(|mut v| v.take());
                return Err(match problem {
                    Some(p) => opendal::Error::new(ErrorKind::ConfigInvalid, p),
                    None => ssh_error(&e),
                });
            }
        };
        let accepted = match &self.login {
            Login::Password(pw) => handle.authenticate_password(&self.user, pw).await,
            Login::Key(key) => {
                let hash = handle
                    .best_supported_rsa_hash()
                    .await
                    .ok()
                    .flatten()
                    .flatten();
                handle
                    .authenticate_publickey(
                        &self.user,
                        PrivateKeyWithHashAlg::new(key.clone(), hash),
                    )
                    .await
            }
        }
        .map_err(|e| ssh_error(&e))?;
        if !accepted.success() {
            let how = match self.login {
                Login::Password(_) => "password",
                Login::Key(_) => "key",
            };
            return Err(opendal::Error::new(
                ErrorKind::PermissionDenied,
                format!("{}@{} refused the {how} login", self.user, self.host),
            ));
        }
        let sftp = SftpSession::new(self.subsystem(&handle).await?)
            .await
            .map_err(|e| sftp_error(&e))?;
        sftp.set_timeout(60);
        let raw = RawSftpSession::new(self.subsystem(&handle).await?);
        raw.set_timeout(60);
        let version = raw.init().await.map_err(|e| sftp_error(&e))?;
        let posix_rename = version.extensions.contains_key(POSIX_RENAME);
        Ok(Conn {
            _handle: handle,
            sftp,
            raw,
            posix_rename,
        })
    }

    async fn subsystem(
        &self,
        handle: &client::Handle<HostCheck>,
    ) -> Result<russh::ChannelStream<client::Msg>, opendal::Error> {
        let channel = handle
            .channel_open_session()
            .await
            .map_err(|e| ssh_error(&e))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| ssh_error(&e))?;
        Ok(channel.into_stream())
    }

    /// Runs one request on the connection; a broken connection is dropped
    /// so that the retry makes a new one.
    async fn with<T, F, Fut>(&self, op: &'static str, path: &str, f: F) -> Result<T, StorageError>
    where
        F: FnOnce(Arc<Conn>) -> Fut,
        Fut: std::future::Future<Output = Result<T, SftpError>>,
    {
        let conn = self
            .conn()
            .await
            .map_err(|e| StorageError::from_opendal(op, path, e))?;
        match f(conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                let err = sftp_error(&e);
                if err.is_temporary() {
                    *self.conn.lock().await = None;
                }
                Err(StorageError::from_opendal(op, path, err))
            }
        }
    }

    pub(crate) async fn read(
        &self,
        path: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Vec<u8>, StorageError> {
        let full = self.full(path);
        self.with("read", path, |c| async move {
            let mut file = c.sftp.open(full).await?;
            let mut out = Vec::new();
            match range {
                None => {
                    file.read_to_end(&mut out).await?;
                }
                Some((offset, length)) => {
                    file.seek(std::io::SeekFrom::Start(offset)).await?;
                    (&mut file).take(length).read_to_end(&mut out).await?;
                }
            }
            file.shutdown().await?;
            Ok(out)
        })
        .await
    }

    pub(crate) async fn write(
        &self,
        path: &str,
        data: Vec<u8>,
        only_new: bool,
    ) -> Result<(), StorageError> {
        let target = self.full(path);
        let tmp_dir = self.full(TMP_DIR);
        let mut name = [0u8; 12];
        rand::fill(&mut name[..]);
        let tmp = format!("{tmp_dir}/{}", hex::encode(name));
        let dirs = vec![tmp_dir, parent(&target).to_owned()];
        let written = self
            .with("write", path, |c| async move {
                for dir in dirs {
                    make_dirs(&c.sftp, &dir).await?;
                }
                let mut file = c.sftp.create(tmp.clone()).await?;
                file.write_all(&data).await?;
                let _ = file.sync_all().await;
                file.shutdown().await?;
                let placed = place(&c, &tmp, &target, only_new).await;
                if placed.is_err() || only_new {
                    let _ = c.sftp.remove_file(tmp).await;
                }
                placed
            })
            .await?;
        if written {
            Ok(())
        } else {
            Err(StorageError::AlreadyExists {
                path: path.to_owned(),
            })
        }
    }

    pub(crate) async fn list(
        &self,
        dir: &str,
        recursive: bool,
    ) -> Result<Vec<String>, StorageError> {
        let start = self.full(dir.trim_end_matches('/'));
        self.with("list", dir, |c| async move {
            let mut out = Vec::new();
            let mut pending = vec![(start, String::new())];
            while let Some((abs, rel)) = pending.pop() {
                let entries = match c.sftp.read_dir(abs.clone()).await {
                    Ok(e) => e,
                    Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => {
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                for entry in entries {
                    let name = entry.file_name();
                    if name == "." || name == ".." {
                        continue;
                    }
                    let rel_name = format!("{rel}{name}");
                    if entry.metadata().is_dir() {
                        if recursive {
                            pending.push((format!("{abs}/{name}"), format!("{rel_name}/")));
                        }
                    } else {
                        out.push(rel_name);
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<(), StorageError> {
        let full = self.full(path);
        self.with(
            "delete",
            path,
            |c| async move { c.sftp.remove_file(full).await },
        )
        .await
    }

    pub(crate) async fn stat(&self, path: &str) -> Result<ObjectMeta, StorageError> {
        let full = self.full(path);
        let meta = self
            .with("stat", path, |c| async move { c.sftp.metadata(full).await })
            .await?;
        if meta.is_dir() {
            return Err(StorageError::NotFound {
                path: path.to_owned(),
            });
        }
        Ok(ObjectMeta {
            size: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// Moves the written temporary file to its name. `Ok(false)` when the
/// name exists and `only_new` forbids replacing it.
async fn place(c: &Conn, tmp: &str, target: &str, only_new: bool) -> Result<bool, SftpError> {
    if only_new {
        // a hard link (or, without the extension, a plain SFTP rename)
        // fails when the name exists
        let linked = match c.raw.hardlink(tmp, target).await {
            Ok(_) => Ok(()),
            Err(SftpError::Status(s)) if s.status_code == StatusCode::OpUnsupported => {
                c.sftp.rename(tmp, target).await
            }
            Err(e) => Err(e),
        };
        return match linked {
            Ok(()) => Ok(true),
            Err(e) => match c.sftp.metadata(target).await {
                Ok(_) => Ok(false),
                Err(_) => Err(e),
            },
        };
    }
    if c.posix_rename {
        let mut data = Vec::new();
        for s in [tmp, target] {
            let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
            data.extend_from_slice(&len.to_be_bytes());
            data.extend_from_slice(s.as_bytes());
        }
        return match c.raw.extended(POSIX_RENAME, data).await? {
            Packet::Status(s) if s.status_code == StatusCode::Ok => Ok(true),
            Packet::Status(s) => Err(SftpError::Status(s)),
            _ => Err(SftpError::UnexpectedPacket),
        };
    }
    // a server without posix-rename: replace in two steps
    let _ = c.sftp.remove_file(target).await;
    c.sftp.rename(tmp, target).await.map(|()| true)
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// `mkdir -p`.
async fn make_dirs(sftp: &SftpSession, dir: &str) -> Result<(), SftpError> {
    if dir.is_empty() || dir == "/" || sftp.try_exists(dir.to_owned()).await? {
        return Ok(());
    }
    Box::pin(make_dirs(sftp, parent(dir))).await?;
    match sftp.create_dir(dir.to_owned()).await {
        Ok(()) => Ok(()),
        // made by a concurrent writer in the meantime
        Err(e) => match sftp.try_exists(dir.to_owned()).await {
            Ok(true) => Ok(()),
            _ => Err(e),
        },
    }
}

fn login(
    remote: &Remote,
    options: &StorageOptions,
    location: &str,
    home: &std::path::Path,
) -> Result<Login, StorageError> {
    let password = options.credential("password").or_else(|| {
        std::env::var("TRESOR_SFTP_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
    });
    if let Some(pw) = password {
        return Ok(Login::Password(pw));
    }
    let key_path = match remote.param("key") {
        Some(k) => PathBuf::from(k),
        None => ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|n| home.join(".ssh").join(n))
            .find(|p| p.exists())
            .ok_or_else(|| {
                invalid(
                    location,
                    "no way to log in: no password and no key (try: ?key=/path/to/private_key, or TRESOR_SFTP_PASSWORD)",
                )
            })?,
    };
    let passphrase = options.credential("key-passphrase");
    let key = russh::keys::load_secret_key(&key_path, passphrase.as_deref()).map_err(|e| {
        invalid(
            location,
            format!("cannot load the key {}: {e}", key_path.display()),
        )
    })?;
    Ok(Login::Key(Arc::new(key)))
}

/// Checks the server's host key against the known-hosts file.
struct HostCheck {
    host: String,
    port: u16,
    known_hosts: PathBuf,
    accept_new: bool,
    /// Why the key was refused, for the error message.
    verdict: Arc<Mutex<Option<String>>>,
}

impl HostCheck {
    fn refuse(&self, why: String) -> Result<bool, russh::Error> {
        if let Ok(mut v) = self.verdict.lock() {
            *v = Some(why);
        }
        Ok(false)
    }
}

impl client::Handler for HostCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return self.refuse(format!(
                "{} offered a host certificate, which tresor does not check",
                self.host
            ));
        };
        let file = self.known_hosts.display().to_string();
        let known = if self.known_hosts.exists() {
            russh::keys::check_known_hosts_path(&self.host, self.port, key, &self.known_hosts)
        } else {
            Ok(false)
        };
        match known {
            Ok(true) => Ok(true),
            Ok(false) if self.accept_new => {
                russh::keys::known_hosts::learn_known_hosts_path(&self.host, self.port, key, &self.known_hosts)?;
                tracing::info!(host = %self.host, known_hosts = %file, "recorded the key of a new SFTP host");
                Ok(true)
            }
            Ok(false) => {
                let entry = if self.port == 22 {
                    self.host.clone()
                } else {
                    format!("[{}]:{}", self.host, self.port)
                };
                self.refuse(format!(
                    "the host key of {entry} ({}) is not in {file} (try: check the fingerprint, then `ssh-keyscan -p {} {} >> {file}`, or ?accept_new_host=true to trust it on first use)",
                    key.fingerprint(Default::default()),
                    self.port,
                    self.host
                ))
            }
            Err(russh::keys::Error::KeyChanged { line }) => self.refuse(format!(
                "the host key of {} CHANGED (it differs from line {line} of {file}): someone may be intercepting the connection; if the server was reinstalled, remove that line",
                self.host
            )),
            Err(e) => self.refuse(format!("cannot read {file}: {e}")),
        }
    }
}

fn ssh_error(e: &russh::Error) -> opendal::Error {
    let text = format!("ssh: {e}");
    match e {
        russh::Error::IO(_)
        | russh::Error::Disconnect
        | russh::Error::ConnectionTimeout
        | russh::Error::KeepaliveTimeout
        | russh::Error::InactivityTimeout
        | russh::Error::SendError
        | russh::Error::HUP => opendal::Error::new(ErrorKind::Unexpected, text).set_temporary(),
        _ => opendal::Error::new(ErrorKind::Unexpected, text),
    }
}

fn sftp_error(e: &SftpError) -> opendal::Error {
    let text = format!("sftp: {e}");
    match e {
        SftpError::Status(s) => {
            let kind = match s.status_code {
                StatusCode::NoSuchFile => ErrorKind::NotFound,
                StatusCode::PermissionDenied => ErrorKind::PermissionDenied,
                _ => ErrorKind::Unexpected,
            };
            let err = opendal::Error::new(kind, text);
            if matches!(
                s.status_code,
                StatusCode::NoConnection | StatusCode::ConnectionLost
            ) {
                err.set_temporary()
            } else {
                err
            }
        }
        SftpError::IO(_) | SftpError::Timeout | SftpError::UnexpectedPacket => {
            opendal::Error::new(ErrorKind::Unexpected, text).set_temporary()
        }
        _ => opendal::Error::new(ErrorKind::Unexpected, text),
    }
}
