//! Integration tests against the MariaDB server on this machine
//! (127.0.0.1:3306, user root). Each test makes its own database.

mod integration {
    pub mod abort;
    pub mod batches;
    pub mod conformance;
    pub mod consistency;
    pub mod support;
    pub mod types;
}
