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
