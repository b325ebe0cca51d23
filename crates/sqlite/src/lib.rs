//! tresor-sqlite: backing up and restoring SQLite databases.
//!
//! - [`SqliteConnector`] turns `sqlite:///path/app.db` URLs and plain
//!   `.db`/`.sqlite`/`.sqlite3`/`.db3` paths into sources and targets.
//! - [`SqliteSource`] reads the whole database in one read transaction
//!   (a consistent view while other connections keep writing), every
//!   value exactly as stored: SQLite's dynamic typing means each column's
//!   portable type is [`PortableType::Dynamic`] and each value keeps its own
//!   storage class (an integer in a TEXT column stays an integer; TEXT that
//!   is not valid UTF-8 stays TEXT with the same bytes). Rowid tables carry
//!   their rowid (a hidden `rowid` column unless an `INTEGER PRIMARY KEY`
//!   aliases it) so rows restore with the same rowids.
//! - [`SqliteTarget`] restores atomically: a new file is built next to the
//!   final path and renamed into place; an existing database is changed in
//!   one transaction. Same-engine restores into a new file recreate the
//!   schema from the original `CREATE` statements in their original order,
//!   so `sqlite3 .dump` of the original and of the restored file match.
//!
//! SQLite cannot store NaN (it writes NULL instead), so no NaN ever comes
//! out of a SQLite source.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tresor_core::SourceError> {
//! use tresor_core::{Connector, ReadOptions};
//! use tresor_sqlite::SqliteConnector;
//!
//! let source = SqliteConnector.source("sqlite:///var/lib/app.db")?;
//! let snapshot = source.open(&ReadOptions::default()).await?;
//! for table in &snapshot.schema().tables {
//!     let (tx, mut rx) = tokio::sync::mpsc::channel(4);
//!     let (count, ()) = tokio::join!(snapshot.read_table(table, tx), async {
//!         while let Some(batch) = rx.recv().await {
//!             let _ = batch; // encode, chunk, store...
//!         }
//!     });
//!     println!("{}: {} rows", table.name, count?);
//! }
//! snapshot.close().await
//! # }
//! ```
//!
//! [`PortableType::Dynamic`]: tresor_core::PortableType::Dynamic
#![forbid(unsafe_code)]

mod catalog;
mod connector;
mod error;
mod source;
mod sql;
mod target;
mod url;
mod value;

pub use connector::SqliteConnector;
pub use source::SqliteSource;
pub use target::SqliteTarget;
