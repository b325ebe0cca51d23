//! Wall-clock time for the scheduler, either the system's or one driven by
//! tokio's (pausable) clock so tests can step through days in milliseconds.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Where "now" comes from.
#[derive(Clone, Copy, Debug, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// `start` plus the time tokio's clock advanced since `origin`; with
    /// `tokio::time::pause` a test moves through days at once.
    Virtual {
        /// The wall-clock time at `origin`.
        start: DateTime<Utc>,
        /// The tokio instant that corresponds to `start`.
        origin: Instant,
    },
}

impl Clock {
    /// A virtual clock that reads `start` now.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Clock::Virtual {
            start,
            origin: Instant::now(),
        }
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Virtual { start, origin } => {
                let elapsed = Instant::now().saturating_duration_since(*origin);
                *start + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
            }
        }
    }

    /// How long until `t` (zero when it has passed). The scheduler sleeps
    /// in steps of at most a minute and asks again, so a suspended laptop
    /// or a clock change does not make it miss a run by hours.
    pub fn until(&self, t: DateTime<Utc>) -> Duration {
        (t - self.now()).to_std().unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn virtual_time_follows_tokio() {
        let start = DateTime::parse_from_rfc3339("2025-10-25T04:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        let c = Clock::starting_at(start);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(c.now(), start + chrono::Duration::hours(1));
        assert_eq!(c.until(start), Duration::ZERO);
    }
}
