//! Encryption envelope, master key and blob ids.
//!
//! Every encrypted object uses the same envelope: XChaCha20-Poly1305 with a
//! random 24-byte nonce, laid out as `nonce (24) || ciphertext || tag (16)`.
//! Blob ids are BLAKE3 hashes keyed with a repository secret (the id key), so
//! equal content gets equal ids while ids reveal nothing about the content.

use std::fmt;
use std::str::FromStr;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};

/// Length of the random nonce that starts every encrypted object.
pub const NONCE_LEN: usize = 24;
/// Length of the authentication tag that ends every encrypted object.
pub const TAG_LEN: usize = 16;
/// Bytes added by encryption: nonce plus tag.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Errors of the crypto module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Authentication failed: wrong key, or bytes were changed.
    #[error("damaged or forged data: authentication failed")]
    Damaged,
    /// The ciphertext is too short to hold a nonce and a tag.
    #[error(
        "damaged or forged data: ciphertext of {len} bytes is shorter than the {OVERHEAD}-byte envelope"
    )]
    TooShort {
        /// Length of the ciphertext seen.
        len: usize,
    },
    /// Encryption failed (message too long for the cipher).
    #[error("encryption failed")]
    Encrypt,
    /// Key material of the wrong size.
    #[error("invalid key material: expected {expected} bytes, got {got}")]
    KeyLength {
        /// Expected length.
        expected: usize,
        /// Length seen.
        got: usize,
    },
    /// Text that should be a hex id is not.
    #[error("invalid id {text:?}: expected 64 hex digits")]
    InvalidId {
        /// The offending text.
        text: String,
    },
}

/// Encrypts `plaintext` under a raw 32-byte key with the repository envelope.
pub(crate) fn seal(key: &[u8; 32], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
    seal_into(key, plaintext, &mut out)?;
    Ok(out)
}

/// [`seal`] into `out` (replacing what it held): the plaintext is
/// encrypted straight into it, with no intermediate copy.
pub(crate) fn seal_into(
    key: &[u8; 32],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce[..]);
    out.clear();
    out.reserve(plaintext.len() + OVERHEAD);
    out.extend_from_slice(&nonce);
    out.resize(NONCE_LEN + plaintext.len(), 0);
    let buf = InOutBuf::new(plaintext, &mut out[NONCE_LEN..]).map_err(|_| CryptoError::Encrypt)?;
    let tag = cipher
        .encrypt_inout_detached(&XNonce::from(nonce), b"", buf)
        .map_err(|_| CryptoError::Encrypt)?;
    out.extend_from_slice(&tag);
    Ok(())
}

/// Decrypts and authenticates an envelope produced by [`seal`].
pub(crate) fn open(key: &[u8; 32], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    open_into(key, data, &mut out)?;
    Ok(out)
}

/// [`open`] into `out` (replacing what it held): the ciphertext is
/// decrypted straight into it, so a reader can hand the same buffer from
/// one blob to the next.
pub(crate) fn open_into(key: &[u8; 32], data: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
    if data.len() < OVERHEAD {
        return Err(CryptoError::TooShort { len: data.len() });
    }
    let (nonce, rest) = data.split_at(NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Damaged)?;
    let tag = tag.try_into().map_err(|_| CryptoError::Damaged)?;
    out.clear();
    out.resize(ct.len(), 0);
    let buf = InOutBuf::new(ct, &mut out[..]).map_err(|_| CryptoError::Damaged)?;
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt_inout_detached(&XNonce::from(nonce), b"", buf, tag)
        .map_err(|_| {
            out.clear();
            CryptoError::Damaged
        })
}

/// The repository master key: a 32-byte encryption key and a 32-byte id key.
///
/// Both halves are random. The key is never printed: its `Debug` output is
/// redacted.
#[derive(Clone)]
pub struct MasterKey {
    encrypt: [u8; 32],
    id: [u8; 32],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// A fresh random master key.
    pub fn generate() -> Self {
        let mut encrypt = [0u8; 32];
        let mut id = [0u8; 32];
        rand::fill(&mut encrypt[..]);
        rand::fill(&mut id[..]);
        MasterKey { encrypt, id }
    }

