//! Offsite copies falling behind: every few minutes the scheduler reads
//! what each offsite repository lacks of the primary. When the oldest
//! snapshot not copied yet is older than the offsite's `max-lag` (or the
//! repository cannot be reached for that long), one `offsite-behind`
//! notification goes out per stretch; the copy that catches up ends it.

use std::time::Duration;

use super::Scheduler;
use crate::offsite::Offsite;

/// How often the scheduler looks at an offsite repository.
const CHECK_EVERY: Duration = Duration::from_secs(300);

/// The settings key remembering the stretch already notified.
fn notified_key(name: &str) -> String {
    format!("offsite.behind-notified.{name}")
}

/// Watches `offsite` until shutdown.
pub(super) async fn behind_loop(app: &Scheduler, offsite: &Offsite) {
    let started = app.clock.now();
    loop {
        let now = app.clock.now();
        // the primary's list is the catalog's, cached and kept current by
        // this server's jobs
        match app.catalog.snapshots().await {
            Ok(home) => {
                if let Err(e) = offsite.refresh(&home, app.offsites.rules(), now).await {
                    tracing::warn!(offsite = offsite.name, error = %e, "cannot read the offsite repository");
                }
            }
            // the primary cannot be read: nothing to say of the offsite
            Err(e) => tracing::warn!(error = e.message, "cannot list the primary repository"),
        }
        let lag = offsite.lag(now, started);
        let limit = offsite.config.lag_limit();
        if lag.to_std().is_ok_and(|l| l > limit) {
            let seen = offsite.seen();
            let stretch = match (&seen.error, &seen.status) {
                (Some(_), _) => format!(
                    "unreachable since {}",
                    seen.failed_at.map(crate::store::ts).unwrap_or_default()
                ),
                (None, Some(st)) => st.pending.first().map(|p| p.id.clone()).unwrap_or_default(),
                (None, None) => String::new(),
            };
            let key = notified_key(&offsite.name);
            if app.store.setting(&key).ok().flatten().as_deref() != Some(stretch.as_str()) {
                let limit_text = humantime::format_duration(limit).to_string();
                let lag_text = humantime::format_duration(Duration::from_secs(
                    u64::try_from(lag.num_seconds()).unwrap_or(0),
                ))
                .to_string();
                let message = match (&seen.error, &seen.status) {
                    (Some(e), _) => format!(
                        "offsite repository {} ({}) cannot be reached for {lag_text} (max-lag {limit_text}): {e}",
                        offsite.name, offsite.location
                    ),
                    (None, Some(st)) => format!(
                        "offsite repository {} ({}) lacks {} snapshots, the oldest taken {lag_text} ago (max-lag {limit_text})",
                        offsite.name,
                        offsite.location,
                        st.pending.len()
                    ),
                    (None, None) => format!("offsite repository {} is behind", offsite.name),
                };
                app.events.log(
                    "warn",
                    "offsite copies behind",
                    &[
                        ("offsite", &offsite.name),
                        ("lag", &lag_text),
                        ("max_lag", &limit_text),
                    ],
                );
                let last = app
                    .store
                    .last_job("copy", &offsite.name, None)
                    .ok()
                    .flatten();
                app.notifier.offsite_behind(&offsite.name, last, &message);
                let _ = app.store.set_setting(&key, &stretch);
            }
        }
        // again after a while, or as soon as a copy job changed the state
        tokio::select! {
            () = tokio::time::sleep(CHECK_EVERY) => {}
            () = offsite.changed() => {}
            () = app.shutdown.cancelled() => return,
        }
    }
}
