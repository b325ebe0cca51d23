//! WebDAV servers (Nextcloud, Apache mod_dav, nginx, wsgidav).
//!
//! `webdav://[USER@]HOST[:PORT]/PATH` over HTTP, `webdavs://` over HTTPS.
//! The password is `password` in the repository's credentials, else
//! `TRESOR_WEBDAV_PASSWORD`; `token` (a bearer token) instead of a user.
//!
//! A `PUT` on most servers writes the target file as the body arrives, so a
//! broken upload would leave a partial object under its name: every write
//! goes to `.tmp/<random>` first and is moved into place with `MOVE`, with
//! `Overwrite: T` to replace and `Overwrite: F` to create only when absent
//! (the server answers 412 when the name exists).

use opendal::{Operator, services};

use super::location::{Remote, Scheme, invalid};
use super::{StorageError, StorageOptions};

/// Moves written temporary files into place.
pub(crate) struct Mover {
    base: String,
    authorization: Option<String>,
}

pub(crate) fn operator(
    remote: &Remote,
    options: &StorageOptions,
    location: &str,
) -> Result<(Operator, Mover), StorageError> {
    let http = match remote.scheme {
        Scheme::WebDav { tls: true } => "https",
        _ => "http",
    };
    let endpoint = format!("{http}://{}", remote.authority);
    let mut b = services::Webdav::default()
        .endpoint(&endpoint)
        .root(&format!("/{}", remote.path));
    let mut authorization = None;
    let user = remote.user.clone().or_else(|| options.credential("user"));
    if let Some(user) = user {
        b = b.username(&user);
        let pw = options
            .credential("password")
            .or_else(|| std::env::var("TRESOR_WEBDAV_PASSWORD").ok())
            .unwrap_or_default();
        b = b.password(&pw);
        let basic = base64_encode(format!("{user}:{pw}").as_bytes());
        authorization = Some(format!("Basic {basic}"));
    } else if let Some(token) = options.credential("token") {
        b = b.token(&token);
        authorization = Some(format!("Bearer {token}"));
    }
    let op = Operator::new(b).map_err(|e| invalid(location, e.to_string()))?;
    let path = remote.path.trim_matches('/');
    let base = if path.is_empty() {
        endpoint
    } else {
        format!("{endpoint}/{path}")
    };
    Ok((
        op,
        Mover {
            base,
            authorization,
        },
    ))
}

impl Mover {
    /// Moves `from` to `to` (both relative to the root). `Ok(false)` when
    /// `to` exists and `replace` is off.
    pub(crate) async fn rename(
        &self,
        client: &reqwest::Client,
        from: &str,
        to: &str,
        replace: bool,
    ) -> Result<bool, opendal::Error> {
        let mut req = client
            .request(
                reqwest::Method::from_bytes(b"MOVE").map_err(|e| unexpected(e.to_string()))?,
                self.url(from),
            )
            .header("Destination", self.url(to))
            .header("Overwrite", if replace { "T" } else { "F" });
        if let Some(auth) = &self.authorization {
            req = req.header("Authorization", auth);
        }
        let resp = req.send().await.map_err(|e| {
            let err = unexpected(format!("webdav MOVE: {e}"));
            if e.is_timeout() || e.is_connect() || e.is_request() {
                err.set_temporary()
            } else {
                err
            }
        })?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => Ok(true),
            412 => Ok(false),
            401 | 403 => Err(opendal::Error::new(
                opendal::ErrorKind::PermissionDenied,
                format!("webdav MOVE answered {status}"),
            )),
            404 | 409 => Err(opendal::Error::new(
                opendal::ErrorKind::NotFound,
                format!("webdav MOVE answered {status}"),
            )),
            500..=599 | 429 => {
                Err(unexpected(format!("webdav MOVE answered {status}")).set_temporary())
            }
            _ => Err(unexpected(format!("webdav MOVE answered {status}"))),
        }
    }

    fn url(&self, path: &str) -> String {
        let encoded: String = path
            .split('/')
            .map(|seg| {
                seg.bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("/");
        format!("{}/{encoded}", self.base)
    }
}

fn unexpected(msg: String) -> opendal::Error {
    opendal::Error::new(opendal::ErrorKind::Unexpected, msg)
}

fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("user:pw", "dXNlcjpwdw=="),
        ] {
            assert_eq!(super::base64_encode(plain.as_bytes()), coded);
        }
    }
}