    /// A fresh master key that names blobs as `self` does: a new random
    /// encryption key with `self`'s id key. A repository made with it
    /// gives equal content the same blob id as `self`'s repository, so a
    /// copy between the two decides from ids alone what to send; it cannot
    /// decrypt anything of the other.
    pub fn with_same_ids(&self) -> Self {
        let mut encrypt = [0u8; 32];
        rand::fill(&mut encrypt[..]);
        MasterKey {
            encrypt,
            id: self.id,
        }
    }

    /// Serialises the key as 64 bytes (encryption key, then id key), for
    /// wrapping in a key file.
    pub(crate) fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.encrypt);
        out[32..].copy_from_slice(&self.id);
        out
    }

    /// Inverse of [`MasterKey::to_bytes`].
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != 64 {
            return Err(CryptoError::KeyLength {
                expected: 64,
                got: bytes.len(),
            });
        }
        let mut encrypt = [0u8; 32];
        let mut id = [0u8; 32];
        encrypt.copy_from_slice(&bytes[..32]);
        id.copy_from_slice(&bytes[32..]);
        Ok(MasterKey { encrypt, id })
    }

    /// Encrypts with a fresh random nonce: `nonce || ciphertext || tag`.
    ///
    /// The output is [`OVERHEAD`] bytes longer than the input.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        self.encrypt_into(plaintext, &mut out);
        out
    }

    /// [`MasterKey::encrypt`] into `out`, replacing what it held, so a
    /// caller can reuse one buffer.
    pub fn encrypt_into(&self, plaintext: &[u8], out: &mut Vec<u8>) {
        if let Err(e) = seal_into(&self.encrypt, plaintext, out) {
            // XChaCha20-Poly1305 only refuses messages longer than 256 GiB,
            // which cannot be held in memory here.
            panic_encrypt(&e);
        }
    }

    /// Decrypts and authenticates data produced by [`MasterKey::encrypt`].
    ///
    /// # Errors
    /// [`CryptoError::Damaged`] or [`CryptoError::TooShort`] when the data was
    /// changed, truncated or encrypted under another key.
    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open(&self.encrypt, data)
    }

    /// [`MasterKey::decrypt`] into `out`, replacing what it held, so a
    /// caller can reuse one buffer; `out` is empty after a failure.
    ///
    /// # Errors
    /// As [`MasterKey::decrypt`].
    pub fn decrypt_into(&self, data: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        open_into(&self.encrypt, data, out)
    }

    /// A key of its own for `context` (BLAKE3 key derivation from the
    /// encryption key): data sealed for one use never opens as another's,
    /// nor as a repository object.
    pub(crate) fn subkey(&self, context: &str) -> [u8; 32] {
        blake3::derive_key(context, &self.encrypt)
    }

    /// The id of a blob: BLAKE3 keyed with the id key, over the uncompressed
    /// plaintext.
    pub fn blob_id(&self, plaintext: &[u8]) -> BlobId {
        BlobId(*blake3::keyed_hash(&self.id, plaintext).as_bytes())
    }
}

#[cold]
fn panic_encrypt(e: &CryptoError) -> ! {
    panic!("{e}")
}

macro_rules! hex_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The raw 32 bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Full lowercase hex form (64 digits).
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The first 8 hex digits, for human output.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = CryptoError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).map_err(|_| CryptoError::InvalidId {
                    text: s.chars().take(80).collect(),
                })?;
                Ok($name(out))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(
    /// Id of a blob: keyed BLAKE3 of its uncompressed plaintext.
    BlobId
);
hex_id!(
    /// Id of a pack file: plain BLAKE3 of the whole pack file.
    PackId
);
hex_id!(
    /// Id of a file in `keys/`, `index/`, `locks/` or `snapshots/`.
    ///
    /// For index and snapshot files it is the plain BLAKE3 of the stored
    /// bytes; for key files it is the BLAKE3 of the JSON; lock ids are random.
    ObjectId
);

impl PackId {
    /// The id of a pack file's bytes.
    pub fn of(bytes: &[u8]) -> Self {
        PackId(*blake3::hash(bytes).as_bytes())
    }
}

impl ObjectId {
    /// The content id of stored bytes.
    pub fn of(bytes: &[u8]) -> Self {
        ObjectId(*blake3::hash(bytes).as_bytes())
    }

