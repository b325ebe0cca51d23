//! The locks a restore takes first, so that it neither waits behind the
//! application without end nor stops it for long.
//!
//! A `TRUNCATE` or `DROP TABLE` queues for its table's lock behind every
//! session that has touched the table in a transaction still open (an
//! application left "idle in transaction", a long report), and every
//! query that comes after queues behind the restore: the application
//! stands still for as long as the restore waits. So the restore asks for
//! all the locks it needs at once, right after `BEGIN`, for at most a
//! second at a time with a pause between tries, in which the
//! application's queries go on. When [`RestorePlan::lock_wait`] has passed
//! it gives up, having changed nothing, and names the sessions that hold
//! the tables. Every later wait inside the restore (a row another session
//! updates during a merge) is bounded by the same time.
//!
//! [`RestorePlan::lock_wait`]: tresor_core::RestorePlan::lock_wait

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tresor_core::{ErrorKind, RestoreMode, SourceError};

use super::session::PgSession;
use super::target_name;
use crate::error::pg_error;
use crate::types::qualified;

/// The longest a single try waits: the longest the application's queries
/// queue behind the restore while it waits.
const TRY: Duration = Duration::from_secs(1);
/// Between tries the application runs freely.
const PAUSE: Duration = Duration::from_millis(200);
/// Lock modes a session must hold for a `ROW EXCLUSIVE` request to wait.
const BLOCKS_ROW_EXCLUSIVE: &[&str] = &[
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
];

/// The relations to lock before anything changes, by mode.
#[derive(Debug, Default, PartialEq)]
struct Wanted {
    /// Emptied, dropped or made again, and tables holding a foreign key
    /// on one of them (the key is set aside): `ACCESS EXCLUSIVE`.
    exclusive: Vec<String>,
    /// Merged into: `ROW EXCLUSIVE`.
    shared: Vec<String>,
}

impl Wanted {
    fn is_empty(&self) -> bool {
        self.exclusive.is_empty() && self.shared.is_empty()
    }

