//! Entry points for the fuzz targets in `fuzz/`, compiled only under
//! `cargo fuzz` (`--cfg fuzzing`): every parser that reads a repository
//! file, fed through the same decrypt, decompress and parse steps as a
//! stored object, so that a damaged or hostile file written with the key
//! can only ever produce an error.

use std::sync::OnceLock;

use crate::config::Config;
use crate::crypto::{MasterKey, ObjectId};
use crate::index::{IndexFile, MasterIndex};
use crate::key::{KeyFile, Password};
use crate::pack;

fn key() -> &'static MasterKey {
    static KEY: OnceLock<MasterKey> = OnceLock::new();
    KEY.get_or_init(MasterKey::generate)
}

/// A key file as found in `keys/`: parsed, then opened when its
/// key-derivation cost is small enough to try many per second.
pub fn key_file(bytes: &[u8]) {
    let Ok(file) = KeyFile::from_json(bytes) else {
        return;
    };
    if file.m_cost_kib <= 64 && file.t_cost <= 2 && file.p_cost <= 2 {
        let _ = file.open(&Password::from("fuzz"));
    }
}

/// The repository config, `plain` being what decryption yields.
pub fn config(plain: &[u8]) {
    let _ = Config::decode(key(), &key().encrypt(plain));
}

/// An index file, `plain` being what decryption yields (zstd, then JSON).
pub fn index(plain: &[u8]) {
    if let Ok(file) = IndexFile::decode(key(), ObjectId::of(plain), &key().encrypt(plain)) {
        let _ = MasterIndex::from_files([&file]);
    }
}

/// A pack file. The input is a two-byte header length, the plaintext
/// header, then the records in plaintext; the harness encrypts each part
/// as the writer does, reads the header back and decodes every blob it
/// lists.
pub fn pack_file(input: &[u8]) {
    let Some((len, rest)) = input.split_first_chunk::<2>() else {
        return;
    };
    let header_len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (header, records) = rest.split_at(header_len);
    let mut file = records.to_vec();
    let sealed = key().encrypt(header);
    file.extend_from_slice(&sealed);
    file.extend_from_slice(
        &u32::try_from(sealed.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    let Ok(entries) = pack::read_header(key(), &file) else {
        return;
    };
    for entry in entries {
        let start = entry.offset as usize;
        let end = start + entry.length as usize;
        let _ = pack::decode_blob(key(), &entry, &key().encrypt(&records[start..end]));
    }
}
