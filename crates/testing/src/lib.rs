//! The shared conformance suite: scenarios every engine's [`Source`] and
//! [`Target`] must pass, run against real servers.
//!
//! An engine implements [`Harness`] (make and drop throwaway databases, run
//! statements in its own language, and spell out each fixture [`Step`]),
//! then calls the suite's scenario functions from its integration tests.
//!
//! Every scenario takes `&dyn Harness`, makes its own databases, and drops
//! them at the end (also when it fails). The [`conformance!`] macro runs
//! every scenario on an engine, minus the skips named with their reasons
//! in [`SKIPS`]: the one list of scenarios and the one list of skips. Data goes straight from a [`Source`] to
//! a [`Target`] through channels ([`copy_database`]); [`compare_databases`]
//! compares two databases table by table and row by row with
//! [`rows_same`], with a readable diff on failure.
//!
//! ```ignore
//! tresor_testing::conformance!(conformance, "myengine", MyEngineHarness::new().await);
//! ```
//!
//! Besides: [`servers`] starts real storage servers on loopback, and
//! [`proxy`] puts a fault-injecting proxy (dropped connections, 5xx/429
//! answers, delays, stalls; seeded) between tresor and one of them.
//!
//! [`Source`]: tresor_core::Source
//! [`Target`]: tresor_core::Target
//! [`rows_same`]: tresor_core::rows_same
#![forbid(unsafe_code)]

mod compare;
mod conformance;
pub mod mongo;
pub mod proxy;
pub mod servers;
pub mod shapes;
mod suite;

use std::sync::Arc;

pub use compare::{
    Contents, compare_databases, copy_database, format_row, read_database, read_rows,
    restore_snapshot,
};
pub use conformance::{SKIPS, Skip, skipped};
pub use suite::{
    a_held_table_stops_the_restore_in_time, a_hold_keeps_writes_out_until_the_commit,
    consistent_snapshot_under_writes, drop_extra_tables_leaves_what_the_backup_held,
    failure_mid_restore_leaves_target_unchanged, filters_select_tables, key_order_and_batches,
    merge_into_existing, merge_without_key_adds_missing_rows,
    only_missing_refuses_tables_holding_rows, replace_into_existing,
    rollback_leaves_target_unchanged, round_trip, schema_mismatch_reported_before_writes,
};

use async_trait::async_trait;
use tresor_core::Connector;

/// A fixture change the suite asks an engine to make, in the engine's own
/// language. Every engine builds the same little shop:
///
/// - `customers(id integer primary key, name text not null, email text
///   unique, balance decimal(12,2), note text null, photo blob null)`
/// - `orders(id integer primary key, customer_id integer references
///   customers(id), total decimal(12,2), placed_at timestamp)`
/// - `events(kind text, payload text)` without a primary key
/// - `accounts(id integer primary key, balance integer not null)` holding a
///   balanced pair (ids 1 and 2; their sum is always 1000)
///
/// Harnesses match it exhaustively: a new step does not compile until every
/// engine can make it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Create the four tables above (empty) and their indexes.
    CreateShop,
    /// Insert customers `1..=n` with deterministic values (name
    /// `customer {i}`, email `c{i}@example.com`, balance `{i}.50`, note NULL
    /// for even ids, photo of `i % 7` bytes), and for each customer two
    /// orders with ids `2i-1` and `2i`, and `n` events.
    FillShop {
        /// Number of customers.
        customers: u32,
    },
    /// Set the name of customer `id`.
    RenameCustomer {
        /// Customer id.
        id: u32,
        /// New name.
        name: String,
    },
    /// Delete customer `id` and its orders.
    DeleteCustomer {
        /// Customer id.
        id: u32,
    },
    /// Insert the balanced pair (1 -> 500, 2 -> 500).
    FillAccounts,
    /// Move `amount` from account 1 to account 2 in one transaction.
    Transfer {
        /// Amount moved (may be negative).
        amount: i64,
    },
}

/// What an engine provides to run the suite.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The engine's connector.
    fn connector(&self) -> Arc<dyn Connector>;

    /// Creates a fresh, empty, uniquely named database and returns its URL.
    async fn create_database(&self) -> anyhow::Result<String>;

    /// Drops a database made by [`Harness::create_database`].
    async fn drop_database(&self, url: &str) -> anyhow::Result<()>;

    /// Runs `step` against the database at `url`.
    async fn run(&self, url: &str, step: &Step) -> anyhow::Result<()>;

    /// Opens a session on `url` that, as an application does, writes a row
    /// of `customers` in a transaction it keeps open until the returned
    /// value is dropped (which rolls it back). `None` for an engine whose
    /// writers never wait for another session's (listed in
    /// [`SKIPS`](crate::SKIPS) for the scenario that needs it).
    async fn hold_customers(&self, url: &str) -> anyhow::Result<Option<Held>>;
}

/// What [`Harness::hold_customers`] keeps open.
pub type Held = Box<dyn std::any::Any + Send>;
