//! tresor-core: the model every other tresor crate shares.
//!
//! - [`Value`] and [`Row`]: any value of any supported engine, without loss.
//! - [`DatabaseSchema`] / [`TableSchema`]: what a snapshot records about
//!   tables, keys, indexes and the rest of a database.
//! - [`codec`]: the binary row encoding inside table-data chunks.
//! - [`Source`] / [`Target`]: the traits each engine implements; rows flow
//!   through bounded channels in [`RowBatch`]es, or, into a backup, as
//!   [`EncodedBatch`]es already in the row codec.
//! - [`TableFilter`], [`load_order`], [`diff_keyed`]: choosing tables,
//!   ordering a restore, and comparing row streams.
//!
//! This crate has no database drivers and does no I/O of its own.
//!
//! ```
//! use tresor_core::{codec, Value};
//! let row = vec![Value::Int(1), Value::Text("ada".into()), Value::Null];
//! let mut buf = Vec::new();
//! codec::encode_row(&row, &mut buf);
//! assert_eq!(codec::decode_row(&buf).unwrap(), row);
//! ```
#![forbid(unsafe_code)]

mod approximate;
mod changes;
mod checks;
pub mod codec;
mod connector;
pub mod convert;
mod defaults;
mod diff;
mod document;
mod existing;
mod filter;
pub mod json;
mod narrow;
mod plan;
mod predicate;
mod probe;
mod schema;
mod source;
mod value;

pub use approximate::{
    Approximation, TEXT_FORM, TypeChange, approximations, is_spatial, other_type_note,
};
pub use changes::{ValueChange, ValueChanges, hex_text, is_negative_zero};
pub use checks::{
    check_for, check_implied_by_type, checks_in_create_table, column_made, generated_for,
    generated_in_create_table, json_valid_column, made_columns,
};
pub use connector::{
    Connector, database_identity, percent_decode, redact_url, scratch_beside, server_identity,
};
pub use defaults::{PortableDefault, auto_numbered, portable_default};
pub use diff::{DiffCounts, RowChange, diff_keyed, diff_keyed_rows, diff_unkeyed};
pub use document::{document_key, document_text, id_value};
pub use existing::{AppForm, MONTHS_AS_30_DAYS};
pub use filter::{FilterError, TableFilter, no_such_tables};
pub use narrow::{Keeps, ROUNDED_DECIMAL, ROUNDED_FRACTION};
pub use plan::{key_to_a_missing_table, load_order, tables_too, unique_collision};
pub use predicate::{BoundPredicate, Predicate, PredicateError, RowFilter};
pub use probe::Probe;
pub use schema::{
    Column, Constraint, DatabaseSchema, Engine, ForeignKey, Generated, Index, PortableType, RowKey,
    SchemaObject, TableName, TableSchema,
};
pub use source::{
    BATCH_BYTES, BATCH_ROWS, DEFAULT_BACKUP_LOCK_WAIT, DEFAULT_LOCK_WAIT, ENCODED_BATCH_BYTES,
    EncodedBatch, EncodedSender, ErrorKind, ExistingTable, OtherSession, ReadOptions, RestoreMode,
    RestorePlan, RestoreSummary, RowBatch, RowReceiver, RowSender, Source, SourceError, SourceInfo,
    SourceSnapshot, Target, TargetHold, TargetSession, TargetState, UnknownRestoreMode,
    tables_hold_rows,
};
pub use value::{
    Array, ArrayDim, Date, Interval, Row, Time, Timestamp, Value, compare_keys, compare_values,
    rows_same,
};
