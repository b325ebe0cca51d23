//! Integration tests of `tresor serve`: a real server on an ephemeral port
//! over a SQLite source, a local repository, a real SMTP catcher
//! (aiosmtpd) and a webhook receiver.

mod integration {
    mod api;
    mod authz;
    mod browser;
    pub mod harness;
    mod notifications;
    mod rows;
    mod scheduler;
    mod security;
    mod seeds;
    mod shapes;
    mod state;
}
