//! The zip central directory read entry by entry. A zip library keeps one
//! entry per name, so an archive with two `metadata.json` entries (the
//! first one forged) or two copies of a table file would be read as
//! whichever entry the library kept; here every entry is seen, so
//! duplicates and symbolic links are refused by name before anything is
//! read.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::ArchiveError;

const EOCD: u32 = 0x0605_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const CENTRAL: u32 = 0x0201_4b50;
/// The end record with the longest comment zip allows.
const MAX_TAIL: u64 = 22 + 65_535;
/// Entries read at most (far more than any archive of tables needs).
const MAX_ENTRIES: usize = 1_000_000;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn damaged(what: &str) -> ArchiveError {
    ArchiveError::Corrupt(format!("zip central directory: {what}"))
}

/// One entry of the central directory.
pub(crate) struct DirEntry {
    pub(crate) name: String,
    pub(crate) symlink: bool,
}

/// Every entry of the central directory of the zip file at `path`, in
/// order, duplicates included.
///
/// # Errors
/// An unreadable file or a central directory that is not where its end
/// record says (the zip library reports truncation itself; this answers
/// `Corrupt`).
pub(crate) fn entries(path: &Path) -> Result<Vec<DirEntry>, ArchiveError> {
    let read_err = |e| ArchiveError::io(format!("cannot read {}", path.display()), e);
    let mut f = File::open(path).map_err(read_err)?;
    let len = f.metadata().map_err(read_err)?.len();
    let tail_len = len.min(MAX_TAIL);
    f.seek(SeekFrom::Start(len - tail_len)).map_err(read_err)?;
    let mut tail = vec![0u8; usize::try_from(tail_len).map_err(|_| damaged("too large"))?];
    f.read_exact(&mut tail).map_err(read_err)?;
    let Some(eocd) = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(&tail, i) == Some(EOCD))
    else {
        return Err(ArchiveError::Truncated(
            "zip end of central directory not found".into(),
        ));
    };
    let mut count = u64::from(u16_at(&tail, eocd + 10).ok_or_else(|| damaged("short end record"))?);
    let mut size = u64::from(u32_at(&tail, eocd + 12).ok_or_else(|| damaged("short end record"))?);
    let mut offset =
        u64::from(u32_at(&tail, eocd + 16).ok_or_else(|| damaged("short end record"))?);
    if (count == 0xffff || size == 0xffff_ffff || offset == 0xffff_ffff)
        && eocd >= 20
        && u32_at(&tail, eocd - 20) == Some(ZIP64_LOCATOR)
    {
        let at = u64_at(&tail, eocd - 20 + 8).ok_or_else(|| damaged("short zip64 locator"))?;
        let mut rec = [0u8; 56];
        f.seek(SeekFrom::Start(at)).map_err(read_err)?;
        f.read_exact(&mut rec).map_err(read_err)?;
        if u32_at(&rec, 0) != Some(ZIP64_EOCD) {
            return Err(damaged("zip64 end record not where its locator says"));
        }
        count = u64_at(&rec, 32).ok_or_else(|| damaged("short zip64 end record"))?;
        size = u64_at(&rec, 40).ok_or_else(|| damaged("short zip64 end record"))?;
        offset = u64_at(&rec, 48).ok_or_else(|| damaged("short zip64 end record"))?;
    }
    if offset.checked_add(size).is_none_or(|end| end > len) {
        return Err(ArchiveError::Truncated(
            "zip central directory runs past the end of the file".into(),
        ));
    }
    if count > MAX_ENTRIES as u64 {
        return Err(damaged(&format!("more than {MAX_ENTRIES} entries")));
    }
    let mut dir = vec![0u8; usize::try_from(size).map_err(|_| damaged("too large"))?];
    f.seek(SeekFrom::Start(offset)).map_err(read_err)?;
    f.read_exact(&mut dir).map_err(read_err)?;
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < dir.len() && out.len() < MAX_ENTRIES {
        if u32_at(&dir, at) != Some(CENTRAL) {
            return Err(damaged(
                "an entry header is not where the previous one ends",
            ));
        }
        let made_by = u16_at(&dir, at + 4).ok_or_else(|| damaged("short entry"))?;
        let name_len = usize::from(u16_at(&dir, at + 28).ok_or_else(|| damaged("short entry"))?);
        let extra_len = usize::from(u16_at(&dir, at + 30).ok_or_else(|| damaged("short entry"))?);
        let comment_len = usize::from(u16_at(&dir, at + 32).ok_or_else(|| damaged("short entry"))?);
        let external = u32_at(&dir, at + 38).ok_or_else(|| damaged("short entry"))?;
        let name = dir
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| damaged("short entry name"))?;
        // Unix hosts keep the file mode in the upper half of the
        // external attributes
        let unix = made_by >> 8 == 3;
        let symlink = unix && (external >> 16) & 0o170_000 == 0o120_000;
        out.push(DirEntry {
            name: String::from_utf8_lossy(name).into_owned(),
            symlink,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}
