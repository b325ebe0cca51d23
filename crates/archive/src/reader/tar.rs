//! A small sequential tar reader over a zstd stream.
//!
//! The `tar` crate's entries borrow their archive, which does not fit a
//! reader that hands out one table's lines at a time; tar is simple enough
//! to walk here: 512-byte headers (ustar, GNU long names, PAX paths),
//! data padded to 512 bytes, two zero blocks at the end.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use crate::error::ArchiveError;

const BLOCK: u64 = 512;

/// One file of the tar stream.
#[derive(Clone, Debug)]
pub(crate) struct TarEntry {
    pub(crate) name: String,
    /// Offset of the data in the decompressed stream.
    pub(crate) offset: u64,
    pub(crate) size: u64,
    pub(crate) is_dir: bool,
}

/// The decompressed stream of a tar.zst file, counting its position.
pub(crate) struct TarCursor {
    inner: BufReader<zstd::Decoder<'static, BufReader<File>>>,
    pos: u64,
    limit: u64,
}

impl TarCursor {
    pub(crate) fn open(path: &Path, limit: u64) -> Result<TarCursor, ArchiveError> {
        let f = File::open(path)
            .map_err(|e| ArchiveError::io(format!("cannot open {}", path.display()), e))?;
        let dec = zstd::Decoder::new(f)
            .map_err(|e| ArchiveError::Corrupt(format!("zstd stream: {e}")))?;
        Ok(TarCursor {
            inner: BufReader::with_capacity(256 * 1024, dec),
            pos: 0,
            limit,
        })
    }

    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    fn check_limit(&self) -> io::Result<()> {
        if self.pos > self.limit {
            return Err(ArchiveError::TooLarge { limit: self.limit }.into_io());
        }
        Ok(())
    }

    /// Skips `n` bytes.
    pub(crate) fn skip(&mut self, n: u64) -> io::Result<()> {
        let copied = io::copy(&mut self.by_ref().take(n), &mut io::sink())?;
        if copied < n {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    fn block(&mut self) -> io::Result<Option<[u8; 512]>> {
        let mut b = [0u8; 512];
        let mut got = 0;
        while got < b.len() {
            let n = self.read(&mut b[got..])?;
            if n == 0 {
                if got == 0 {
                    return Ok(None);
                }
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            got += n;
        }
        Ok(Some(b))
    }

    fn read_exact_vec(&mut self, n: u64, max: u64) -> Result<Vec<u8>, ArchiveError> {
        if n > max {
            return Err(ArchiveError::Corrupt(format!(
                "tar entry of {n} bytes is too large"
            )));
        }
        let mut v = Vec::new();
        self.by_ref()
            .take(n)
            .read_to_end(&mut v)
            .map_err(|e| ArchiveError::reading("tar stream", e))?;
        if (v.len() as u64) < n {
            return Err(ArchiveError::Truncated(
                "tar stream ends inside a file".into(),
            ));
        }
        Ok(v)
    }
}

impl Read for TarCursor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        self.check_limit()?;
        Ok(n)
    }
}

impl BufRead for TarCursor {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
        self.pos += amt as u64;
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // GNU base-256
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn cstr(field: &[u8]) -> &[u8] {
    let n = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..n]
}

fn utf8(b: &[u8]) -> Result<String, ArchiveError> {
    String::from_utf8(b.to_vec())
        .map_err(|_| ArchiveError::Corrupt("tar entry name is not utf-8".into()))
}

/// The `path` record of a PAX extended header, if any.
fn pax_path(data: &[u8]) -> Result<Option<String>, ArchiveError> {
    let bad = || ArchiveError::Corrupt("malformed pax header in tar stream".into());
    let mut rest = data;
    let mut path = None;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        if len <= sp + 1 || len > rest.len() {
            return Err(bad());
        }
        let record = &rest[sp + 1..len - 1];
        if let Some(p) = record.strip_prefix(b"path=") {
            path = Some(utf8(p)?);
        }
        rest = &rest[len..];
    }
    Ok(path)
}

