//! Table locks taken without waiting behind other sessions without end.
//!
//! A lock request queues behind every session holding a conflicting lock
//! (an application "idle in transaction", a migration in progress), and
//! every later request that conflicts with it queues behind it: a restore
//! whose `TRUNCATE` waits stops the application's queries on that table
//! for as long as it waits. So a backup or a restore asks for all its
//! locks at once, for at most a second at a time, with a pause between
//! tries in which the others' queries go on, inside a savepoint that a
//! failed try rolls back. When its time is up it gives up and names the
//! sessions holding the tables: their `application_name`, user, state,
//! how long, last query, and the call that ends them.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use tresor_core::{ErrorKind, SourceError};

use crate::error::pg_error;

/// The longest a single try waits: the longest the others' queries queue
/// behind it.
const TRY: Duration = Duration::from_secs(1);
/// Between tries the others run freely.
const PAUSE: Duration = Duration::from_millis(200);
/// Lock modes a session must hold for a `ROW EXCLUSIVE` request to wait.
const BLOCKS_ROW_EXCLUSIVE: &[&str] = &[
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
];
/// Lock modes a session must hold for an `EXCLUSIVE` request to wait:
/// all but `ACCESS SHARE`.
const BLOCKS_EXCLUSIVE: &[&str] = &[
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
];
/// The one mode an `ACCESS SHARE` request waits for.
const BLOCKS_ACCESS_SHARE: &[&str] = &["AccessExclusiveLock"];

/// Relations to lock (qualified names), by mode.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Wanted {
    /// `ACCESS EXCLUSIVE`: emptied, dropped, made again.
    pub(crate) exclusive: Vec<String>,
    /// `EXCLUSIVE`: kept from other sessions' writes, not their reads.
    pub(crate) writes: Vec<String>,
    /// `ROW EXCLUSIVE`: written into.
    pub(crate) row_exclusive: Vec<String>,
    /// `ACCESS SHARE`: read (and kept from schema changes).
    pub(crate) access_share: Vec<String>,
}

impl Wanted {
    pub(crate) fn is_empty(&self) -> bool {
        self.exclusive.is_empty()
            && self.writes.is_empty()
            && self.row_exclusive.is_empty()
            && self.access_share.is_empty()
    }

    fn statements(&self, nowait: bool) -> String {
        let nowait = if nowait { " NOWAIT" } else { "" };
        let mut sql = String::new();
        for (names, mode) in [
            (&self.exclusive, "ACCESS EXCLUSIVE"),
            (&self.writes, "EXCLUSIVE"),
            (&self.row_exclusive, "ROW EXCLUSIVE"),
            (&self.access_share, "ACCESS SHARE"),
        ] {
            if !names.is_empty() {
                let _ = write!(
                    sql,
                    "LOCK TABLE {} IN {mode} MODE{nowait}; ",
                    names.join(", ")
                );
            }
        }
        sql
    }
}

/// What waits for the locks: it says so in its error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Waiter {
    Backup,
    Restore,
}

/// Takes `wanted` inside the open transaction of `client`, trying for at
/// most `wait` in all; then fails with an [`ErrorKind::Conflict`] naming
/// the sessions that hold the tables, the transaction as it was before.
pub(crate) async fn take(
    client: &Client,
    wanted: &Wanted,
    wait: Duration,
    waiter: Waiter,
) -> Result<(), SourceError> {
    if wanted.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let sql = format!(
            "SAVEPOINT tresor_locks; SET LOCAL lock_timeout = '{}ms'; {}RELEASE SAVEPOINT tresor_locks",
            left.min(TRY).as_millis().max(1),
            wanted.statements(left.is_zero())
        );
        match client.batch_execute(&sql).await {
            Ok(()) => return Ok(()),
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT tresor_locks")
                    .await
                    .map_err(|e| pg_error("cannot go on after waiting for a lock", e))?;
                if Instant::now() >= deadline {
                    let holders = holders(client, wanted).await;
                    return Err(lock_error(&holders, wait, waiter));
                }
                tokio::time::sleep(PAUSE).await;
            }
            Err(e) => {
                return Err(pg_error(
                    match waiter {
                        Waiter::Backup => "cannot lock the tables to back up",
                        Waiter::Restore => "cannot lock the tables to restore",
                    },
                    e,
                ));
            }
        }
    }
}

