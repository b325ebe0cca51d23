//! Integration tests of the operations against real SQLite databases and
//! in-memory repositories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod integration {
    pub mod copy;
    pub mod diff;
    pub mod drill;
    pub mod guard;
    pub mod incremental;
    pub mod object_lock;
    pub mod only_missing;
    pub mod rehearsal;
    pub mod select;
}
