//! Offsite repositories as the server keeps them: each `[offsite.NAME]`
//! opened on first use (an unreachable one never stops the server), and
//! what was last seen of it: how many copies it holds, which snapshots it
//! still lacks, the last error. Copy jobs and the scheduler's watch update
//! it; `/metrics`, the dashboard and `/api/v1/offsite` read it.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tresor_ops::{
    Config, Engines, OffsiteConfig, OffsiteStatus, OpsError, RetentionRules, Snapshot,
    offsite_status_from, open_offsite,
};
use tresor_repo::Repository;

/// Every offsite repository of the config.
pub struct Offsites {
    entries: Vec<Arc<Offsite>>,
    rules: RetentionRules,
}

/// One offsite repository.
pub struct Offsite {
    /// Its name in tresor.toml.
    pub name: String,
    /// Its settings.
    pub config: OffsiteConfig,
    /// Where it is, without secrets.
    pub location: String,
    repo: tokio::sync::Mutex<Option<Arc<Repository>>>,
    seen: Mutex<Seen>,
    /// Wakes the scheduler's watch when a copy changed what is seen.
    changed: tokio::sync::Notify,
}

/// What was last seen of an offsite repository.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Seen {
    /// When its state was last read successfully.
    pub checked_at: Option<DateTime<Utc>>,
    /// Its state then.
    pub status: Option<OffsiteStatus>,
    /// The last failure to reach or update it, cleared by a success.
    pub error: Option<String>,
    /// When that failure happened.
    pub failed_at: Option<DateTime<Utc>>,
}

impl Offsites {
    /// The offsite repositories `config` names (none are opened yet).
    ///
    /// # Errors
    /// Retention rules that do not parse (validation reports them first).
    pub fn new(config: &Config, engines: &Engines) -> Result<Self, OpsError> {
        Ok(Offsites {
            entries: config
                .offsite
                .iter()
                .map(|(name, o)| {
                    Arc::new(Offsite {
                        name: name.clone(),
                        config: o.clone(),
                        location: tresor_core::redact_url(
                            o.repository.url.as_deref().unwrap_or(""),
                        ),
                        repo: tokio::sync::Mutex::new(None),
                        seen: Mutex::new(Seen::default()),
                        changed: tokio::sync::Notify::new(),
                    })
                })
                .collect(),
            rules: RetentionRules::from_config(config, engines)?,
        })
    }

    /// All of them, by name.
    pub fn all(&self) -> &[Arc<Offsite>] {
        &self.entries
    }

    /// The one named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Offsite>> {
        self.entries.iter().find(|o| o.name == name)
    }

    /// Which configured source each snapshot belongs to.
    pub fn rules(&self) -> &RetentionRules {
        &self.rules
    }
}

impl Offsite {
    /// The repository, opened on first use; a failure is retried on the
    /// next call.
    ///
    /// # Errors
    /// It cannot be reached or opened (wrong password, not a repository).
    pub async fn repo(&self) -> Result<Arc<Repository>, OpsError> {
        let mut slot = self.repo.lock().await;
        if let Some(r) = slot.as_ref() {
            return Ok(r.clone());
        }
        let r = Arc::new(open_offsite(&self.config).await?);
        *slot = Some(r.clone());
        Ok(r)
    }

    /// What was last seen.
    pub fn seen(&self) -> Seen {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records a copy's outcome: its state afterwards.
    pub fn record(&self, status: OffsiteStatus, now: DateTime<Utc>) {
        self.note(Ok(status), now);
        self.changed.notify_one();
    }

    /// Records a failure to reach or update it.
    pub fn failed(&self, error: &str, now: DateTime<Utc>) {
        self.note(Err(error), now);
        self.changed.notify_one();
    }

    fn note(&self, outcome: Result<OffsiteStatus, &str>, now: DateTime<Utc>) {
        let mut s = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(status) => {
                s.checked_at = Some(now);
                s.status = Some(status);
                s.error = None;
                s.failed_at = None;
            }
            Err(error) => {
                if s.error.is_none() {
                    s.failed_at = Some(now);
                }
                s.error = Some(error.to_string());
            }
        }
    }

    /// Completes at the next [`Offsite::record`] or [`Offsite::failed`].
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Reads its state against the primary's snapshots `home` and records it
    /// (without waking the watch: it is the watch that asks).
    ///
    /// # Errors
    /// Either repository cannot be read (recorded too).
    pub async fn refresh(
        &self,
        home: &[Snapshot],
        rules: &RetentionRules,
        now: DateTime<Utc>,
    ) -> Result<OffsiteStatus, OpsError> {
        let result = async {
            let repo = self.repo().await?;
            offsite_status_from(home, &repo, &self.config, rules).await
        }
        .await;
        match &result {
            Ok(status) => self.note(Ok(status.clone()), now),
            Err(e) => self.note(Err(&e.to_string()), now),
        }
        result
    }

    /// How far behind it is at `now`: the age of the oldest snapshot not
    /// copied yet, or, while it cannot be reached, the time since it was
    /// last seen up to date (since the server started when never).
    pub fn lag(&self, now: DateTime<Utc>, started: DateTime<Utc>) -> chrono::Duration {
        let seen = self.seen();
        let since = if seen.error.is_some() {
            match &seen.status {
                Some(st) if st.pending.is_empty() => seen.checked_at,
                Some(st) => st.oldest_pending(),
                None => Some(started),
            }
        } else {
            seen.status.as_ref().and_then(OffsiteStatus::oldest_pending)
        };
        since.map_or(chrono::Duration::zero(), |t| {
            (now - t).max(chrono::Duration::zero())
        })
    }
}