/// A session holding a table a lock request waits for.
#[derive(Debug)]
struct Holder {
    pid: i32,
    table: String,
    application: String,
    user: String,
    state: String,
    /// Since its transaction (or else its query) began.
    for_secs: f64,
    query: String,
}

/// The sessions holding what `wanted` conflicts with (none when the
/// catalog cannot be read: the error then names no one).
async fn holders(client: &Client, wanted: &Wanted) -> Vec<Holder> {
    let rows = client
        .query(
            "SELECT DISTINCT a.pid, l.relation::pg_catalog.regclass::text, \
                    coalesce(a.application_name, ''), coalesce(a.usename::text, ''), \
                    coalesce(a.state, ''), \
                    coalesce(extract(epoch FROM pg_catalog.clock_timestamp() - coalesce(a.xact_start, a.query_start)), 0)::float8, \
                    pg_catalog.left(pg_catalog.regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 120) \
             FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
             WHERE l.granted AND l.locktype = 'relation' AND l.pid <> pg_catalog.pg_backend_pid() \
               AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) \
               AND (l.relation = ANY($1::text[]::pg_catalog.regclass[]) \
                    OR (l.relation = ANY($2::text[]::pg_catalog.regclass[]) AND l.mode = ANY($3)) \
                    OR (l.relation = ANY($4::text[]::pg_catalog.regclass[]) AND l.mode = ANY($5)) \
                    OR (l.relation = ANY($6::text[]::pg_catalog.regclass[]) AND l.mode = ANY($7))) \
             ORDER BY 1, 2",
            &[
                &wanted.exclusive,
                &wanted.row_exclusive,
                &BLOCKS_ROW_EXCLUSIVE,
                &wanted.access_share,
                &BLOCKS_ACCESS_SHARE,
                &wanted.writes,
                &BLOCKS_EXCLUSIVE,
            ],
        )
        .await;
    rows.map(|rows| {
        rows.iter()
            .map(|r| Holder {
                pid: r.get(0),
                table: r.get(1),
                application: r.get(2),
                user: r.get(3),
                state: r.get(4),
                for_secs: r.get(5),
                query: r.get(6),
            })
            .collect()
    })
    .unwrap_or_default()
}

/// The error naming who holds the tables.
fn lock_error(holders: &[Holder], wait: Duration, waiter: Waiter) -> SourceError {
    let mut tables: Vec<&str> = holders.iter().map(|h| h.table.as_str()).collect();
    tables.sort_unstable();
    tables.dedup();
    let what = match tables.as_slice() {
        [] => "the tables it needs".to_string(),
        [one] => format!("table {one}"),
        many => format!("tables {}", many.join(", ")),
    };
    let (who, outcome) = match waiter {
        Waiter::Backup => ("backup", "read nothing"),
        Waiter::Restore => ("restore", "changed nothing"),
    };
    let mut message = format!(
        "the {who} waited {} for other sessions to let go of {what}, and {outcome}",
        human(wait.as_secs_f64())
    );
    let mut pids: Vec<i32> = Vec::new();
    for h in holders {
        let name = match (h.application.is_empty(), h.user.is_empty()) {
            (false, false) => format!("{}, user {}", h.application, h.user),
            (true, false) => format!("user {}", h.user),
            (false, true) => h.application.clone(),
            (true, true) => "no name".to_string(),
        };
        let state = if h.state.is_empty() { "busy" } else { &h.state };
        let _ = write!(
            message,
            "\n  session {} ({name}) holds {}: {state} for {}",
            h.pid,
            h.table,
            human(h.for_secs)
        );
        if !h.query.is_empty() {
            let _ = write!(message, ", last query: {}", h.query);
        }
        if !pids.contains(&h.pid) {
            pids.push(h.pid);
        }
    }
    let end = if pids.is_empty() {
        String::new()
    } else {
        let calls: Vec<String> = pids
            .iter()
            .map(|p| format!("SELECT pg_terminate_backend({p})"))
            .collect();
        format!(" (or end those sessions: {})", calls.join("; "))
    };
    let hint = match waiter {
        Waiter::Restore => format!(
            "stop the application{end}, then restore again; or give it longer with --lock-wait"
        ),
        Waiter::Backup => format!(
            "a schema change (a migration) holds the table: back up again when it is done{end}; \
             or give it longer with --lock-wait"
        ),
    };
    SourceError::new(ErrorKind::Conflict, message).with_hint(hint)
}

