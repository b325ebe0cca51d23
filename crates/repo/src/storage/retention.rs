//! S3 Object Lock: how long, and how strictly, written objects are kept.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest retention accepted: 100 years, as S3 itself allows.
pub const MAX_OBJECT_LOCK_DAYS: u32 = 36_500;

/// How the server enforces an object's retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectLockMode {
    /// Nobody can delete the object or shorten its retention, not even
    /// the account's root user: the protection against a stolen admin
    /// credential. The default.
    #[default]
    Compliance,
    /// Users with `s3:BypassGovernanceRetention` can delete early; tresor
    /// never asks to.
    Governance,
}

impl ObjectLockMode {
    /// The value of the `x-amz-object-lock-mode` header.
    pub fn header(self) -> &'static str {
        match self {
            ObjectLockMode::Compliance => "COMPLIANCE",
            ObjectLockMode::Governance => "GOVERNANCE",
        }
    }
}

impl std::fmt::Display for ObjectLockMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ObjectLockMode::Compliance => "compliance",
            ObjectLockMode::Governance => "governance",
        })
    }
}

impl std::str::FromStr for ObjectLockMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "compliance" => Ok(ObjectLockMode::Compliance),
            "governance" => Ok(ObjectLockMode::Governance),
            other => Err(format!(
                "unknown object lock mode {other:?} (try: compliance or governance)"
            )),
        }
    }
}

/// The retention every object of a repository gets when written: kept
/// until the write time plus `days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    /// Days each object is kept from when it is written (1..=36500).
    pub days: u32,
    /// How strictly.
    #[serde(default)]
    pub mode: ObjectLockMode,
}

impl ObjectLock {
    /// When an object written at `now` may be deleted.
    pub fn until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::days(i64::from(self.days))
    }
}

/// What the storage says about an object's retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The lock mode, when the object has one.
    pub mode: Option<ObjectLockMode>,
    /// When its retention ends, when it has one.
    pub until: Option<DateTime<Utc>>,
}

impl Retention {
    /// True when the server refuses to delete it at `now`.
    pub fn holds_at(&self, now: DateTime<Utc>) -> bool {
        self.until.is_some_and(|u| u > now)
    }
}

/// An object that stays because its retention holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockedObject {
    /// Path of the object inside the repository.
    pub path: String,
    /// When its retention ends, when known.
    pub until: Option<DateTime<Utc>>,
}

impl std::fmt::Display for LockedObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.until {
            Some(u) => write!(
                f,
                "{} (locked until {})",
                self.path,
                u.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => write!(f, "{} (locked)", self.path),
        }
    }
}
