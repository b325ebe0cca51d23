//! Moving an application's database to another engine: a database that a
//! Django project's migrations made and its ORM filled, restored into
//! another engine, then read back by the same ORM through its own
//! serializer and written to by the application.

use std::process::Command;

use super::apps::App;
use super::disasters::{Db, Kind};
use super::support::{Env, stderr};

/// Every object of the database at `url`, as `app`'s ORM reads it (Django
/// through its serializer, TypeORM through its repositories).
pub(super) fn app_dump(app: App, url: &str) -> String {
    let out = app.shop(&["dump", url]);
    assert!(
        out.status.success(),
        "{app:?} dump of {url}: {}",
        stderr(&out)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The application inserts and updates rows (ids from the sequences,
/// every constraint checked).
pub(super) fn app_writes(app: App, url: &str) {
    let out = app.shop(&["write", url]);
    assert!(
        out.status.success(),
        "the {app:?} application cannot write to {url} after the move:\n{}",
        stderr(&out)
    );
}

/// `src`, made by `app`, backed up, drilled (the drill must pass) and
/// restored into a new database of its engine, which `app` must read back
/// as the same objects; the restored copy.
pub(super) fn drilled_and_restored(app: App, kind: Kind, env: &Env, src: &Db) -> Db {
    let from = src.url();
    env.ok(&["backup", &from, "--quiet"]);
    let latest = format!("latest:{from}");
    let report = env.json(&["drill", &latest]);
    assert_eq!(report["ok"], true, "drill of {from}: {report}");
    let to = Db::create(kind, env.dir.path());
    env.ok(&["restore", &latest, "--to", &to.url(), "--yes"]);
    let (want, got) = (app_dump(app, &from), app_dump(app, &to.url()));
    assert!(want == got, "{from}: {}", first_difference(&want, &got));
    to
}

/// A dump with the documented approximations of a move into an empty
/// database applied: instants without their zone, decimals without
/// trailing zeros, UUIDs without dashes.
pub(super) fn approximated(dump: &str) -> String {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => {
                let is_instant = s.len() > 19 && s.as_bytes().get(10) == Some(&b'T');
                let is_uuid =
                    s.len() == 36 && [8, 13, 18, 23].iter().all(|i| s.as_bytes()[*i] == b'-');
                if is_uuid {
                    s.retain(|c| c != '-');
                } else if is_instant && s.ends_with('Z') {
                    s.pop();
                } else if s.contains('.') && s.parse::<f64>().is_ok() && !s.contains(['e', 'E']) {
                    while s.ends_with('0') {
                        s.pop();
                    }
                    if s.ends_with('.') {
                        s.pop();
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            serde_json::Value::Object(o) => o.values_mut().for_each(walk),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(dump).expect("json");
    walk(&mut v);
    serde_json::to_string_pretty(&v).expect("json")
}

pub(super) fn first_difference(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    format!(
        "line {at}: {:?} became {:?} ({} and {} lines)",
        a.get(at.saturating_sub(3)..(at + 3).min(a.len())),
        b.get(at.saturating_sub(3)..(at + 3).min(b.len())),
        a.len(),
        b.len()
    )
}

/// The six directions between SQLite, PostgreSQL and MariaDB, each into
/// the schema `app`'s migrations made on the target (the usual way to move
/// an app: the ORM must read back exactly the same objects and go on
/// writing) and into an empty database (tresor makes the tables from the
/// portable model; the documented approximations apply, as `approximate`
/// writes them into a dump). `rows` says how much `app` makes.
pub(super) fn moves_from(app: App, kind: Kind, rows: &str, approximate: fn(&str) -> String) {
    let env = Env::new();
    let src = Db::create(kind, env.dir.path());
    src.make(app, rows);
    let from = src.url();
    env.ok(&["backup", &from, "--quiet"]);
    let expected = app_dump(app, &from);
    let latest = format!("latest:{from}");
    for target in [Kind::Sqlite, Kind::Postgres, Kind::Mariadb] {
        if target == kind {
            continue;
        }
        let migrated = Db::create(target, env.dir.path());
        migrated.make(app, "0");
        let to = migrated.url();
        env.ok(&["restore", &latest, "--to", &to, "--dry-run"]);
        env.ok(&["restore", &latest, "--to", &to, "--yes"]);
        let got = app_dump(app, &to);
        assert!(
            got == expected,
            "{app:?}: {from} into the migrated {to}: {}",
            first_difference(&expected, &got)
        );
        app_writes(app, &to);

        let empty = Db::create(target, env.dir.path());
        let to = empty.url();
        env.ok(&["restore", &latest, "--to", &to, "--dry-run"]);
        env.ok(&["restore", &latest, "--to", &to, "--yes"]);
        let (got, want) = (approximate(&app_dump(app, &to)), approximate(&expected));
        assert!(
            got == want,
            "{app:?}: {from} into the empty {to}: {}",
            first_difference(&want, &got)
        );
    }
}

#[test]
fn from_sqlite_into_postgres_and_mariadb() {
    moves_from(App::Django, Kind::Sqlite, "25", approximated);
}

#[test]
fn from_postgres_into_sqlite_and_mariadb() {
    moves_from(App::Django, Kind::Postgres, "25", approximated);
}

#[test]
fn from_mariadb_into_sqlite_and_postgres() {
    moves_from(App::Django, Kind::Mariadb, "25", approximated);
}

/// SQLite to PostgreSQL, the move people make when they grow: into the
/// schema Django's `migrate` made on PostgreSQL (the usual way to move an
/// app), the ORM reads back exactly the same objects and inserts new
/// ones; into an empty database, tresor makes the tables, keys, indexes
/// and foreign keys from the portable model.
#[test]
fn sqlite_to_postgres_as_django_reads_it() {
    let env = Env::new();
    let src = Db::create(Kind::Sqlite, env.dir.path());
    src.fill();
    let from = src.url();
    env.ok(&["backup", &from, "--quiet"]);
    let expected = app_dump(App::Django, &from);
    let latest = format!("latest:{from}");

    // into the schema the application's migrations made
    let migrated = Db::create(Kind::Postgres, env.dir.path());
    migrated.migrate();
    let to = migrated.url();
    env.ok(&["restore", &latest, "--to", &to, "--dry-run"]);
    env.ok(&["restore", &latest, "--to", &to, "--yes"]);
    let got = app_dump(App::Django, &to);
    assert!(got == expected, "{}", first_difference(&expected, &got));
    app_writes(App::Django, &to);

    // into an empty database
    let empty = Db::create(Kind::Postgres, env.dir.path());
    let to = empty.url();
    env.ok(&["restore", &latest, "--to", &to, "--dry-run"]);
    env.ok(&["restore", &latest, "--to", &to, "--yes"]);
    // without the application's schema the declared types are all there
    // is: SQLite's `datetime` has no zone (the columns become `timestamp`,
    // read back without one) and Django declares `decimal` without a scale
    // there (568.60 reads back as 568.6), and its UUIDs as `char(32)`
    // (read back without dashes); docs/cross-engine.md
    let got = approximated(&app_dump(App::Django, &to));
    let want = approximated(&expected);
    assert!(got == want, "{}", first_difference(&want, &got));
    // every key, unique constraint, index and foreign key SQLite had
    let file = from.trim_start_matches("sqlite://");
    let lite = rusqlite::Connection::open(file).expect("sqlite");
    let count = |sql: &str| -> i64 { lite.query_row(sql, [], |r| r.get(0)).expect("count") };
    let tables = count(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    );
    let fks = count(
        "SELECT count(*) FROM (SELECT DISTINCT m.name, f.id FROM sqlite_master m, \
         pragma_foreign_key_list(m.name) f WHERE m.type = 'table')",
    );
    let uniques = count(
        "SELECT count(*) FROM sqlite_master m, pragma_index_list(m.name) i \
         WHERE m.type = 'table' AND i.origin = 'u'",
    );
    let indexes = count(
        "SELECT count(*) FROM sqlite_master m, pragma_index_list(m.name) i WHERE m.type = 'table'",
    );
    let got = empty.query(
        "SELECT count(*) FILTER (WHERE contype = 'p') || ' ' || count(*) FILTER (WHERE contype = 'f') \
         || ' ' || count(*) FILTER (WHERE contype = 'u') || ' ' || \
         (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public') FROM pg_constraint c \
         JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'",
    );
    let got: Vec<i64> = got
        .split_whitespace()
        .map(|n| n.parse().expect("count"))
        .collect();
    assert_eq!(
        got[..3],
        [tables, fks, uniques],
        "primary keys, foreign keys, unique constraints"
    );
    // SQLite lists a table's INTEGER PRIMARY KEY as no index; PostgreSQL
    // indexes every primary key
    assert!(
        got[3] >= indexes,
        "{} indexes, SQLite had {indexes}",
        got[3]
    );
}

/// Into another engine the dry run lists every approximation, per table
/// and column, and `--strict` refuses the restore (dry run and restore
/// alike) without touching the target.
#[test]
fn approximations_are_listed_and_strict_refuses_them() {
    let env = Env::new();
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE TYPE mood AS ENUM ('sad', 'ok');
         CREATE TABLE events (id integer PRIMARY KEY, at timestamptz NOT NULL,
           feeling mood, tags text[], amount numeric(30,2) CHECK (amount >= 0 AND amount::text ~ '^[0-9]'));
         INSERT INTO events VALUES (1, '2024-05-01 10:00+02', 'ok', ARRAY['a','b'], 12.50);
         CREATE VIEW recent AS SELECT id FROM events;",
    );
    env.ok(&["backup", &src.url(), "--quiet"]);
    let latest = format!("latest:{}", src.url());
    let dst = Db::create(Kind::Sqlite, env.dir.path());
    let to = dst.url();

    let dry = env.ok(&["restore", &latest, "--to", &to, "--dry-run"]);
    for expected in [
        "events.at: timestamp with time zone becomes DATETIME",
        "events.feeling: public.mood becomes TEXT",
        "events.tags: text[] becomes TEXT",
        "events.amount: numeric(30,2) becomes TEXT",
        "check constraint events",
        "view recent: not created",
    ] {
        assert!(dry.contains(expected), "{expected:?} missing:\n{dry}");
    }
    let json = env.json(&["restore", &latest, "--to", &to, "--dry-run", "--json"]);
    assert!(
        json["approximations"]
            .as_array()
            .is_some_and(|a| a.len() >= 6),
        "{json}"
    );

    for extra in [&["--dry-run"][..], &["--yes"][..]] {
        let mut args = vec!["restore", latest.as_str(), "--to", to.as_str(), "--strict"];
        args.extend_from_slice(extra);
        let out = env.tresor(&args);
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        assert!(stderr(&out).contains("--strict"), "{}", stderr(&out));
    }
    let untouched = dst.dump();
    assert!(
        !untouched.iter().any(|l| l.contains("CREATE TABLE")),
        "{untouched:?}"
    );
    env.ok(&["restore", &latest, "--to", &to, "--yes"]);
    assert!(dst.dump().iter().any(|l| l.contains("CREATE TABLE")));
}

/// The archive path across engines: a PostgreSQL snapshot exported, the
/// archive imported into another repository, and restored from there into
/// SQLite and MariaDB, rows and foreign keys intact.
#[test]
fn an_exported_archive_restores_into_another_engine() {
    let env = Env::new();
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE TABLE authors (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
         CREATE TABLE books (id bigint PRIMARY KEY, author_id integer NOT NULL REFERENCES authors(id),
           title varchar(200) NOT NULL, price numeric(8,2), published date, data jsonb);
         INSERT INTO authors VALUES (1, 'Ibsen'), (2, 'Undset');
         INSERT INTO books VALUES (1, 1, 'Et dukkehjem', 249.50, '1879-12-21', '{\"pages\": 120}'),
           (2, 2, 'Kristin Lavransdatter', NULL, '1920-01-01', NULL);",
    );
    env.ok(&["backup", &src.url(), "--quiet"]);
    let archive = env.path("books.zip");
    env.ok(&[
        "export",
        &format!("latest:{}", src.url()),
        "-o",
        archive.to_str().unwrap(),
    ]);

    let other = Env::new();
    other.ok(&["import", archive.to_str().unwrap()]);
    for kind in [Kind::Sqlite, Kind::Mariadb] {
        let dst = Db::create(kind, other.dir.path());
        let to = dst.url();
        let dry = other.ok(&["restore", "latest", "--to", &to, "--dry-run"]);
        assert!(
            dry.contains("every table loaded and every check passed"),
            "{dry}"
        );
        other.ok(&["restore", "latest", "--to", &to, "--yes"]);
        let dump = dst.dump().join("\n");
        for expected in ["Et dukkehjem", "Kristin Lavransdatter", "Undset"] {
            assert!(dump.contains(expected), "{expected} missing from:\n{dump}");
        }
        // sqlite3's .dump prints the double 249.5 with 20 digits
        assert!(
            dump.contains("249.50") || dump.contains("249.49999999999999998"),
            "{dump}"
        );
        assert!(dump.contains("UNIQUE"), "no unique constraint:\n{dump}");
        assert!(
            dump.contains("REFERENCES") || dump.contains("FOREIGN KEY"),
            "no foreign key:\n{dump}"
        );
    }
}

/// One value out of database `db` on the PostgreSQL server at `port`.
fn psql_on(port: u16, db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
        .args(["-X", "-qtA", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql])
        .output()
        .expect("psql");
    assert!(out.status.success(), "{sql}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A snapshot of the machine's PostgreSQL (15) restored into PostgreSQL
/// 12, which lacks NULLS NOT DISTINCT and multiranges: the dry run lists
/// both, `--strict` refuses the restore (dry run and restore alike)
/// without creating anything, and the restore then does what the dry run
/// said.
#[test]
fn into_an_older_postgresql_the_dry_run_lists_what_it_lacks() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let pg12 = runtime
        .block_on(tresor_testing::servers::PostgresServer::start(12))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let env = Env::new();
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE TABLE accounts (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
           email text, team text, busy int4multirange,
           CONSTRAINT accounts_email_team_key UNIQUE NULLS NOT DISTINCT (email, team));
         INSERT INTO accounts (email, team, busy) VALUES
           ('a@example.com', NULL, '{[1,3),[5,7)}'), ('b@example.com', 'ops', '{}'), (NULL, NULL, NULL);",
    );
    env.ok(&["backup", &src.url(), "--quiet"]);
    let latest = format!("latest:{}", src.url());
    let db = format!("{}_on_12", src.name());
    let to = pg12.url_for(&db);
    let exists = || {
        psql_on(
            pg12.port,
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
        )
    };

    let dry = env.ok(&["restore", &latest, "--to", &to, "--dry-run"]);
    let expected = [
        "accounts.busy: int4multirange becomes int4range[]: PostgreSQL 12 has no multirange types (14+)",
        "unique constraint accounts: NULLS DISTINCT: accounts_email_team_key: PostgreSQL 12 has no NULLS NOT DISTINCT (15+)",
    ];
    for line in expected {
        assert!(dry.contains(line), "{line:?} missing:\n{dry}");
    }
    assert!(dry.contains("approximated in the target (2;"), "{dry}");
    let json = env.json(&["restore", &latest, "--to", &to, "--dry-run", "--json"]);
    assert_eq!(
        json["approximations"].as_array().map(Vec::len),
        Some(2),
        "{json}"
    );

    for extra in [&["--dry-run"][..], &["--yes"][..]] {
        let mut args = vec!["restore", latest.as_str(), "--to", to.as_str(), "--strict"];
        args.extend_from_slice(extra);
        let out = env.tresor(&args);
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        let message = stderr(&out);
        assert!(
            message.contains("--strict") && message.contains("multirange"),
            "{message}"
        );
    }
    assert_eq!(
        exists(),
        "0",
        "a refused or rehearsed restore left the database behind"
    );

    env.ok(&["restore", &latest, "--to", &to, "--yes"]);
    // what the dry run said: the ranges as an array, the key without
    // NULLS NOT DISTINCT, every row, and the identity going on after them
    let q = |sql: &str| psql_on(pg12.port, &db, sql);
    assert_eq!(
        q(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'public.accounts'::regclass AND attname = 'busy'"
        ),
        "int4range[]"
    );
    assert_eq!(
        q(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'accounts_email_team_key'"
        ),
        "UNIQUE (email, team)"
    );
    assert_eq!(
        q(
            "SELECT string_agg(concat_ws('|', id, email, team, busy), ';' ORDER BY id) FROM public.accounts"
        ),
        "1|a@example.com|{\"[1,3)\",\"[5,7)\"};2|b@example.com|ops|{};3"
    );
    assert_eq!(
        q("INSERT INTO public.accounts (email) VALUES ('c@example.com') RETURNING id"),
        "4"
    );
}

/// The literal defaults an application's migrations wrote (Rails on
/// SQLite: `DEFAULT 0 NOT NULL`, `DEFAULT ''`, `DEFAULT CURRENT_TIMESTAMP`)
/// come along into PostgreSQL and MariaDB, so that the application still
/// inserts without naming those columns; a default written in SQLite's
/// SQL is listed as not translated instead.
#[test]
fn literal_defaults_come_along_into_other_engines() {
    let env = Env::new();
    let db = env.path("rails.db");
    super::support::sql(
        &db,
        "CREATE TABLE users (id integer PRIMARY KEY AUTOINCREMENT NOT NULL,
           email varchar DEFAULT '' NOT NULL, admin boolean DEFAULT 0 NOT NULL,
           views bigint DEFAULT 0, rate decimal(4,2) DEFAULT 1.5,
           state varchar(10) DEFAULT 'it''s new', created_at datetime(6) DEFAULT CURRENT_TIMESTAMP NOT NULL,
           slug varchar DEFAULT (lower(hex(randomblob(4)))));
         INSERT INTO users (email) VALUES ('a@x.org');",
    );
    env.ok(&["backup", &format!("sqlite://{}", db.display())]);
    for (kind, row) in [
        (
            Kind::Postgres,
            "SELECT concat_ws('|', email, admin, views, rate, state, created_at IS NOT NULL) \
             FROM users WHERE id = 2",
        ),
        (
            Kind::Mariadb,
            "SELECT concat_ws('|', email, admin, views, rate, state, created_at IS NOT NULL) \
             FROM users WHERE id = 2",
        ),
    ] {
        let dst = Db::create(kind, env.dir.path());
        let dry = env.ok(&["restore", "latest", "--to", &dst.url(), "--dry-run"]);
        assert!(
            dry.contains("users.slug: default becomes no default"),
            "{dry}"
        );
        for kept in ["email", "admin", "views", "rate", "state", "created_at"] {
            assert!(
                !dry.contains(&format!("users.{kept}: default")),
                "{kept}: {dry}"
            );
        }
        env.ok(&["restore", "latest", "--to", &dst.url(), "--yes"]);
        dst.exec("INSERT INTO users (id) VALUES (2)");
        // admin's default 0 is false
        let want = match kind {
            Kind::Postgres => "|f|0|1.50|it's new|t",
            _ => "|0|0|1.50|it's new|1",
        };
        assert_eq!(dst.query_any(kind, row), want, "{}", dst.url());
    }
}

/// PostgreSQL's `serial` and `bigserial` (a default drawn from a sequence,
/// what TypeORM, Prisma and Rails make) number rows in the tables tresor
/// makes in MariaDB and SQLite as they did at the source: the application
/// inserts without an id and gets the number the source would have given
/// next (3, deleted before the backup, is not given again).
#[test]
fn serial_ids_go_on_in_other_engines() {
    let env = Env::new();
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE TABLE post (id serial PRIMARY KEY, title text NOT NULL); \
         CREATE TABLE event (id bigserial PRIMARY KEY, post_id int REFERENCES post (id)); \
         INSERT INTO post (title) VALUES ('a'), ('b'), ('c'); DELETE FROM post WHERE id = 3; \
         INSERT INTO event (post_id) VALUES (1), (2)",
    );
    let from = src.url();
    env.ok(&["backup", &from, "--quiet"]);
    let latest = format!("latest:{from}");
    for kind in [Kind::Mariadb, Kind::Sqlite] {
        let dst = Db::create(kind, env.dir.path());
        let dry = env.ok(&["restore", &latest, "--to", &dst.url(), "--dry-run"]);
        assert!(!dry.contains("post.id: default"), "{dry}");
        env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
        dst.exec("INSERT INTO post (title) VALUES ('new'); INSERT INTO event (post_id) VALUES (1)");
        assert_eq!(
            dst.query_any(kind, "SELECT max(id) FROM post WHERE title = 'new'"),
            "4",
            "{}",
            dst.url()
        );
        assert_eq!(dst.query_any(kind, "SELECT max(id) FROM event"), "3");
    }
}

/// MariaDB's native `uuid` (Django's `UUIDField` on MariaDB 10.7 and later)
/// becomes PostgreSQL's `uuid`, and a JSON column (`longtext` with a
/// `json_valid()` check) becomes `jsonb` without its check listed as lost:
/// the type checks that itself. A plain check (`n >= 0`) comes along.
#[test]
fn mariadb_uuid_and_json_columns_keep_their_types_in_postgres() {
    let env = Env::new();
    let src = Db::create(Kind::Mariadb, env.dir.path());
    src.exec(
        "CREATE TABLE entry (id int PRIMARY KEY, tk uuid NOT NULL, data json, \
           n int CHECK (n >= 0)); \
         INSERT INTO entry VALUES (1, '45a4227c-3bee-4107-9f0a-edbccde912ba', '{\"a\": [1, 2]}', 3)",
    );
    let from = src.url();
    env.ok(&["backup", &from, "--quiet"]);
    let latest = format!("latest:{from}");
    let dst = Db::create(Kind::Postgres, env.dir.path());
    let dry = env.ok(&["restore", &latest, "--to", &dst.url(), "--dry-run"]);
    assert!(!dry.contains("entry.tk"), "{dry}");
    assert!(!dry.contains("not created: data"), "{dry}");
    // `n >= 0` is SQL PostgreSQL shares: made there, not listed
    assert!(!dry.contains("check constraint"), "{dry}");
    env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
    assert!(!dst.try_exec(
        "INSERT INTO entry VALUES (2, '45a4227c-3bee-4107-9f0a-edbccde912bb', '{}', -1)"
    ));
    assert_eq!(
        dst.query(
            "SELECT pg_typeof(tk) || ' ' || pg_typeof(data) || ' ' || tk || ' ' || (data -> 'a' ->> 1) \
             FROM entry"
        ),
        "uuid jsonb 45a4227c-3bee-4107-9f0a-edbccde912ba 2"
    );
}

/// A kind of index only its engine has (PostgreSQL's `gin` on a `tsvector`
/// or with trigram operators, MariaDB's `FULLTEXT`) is not made as a plain
/// index in another engine, where it would have to hold long values in a
/// key: the dry run lists it, and values longer than any key loads.
#[test]
fn search_indexes_stay_in_their_engine() {
    let env = Env::new();
    let long = "wort ".repeat(1200);
    let pg = Db::create(Kind::Postgres, env.dir.path());
    pg.exec(&format!(
        "CREATE EXTENSION IF NOT EXISTS pg_trgm; \
         CREATE TABLE doc (id int PRIMARY KEY, title text, body tsvector); \
         CREATE INDEX doc_body ON doc USING gin (body); \
         CREATE INDEX doc_title ON doc USING gin (title gin_trgm_ops); \
         CREATE INDEX doc_title_plain ON doc (title); \
         INSERT INTO doc SELECT 1, 'kurz', to_tsvector('simple', '{long}' || \
           string_agg(md5(g::text), ' ')) FROM generate_series(1, 200) g"
    ));
    let my = Db::create(Kind::Mariadb, env.dir.path());
    my.exec(&format!(
        "CREATE TABLE doc (id int PRIMARY KEY, title varchar(200), body longtext, \
           FULLTEXT KEY doc_body (body), KEY doc_title_plain (title)) ENGINE=InnoDB; \
         SET SESSION group_concat_max_len = 1000000; \
         INSERT INTO doc SELECT 1, 'kurz', CONCAT('{long}', \
           GROUP_CONCAT(MD5(seq) SEPARATOR ' ')) FROM seq_1_to_400"
    ));
    for (src, dst_kind, special) in [
        (
            &pg,
            Kind::Mariadb,
            vec![
                "gin index doc: not created: doc_body",
                "gin index doc: not created: doc_title",
            ],
        ),
        (
            &my,
            Kind::Postgres,
            vec!["fulltext index doc: not created: doc_body"],
        ),
    ] {
        let from = src.url();
        env.ok(&["backup", &from, "--quiet"]);
        let latest = format!("latest:{from}");
        let dst = Db::create(dst_kind, env.dir.path());
        let dry = env.ok(&["restore", &latest, "--to", &dst.url(), "--dry-run"]);
        for s in special {
            assert!(dry.contains(s), "{s}: {dry}");
        }
        let out = env.tresor(&["restore", &latest, "--to", &dst.url(), "--yes"]);
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(out.status.success() && !said.contains("skipped"), "{said}");
        let long_kept = dst.query_any(dst_kind, "SELECT length(body) > 3000 FROM doc");
        assert!(matches!(long_kept.as_str(), "1" | "t"), "{long_kept}");
        // the plain index came along
        let plain = match dst_kind {
            Kind::Postgres => {
                dst.query("SELECT count(*) FROM pg_indexes WHERE indexname LIKE '%title_plain'")
            }
            _ => dst.query_any(
                dst_kind,
                "SELECT count(DISTINCT index_name) FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND index_name LIKE '%title_plain'",
            ),
        };
        assert_eq!(plain, "1", "{}", dst.url());
    }
}

/// Into tables the application made on the target (as its own migrations
/// make them), twice: the second dry run and restore find the target's
/// rows, and compare them with the snapshot's. A SQLite table with a text
/// primary key keeps its rows in rowid order, not in the key's; a column
/// SQLite keeps as `Lock` is `lock` in PostgreSQL, which folds the same
/// unquoted name (Synapse's `schema_version`).
#[test]
fn sqlite_into_an_application_made_postgres_schema_again_and_again() {
    let env = Env::new();
    let src = Db::create(Kind::Sqlite, env.dir.path());
    let ddl = "CREATE TABLE schema_version (Lock CHAR(1) NOT NULL DEFAULT 'X' UNIQUE, \
                 version INTEGER NOT NULL); \
               CREATE TABLE rooms (room_id TEXT PRIMARY KEY NOT NULL, creator TEXT, \
                 is_public BOOLEAN); \
               CREATE TABLE events (stream_ordering INTEGER PRIMARY KEY, room_id TEXT NOT NULL)";
    src.exec(ddl);
    src.exec(
        "INSERT INTO schema_version VALUES ('X', 94); \
         INSERT INTO rooms VALUES ('!zz:hs', '@a:hs', 1), ('!AA:hs', '@b:hs', 0), \
           ('!mm:hs', NULL, 1); \
         INSERT INTO events VALUES (3, '!zz:hs'), (1, '!AA:hs'), (2, '!mm:hs')",
    );
    let from = src.url();
    env.ok(&["backup", &from, "--quiet"]);
    let latest = format!("latest:{from}");
    let dst = Db::create(Kind::Postgres, env.dir.path());
    // the application's PostgreSQL schema: the same statements, except
    // that `events` has no primary key there
    dst.exec(
        "CREATE TABLE schema_version (Lock CHAR(1) NOT NULL DEFAULT 'X' UNIQUE, \
           version INTEGER NOT NULL); \
         CREATE TABLE rooms (room_id TEXT PRIMARY KEY NOT NULL, creator TEXT, is_public BOOLEAN); \
         CREATE TABLE events (stream_ordering BIGINT, room_id TEXT NOT NULL); \
         CREATE UNIQUE INDEX events_order ON events (stream_ordering); \
         INSERT INTO rooms VALUES ('!AA:hs', '@old:hs', false)",
    );
    for round in 0..2 {
        let dry = env.json(&["restore", &latest, "--to", &dst.url(), "--dry-run"]);
        let rooms = dry["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .find(|t| t["name"]["name"] == "rooms")
            .unwrap_or_else(|| panic!("no rooms in {dry}"));
        // the second time every row is there as the snapshot has it
        let (unchanged, changed) = if round == 0 { (0, 1) } else { (3, 0) };
        assert_eq!(rooms["unchanged"], unchanged, "round {round}: {rooms}");
        assert_eq!(rooms["deleted"], changed, "round {round}: {rooms}");
        env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
        assert_eq!(
            dst.query(
                "SELECT string_agg(room_id || ' ' || coalesce(creator, '-') || ' ' || is_public, \
                 ', ' ORDER BY room_id COLLATE \"C\") FROM rooms"
            ),
            "!AA:hs @b:hs false, !mm:hs - true, !zz:hs @a:hs true"
        );
        assert_eq!(
            dst.query("SELECT lock || version FROM schema_version"),
            "X94"
        );
        assert_eq!(
            dst.query("SELECT string_agg(room_id, ' ' ORDER BY stream_ordering) FROM events"),
            "!AA:hs !mm:hs !zz:hs"
        );
    }
}

/// Check constraints written in the SQL the engines share come along into
/// another engine (a Django `PositiveIntegerField`'s `"depth" >= 0`, an
/// `IN` list, a length) and go on refusing bad rows there; SQLite keeps
/// them only in its `CREATE TABLE` text, PostgreSQL prints an `IN` list as
/// `= ANY (ARRAY[...])`. One that is not shared (`LIKE`, whose case rules
/// differ) is listed as not created, in the dry run and only there.
#[test]
fn shared_check_constraints_come_along_into_other_engines() {
    let env = Env::new();
    let lite = Db::create(Kind::Sqlite, env.dir.path());
    lite.exec(
        "CREATE TABLE page (id integer PRIMARY KEY, \
           depth integer unsigned NOT NULL CHECK (\"depth\" >= 0), \
           status varchar(10) CONSTRAINT status_known CHECK (status IN ('draft', 'live')), \
           title text, slug text CHECK (slug LIKE 'p-%'), \
           CONSTRAINT title_len CHECK (length(title) BETWEEN 1 AND 50)); \
         INSERT INTO page VALUES (1, 2, 'live', 'Hello', 'p-hello')",
    );
    let pg = Db::create(Kind::Postgres, env.dir.path());
    pg.exec(
        "CREATE TABLE page (id int PRIMARY KEY, depth int NOT NULL CHECK (depth >= 0), \
           status varchar(10) CONSTRAINT status_known CHECK (status IN ('draft', 'live')), \
           title text, slug text CHECK (slug LIKE 'p-%'), \
           CONSTRAINT title_len CHECK (char_length(title) BETWEEN 1 AND 50)); \
         INSERT INTO page VALUES (1, 2, 'live', 'Hello', 'p-hello')",
    );
    for (src, kind) in [(&lite, Kind::Sqlite), (&pg, Kind::Postgres)] {
        let from = src.url();
        env.ok(&["backup", &from, "--quiet"]);
        let latest = format!("latest:{from}");
        for to_kind in [Kind::Sqlite, Kind::Postgres, Kind::Mariadb] {
            if to_kind == kind {
                continue;
            }
            let dst = Db::create(to_kind, env.dir.path());
            let dry = env.ok(&["restore", &latest, "--to", &dst.url(), "--dry-run"]);
            let lost: Vec<&str> = dry
                .lines()
                .filter(|l| l.contains("check constraint"))
                .collect();
            assert_eq!(lost.len(), 1, "{from} into {}: {dry}", dst.url());
            assert!(
                lost[0].contains("LIKE") || lost[0].contains("slug"),
                "{dry}"
            );
            env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
            for bad in [
                "INSERT INTO page (id, depth, status, title) VALUES (2, -1, 'live', 'x')",
                "INSERT INTO page (id, depth, status, title) VALUES (3, 1, 'gone', 'x')",
                "INSERT INTO page (id, depth, status, title) VALUES (4, 1, 'live', '')",
            ] {
                assert!(
                    !dst.try_exec(bad),
                    "{from} into {}: the target took {bad}",
                    dst.url()
                );
            }
            assert!(
                dst.try_exec(
                    "INSERT INTO page (id, depth, status, title) VALUES (5, 0, 'draft', 'ok')"
                ),
                "{from} into {}: a good row was refused",
                dst.url()
            );
        }
    }
}
