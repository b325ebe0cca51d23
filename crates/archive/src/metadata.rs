//! `metadata.json`: what an archive holds, and the rules for its file
//! names.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use tresor_core::{DatabaseSchema, TableName, TableSchema};

use crate::error::ArchiveError;

/// The `format` field of every archive's metadata.
pub const FORMAT_NAME: &str = "tresor-archive";

/// The archive format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// The metadata file's name inside the archive.
pub const METADATA_FILE: &str = "metadata.json";

/// The directory inside the archive that holds the table files.
pub const TABLES_DIR: &str = "tables/";

/// Everything `metadata.json` records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchiveMetadata {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// The archive format version, [`FORMAT_VERSION`].
    pub version: u32,
    /// The tresor version that wrote the archive.
    pub tresor_version: String,
    /// When the archive was written (RFC 3339, UTC).
    pub created_at: String,
    /// The snapshot the archive was exported from, as the caller described
    /// it (id, time, redacted source URL, engine, server version, tags,
    /// reason, ...).
    pub snapshot: serde_json::Value,
    /// The database schema of the snapshot.
    pub schema: DatabaseSchema,
    /// One entry per table, in file order.
    pub tables: Vec<TableEntry>,
}

/// One table file of an archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    /// The table, as named in the schema.
    pub name: TableName,
    /// The file inside the archive, `tables/<name>.jsonl`.
    pub file: String,
    /// How each line holds a row.
    pub encoding: RowEncoding,
    /// Number of rows (lines).
    pub rows: u64,
    /// [`tresor_core::codec::TableDigest`] of the rows, 64 hex characters.
    pub digest: String,
}

/// How the lines of a table file hold rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowEncoding {
    /// A JSON object: stored column name -> typed value
    /// ([`tresor_core::json::row_to_json`]).
    Row,
    /// The MongoDB document itself as canonical Extended JSON
    /// ([`tresor_core::json::document_to_json`]), for collections: each
    /// line is what `mongoexport` writes and `mongoimport` reads. The
    /// `_id` key column, when the collection stores one, is derived back
    /// from the document ([`tresor_core::document_key`]).
    ExtJson,
}

/// The column of a collection that holds the whole document.
const DOCUMENT: &str = "document";
/// The key column derived from a document's `_id`.
const ID: &str = "_id";

impl RowEncoding {
    /// The encoding the writer uses for `table`: Extended JSON for a
    /// collection that stores its documents (one document column, and
    /// perhaps the `_id` key derived from it), rows otherwise.
    pub fn for_table(table: &TableSchema) -> RowEncoding {
        if table.kind == "collection" && document_layout(table).is_some() {
            RowEncoding::ExtJson
        } else {
            RowEncoding::Row
        }
    }
}

/// Where a collection's row keeps its document, and its `_id` key if it
/// has one: `None` unless the stored columns are one document column, or
/// `_id` and `document`.
pub(crate) fn document_layout(table: &TableSchema) -> Option<(usize, Option<usize>)> {
    let stored: Vec<&str> = table.stored_columns().map(|c| c.name.as_str()).collect();
    match stored.as_slice() {
        [_] => Some((0, None)),
        [a, b] if *a == ID && *b == DOCUMENT => Some((1, Some(0))),
        [a, b] if *a == DOCUMENT && *b == ID => Some((0, Some(1))),
        _ => None,
    }
}

/// Hands out safe, unique, readable file names for tables.
#[derive(Default)]
pub(crate) struct FileNamer {
    used: HashSet<String>,
}

/// Longest file stem, in bytes, before de-duplication suffixes.
const MAX_STEM: usize = 150;

impl FileNamer {
    /// `tables/<schema>.<name>.jsonl`, escaped and made unique (ignoring
    /// case, for case-insensitive file systems).
    pub(crate) fn file_for(&mut self, name: &TableName) -> String {
        let mut stem = match &name.schema {
            Some(s) => format!("{}.{}", escape(s), escape(&name.name)),
            None => escape(&name.name),
        };
        if stem.len() > MAX_STEM {
            let mut cut = MAX_STEM;
            while !stem.is_char_boundary(cut) {
                cut -= 1;
            }
            stem.truncate(cut);
        }
        let mut candidate = stem.clone();
        let mut n = 2u64;
        while self.used.contains(&candidate.to_lowercase()) {
            candidate = format!("{stem}~{n}");
            n += 1;
        }
        self.used.insert(candidate.to_lowercase());
        format!("{TABLES_DIR}{candidate}.jsonl")
    }
}

