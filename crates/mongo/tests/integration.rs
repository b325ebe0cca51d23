//! Integration tests. Every test starts its own SecantusDB (a server that
//! speaks the MongoDB wire protocol; `pip install --pre SecantusDB`) on a
//! free port and fails when it cannot. When `TRESOR_TEST_MONGODB_URL`
//! names a real `mongod` (a replica set member for transactions and
//! snapshot reads), the `mongod_*` tests run the same checks against it;
//! otherwise they say on stderr that they were skipped.

#![allow(clippy::unwrap_used)]

mod integration {
    mod atomicity;
    mod common;
    mod conformance;
    mod fidelity;
    mod harness;
    mod server;
}