    /// A random id.
    pub fn random() -> Self {
        let mut b = [0u8; 32];
        rand::fill(&mut b[..]);
        ObjectId(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn debug_is_redacted() {
        let k = MasterKey::generate();
        let dbg = format!("{k:?}");
        assert_eq!(dbg, "MasterKey(<redacted>)");
        assert!(!dbg.contains(&hex::encode(k.encrypt)));
    }

    #[test]
    fn key_bytes_roundtrip() {
        let k = MasterKey::generate();
        let k2 = MasterKey::from_bytes(&k.to_bytes()).unwrap();
        assert_eq!(k2.blob_id(b"x"), k.blob_id(b"x"));
        assert!(MasterKey::from_bytes(&[0; 63]).is_err());
    }

    #[test]
    fn same_ids_but_another_encryption_key() {
        let a = MasterKey::generate();
        let b = a.with_same_ids();
        assert_eq!(a.blob_id(b"hello"), b.blob_id(b"hello"));
        assert_ne!(a.encrypt, b.encrypt);
        assert!(b.decrypt(&a.encrypt(b"secret")).is_err());
    }

    #[test]
    fn blob_id_is_keyed() {
        let a = MasterKey::generate();
        let b = MasterKey::generate();
        assert_eq!(a.blob_id(b"hello"), a.blob_id(b"hello"));
        assert_ne!(a.blob_id(b"hello"), b.blob_id(b"hello"));
        assert_ne!(
            a.blob_id(b"hello"),
            BlobId(*blake3::hash(b"hello").as_bytes())
        );
    }

    #[test]
    fn id_hex_and_serde() {
        let id = MasterKey::generate().blob_id(b"abc");
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<BlobId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<BlobId>(&json).unwrap(), id);
        assert!("zz".parse::<BlobId>().is_err());
        assert!(serde_json::from_str::<BlobId>("\"00\"").is_err());
        assert_eq!(format!("{id:?}"), format!("BlobId({})", &text[..8]));
    }

    #[test]
    fn wrong_key_and_short_input_fail() {
        let a = MasterKey::generate();
        let b = MasterKey::generate();
        let ct = a.encrypt(b"secret");
        assert!(matches!(b.decrypt(&ct), Err(CryptoError::Damaged)));
        assert!(matches!(
            a.decrypt(&ct[..10]),
            Err(CryptoError::TooShort { .. })
        ));
        assert!(
            a.decrypt(&[])
                .unwrap_err()
                .to_string()
                .contains("damaged or forged")
        );
    }

    proptest! {
        #[test]
        fn encrypt_decrypt_roundtrip(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let k = MasterKey::generate();
            let ct = k.encrypt(&data);
            prop_assert_eq!(ct.len(), data.len() + OVERHEAD);
            prop_assert_eq!(k.decrypt(&ct).unwrap(), data);
        }

        #[test]
        fn encrypt_into_replaces_what_the_buffer_held(
            data in proptest::collection::vec(any::<u8>(), 0..4096),
            stale in proptest::collection::vec(any::<u8>(), 0..8192),
        ) {
            let k = MasterKey::generate();
            let mut buf = stale;
            k.encrypt_into(&data, &mut buf);
            prop_assert_eq!(buf.len(), data.len() + OVERHEAD);
            prop_assert_eq!(k.decrypt(&buf).unwrap(), data);
        }

        #[test]
        fn decrypt_into_replaces_what_the_buffer_held(
            data in proptest::collection::vec(any::<u8>(), 0..4096),
            stale in proptest::collection::vec(any::<u8>(), 0..8192),
            flip in any::<Option<(usize, u8)>>(),
        ) {
            let k = MasterKey::generate();
            let mut ct = k.encrypt(&data);
            let mut buf = stale;
            match flip {
                None => {
                    k.decrypt_into(&ct, &mut buf).unwrap();
                    prop_assert_eq!(&buf, &data);
                }
                Some((pos, bit)) => {
                    let i = pos % ct.len();
                    ct[i] ^= 1 << (bit % 8);
                    prop_assert!(k.decrypt_into(&ct, &mut buf).is_err());
                    prop_assert!(buf.is_empty(), "no unauthenticated plaintext is left behind");
                }
            }
        }

        #[test]
        fn any_flipped_bit_fails(data in proptest::collection::vec(any::<u8>(), 0..512), pos in any::<usize>(), bit in 0u8..8) {
            let k = MasterKey::generate();
            let mut ct = k.encrypt(&data);
            let i = pos % ct.len();
            ct[i] ^= 1 << bit;
            prop_assert!(k.decrypt(&ct).is_err());
        }
    }
}
