//! Restoring chosen rows with what they depend on: "a customer deleted
//! their project yesterday, bring back just that".
//!
//! The schema has chains (projects -> tasks -> comments), fan-out (tasks
//! and comments reference users too), self-references (a user's manager,
//! a task's parent task) and a cycle (users -> their favourite project ->
//! its owner). After the project is deleted, users are edited and a new
//! project is added, restoring `projects: id = 4711` with related rows
//! must bring back the project, its tasks and subtasks and their comments,
//! insert the one author who is gone, leave users who still exist as they
//! are now, touch nothing else, and leave every foreign key intact.

use std::sync::Arc;
use std::time::Duration;

use tresor_core::{Connector, RestoreMode, RowFilter, TableFilter};
use tresor_ops::{
    BackupOptions, CacheDir, NoProgress, RehearsalOutcome, RestoreOptions, RowSelection, backup,
    preview, restore,
};
use tresor_repo::{InitOptions, KdfParams, Password, Repository, Storage};
use tresor_sqlite::SqliteConnector;

const SCHEMA: &str = "
    PRAGMA foreign_keys = ON;
    CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
        manager_id INTEGER REFERENCES users(id),
        favorite_project_id INTEGER REFERENCES projects(id) DEFERRABLE INITIALLY DEFERRED);
    CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
        owner_id INTEGER NOT NULL REFERENCES users(id));
    CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        assignee_id INTEGER REFERENCES users(id),
        parent_task_id INTEGER REFERENCES tasks(id));
    CREATE TABLE comments (id INTEGER PRIMARY KEY, body TEXT,
        task_id INTEGER NOT NULL REFERENCES tasks(id),
        author_id INTEGER NOT NULL REFERENCES users(id));
    CREATE TABLE settings (k TEXT PRIMARY KEY, v TEXT);
";

const DATA: &str = "
    BEGIN;
    INSERT INTO users VALUES (1, 'boss', NULL, NULL), (2, 'ada', 1, 4711), (3, 'grace', 1, 7),
                             (4, 'edsger', 2, NULL), (5, 'barbara', 2, NULL);
    INSERT INTO projects VALUES (7, 'other', 3), (4711, 'launch', 2);
    INSERT INTO tasks VALUES (10, 'plan', 4711, 4, NULL), (11, 'build', 4711, 5, 10),
                             (12, 'ship', 4711, NULL, 11), (20, 'unrelated', 7, 3, NULL);
    INSERT INTO comments VALUES (100, 'go', 10, 5), (101, 'done', 11, 4), (102, 'hm', 12, 2),
                                (200, 'other', 20, 3);
    INSERT INTO settings VALUES ('theme', 'dark');
    COMMIT;
";

/// What happened after the backup.
const AFTER: &str = "
    PRAGMA foreign_keys = ON;
    BEGIN;
    DELETE FROM comments WHERE task_id IN (SELECT id FROM tasks WHERE project_id = 4711);
    UPDATE tasks SET parent_task_id = NULL WHERE project_id = 4711;
    DELETE FROM tasks WHERE project_id = 4711;
    UPDATE users SET favorite_project_id = NULL WHERE favorite_project_id = 4711;
    DELETE FROM projects WHERE id = 4711;
    -- barbara left: her comment on 'plan' needs her back
    DELETE FROM users WHERE id = 5;
    -- ada renamed herself; the restore must not undo that
    UPDATE users SET name = 'ada lovelace' WHERE id = 2;
    INSERT INTO projects VALUES (8, 'new', 3);
    UPDATE settings SET v = 'light';
    UPDATE comments SET body = 'edited' WHERE id = 200;
    COMMIT;
";

