//! What stands between the repository and a flaky network: retries with
//! exponential backoff and jitter inside a bounded total time, a bound on
//! requests in flight, and bandwidth limits per direction.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::StorageError;

/// How transient failures are retried.
///
/// A failure is transient when the backend says so (HTTP 5xx and 429,
/// timeouts, connection resets, a dropped SSH session); everything else
/// (denied access, a missing bucket, a wrong region, a missing object)
/// fails at once. Delays grow from `first_delay` by doubling up to
/// `max_delay`, each drawn at random between half and all of its value
/// (jitter, so that many clients do not retry in step); no retry starts
/// after `max_elapsed` since the first attempt.
///
/// Once a request has given up, the storage counts as down: the requests
/// after it (and those still retrying) fail at their first transient
/// failure, until any request gets an answer again. A command in an outage
/// thus fails after about one `max_elapsed`, not one per request it makes
/// (uploads, then indexing what was stored, then releasing its lock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay before the first retry.
    pub first_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
    /// No retry starts later than this after the first attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            max_elapsed: Duration::from_secs(180),
        }
    }
}

impl RetryPolicy {
    /// Never retry (tests of the failure paths).
    pub fn never() -> Self {
        RetryPolicy {
            first_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            max_elapsed: Duration::ZERO,
        }
    }

