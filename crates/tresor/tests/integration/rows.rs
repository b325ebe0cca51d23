//! Working with rows from the command line: `diff` between snapshots and
//! against the live database, and `restore --where --with-related`.

use super::support::{Env, dump, sql, stderr};

fn shop(env: &Env) -> std::path::PathBuf {
    let db = env.path("shop.db");
    sql(
        &db,
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE orders (id INTEGER PRIMARY KEY,
             customer_id INTEGER NOT NULL REFERENCES customers(id), total REAL);
         INSERT INTO customers VALUES (1, 'ada'), (2, 'grace'), (3, 'edsger');
         INSERT INTO orders VALUES (10, 1, 9.5), (11, 2, 20.0), (12, 3, 1.25), (13, 3, 7.0);",
    );
    db
}

/// The ids in the shop's `orders`, in order.
fn order_ids(db: &std::path::Path) -> Vec<i64> {
    let c = rusqlite::Connection::open(db).unwrap();
    c.prepare("SELECT id FROM orders ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn diff_lists_what_changed_between_snapshots_and_against_the_database() {
    let env = Env::new();
    let db = shop(&env);
    let first = env.json(&["backup", db.to_str().unwrap()])["id"]
        .as_str()
        .unwrap()
        .to_string();
    sql(
        &db,
        "UPDATE customers SET name = 'grace hopper' WHERE id = 2;
         DELETE FROM orders WHERE id = 12;
         INSERT INTO orders VALUES (14, 1, 3.0);",
    );
    env.ok(&["backup", db.to_str().unwrap()]);

    let text = env.ok(&["diff", &first[..8], "latest", "--rows"]);
    assert!(
        text.contains("~ customers id=2: name: \"grace\" -> \"grace hopper\""),
        "{text}"
    );
    assert!(text.contains("- orders id=12"), "{text}");
    assert!(text.contains("+ orders id=14"), "{text}");

    let v = env.json(&["diff", &first[..8], "latest"]);
    let orders = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "orders")
        .unwrap();
    assert_eq!(
        (orders["inserted"].as_u64(), orders["deleted"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(orders["status"], "changed");

    // JSON Lines: one object per row, then a summary per table
    let out = env.ok(&["diff", &first[..8], "latest", "--json-lines"]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|l| l["change"] == "update"
        && l["key"]["id"] == 2
        && l["columns"]["name"]["new"] == "grace hopper"));
    assert_eq!(
        lines.iter().filter(|l| l.get("summary").is_some()).count(),
        2
    );

    // --where and --limit
    let text = env.ok(&[
        "diff",
        &first[..8],
        "latest",
        "--rows",
        "--where",
        "orders: total > 2",
    ]);
    assert!(
        text.contains("+ orders id=14") && !text.contains("- orders id=12"),
        "{text}"
    );
    let text = env.ok(&["diff", &first[..8], "latest", "--rows", "--limit", "1"]);
    assert!(text.contains("(1 of 3 changed rows shown)"), "{text}");

    // against the live database
    sql(
        &db,
        "DELETE FROM customers WHERE id = 1 AND 0; UPDATE orders SET total = 8 WHERE id = 13;",
    );
    let text = env.ok(&["diff", "latest", "--live", "--rows"]);
    assert!(
        text.contains("~ orders id=13: total: 7.0 -> 8.0")
            || text.contains("~ orders id=13: total: 7 -> 8"),
        "{text}"
    );

    // mistakes get clear errors
    for (args, said) in [
        (
            vec!["diff", "latest"],
            "another snapshot or with the live database",
        ),
        (
            vec!["diff", "latest", "latest", "--where", "orders"],
            "does not name a table",
        ),
        (
            vec![
                "diff",
                "latest",
                "latest",
                "--where",
                "orders: lower(x) = 1",
            ],
            "not part of the predicate language",
        ),
        (
            vec!["diff", "latest", "latest", "--where", "nosuch: id = 1"],
            "neither side has",
        ),
    ] {
        let out = env.tresor(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(said), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn restore_brings_back_one_customer_with_their_orders() {
    let env = Env::new();
    let db = shop(&env);
    env.ok(&["backup", db.to_str().unwrap()]);
    let backed_up = dump(&db);
    sql(
        &db,
        "DELETE FROM orders WHERE customer_id = 3; DELETE FROM customers WHERE id = 3;
         UPDATE customers SET name = 'ada lovelace' WHERE id = 1;",
    );
    let args = [
        "restore",
        "latest",
        "--to",
        db.to_str().unwrap(),
        "--where",
        "customers: id = 3",
        "--with-related",
    ];
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let text = env.ok(&dry);
    assert!(text.contains("rows chosen"), "{text}");
    assert!(text.contains("belongs to customers"), "{text}");
    assert!(
        text.contains("every table loaded and every check passed"),
        "{text}"
    );
    let mut yes = args.to_vec();
    yes.push("--yes");
    env.ok(&yes);
    let c = rusqlite::Connection::open(&db).unwrap();
    let names: Vec<String> = c
        .prepare("SELECT name FROM customers ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        names,
        ["ada lovelace", "grace", "edsger"],
        "the other customer keeps her change"
    );
    let orders: i64 = c
        .query_row(
            "SELECT count(*) FROM orders WHERE customer_id = 3",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orders, 2);
    assert_ne!(dump(&db), backed_up);

    // --with-related needs --where; a selection cannot replace
    let out = env.tresor(&[
        "restore",
        "latest",
        "--to",
        db.to_str().unwrap(),
        "--with-related",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env.tresor(&[
        "restore",
        "latest",
        "--to",
        db.to_str().unwrap(),
        "--where",
        "customers: id = 3",
        "--mode",
        "replace",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("merge mode"), "{}", stderr(&out));
}

/// The wine app's rule and the shop's safe delete: a guard around a
/// command, the rows it changed, a protected group that must not lose a
/// row, and undo with a conflict.
#[test]
fn guard_shows_what_a_command_changed_and_undo_puts_it_back() {
    let env = Env::new();
    let db = shop(&env);
    std::fs::write(
        env.path("tresor.toml"),
        format!(
            "[sources.shop]\nurl = \"sqlite://{}\"\n[sources.shop.groups]\nuser-data = [\"customers\"]\n",
            db.display()
        ),
    )
    .unwrap();
    let sqlite = |statement: &str| {
        vec![
            "sqlite3".to_string(),
            db.display().to_string(),
            statement.to_string(),
        ]
    };

    // a harmless command: exit status passed through, changes listed
    let mut args = vec!["guard", "shop", "--rows", "--"];
    let cmd = sqlite("INSERT INTO orders VALUES (20, 1, 5.0); DELETE FROM orders WHERE id = 10;");
    args.extend(cmd.iter().map(String::as_str));
    let out = env.tresor(&args);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("+ orders id=20") && text.contains("- orders id=10"),
        "{text}"
    );
    assert!(text.contains("undo with: tresor undo"), "{text}");

    // a later change to an order the command also changed is a conflict
    sql(&db, "UPDATE orders SET total = 6.0 WHERE id = 20;");
    let text = env.ok(&["undo", "--dry-run"]);
    assert!(text.contains("conflict: orders id=20"), "{text}");
    env.ok(&["undo", "--yes"]);
    let ids = order_ids(&db);
    assert_eq!(
        ids,
        [10, 11, 12, 13, 20],
        "order 10 is back, 20 (changed again) stays"
    );
    env.ok(&["undo", "--yes", "--force"]);
    let ids = order_ids(&db);
    assert_eq!(
        ids,
        [10, 11, 12, 13],
        "forced: the command's insert goes too"
    );

    // a deploy that must never delete user data
    let mut args = vec![
        "guard",
        "shop",
        "--protect",
        "user-data",
        "--undo-on-violation",
        "--",
    ];
    let cmd = sqlite(
        "DELETE FROM orders WHERE customer_id = 2; DELETE FROM customers WHERE id = 2; \
         INSERT INTO customers VALUES (9, 'new');",
    );
    args.extend(cmd.iter().map(String::as_str));
    let out = env.tresor(&args);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(5), "{text}{}", stderr(&out));
    assert!(text.contains("protected row"), "{text}");
    assert!(text.contains("put back at once"), "{text}");
    let c = rusqlite::Connection::open(&db).unwrap();
    let names: Vec<String> = c
        .prepare("SELECT name FROM customers ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // the protected table is as it was before the command: grace is back,
    // and the command's insert there went too
    assert_eq!(names, ["ada", "grace", "edsger"]);

    // guards are listed apart, released on request
    let listing = env.ok(&["snapshots"]);
    assert!(listing.contains("guard"), "{listing}");
    let out = env.json(&["guard", "--release", "latest:guard"]);
    assert!(
        out["released"].as_array().is_some_and(|a| !a.is_empty()),
        "{out}"
    );
}

/// In an append-only repository a guard and its undo work: the snapshots
/// the undo only needed for a while stay (its output names them), and
/// releasing a guard, which deletes, is refused before anything happens.
#[test]
fn guard_and_undo_work_in_an_append_only_repository() {
    let env = Env::new();
    let db = shop(&env);
    let url = format!("sqlite://{}", db.display());
    let path = db.display().to_string();
    let out = env.tresor(&[
        "--append-only",
        "guard",
        &url,
        "--",
        "sqlite3",
        &path,
        "DELETE FROM orders WHERE id = 10;",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let guarded = env.snapshot_ids().len();
    assert_eq!(guarded, 2, "the guard and its after-state");

    let text = env.ok(&["--append-only", "undo", "--dry-run"]);
    assert!(
        text.contains("orders") && text.contains("nothing was changed"),
        "{text}"
    );
    assert!(text.contains("the repository is append-only"), "{text}");
    let text = env.ok(&["--append-only", "undo", "--yes"]);
    assert!(text.contains("the repository is append-only"), "{text}");
    let ids = order_ids(&db);
    assert_eq!(ids, [10, 11, 12, 13], "order 10 is back");
    // each undo kept its plan and its safety snapshot
    assert_eq!(env.snapshot_ids().len(), guarded + 4);

    let out = env.tresor(&["--append-only", "guard", "--release", "latest:guard"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("with the full credentials"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.snapshot_ids().len(), guarded + 4, "nothing removed");
    // with the full credentials: the guard, its after-state and the two
    // plans go; the undos' safety snapshots stay, as any safety snapshot
    env.ok(&["guard", "--release", "latest:guard"]);
    assert_eq!(env.snapshot_ids().len(), 2);
}

/// A SQLite table keyed by text keeps a rowid of its own, which backups
/// and diffs know its rows by. Rows merged back get their rowid back where
/// no other row took it since, so a diff against the snapshot finds them
/// unchanged; where one did, the row merged back gets a new rowid.
#[test]
fn rows_merged_back_keep_their_rowid_where_it_is_free() {
    let env = Env::new();
    let db = env.path("tags.db");
    sql(
        &db,
        "CREATE TABLE tags (key TEXT NOT NULL, run TEXT NOT NULL, value TEXT,
             PRIMARY KEY (key, run));
         INSERT INTO tags VALUES ('a', 'r', '1'), ('b', 'r', '2'), ('c', 'r', '3'),
             ('d', 'r', '4');",
    );
    let url = db.to_str().unwrap();
    env.ok(&["backup", url]);
    // b and d deleted for good; e then takes d's rowid, the largest
    sql(
        &db,
        "DELETE FROM tags WHERE key IN ('b', 'd');
         INSERT INTO tags VALUES ('e', 'r', '5');",
    );
    env.ok(&[
        "restore",
        "latest",
        "--to",
        url,
        "--where",
        "tags: key IN ('b', 'd')",
        "--yes",
    ]);
    let c = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(i64, String)> = c
        .prepare("SELECT rowid, key FROM tags ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let want: Vec<(i64, String)> = [(1, "a"), (2, "b"), (3, "c"), (4, "e"), (5, "d")]
        .into_iter()
        .map(|(i, k)| (i, k.to_string()))
        .collect();
    assert_eq!(rows, want);
    // b is as the snapshot has it; d (another rowid) and e differ
    let diff = env.json(&["diff", "latest", "--live"]);
    let tags = diff["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "tags")
        .unwrap_or_else(|| panic!("{diff}"));
    assert_eq!(tags["unchanged"], 3, "{diff}");
}

/// An application that declares no foreign keys (Redmine, WordPress) left
/// `--with-related` nothing to follow: the dry run listed the chosen rows
/// alone and said every check passed, as if what belongs to them came
/// too. It is refused now, with how to choose those rows instead.
#[test]
fn with_related_and_no_keys_to_follow_is_refused() {
    let env = Env::new();
    let db = env.path("blog.db");
    sql(
        &db,
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT);
         CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL, body TEXT);
         INSERT INTO posts VALUES (1, 'a'), (2, 'b');
         INSERT INTO comments VALUES (1, 1, 'x'), (2, 2, 'y');",
    );
    let url = format!("sqlite://{}", db.display());
    env.ok(&["backup", &url, "--quiet"]);
    sql(
        &db,
        "DELETE FROM comments WHERE post_id = 1; DELETE FROM posts WHERE id = 1;",
    );
    let latest = format!("latest:{url}");
    for last in ["--dry-run", "--yes"] {
        let out = env.tresor(&[
            "restore",
            &latest,
            "--to",
            &url,
            "--where",
            "posts: id = 1",
            "--with-related",
            last,
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("no foreign key leads from or to posts"),
            "{}",
            stderr(&out)
        );
    }
    // what the hint says brings them back
    env.ok(&[
        "restore",
        &latest,
        "--to",
        &url,
        "--where",
        "posts: id = 1",
        "--where",
        "comments: post_id = 1",
        "--yes",
    ]);
    let c = rusqlite::Connection::open(&db).unwrap();
    let back: i64 = c
        .query_row("SELECT count(*) FROM comments WHERE post_id = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(back, 1);
}