/// `95` as "95s", `125` as "2m 5s".
fn human(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_are_asked_for_in_one_go() {
        let w = Wanted {
            exclusive: vec!["public.a".into(), "public.b".into()],
            row_exclusive: vec!["public.c".into()],
            ..Wanted::default()
        };
        assert_eq!(
            w.statements(false),
            "LOCK TABLE public.a, public.b IN ACCESS EXCLUSIVE MODE; \
             LOCK TABLE public.c IN ROW EXCLUSIVE MODE; "
        );
        assert!(w.statements(true).contains("MODE NOWAIT; "));
        let read = Wanted {
            access_share: vec!["public.d".into()],
            ..Wanted::default()
        };
        assert_eq!(
            read.statements(false),
            "LOCK TABLE public.d IN ACCESS SHARE MODE; "
        );
        let held = Wanted {
            writes: vec!["public.e".into()],
            ..Wanted::default()
        };
        assert_eq!(
            held.statements(true),
            "LOCK TABLE public.e IN EXCLUSIVE MODE NOWAIT; "
        );
        assert_eq!(Wanted::default().statements(false), "");
    }

    fn holder(pid: i32, table: &str) -> Holder {
        Holder {
            pid,
            table: table.into(),
            application: "shop-web".into(),
            user: "shop".into(),
            state: "idle in transaction".into(),
            for_secs: 95.4,
            query: "SELECT count(*) FROM users".into(),
        }
    }

    #[test]
    fn the_error_names_each_holder_and_how_to_end_it() {
        let e = lock_error(
            &[holder(7, "users"), holder(7, "orders"), holder(9, "users")],
            Duration::from_secs(30),
            Waiter::Restore,
        );
        let text = e.to_string();
        assert!(
            text.starts_with(
                "the restore waited 30s for other sessions to let go of tables orders, users, \
                 and changed nothing"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "session 7 (shop-web, user shop) holds users: idle in transaction for 95s, \
                 last query: SELECT count(*) FROM users"
            ),
            "{text}"
        );
        let hint = e.hint().unwrap_or_default();
        assert!(hint.starts_with("stop the application"), "{hint}");
        assert!(
            hint.contains("SELECT pg_terminate_backend(7); SELECT pg_terminate_backend(9)"),
            "{hint}"
        );
        assert_eq!(e.kind(), ErrorKind::Conflict);
        let nobody = lock_error(&[], Duration::from_secs(5), Waiter::Restore).to_string();
        assert!(nobody.contains("let go of the tables it needs"), "{nobody}");
    }

    #[test]
    fn a_backup_says_it_read_nothing() {
        let e = lock_error(
            &[holder(7, "users")],
            Duration::from_secs(600),
            Waiter::Backup,
        );
        assert!(
            e.to_string().starts_with(
                "the backup waited 10m 0s for other sessions to let go of table users, \
                 and read nothing"
            ),
            "{e}"
        );
        assert!(
            e.hint()
                .unwrap_or_default()
                .contains("back up again when it is done (or end those sessions"),
            "{:?}",
            e.hint()
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(0.4), "0s");
        assert_eq!(human(30.0), "30s");
        assert_eq!(human(95.0), "95s");
        assert_eq!(human(125.0), "2m 5s");
        assert_eq!(human(7260.0), "2h 1m");
    }
}
