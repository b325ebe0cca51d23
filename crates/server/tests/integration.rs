//! Integration tests of `tresor serve`: a real server on an ephemeral port
//! over a SQLite source (MongoDB on SecantusDB for the seed systems that
//! ran on it), a local repository, a real SMTP catcher (aiosmtpd) and a
//! webhook receiver, and a real OpenID Connect provider (oidc-provider).

mod integration {
    mod api;
    mod authz;
    mod browser;
    pub mod harness;
    mod notifications;
    mod offclock;
    mod offsite;
    mod rows;
    mod scheduler;
    mod security;
    mod seeds;
    mod shapes;
    mod sso;
    mod state;
    mod totp;
}
