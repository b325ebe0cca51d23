//! tresor-archive: portable export archives of a snapshot.
//!
//! An archive is a ZIP (default) or tar.zst file holding one JSON Lines
//! file per table (`tables/<schema>.<table>.jsonl`, one row per line in
//! the typed JSON of [`tresor_core::json`]; MongoDB collections hold
//! canonical Extended JSON documents) and, last, `metadata.json`: format
//! version, tresor version, the snapshot's description, the database
//! schema, and for every table its file, row count and content digest.
//! The format is written down in `docs/archive.md`.
//!
//! - [`ArchiveWriter`] streams an archive into any `Write` (no `Seek`),
//!   row by row, and writes the metadata in [`ArchiveWriter::finish`].
//! - [`ArchiveReader`] opens a file, checks its structure and metadata,
//!   then streams each table back with [`ArchiveReader::read_table`],
//!   recomputing row counts and digests; [`ArchiveReader::validate`]
//!   reads everything and reports every problem.
//!
//! Memory stays bounded by the largest row in both directions.
//!
//! ```
//! use tresor_archive::{ArchiveFormat, ArchiveReader, ArchiveWriter};
//! use tresor_core::{Column, DatabaseSchema, Engine, PortableType, RowKey, TableName, TableSchema, Value};
//!
//! let table = TableSchema {
//!     name: TableName::new("t"),
//!     kind: "table".into(),
//!     columns: vec![Column::new("id", "integer", PortableType::Int { bits: 64, unsigned: false })],
//!     primary_key: vec!["id".into()],
//!     row_key: RowKey::Columns { columns: vec!["id".into()] },
//!     constraints: vec![], indexes: vec![], foreign_keys: vec![],
//!     ddl: None, auto_increment: None, comment: None, extra: Default::default(),
//! };
//! let schema = DatabaseSchema { engine: Engine::SQLITE, tables: vec![table], objects: vec![], settings: Default::default() };
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("export.zip");
//! let mut w = ArchiveWriter::new(std::fs::File::create(&path)?, ArchiveFormat::Zip, serde_json::json!({"id": "abc"}), &schema)?;
//! w.write_table(&TableName::new("t"), (0..3).map(|i| vec![Value::Int(i)]))?;
//! w.finish()?;
//!
//! let mut r = ArchiveReader::open(&path)?;
//! let rows: Result<Vec<_>, _> = r.read_table(&TableName::new("t"))?.collect();
//! assert_eq!(rows?.len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod error;
mod metadata;
mod reader;
mod writer;

pub use error::ArchiveError;
pub use metadata::{
    ArchiveMetadata, FORMAT_NAME, FORMAT_VERSION, METADATA_FILE, RowEncoding, TableEntry,
};
pub use reader::{ArchiveReader, ReadLimits, TableCheck, TableRows, ValidationReport};
pub use writer::{ArchiveFormat, ArchiveWriter, TableSummary, WriterOptions};
