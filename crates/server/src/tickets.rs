//! Short-lived, in-memory tickets for sign-ins half done: a password
//! accepted and a one-time code still to come, or a browser sent to the
//! OpenID Connect provider and not back yet. Each lives a few minutes and
//! is taken once; the number kept is bounded (the oldest go first), so a
//! flood of started sign-ins cannot grow the server's memory. A restart
//! forgets them: the person signs in again.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A password accepted, the one-time code still to come.
pub struct PendingLogin {
    /// The user.
    pub user_id: i64,
    /// Where to go afterwards.
    pub next: String,
    /// Wrong codes so far.
    pub failures: u32,
}

/// Tickets of one kind.
pub struct Tickets<T> {
    life: Duration,
    cap: usize,
    map: Mutex<HashMap<String, (Instant, T)>>,
}

impl<T> Tickets<T> {
    /// Tickets that live `life`, at most `cap` at once.
    pub fn new(life: Duration, cap: usize) -> Self {
        Tickets {
            life,
            cap: cap.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// How long a ticket lives.
    pub fn life(&self) -> Duration {
        self.life
    }

    /// Keeps `value` under `id` (a random value the caller made).
    pub fn put(&self, id: &str, value: T) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        map.retain(|_, (born, _)| now.duration_since(*born) < self.life);
        while map.len() >= self.cap {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (born, _))| *born)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(id.to_string(), (now, value));
    }

    /// Takes the ticket `id` if it exists and has not expired.
    pub fn take(&self, id: &str) -> Option<T> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let (born, value) = map.remove(id)?;
        (born.elapsed() < self.life).then_some(value)
    }

    /// Puts a taken ticket back with its original age (a wrong code:
    /// the person may try again within the same time).
    pub fn put_back(&self, id: &str, born_ago: Duration, value: T) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(born) = Instant::now().checked_sub(born_ago) {
            map.insert(id.to_string(), (born, value));
        }
    }

    /// Takes the ticket `id` with its age.
    pub fn take_aged(&self, id: &str) -> Option<(Duration, T)> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let (born, value) = map.remove(id)?;
        let age = born.elapsed();
        (age < self.life).then_some((age, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_taken_once_and_the_oldest_go_first() {
        let t = Tickets::new(Duration::from_secs(60), 2);
        t.put("a", 1);
        t.put("b", 2);
        t.put("c", 3);
        assert_eq!(t.take("a"), None);
        assert_eq!(t.take("b"), Some(2));
        assert_eq!(t.take("b"), None);
        let (age, v) = t.take_aged("c").expect("c");
        t.put_back("c", age, v);
        assert_eq!(t.take("c"), Some(3));
    }

    #[test]
    fn expired_tickets_are_gone() {
        let t = Tickets::new(Duration::ZERO, 4);
        t.put("a", 1);
        assert_eq!(t.take("a"), None);
    }
}