    /// The delay before retry number `attempt` (1-based), with jitter.
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        let full = self.first_delay.saturating_mul(factor).min(self.max_delay);
        let mut r = [0u8; 2];
        rand::fill(&mut r[..]);
        let jitter = 0.5 + f64::from(u16::from_le_bytes(r)) / f64::from(u16::MAX) / 2.0;
        full.mul_f64(jitter)
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the time is
    /// up (at once while `health` says the storage is down).
    pub(crate) async fn run<T, F, Fut>(
        &self,
        op: &'static str,
        path: &str,
        health: &Health,
        mut attempt: F,
    ) -> Result<T, StorageError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StorageError>>,
    {
        let start = Instant::now();
        let mut tries = 0u32;
        loop {
            tries += 1;
            // boxed: backend futures are large, and every caller of the
            // storage would carry them inline
            let err = match Box::pin(attempt()).await {
                Ok(v) => {
                    health.answered();
                    return Ok(v);
                }
                Err(e) => e,
            };
            if !err.is_retryable() {
                // the server answered, even if with a refusal
                health.answered();
                return Err(err);
            }
            if health.is_down() {
                tracing::warn!(op, path, tries, error = %err.detail(), "storage still failing, not retrying");
                return Err(err.still_down());
            }
            let delay = self.delay(tries);
            if start.elapsed() + delay > self.max_elapsed {
                if tries > 1 {
                    tracing::warn!(op, path, tries, "storage request still failing, giving up");
                    health.gave_up();
                }
                return Err(err.gave_up(tries, start.elapsed()));
            }
            tracing::warn!(
                op,
                path,
                attempt = tries,
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %err.detail(),
                "storage request failed, retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// Whether the storage is down, shared by every request of one
/// [`Storage`](super::Storage): set when a request gave up after retrying,
/// cleared by any answer.
#[derive(Debug, Default)]
pub(crate) struct Health {
    down: AtomicBool,
}

impl Health {
    fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    fn gave_up(&self) {
        self.down.store(true, Ordering::Relaxed);
    }

    fn answered(&self) {
        if self.is_down() {
            tracing::info!("the storage answers again");
            self.down.store(false, Ordering::Relaxed);
        }
    }
}

/// A token bucket: at most `rate` bytes a second on average, with bursts
/// of up to one second's worth.
#[derive(Debug)]
pub(crate) struct Throttle {
    rate: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Bytes that may pass now; negative when callers are waiting.
    tokens: f64,
    at: Instant,
}

impl Throttle {
    pub(crate) fn new(bytes_per_second: u64) -> Self {
        let rate = bytes_per_second.max(1) as f64;
        Throttle {
            rate,
            state: Mutex::new(Bucket {
                tokens: rate,
                at: Instant::now(),
            }),
        }
    }

    /// Waits until `bytes` may pass. Callers queue fairly: each takes its
    /// tokens at once (going into debt) and sleeps off its share.
    pub(crate) async fn take(&self, bytes: usize) {
        let wait = {
            let mut b = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let refill = now.duration_since(b.at).as_secs_f64() * self.rate;
            b.tokens = (b.tokens + refill).min(self.rate);
            b.at = now;
            b.tokens -= bytes as f64;
            if b.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-b.tokens / self.rate)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn transient() -> StorageError {
        StorageError::Backend {
            op: "read",
            path: "x".into(),
            source: Box::new(
                opendal::Error::new(opendal::ErrorKind::Unexpected, "503").set_temporary(),
            ),
            hint: None,
        }
    }

    #[test]
    fn delays_grow_with_jitter_and_stay_bounded() {
        let p = RetryPolicy::default();
        for attempt in 1..30 {
            let d = p.delay(attempt);
            assert!(d <= p.max_delay, "{attempt}: {d:?}");
            let full = p
                .first_delay
                .saturating_mul(2u32.saturating_pow(attempt - 1))
                .min(p.max_delay);
            assert!(d >= full / 2, "{attempt}: {d:?} < half of {full:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let out = RetryPolicy::default()
            .run("read", "x", &Health::default(), || async {
                if calls.fetch_add(1, Ordering::Relaxed) < 3 {
                    Err(transient())
                } else {
                    Ok(7)
                }
            })
            .await
            .expect("succeeds on the fourth try");
        assert_eq!((out, calls.load(Ordering::Relaxed)), (7, 4));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_within_the_time_bound() {
        let policy = RetryPolicy {
            max_elapsed: Duration::from_secs(30),
            ..RetryPolicy::default()
        };
        let start = tokio::time::Instant::now();
        let err = policy
            .run("read", "x", &Health::default(), || async {
                Err::<(), _>(transient())
            })
            .await
            .expect_err("gives up");
        assert!(
            start.elapsed() <= Duration::from_secs(30),
            "{:?}",
            start.elapsed()
        );
        assert!(err.to_string().contains("gave up after"), "{err}");
    }

    /// In an outage a backup took one retry time per request it made
    /// (its uploads, a read, the index of what it stored, its lock) before
    /// it failed: about 17 s with a 3 s retry time, an hour at the default.
    #[tokio::test(start_paused = true)]
    async fn after_one_request_gave_up_the_next_fail_fast_until_an_answer() {
        let policy = RetryPolicy {
            max_elapsed: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let health = Health::default();
        let start = tokio::time::Instant::now();
        let err = policy
            .run("write", "a", &health, || async {
                Err::<(), _>(transient())
            })
            .await
            .expect_err("gives up");
        assert!(err.to_string().contains("gave up after"), "{err}");
        let calls = AtomicU32::new(0);
        for path in ["index", "lock"] {
            let err = policy
                .run("write", path, &health, || async {
                    calls.fetch_add(1, Ordering::Relaxed);
                    Err::<(), _>(transient())
                })
                .await
                .expect_err("fails");
            assert!(err.is_retryable() && err.hint().is_some(), "{err}");
            assert!(err.to_string().contains("still failing"), "{err}");
        }
        assert_eq!(calls.load(Ordering::Relaxed), 2, "one attempt each");
        assert!(start.elapsed() <= Duration::from_secs(10));
        // an answer (even a refusal) ends the outage: retries are back
        let _ = policy
            .run("read", "x", &health, || async {
                Err::<(), _>(StorageError::NotFound { path: "x".into() })
            })
            .await;
        let calls = AtomicU32::new(0);
        policy
            .run("read", "x", &health, || async {
                if calls.fetch_add(1, Ordering::Relaxed) < 2 {
                    Err(transient())
                } else {
                    Ok(())
                }
            })
            .await
            .expect("retried to success");
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_are_not_retried() {
        let calls = AtomicU32::new(0);
        let err = RetryPolicy::default()
            .run("read", "x", &Health::default(), || async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err::<(), _>(StorageError::NotFound { path: "x".into() })
            })
            .await
            .expect_err("fails");
        assert!(err.is_not_found());
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_holds_the_average_rate() {
        let t = Throttle::new(1000);
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            t.take(1000).await;
        }
        // one second of burst, then 4000 bytes at 1000 B/s
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(3900) && took <= Duration::from_millis(4200),
            "{took:?}"
        );
    }
}