fn query(path: &std::path::Path, sql: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n)
            .map(|i| {
                r.get::<_, rusqlite::types::Value>(i)
                    .map(|v| format!("{v:?}"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.join("|"))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_project_comes_back_with_what_it_needs_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let url = format!("sqlite://{}", db.display());
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c.execute_batch(DATA).unwrap();
    }
    let repo = Arc::new(
        Repository::init(
            Storage::memory(),
            &Password::new("pw"),
            InitOptions {
                kdf: KdfParams::insecure_for_tests(),
                ..InitOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let source = SqliteConnector.source(&url).unwrap();
    let snap = backup(
        &repo,
        source.as_ref(),
        &BackupOptions {
            url: url.clone(),
            cache: CacheDir::Off,
            ..BackupOptions::default()
        },
        &NoProgress,
    )
    .await
    .unwrap();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(AFTER)
        .unwrap();

    let options = RestoreOptions {
        tables: TableFilter::all(),
        mode: RestoreMode::Merge,
        safety_snapshot: true,
        target_url: url.clone(),
        target_name: None,
        username: None,
        rehearsal: Some(Duration::from_secs(60)),
        rows: Some(RowSelection {
            filters: vec![RowFilter::parse("projects: id = 4711").unwrap()],
            with_related: true,
        }),
        only_missing: false,
        ..RestoreOptions::default()
    };
    let target = SqliteConnector.target(&url).unwrap();
    let p = preview(&repo, &snap, target.as_ref(), source.as_ref(), &options)
        .await
        .unwrap();
    assert_eq!(
        p.rehearsal.as_ref().map(|r| r.outcome),
        Some(RehearsalOutcome::Passed),
        "{p:?}"
    );
    let count = |t: &str| {
        p.selection
            .iter()
            .find(|s| s.table == t)
            .map_or(0, |s| s.rows)
    };
    assert_eq!(count("projects"), 1, "{:?}", p.selection);
    assert_eq!(count("tasks"), 3, "{:?}", p.selection);
    assert_eq!(count("comments"), 3, "{:?}", p.selection);
    // ada (owner, commenter), edsger (assignee, author) and the boss (their
    // manager) still exist: only barbara comes back
    assert_eq!(count("users"), 1, "{:?}", p.selection);
    assert!(
        p.selection.iter().all(|s| s.table != "settings"),
        "{:?}",
        p.selection
    );
    let users = p.selection.iter().find(|s| s.table == "users").unwrap();
    assert!(users.already_present >= 3, "{users:?}");
    assert!(
        users
            .reasons
            .iter()
            .all(|r| r.why.starts_with("required by")),
        "{users:?}"
    );
    let tasks = p.selection.iter().find(|s| s.table == "tasks").unwrap();
    assert!(
        tasks
            .reasons
            .iter()
            .any(|r| r.why.contains("belongs to projects")),
        "{tasks:?}"
    );
    let before_restore = query(&db, "SELECT * FROM users ORDER BY id");

    restore(
        &repo,
        &snap,
        target.as_ref(),
        Some(source.as_ref()),
        &options,
        &NoProgress,
    )
    .await
    .unwrap();

    assert_eq!(
        query(&db, "SELECT * FROM projects ORDER BY id"),
        [
            "Integer(7)|Text(\"other\")|Integer(3)",
            "Integer(8)|Text(\"new\")|Integer(3)",
            "Integer(4711)|Text(\"launch\")|Integer(2)"
        ]
    );
    assert_eq!(
        query(&db, "SELECT id, parent_task_id FROM tasks ORDER BY id"),
        [
            "Integer(10)|Null",
            "Integer(11)|Integer(10)",
            "Integer(12)|Integer(11)",
            "Integer(20)|Null"
        ]
    );
    assert_eq!(
        query(&db, "SELECT id, body FROM comments ORDER BY id"),
        [
            "Integer(100)|Text(\"go\")",
            "Integer(101)|Text(\"done\")",
            "Integer(102)|Text(\"hm\")",
            "Integer(200)|Text(\"edited\")"
        ],
        "the unrelated comment keeps its edit"
    );
    let users = query(&db, "SELECT * FROM users ORDER BY id");
    let mut expected = before_restore.clone();
    expected.push("Integer(5)|Text(\"barbara\")|Integer(2)|Null".into());
    assert_eq!(users, expected, "existing users stay as they are now");
    assert!(users[1].contains("ada lovelace"));
    assert_eq!(query(&db, "SELECT v FROM settings"), ["Text(\"light\")"]);
    assert!(
        query(&db, "PRAGMA foreign_key_check").is_empty(),
        "every foreign key holds"
    );
}

/// Without `--with-related` only the chosen rows come, and a row whose
/// parent is gone is refused by the preview as by the restore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chosen_rows_alone_and_their_broken_references() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let url = format!("sqlite://{}", db.display());
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c.execute_batch(DATA).unwrap();
    }
    let repo = Arc::new(
        Repository::init(
            Storage::memory(),
            &Password::new("pw"),
            InitOptions {
                kdf: KdfParams::insecure_for_tests(),
                ..InitOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let source = SqliteConnector.source(&url).unwrap();
    let snap = backup(
        &repo,
        source.as_ref(),
        &BackupOptions {
            url: url.clone(),
            cache: CacheDir::Off,
            ..BackupOptions::default()
        },
        &NoProgress,
    )
    .await
    .unwrap();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(AFTER)
        .unwrap();
    let target = SqliteConnector.target(&url).unwrap();
    let with = |filters: &[&str], mode| RestoreOptions {
        tables: TableFilter::all(),
        mode,
        safety_snapshot: true,
        target_url: url.clone(),
        target_name: None,
        username: None,
        rehearsal: Some(Duration::from_secs(60)),
        rows: Some(RowSelection {
            filters: filters
                .iter()
                .map(|f| RowFilter::parse(f).unwrap())
                .collect(),
            with_related: false,
        }),
        only_missing: false,
        ..RestoreOptions::default()
    };
    // a comment whose task is gone: its reference would break
    let o = with(&["comments: id = 101"], RestoreMode::Merge);
    let p = preview(&repo, &snap, target.as_ref(), source.as_ref(), &o)
        .await
        .unwrap();
    assert_eq!(
        p.rehearsal.as_ref().map(|r| r.outcome),
        Some(RehearsalOutcome::Failed),
        "{p:?}"
    );
    assert!(
        restore(
            &repo,
            &snap,
            target.as_ref(),
            Some(source.as_ref()),
            &o,
            &NoProgress
        )
        .await
        .is_err()
    );
    // the unrelated comment's old text, alone
    let o = with(&["comments: id = 200"], RestoreMode::Merge);
    restore(
        &repo,
        &snap,
        target.as_ref(),
        Some(source.as_ref()),
        &o,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(
        query(&db, "SELECT body FROM comments WHERE id = 200"),
        ["Text(\"other\")"]
    );
    assert_eq!(query(&db, "SELECT v FROM settings"), ["Text(\"light\")"]);
    // replace mode and an empty selection are refused with a reason
    let o = with(&["comments: id = 200"], RestoreMode::Replace);
    let e = restore(
        &repo,
        &snap,
        target.as_ref(),
        Some(source.as_ref()),
        &o,
        &NoProgress,
    )
    .await
    .expect_err("replace");
    assert!(e.to_string().contains("merge mode"), "{e}");
    let o = with(&["comments: id = 99999"], RestoreMode::Merge);
    let e = restore(
        &repo,
        &snap,
        target.as_ref(),
        Some(source.as_ref()),
        &o,
        &NoProgress,
    )
    .await
    .expect_err("nothing matches");
    assert!(e.to_string().contains("no row"), "{e}");
}
