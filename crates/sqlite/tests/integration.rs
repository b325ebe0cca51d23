//! Integration tests of tresor-sqlite: the shared conformance suite, value
//! and schema fidelity (`sqlite3 .dump` of original and restored files
//! match), consistency under concurrent writers, and restores into
//! existing databases.
#![allow(clippy::unwrap_used)]

mod integration {
    pub mod harness;

    mod concurrency;
    mod conformance;
    mod fidelity;
    mod restore;
}
