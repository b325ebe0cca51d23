//! Sign-in throttling: failed attempts per account and per address back
//! off exponentially, and password hashing (slow and memory-hungry on
//! purpose) runs a bounded number at a time, so guessing is slow and a
//! flood of sign-ins cannot exhaust the server's memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::{ApiError, Kind};

/// Failures of one account before it backs off.
const FREE_PER_USER: u32 = 5;
/// Failures from one address before it backs off (several people may
/// share an address).
const FREE_PER_ADDRESS: u32 = 20;
/// The longest wait, and how long failures are remembered.
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Password hashes computed at once.
const HASHING_AT_ONCE: usize = 4;
/// How long a sign-in waits for its turn to hash.
const HASHING_QUEUE_WAIT: Duration = Duration::from_secs(10);
/// Entries kept before the oldest are forgotten.
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// The sign-in throttle of one server.
pub struct Throttle {
    failures: Mutex<HashMap<String, Failures>>,
    hashing: Semaphore,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            failures: Mutex::new(HashMap::new()),
            hashing: Semaphore::new(HASHING_AT_ONCE),
        }
    }
}

/// The keys an attempt counts against, with their free attempts.
fn keys(user: &str, from: Option<IpAddr>) -> Vec<(String, u32)> {
    let mut k = vec![(format!("user:{}", user.to_lowercase()), FREE_PER_USER)];
    if let Some(ip) = from {
        k.push((format!("addr:{ip}"), FREE_PER_ADDRESS));
    }
    k
}

/// How long after the last failure the next attempt must wait.
fn wait_for(count: u32, free: u32) -> Duration {
    if count < free {
        return Duration::ZERO;
    }
    let exp = (count - free).min(20);
    Duration::from_secs(1u64 << exp).min(MAX_WAIT)
}

impl Throttle {
    /// Refuses an attempt that comes before its back-off ends.
    ///
    /// # Errors
    /// 429 with the seconds left.
    pub fn check(&self, user: &str, from: Option<IpAddr>) -> Result<(), ApiError> {
        let now = Instant::now();
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut longest = Duration::ZERO;
        for (key, free) in keys(user, from) {
            if let Some(f) = map.get(&key) {
                let until = f.last + wait_for(f.count, free);
                longest = longest.max(until.saturating_duration_since(now));
            }
        }
        if longest.is_zero() {
            return Ok(());
        }
        Err(ApiError::new(
            Kind::TooMany,
            format!(
                "too many failed sign-ins: try again in {} s",
                longest.as_secs().max(1)
            ),
        )
        .hint("wait, or ask an admin to set a new password"))
    }

    /// Counts a failed attempt.
    pub fn failed(&self, user: &str, from: Option<IpAddr>) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, f| now.duration_since(f.last) < MAX_WAIT);
        }
        for (key, _) in keys(user, from) {
            let f = map.entry(key).or_insert(Failures {
                count: 0,
                last: now,
            });
            if now.duration_since(f.last) >= MAX_WAIT {
                f.count = 0;
            }
            f.count = f.count.saturating_add(1);
            f.last = now;
        }
    }

    /// Forgets an account's failures after it signed in (the address
    /// keeps its count: it may be guessing other accounts).
    pub fn succeeded(&self, user: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("user:{}", user.to_lowercase()));
    }

    /// A turn to hash a password.
    ///
    /// # Errors
    /// 503 when the queue does not move within a few seconds.
    pub async fn hashing(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(HASHING_QUEUE_WAIT, self.hashing.acquire()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(
                ApiError::new(Kind::Unavailable, "too many sign-ins at once")
                    .hint("try again in a few seconds"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_backs_off_after_its_free_attempts() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        for _ in 0..FREE_PER_USER {
            t.check("Admin", Some(ip)).expect("free attempt");
            t.failed("Admin", Some(ip));
        }
        let e = t.check("admin", Some(ip)).expect_err("backs off");
        assert_eq!(e.status().as_u16(), 429);
        // another account from another address is not affected
        t.check("vera", Some("192.0.2.8".parse().expect("ip")))
            .expect("other account");
        // a success clears the account, not the address's count
        t.succeeded("admin");
        t.check("admin", None).expect("cleared");
    }

    #[test]
    fn an_address_backs_off_across_accounts() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.9".parse().expect("ip");
        for i in 0..FREE_PER_ADDRESS {
            let user = format!("user{i}");
            t.check(&user, Some(ip)).expect("free attempt");
            t.failed(&user, Some(ip));
        }
        assert!(t.check("someone-else", Some(ip)).is_err());
        assert!(t.check("someone-else", None).is_ok());
    }

    #[test]
    fn waits_double_and_are_capped() {
        assert_eq!(wait_for(4, 5), Duration::ZERO);
        assert_eq!(wait_for(5, 5), Duration::from_secs(1));
        assert_eq!(wait_for(8, 5), Duration::from_secs(8));
        assert_eq!(wait_for(u32::MAX, 5), MAX_WAIT);
    }
}