const WINDOWS_RESERVED: &[&str] = &[
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Escapes one name part: letters, digits and harmless punctuation stay,
/// everything else (`/`, `\`, `:`, control characters, `%` itself, a
/// leading dot or space, a dot after a dot) becomes `%XX` per UTF-8 byte.
fn escape(s: &str) -> String {
    if s.is_empty() {
        return "_".into();
    }
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    let last = s.chars().count() - 1;
    for (i, c) in s.chars().enumerate() {
        let keep = match c {
            '.' => i > 0 && prev != Some('.') && i < last,
            ' ' => i > 0 && i < last,
            '-' | '_' | '+' | '=' | '@' | ',' | '(' | ')' | '[' | ']' | '{' | '}' | '#' | '&'
            | '!' | '~' | '^' | '$' => true,
            c => c.is_alphanumeric(),
        };
        if keep {
            out.push(c);
        } else {
            let mut b = [0u8; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
        prev = Some(c);
    }
    let base = out.split('.').next().unwrap_or_default().to_lowercase();
    if WINDOWS_RESERVED.contains(&base.as_str()) {
        out.insert(0, '_');
    }
    out
}

/// Whether `file` is a name the writer could have produced: `tables/`,
/// one path component without separators, control characters or a leading
/// dot, ending in `.jsonl`.
pub(crate) fn is_safe_table_file(file: &str) -> bool {
    let Some(base) = file.strip_prefix(TABLES_DIR) else {
        return false;
    };
    base.len() > ".jsonl".len()
        && base.ends_with(".jsonl")
        && !base.starts_with('.')
        && !base.contains("..")
        && !base
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// Whether an entry name inside a container could escape the directory it
/// is extracted to.
pub(crate) fn is_unsafe_entry(name: &str) -> bool {
    name.starts_with('/')
        || name.starts_with('\\')
        || name.contains('\\')
        || name.contains('\0')
        || name.split('/').any(|part| part == "..")
        || name.get(1..2) == Some(":")
}

/// Parses and checks `metadata.json`.
pub(crate) fn parse_metadata(bytes: &[u8]) -> Result<ArchiveMetadata, ArchiveError> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ArchiveError::InvalidMetadata(format!("not json: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ArchiveError::InvalidMetadata("not a json object".into()))?;
    if obj.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
        return Err(ArchiveError::NotAnArchive(format!(
            "{METADATA_FILE} does not say \"format\": \"{FORMAT_NAME}\""
        )));
    }
    let version = obj
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| ArchiveError::InvalidMetadata("no numeric \"version\"".into()))?;
    if version > u64::from(FORMAT_VERSION) {
        return Err(ArchiveError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(ArchiveError::InvalidMetadata(
            "version 0 does not exist".into(),
        ));
    }
    let meta: ArchiveMetadata =
        serde_json::from_value(v).map_err(|e| ArchiveError::InvalidMetadata(e.to_string()))?;
    check_metadata(&meta)?;
    Ok(meta)
}

fn check_metadata(meta: &ArchiveMetadata) -> Result<(), ArchiveError> {
    let bad = |m: String| Err(ArchiveError::InvalidMetadata(m));
    let mut files = HashSet::new();
    let mut names = HashSet::new();
    for t in &meta.tables {
        if !is_safe_table_file(&t.file) {
            return Err(ArchiveError::UnsafeName(t.file.clone()));
        }
        if !files.insert(t.file.to_lowercase()) {
            return bad(format!("file {} is listed twice", t.file));
        }
        if !names.insert(&t.name) {
            return bad(format!("table {} is listed twice", t.name));
        }
        let Some(schema) = meta.schema.table(&t.name) else {
            return bad(format!("table {} is not in the schema", t.name));
        };
        if t.encoding == RowEncoding::ExtJson && document_layout(schema).is_none() {
            return bad(format!(
                "table {} is stored as extended json but is not a collection of documents",
                t.name
            ));
        }
        if t.digest.len() != 64 || !t.digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad(format!("table {} has an invalid digest", t.name));
        }
    }
    for t in &meta.schema.tables {
        if !names.contains(&t.name) {
            return bad(format!("table {} of the schema has no file", t.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_unique_and_readable() {
        let mut n = FileNamer::default();
        let cases = [
            (
                TableName::qualified("public", "users"),
                "tables/public.users.jsonl",
            ),
            (TableName::new("users"), "tables/users.jsonl"),
            (TableName::new("Users"), "tables/Users~2.jsonl"),
            (
                TableName::new("../etc/passwd"),
                "tables/%2E%2E%2Fetc%2Fpasswd.jsonl",
            ),
            (TableName::new("a\\b"), "tables/a%5Cb.jsonl"),
            (TableName::new(".hidden"), "tables/%2Ehidden.jsonl"),
            (TableName::new("a..b"), "tables/a.%2Eb.jsonl"),
            (TableName::new("tab\there\n"), "tables/tab%09here%0A.jsonl"),
            (TableName::new("100%"), "tables/100%25.jsonl"),
            (TableName::new("con"), "tables/_con.jsonl"),
            (TableName::new(""), "tables/_.jsonl"),
            (TableName::new("café"), "tables/café.jsonl"),
            (
                TableName::new("public.users"),
                "tables/public.users~2.jsonl",
            ),
        ];
        for (name, want) in cases {
            let got = n.file_for(&name);
            assert_eq!(got, want, "{name:?}");
            assert!(is_safe_table_file(&got), "{got}");
        }
        let long = n.file_for(&TableName::new("x".repeat(1000)));
        assert!(long.len() < 200 && is_safe_table_file(&long));
    }

    #[test]
    fn unsafe_entries() {
        for name in [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "c:\\x",
            "a\\b",
            "tables/../x",
        ] {
            assert!(is_unsafe_entry(name), "{name}");
        }
        for name in ["metadata.json", "tables/a..b.jsonl", "tables/"] {
            assert!(!is_unsafe_entry(name), "{name}");
        }
        assert!(!is_safe_table_file("tables/a/b.jsonl"));
        assert!(!is_safe_table_file("tables/.jsonl"));
        assert!(!is_safe_table_file("other/a.jsonl"));
    }
}
