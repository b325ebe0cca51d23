//! Which strings name a SQLite database, and the file they name.
//!
//! Accepted forms: `sqlite:///abs/path.db`, `sqlite://relative.db`,
//! `sqlite:relative.db` (percent-escapes such as `%20` are decoded in
//! URLs), and plain paths ending in `.db`, `.sqlite`, `.sqlite3` or `.db3`,
//! or naming an existing file that starts with the SQLite header.

use std::io::Read;
use std::path::{Path, PathBuf};

use tresor_core::{ErrorKind, SourceError, percent_decode, redact_url};

/// The 16 bytes every SQLite database file starts with.
const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// File extensions taken as SQLite databases without looking inside.
const EXTENSIONS: [&str; 4] = ["db", "sqlite", "sqlite3", "db3"];

/// Whether `url` names a SQLite database.
pub(crate) fn accepts(url: &str) -> bool {
    if let Some(scheme) = scheme(url) {
        return scheme.eq_ignore_ascii_case("sqlite");
    }
    let path = Path::new(url);
    let by_extension = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)));
    by_extension || has_sqlite_header(path)
}

/// The file `url` names.
///
/// # Errors
/// [`ErrorKind::InvalidUrl`] when `url` is not a SQLite URL or path, or
/// names no file.
pub(crate) fn database_path(url: &str) -> Result<PathBuf, SourceError> {
    let invalid = |why: &str| {
        SourceError::new(
            ErrorKind::InvalidUrl,
            format!("invalid sqlite url {}: {why}", redact_url(url)),
        )
        .with_hint("try: sqlite:///absolute/path.db, sqlite:relative.db or a plain path")
    };
    let path = match scheme(url) {
        Some(s) if s.eq_ignore_ascii_case("sqlite") => {
            let rest = &url[s.len() + 1..];
            let rest = match rest.strip_prefix("//") {
                // sqlite:///abs -> /abs ; sqlite://rel -> rel
                Some(r) => r,
                None => rest,
            };
            if rest.contains('?') || rest.contains('#') {
                return Err(invalid("query strings and fragments are not supported"));
            }
            percent_decode(rest).ok_or_else(|| invalid("bad percent-escape"))?
        }
        Some(_) => return Err(invalid("not a sqlite url")),
        None => url.to_string(),
    };
    if path.is_empty() {
        return Err(invalid("no file name"));
    }
    Ok(PathBuf::from(path))
}

/// The URL scheme, if `url` has one (`scheme:`, at least two letters so
/// that Windows drive letters are not mistaken for schemes).
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (scheme.len() >= 2
        && first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

fn has_sqlite_header(path: &Path) -> bool {
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut buf = [0u8; 16];
    file.read_exact(&mut buf).is_ok() && &buf == HEADER
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        assert_eq!(
            database_path("sqlite:///var/lib/app.db").unwrap(),
            PathBuf::from("/var/lib/app.db")
        );
        assert_eq!(
            database_path("sqlite://rel/app.db").unwrap(),
            PathBuf::from("rel/app.db")
        );
        assert_eq!(
            database_path("sqlite:app.db").unwrap(),
            PathBuf::from("app.db")
        );
        assert_eq!(
            database_path("SQLITE:///a%20b.db").unwrap(),
            PathBuf::from("/a b.db")
        );
        assert_eq!(
            database_path("/plain/x.sqlite").unwrap(),
            PathBuf::from("/plain/x.sqlite")
        );
        assert_eq!(
            database_path("postgres://x/y").unwrap_err().kind(),
            ErrorKind::InvalidUrl
        );
        assert!(database_path("sqlite:").is_err());
        assert!(database_path("sqlite:///a.db?mode=ro").is_err());
        assert!(database_path("sqlite:///a%zz.db").is_err());
    }

    #[test]
    fn accepted_names() {
        assert!(accepts("sqlite:///x"));
        assert!(accepts("app.db"));
        assert!(accepts("dir/app.SQLITE3"));
        assert!(accepts("x.db3"));
        assert!(!accepts("postgres://h/db"));
        assert!(!accepts("mysql://h/app.db"));
        assert!(!accepts("notes.txt"));
    }

    #[test]
    fn header_sniffing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t(a)")
            .unwrap();
        assert!(accepts(path.to_str().unwrap()));
        let other = dir.path().join("other.bin");
        std::fs::write(&other, b"hello").unwrap();
        assert!(!accepts(other.to_str().unwrap()));
    }
}
