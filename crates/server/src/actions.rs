//! What the API and the web pages both do: start jobs, make restore
//! previews, add users, mint tokens, pause schedules, read live counts.
//! Each action checks its input and permissions the same way for both
//! front doors; the API turns the result into JSON, the pages into HTML.

pub(crate) mod admin;
pub(crate) mod archives;
pub(crate) mod jobs;
pub(crate) mod offsite;
pub(crate) mod restore;
pub(crate) mod rows;
pub(crate) mod snapshots;
pub(crate) mod sources;
pub(crate) mod sso;
pub(crate) mod totp;