/// Reads the next entry header (following GNU long-name and PAX headers);
/// `None` at the end-of-archive marker.
pub(crate) fn next_entry(c: &mut TarCursor) -> Result<Option<TarEntry>, ArchiveError> {
    let mut long_name: Option<String> = None;
    loop {
        let Some(h) = c
            .block()
            .map_err(|e| ArchiveError::reading("tar stream", e))?
        else {
            return Err(ArchiveError::Truncated(
                "tar stream ends without its end marker".into(),
            ));
        };
        if h.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        let stored = octal(&h[148..156])
            .ok_or_else(|| ArchiveError::Corrupt("bad tar header checksum field".into()))?;
        let sum: u64 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if sum != stored {
            return Err(ArchiveError::Corrupt("tar header checksum mismatch".into()));
        }
        let size = octal(&h[124..136])
            .ok_or_else(|| ArchiveError::Corrupt("bad tar entry size".into()))?;
        let typeflag = h[156];
        match typeflag {
            b'L' => {
                let data = c.read_exact_vec(size, 64 * 1024)?;
                long_name = Some(utf8(cstr(&data))?);
                c.skip(padding(size))
                    .map_err(|e| ArchiveError::reading("tar stream", e))?;
            }
            b'x' | b'g' => {
                let data = c.read_exact_vec(size, 1 << 20)?;
                if typeflag == b'x'
                    && let Some(p) = pax_path(&data)?
                {
                    long_name = Some(p);
                }
                c.skip(padding(size))
                    .map_err(|e| ArchiveError::reading("tar stream", e))?;
            }
            b'0' | 0 | b'5' => {
                let name = match long_name.take() {
                    Some(n) => n,
                    None => {
                        let name = cstr(&h[0..100]);
                        let prefix = if &h[257..263] == b"ustar\0" {
                            cstr(&h[345..500])
                        } else {
                            &[]
                        };
                        if prefix.is_empty() {
                            utf8(name)?
                        } else {
                            format!("{}/{}", utf8(prefix)?, utf8(name)?)
                        }
                    }
                };
                return Ok(Some(TarEntry {
                    name,
                    offset: c.pos(),
                    size,
                    is_dir: typeflag == b'5',
                }));
            }
            other => {
                return Err(ArchiveError::Corrupt(format!(
                    "unsupported tar entry type {:?} (links and devices are not allowed)",
                    char::from(other)
                )));
            }
        }
    }
}

/// Walks the whole stream: every entry, `metadata.json`'s bytes (read
/// whole, up to `max_metadata` bytes), and a check that the zstd stream
/// ends cleanly after the end marker.
pub(crate) fn scan(
    path: &Path,
    limit: u64,
    max_metadata: u64,
) -> Result<(Vec<TarEntry>, Option<Vec<u8>>), ArchiveError> {
    let mut c = TarCursor::open(path, limit)?;
    let mut entries = Vec::new();
    let mut metadata = None;
    while let Some(e) = next_entry(&mut c)? {
        if e.name == crate::metadata::METADATA_FILE && metadata.is_none() {
            metadata = Some(
                c.read_exact_vec(e.size, max_metadata)
                    .map_err(|err| match err {
                        ArchiveError::Corrupt(_) => ArchiveError::InvalidMetadata(format!(
                            "larger than {max_metadata} bytes"
                        )),
                        other => other,
                    })?,
            );
        } else {
            c.skip(e.size)
                .map_err(|err| ArchiveError::reading("tar stream", err))?;
        }
        c.skip(padding(e.size))
            .map_err(|err| ArchiveError::reading("tar stream", err))?;
        entries.push(e);
    }
    // the rest must decompress cleanly (it is zero padding)
    io::copy(&mut c, &mut io::sink()).map_err(|e| ArchiveError::reading("tar stream", e))?;
    Ok((entries, metadata))
}