    fn statements(&self, nowait: bool) -> String {
        let nowait = if nowait { " NOWAIT" } else { "" };
        let mut sql = String::new();
        for (names, mode) in [
            (&self.exclusive, "ACCESS EXCLUSIVE"),
            (&self.shared, "ROW EXCLUSIVE"),
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

/// A session holding a table the restore waits for.
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

impl PgSession {
    /// Takes the locks of every table the restore changes, in one go;
    /// then bounds every later wait by the same time.
    pub(super) async fn take_locks(&mut self) -> Result<(), SourceError> {
        let wanted = self.wanted().await?;
        let wait = self.lock_wait;
        if !wanted.is_empty() {
            let deadline = Instant::now() + wait;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let sql = format!(
                    "SAVEPOINT tresor_locks; SET LOCAL lock_timeout = '{}ms'; {}RELEASE SAVEPOINT tresor_locks",
                    left.min(TRY).as_millis().max(1),
                    wanted.statements(left.is_zero())
                );
                match self.client.batch_execute(&sql).await {
                    Ok(()) => break,
                    Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                        self.exec("ROLLBACK TO SAVEPOINT tresor_locks", || {
                            "cannot go on after waiting for a lock".into()
                        })
                        .await?;
                        if Instant::now() >= deadline {
                            return Err(self.held(&wanted, wait).await);
                        }
                        tokio::time::sleep(PAUSE).await;
                    }
                    Err(e) => return Err(pg_error("cannot lock the tables to restore", e)),
                }
            }
        }
        // `0` would mean no bound at all
        self.exec(
            &format!("SET LOCAL lock_timeout = '{}ms'", wait.as_millis().max(1)),
            || "cannot bound the restore's lock waits".into(),
        )
        .await
    }

    /// The relations of the target the plan changes, and how to lock them.
    async fn wanted(&self) -> Result<Wanted, SourceError> {
        let names = |list: &[tresor_core::TableName]| -> Vec<String> {
            list.iter().map(|n| qualified(&target_name(n))).collect()
        };
        let mut exclusive = names(&self.recreate);
        exclusive.extend(names(&self.drop));
        let mut shared = Vec::new();
        match self.mode {
            RestoreMode::Replace => exclusive.extend(names(&self.plan_tables)),
            RestoreMode::Merge => shared.extend(names(&self.plan_tables)),
        }
        // the relations that exist, as the catalog spells them; then the
        // tables with a foreign key on an emptied or dropped one, and the
        // tables a dropped or remade one refers to (its key goes with it)
        let remade: Vec<String> = names(&self.recreate)
            .into_iter()
            .chain(names(&self.drop))
            .collect();
        let rows = self
            .client
            .query(
                "WITH t(name, excl) AS ( \
                   SELECT pg_catalog.to_regclass(n), true FROM pg_catalog.unnest($1::text[]) n \
                   UNION ALL \
                   SELECT pg_catalog.to_regclass(n), false FROM pg_catalog.unnest($2::text[]) n), \
                 r(name) AS (SELECT pg_catalog.to_regclass(n) FROM pg_catalog.unnest($3::text[]) n), \
                 found AS (SELECT name, excl FROM t WHERE name IS NOT NULL \
                   UNION ALL \
                   SELECT c.conrelid, true FROM pg_catalog.pg_constraint c \
                     JOIN t ON t.excl AND t.name = c.confrelid WHERE c.contype = 'f' \
                   UNION ALL \
                   SELECT c.confrelid, true FROM pg_catalog.pg_constraint c \
                     JOIN r ON r.name = c.conrelid WHERE c.contype = 'f') \
                 SELECT f.name::text, pg_catalog.bool_or(f.excl) \
                 FROM found f JOIN pg_catalog.pg_class k ON k.oid = f.name \
                 WHERE k.relkind IN ('r', 'p', 'f', 'm') \
                 GROUP BY f.name ORDER BY f.name::oid",
                &[&exclusive, &shared, &remade],
            )
            .await
            .map_err(|e| pg_error("cannot look at the tables to restore", e))?;
        let mut wanted = Wanted::default();
        for r in rows {
            let (name, excl): (String, bool) = (r.get(0), r.get(1));
            if excl {
                wanted.exclusive.push(name);
            } else {
                wanted.shared.push(name);
            }
        }
        Ok(wanted)
    }

    /// The error of a restore that waited `wait` for `wanted` in vain,
    /// naming the sessions that hold them.
    async fn held(&self, wanted: &Wanted, wait: Duration) -> SourceError {
        let holders = match self
            .client
            .query(
                "SELECT DISTINCT a.pid, l.relation::pg_catalog.regclass::text, \
                        coalesce(a.application_name, ''), coalesce(a.usename::text, ''), \
                        coalesce(a.state, ''), \
                        coalesce(extract(epoch FROM pg_catalog.now() - coalesce(a.xact_start, a.query_start)), 0)::float8, \
                        pg_catalog.left(pg_catalog.regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 120) \
                 FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.granted AND l.locktype = 'relation' AND l.pid <> pg_catalog.pg_backend_pid() \
                   AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) \
                   AND (l.relation = ANY($1::text[]::pg_catalog.regclass[]) \
                        OR (l.relation = ANY($2::text[]::pg_catalog.regclass[]) AND l.mode = ANY($3))) \
                 ORDER BY 1, 2",
                &[&wanted.exclusive, &wanted.shared, &BLOCKS_ROW_EXCLUSIVE],
            )
            .await
        {
            Ok(rows) => rows
                .iter()
                .map(|r| Holder {
                    pid: r.get(0),
                    table: r.get(1),
                    application: r.get(2),
                    user: r.get(3),
                    state: r.get(4),
                    for_secs: r.get(5),
                    query: r.get(6),
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        lock_error(&holders, wait)
    }
}

/// The error naming who holds the tables.
fn lock_error(holders: &[Holder], wait: Duration) -> SourceError {
    let mut tables: Vec<&str> = holders.iter().map(|h| h.table.as_str()).collect();
    tables.sort_unstable();
    tables.dedup();
    let what = match tables.as_slice() {
        [] => "the tables it restores".to_string(),
        [one] => format!("table {one}"),
        many => format!("tables {}", many.join(", ")),
    };
    let mut message = format!(
        "the restore waited {} for other sessions to let go of {what}, and changed nothing",
        human(wait.as_secs_f64())
    );
    let mut pids: Vec<i32> = Vec::new();
    for h in holders {
        let who = match (h.application.is_empty(), h.user.is_empty()) {
            (false, false) => format!("{}, user {}", h.application, h.user),
            (true, false) => format!("user {}", h.user),
            (false, true) => h.application.clone(),
            (true, true) => "no name".to_string(),
        };
        let _ = write!(
            message,
            "\n  session {} ({who}) holds {}: {} for {}",
            h.pid,
            h.table,
            if h.state.is_empty() { "busy" } else { &h.state },
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
    SourceError::new(ErrorKind::Conflict, message).with_hint(format!(
        "stop the application{end}, then restore again; or give it longer with --lock-wait"
    ))
}

/// `95` as "1m 35s".
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
            shared: vec!["public.c".into()],
        };
        assert_eq!(
            w.statements(false),
            "LOCK TABLE public.a, public.b IN ACCESS EXCLUSIVE MODE; \
             LOCK TABLE public.c IN ROW EXCLUSIVE MODE; "
        );
        assert!(w.statements(true).contains("MODE NOWAIT; "));
        assert_eq!(Wanted::default().statements(false), "");
    }

    #[test]
    fn the_error_names_each_holder_and_how_to_end_it() {
        let holder = |pid, table: &str| Holder {
            pid,
            table: table.into(),
            application: "shop-web".into(),
            user: "shop".into(),
            state: "idle in transaction".into(),
            for_secs: 95.4,
            query: "SELECT count(*) FROM users".into(),
        };
        let e = lock_error(
            &[holder(7, "users"), holder(7, "orders"), holder(9, "users")],
            Duration::from_secs(30),
        );
        let text = e.to_string();
        assert!(text.contains("waited 30s"), "{text}");
        assert!(
            text.contains("let go of tables orders, users, and"),
            "{text}"
        );
        assert!(
            text.contains(
                "session 7 (shop-web, user shop) holds users: idle in transaction for 95s, \
                 last query: SELECT count(*) FROM users"
            ),
            "{text}"
        );
        let hint = e.hint().unwrap_or_default().to_string();
        assert!(
            hint.contains("SELECT pg_terminate_backend(7); SELECT pg_terminate_backend(9)"),
            "{hint}"
        );
        assert_eq!(e.kind(), ErrorKind::Conflict);
        let nobody = lock_error(&[], Duration::from_secs(5)).to_string();
        assert!(
            nobody.contains("let go of the tables it restores"),
            "{nobody}"
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
