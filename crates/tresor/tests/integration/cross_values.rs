//! Values another engine cannot hold as they are (docs/cross-engine.md,
//! "What is approximated" and "Refused"): the dry run names each, per
//! table and column, with how many values and what they become; `--strict`
//! refuses them; the restore writes exactly what the dry run said; and a
//! value that cannot be written in any form is refused before anything is
//! written, with the table, the column and the reason.

use super::disasters::{Db, Kind};
use super::support::{Env, stderr};

/// Backs `src` up and answers the `latest:` name of the snapshot.
fn backed_up(env: &Env, src: &Db) -> String {
    env.ok(&["backup", &src.url(), "--quiet"]);
    format!("latest:{}", src.url())
}

/// The dry run lists `expected` and `made` among its approximations;
/// `--strict` refuses, dry run and restore alike, and writes nothing; the
/// restore goes ahead and says which values it wrote in another form
/// (`expected`; `made` are how it makes the tables).
fn listed_refused_then_restored(
    env: &Env,
    latest: &str,
    to: &str,
    (expected, made): (&[&str], &[&str]),
) {
    let dry = env.ok(&["restore", latest, "--to", to, "--dry-run"]);
    for e in expected.iter().chain(made) {
        assert!(dry.contains(e), "{e:?} missing from the dry run:\n{dry}");
    }
    for extra in ["--dry-run", "--yes"] {
        let out = env.tresor(&["restore", latest, "--to", to, "--strict", extra]);
        // refused before the rehearsal (on stderr) or by it (the dry
        // run's report)
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert_eq!(out.status.code(), Some(5), "{extra}: {text}");
        assert!(text.contains("--strict"), "{extra}: {text}");
    }
    let done = env.ok(&["restore", latest, "--to", to, "--yes"]);
    for e in expected {
        assert!(
            done.contains(e),
            "{e:?} missing from the restore's output:\n{done}"
        );
    }
}

/// The dry run and the restore into an empty MariaDB database both fail
/// with a message holding every one of `needles`, and nothing is created.
fn refused_into_empty_mariadb(env: &Env, latest: &str, needles: &[&str]) {
    let dst = Db::create(Kind::Mariadb, env.dir.path());
    let to = dst.url();
    for extra in ["--dry-run", "--yes"] {
        let out = env.tresor(&["restore", latest, "--to", &to, extra]);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!out.status.success(), "{extra}: {text}");
        for n in needles {
            assert!(text.contains(n), "{extra}: {n:?} missing: {text}");
        }
    }
    assert_eq!(
        dst.query_any(
            Kind::Mariadb,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = database()"
        ),
        "0"
    );
}

#[test]
fn nan_and_infinity_become_null_in_mariadb() {
    let env = Env::new();
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE TABLE readings (id integer PRIMARY KEY, value double precision,
           exact numeric, kept real NOT NULL);
         INSERT INTO readings VALUES (1, 'NaN', 'NaN', 1.5), (2, 'Infinity', 2.5, 2),
           (3, '-Infinity', 'Infinity', 3), (4, 0.25, 1, 4);",
    );
    let latest = backed_up(&env, &src);
    let dst = Db::create(Kind::Mariadb, env.dir.path());
    listed_refused_then_restored(
        &env,
        &latest,
        &dst.url(),
        (
            &[
                "readings.value: 3 values NaN or infinity become NULL",
                "readings.exact: 2 values NaN or infinity become NULL",
            ],
            &[],
        ),
    );
    let rows = dst.query_any(
        Kind::Mariadb,
        "SELECT group_concat(concat_ws(':', id, ifnull(value, 'null'), ifnull(CAST(exact AS DOUBLE), 'null'), kept) \
         ORDER BY id SEPARATOR ' ') FROM readings",
    );
    assert_eq!(
        rows,
        "1:null:null:1.5 2:null:2.5:2 3:null:null:3 4:0.25:1:4"
    );

    // a column that takes no NULL: refused, naming it, before anything
    // is written
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE TABLE readings (id integer PRIMARY KEY, value double precision NOT NULL);
         INSERT INTO readings VALUES (1, 2.5), (2, 'NaN');",
    );
    let latest = backed_up(&env, &src);
    refused_into_empty_mariadb(
        &env,
        &latest,
        &[
            "table readings, column value",
            "NaN or infinity",
            "NOT NULL",
        ],
    );
}

#[test]
fn mariadb_zero_dates_become_null_in_postgresql() {
    let env = Env::new();
    let src = Db::create(Kind::Mariadb, env.dir.path());
    // a permissive sql_mode, as legacy applications run with
    src.exec(
        "SET SESSION sql_mode = '';
         CREATE TABLE members (id int PRIMARY KEY, born date, seen datetime,
           paid timestamp NULL, name varchar(20) NOT NULL,
           created datetime NOT NULL DEFAULT '0000-00-00 00:00:00');
         INSERT INTO members (id, born, seen, paid, name, created) VALUES
           (1, '0000-00-00', '0000-00-00 00:00:00', NULL, 'a', '2024-01-02 03:04:05'),
           (2, '1990-05-17', '2024-00-10 10:00:00', '2024-01-01 00:00:00', 'b',
            '0000-00-00 00:00:00');
         INSERT INTO members (id, born, seen, name) VALUES (3, '2024-02-30', '2024-03-01 12:30:00', 'c');",
    );
    let latest = backed_up(&env, &src);
    let dst = Db::create(Kind::Postgres, env.dir.path());
    listed_refused_then_restored(
        &env,
        &latest,
        &dst.url(),
        (
            &[
                "members.born: 2 values zero or invalid date (0000-00-00) become NULL",
                "members.seen: 2 values zero or invalid date (0000-00-00) become NULL",
                "members.created: 2 values zero or invalid date (0000-00-00) become NULL",
            ],
            // a legacy application's `NOT NULL DEFAULT '0000-00-00 ...'`
            &["members.created: NOT NULL becomes NULL allowed"],
        ),
    );
    assert_eq!(
        dst.query(
            "SELECT string_agg(concat_ws(':', id, coalesce(born::text, 'null'), \
             coalesce(seen::text, 'null'), coalesce(created::text, 'null')), ' ' ORDER BY id) \
             FROM members"
        ),
        "1:null:null:2024-01-02 03:04:05 2:1990-05-17:null:null 3:null:2024-03-01 12:30:00:null"
    );

    // NOT NULL: refused, naming the column, nothing written
    let src = Db::create(Kind::Mariadb, env.dir.path());
    src.exec(
        "SET SESSION sql_mode = '';
         CREATE TABLE members (id int PRIMARY KEY, born date NOT NULL);
         INSERT INTO members VALUES (1, '1990-05-17'), (2, '0000-00-00');",
    );
    let latest = backed_up(&env, &src);
    let dst = Db::create(Kind::Postgres, env.dir.path());
    let out = env.tresor(&["restore", &latest, "--to", &dst.url(), "--yes"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("table members, column born") && text.contains("NOT NULL"),
        "{text}"
    );
    assert_eq!(
        dst.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        "0"
    );
}

#[test]
fn blobs_in_sqlite_untyped_columns_become_hex_text() {
    let env = Env::new();
    let src = Db::create(Kind::Sqlite, env.dir.path());
    src.exec(
        "CREATE TABLE kv (id integer PRIMARY KEY, v);
         INSERT INTO kv VALUES (1, X'00ff10'), (2, 'text'), (3, 42), (4, 1.5), (5, NULL);",
    );
    let latest = backed_up(&env, &src);
    let pg = Db::create(Kind::Postgres, env.dir.path());
    listed_refused_then_restored(
        &env,
        &latest,
        &pg.url(),
        (&["kv.v: 1 value blob becomes its hex text \\x..."], &[]),
    );
    assert_eq!(
        pg.query("SELECT string_agg(coalesce(v, 'null'), ' ' ORDER BY id) FROM kv"),
        "\\x00ff10 text 42 1.5 null"
    );
    let my = Db::create(Kind::Mariadb, env.dir.path());
    listed_refused_then_restored(
        &env,
        &latest,
        &my.url(),
        (&["kv.v: 1 value blob becomes its hex text \\x..."], &[]),
    );
    assert_eq!(
        my.query_any(
            Kind::Mariadb,
            "SELECT group_concat(ifnull(v, 'null') ORDER BY id SEPARATOR ' ') FROM kv"
        ),
        "\\\\x00ff10 text 42 1.5 null"
    );
}

#[test]
fn an_instant_past_the_year_9999_in_utc_is_refused_into_mariadb() {
    let env = Env::new();
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE TABLE deadlines (id integer PRIMARY KEY, due timestamptz);
         INSERT INTO deadlines VALUES (1, '2030-01-01 00:00+00'), (2, '9999-12-31 20:00-06');",
    );
    let latest = backed_up(&env, &src);
    refused_into_empty_mariadb(
        &env,
        &latest,
        &[
            "table deadlines, column due",
            "the year 10000 is outside the years 0 to 9999",
            "UTC",
        ],
    );
}

/// Durations as applications store them on SQLite (Django's
/// `DurationField`: microseconds; SQLAlchemy's `Interval`: 1970-01-01 plus
/// the duration) restore into the `interval` columns the same
/// applications' migrations make on PostgreSQL.
#[test]
fn durations_stored_as_numbers_or_instants_become_postgresql_intervals() {
    let env = Env::new();
    let src = Db::create(Kind::Sqlite, env.dir.path());
    src.exec(
        "CREATE TABLE trials (id integer PRIMARY KEY, django bigint, alchemy DATETIME);
         INSERT INTO trials VALUES (1, 90061000001, '1970-01-02 01:01:01.000001'),
           (2, -1500000, '1969-12-31 23:59:58.500000'), (3, NULL, NULL);",
    );
    let latest = backed_up(&env, &src);
    let dst = Db::create(Kind::Postgres, env.dir.path());
    dst.exec("CREATE TABLE trials (id integer PRIMARY KEY, django interval, alchemy interval);");
    env.ok(&["restore", &latest, "--to", &dst.url(), "--dry-run"]);
    env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
    assert_eq!(
        dst.query(
            "SELECT string_agg(concat_ws('/', id, coalesce(django::text, 'null'), \
             coalesce(alchemy::text, 'null')), ' ' ORDER BY id) FROM trials"
        ),
        "1/25:01:01.000001/25:01:01.000001 2/-00:00:01.5/-00:00:01.5 3/null/null"
    );
}

/// PostgreSQL keeps `money` in cents: into SQLite and MariaDB each amount
/// arrives as itself (12.50, not 1250), which the dry run says, as it says
/// what becomes of a `citext` (here in a two-column key, which MariaDB
/// must fit in its key bytes) and a generated column; back into
/// PostgreSQL the column stays `money` with the same amounts.
#[test]
fn money_arrives_as_its_amount_in_other_engines() {
    let env = Env::new();
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE EXTENSION IF NOT EXISTS citext;
         CREATE TABLE prices (id integer, amount money, sku citext NOT NULL,
           label text GENERATED ALWAYS AS (upper(sku)) STORED, PRIMARY KEY (sku, id));
         INSERT INTO prices VALUES (1, '12.50', 'A'), (2, '-0.05', 'b'), (3, NULL, 'd'),
           (4, '1000000.00', 'c');
         CREATE VIEW skus AS SELECT id, sku FROM prices;",
    );
    let latest = backed_up(&env, &src);

    let lite = env.path("prices.db");
    let to = format!("sqlite://{}", lite.display());
    let dry = env.ok(&["restore", &latest, "--to", &to, "--dry-run"]);
    for said in [
        "prices.amount: money becomes TEXT: each amount is stored as decimal text",
        "citext becomes TEXT: stored as text and compared case-sensitively",
        "prices.label: generated column not created",
    ] {
        assert!(dry.contains(said), "{said:?} missing: {dry}");
    }
    env.ok(&["restore", &latest, "--to", &to, "--yes"]);
    let c = rusqlite::Connection::open(&lite).unwrap();
    let got: String = c
        .query_row(
            "SELECT group_concat(id || ':' || ifnull(amount, 'null'), ' ') FROM (SELECT * FROM prices ORDER BY id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(got, "1:12.50 2:-0.05 3:null 4:1000000.00");
    let dst = Db::create(Kind::Mariadb, env.dir.path());
    let done = env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
    let rows = dst.query_any(
        Kind::Mariadb,
        "SELECT group_concat(concat_ws(':', id, ifnull(amount, 'null')) ORDER BY id SEPARATOR ' ') FROM prices",
    );
    assert_eq!(rows, "1:12.50 2:-0.05 3:null 4:1000000.00");
    // the view, in PostgreSQL's SQL, is listed as not created and is not
    // tried (even where MariaDB would take its text)
    assert!(!done.contains("cannot recreate"), "{done}");
    assert_eq!(
        dst.query_any(
            Kind::Mariadb,
            "SELECT count(*) FROM information_schema.views WHERE table_schema = database()"
        ),
        "0"
    );

    let back = Db::create(Kind::Postgres, env.dir.path());
    env.ok(&["restore", &latest, "--to", &back.url(), "--yes"]);
    let rows = back.query_any(
        Kind::Postgres,
        "SELECT string_agg(id || ':' || coalesce(amount::numeric::text, 'null'), ' ' ORDER BY id) FROM prices",
    );
    assert_eq!(rows, "1:12.50 2:-0.05 3:null 4:1000000.00");
}

/// MariaDB's spatial columns go into PostgreSQL and SQLite as hex text of
/// their internal form, which the dry run explains; columns whose default
/// is NULL are not listed as losing a default.
#[test]
fn spatial_values_arrive_as_hex_text_in_other_engines() {
    let env = Env::new();
    let src = Db::create(Kind::Mariadb, env.dir.path());
    src.exec(
        "CREATE TABLE places (id int PRIMARY KEY, name varchar(20), loc POINT NOT NULL);
         INSERT INTO places VALUES (1, 'x', ST_GeomFromText('POINT(1 2)')), (2, NULL, POINT(3.5, -4));",
    );
    let latest = backed_up(&env, &src);
    let point = "000000000101000000000000000000f03f0000000000000040";
    let dst = Db::create(Kind::Postgres, env.dir.path());
    let dry = env.ok(&["restore", &latest, "--to", &dst.url(), "--dry-run"]);
    assert!(
        dry.contains("places.loc: point becomes text: stored as hex text of MySQL's internal form"),
        "{dry}"
    );
    assert!(!dry.contains("places.name: default"), "{dry}");
    env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
    assert_eq!(
        dst.query_any(Kind::Postgres, "SELECT loc FROM places WHERE id = 1"),
        point
    );
    let lite = env.path("places.db");
    let to = format!("sqlite://{}", lite.display());
    env.ok(&["restore", &latest, "--to", &to, "--yes"]);
    let c = rusqlite::Connection::open(&lite).unwrap();
    let got: String = c
        .query_row("SELECT loc FROM places WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(got, point);
}

/// Into tables an application made, with columns that keep less than the
/// snapshot's values (`numeric(10,2)` for three decimal places, a
/// `timestamp(0)` or MariaDB's `DATETIME` for microseconds): the engines
/// round or cut them without an error, even under a strict `sql_mode`, and
/// used to do so silently, `--strict` included. Each is now listed by the
/// dry run's rehearsal and refused by `--strict`. The same restore of
/// values the columns keep whole notes nothing.
#[test]
fn values_an_existing_column_keeps_less_of_are_listed() {
    let env = Env::new();
    let src = Db::create(Kind::Sqlite, env.dir.path());
    src.exec(
        "CREATE TABLE price (id integer PRIMARY KEY, amount decimal(10,3), at datetime);
         INSERT INTO price VALUES (1, 1.239, '2026-12-07 14:15:59.999999'),
           (2, 2.5, '2026-12-07 14:15:58');",
    );
    let latest = backed_up(&env, &src);
    let pg = Db::create(Kind::Postgres, env.dir.path());
    pg.exec("CREATE TABLE price (id int PRIMARY KEY, amount numeric(10,2), at timestamp(0))");
    let my = Db::create(Kind::Mariadb, env.dir.path());
    my.exec("CREATE TABLE price (id int PRIMARY KEY, amount decimal(10,2), at datetime)");
    for dst in [&pg, &my] {
        listed_refused_then_restored(
            &env,
            &latest,
            &dst.url(),
            (
                &[
                    "price.amount: 1 value with more decimal places than the column keeps becomes rounded to its scale",
                    "price.at: 1 value with finer fractions of a second than the column keeps becomes rounded or cut to its precision",
                ],
                &[],
            ),
        );
    }
    // values the columns keep whole: nothing to note
    src.exec("UPDATE price SET amount = 1.23, at = '2026-12-07 14:15:59' WHERE id = 1");
    let latest = backed_up(&env, &src);
    for dst in [&pg, &my] {
        let out = env.ok(&["restore", &latest, "--to", &dst.url(), "--strict", "--yes"]);
        assert!(!out.contains("approximated"), "{out}");
    }
}

/// A PostgreSQL `uuid` into an application's `char(32)` (how Django keeps
/// a `UUIDField` outside PostgreSQL): written as the 32 hex digits the
/// application reads back. It used to be the 36-character dashed form,
/// which SQLite kept (the application then found no row by its id) and
/// MariaDB refused (`Data too long for column 'uid'`).
#[test]
fn uuids_go_into_an_applications_char_32_as_hex() {
    let env = Env::new();
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE TABLE g (id int PRIMARY KEY, uid uuid);
         INSERT INTO g VALUES (1, '31cff95f-a127-4c78-a4fb-c331750d2b9f'), (2, NULL);",
    );
    let latest = backed_up(&env, &src);
    let lite = Db::create(Kind::Sqlite, env.dir.path());
    lite.exec("CREATE TABLE g (id integer PRIMARY KEY, uid char(32))");
    let my = Db::create(Kind::Mariadb, env.dir.path());
    my.exec("CREATE TABLE g (id int PRIMARY KEY, uid char(32))");
    for (dst, kind) in [(&lite, Kind::Sqlite), (&my, Kind::Mariadb)] {
        let out = env.ok(&["restore", &latest, "--to", &dst.url(), "--strict", "--yes"]);
        assert!(!out.contains("nearest storage class"), "{out}");
        assert_eq!(
            dst.query_any(kind, "SELECT uid FROM g WHERE id = 1"),
            "31cff95fa1274c78a4fbc331750d2b9f",
            "{kind:?}"
        );
        assert_eq!(
            dst.query_any(kind, "SELECT count(*) FROM g WHERE uid IS NULL"),
            "1",
            "{kind:?}"
        );
    }
}

/// A PostgreSQL `interval` into an application's `bigint` (how Django
/// keeps a `DurationField` outside PostgreSQL) goes in as its microseconds,
/// and into a `DATETIME` (SQLAlchemy's `Interval`) as the instant that long
/// after 1970-01-01. It used to be the text `P7DT3H`, which SQLite kept
/// (the application then failed to read it) and MariaDB refused
/// (`Incorrect integer value`). Months have no fixed length: counted as
/// 30 days, listed by the dry run and refused by `--strict`. A diff
/// afterwards compares the values as the restore wrote them.
#[test]
fn durations_go_into_an_applications_bigint_as_microseconds() {
    let env = Env::new();
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE TABLE job (id int PRIMARY KEY, took interval, every interval);
         INSERT INTO job VALUES (1, '7 days 3 hours', '1.5 seconds'),
           (2, '-2 hours', NULL), (3, NULL, '1 day');",
    );
    let latest = backed_up(&env, &src);
    let lite = Db::create(Kind::Sqlite, env.dir.path());
    lite.exec("CREATE TABLE job (id integer PRIMARY KEY, took bigint, every datetime)");
    let my = Db::create(Kind::Mariadb, env.dir.path());
    my.exec("CREATE TABLE job (id int PRIMARY KEY, took bigint, every datetime(6))");
    for (dst, kind) in [(&lite, Kind::Sqlite), (&my, Kind::Mariadb)] {
        let out = env.ok(&["restore", &latest, "--to", &dst.url(), "--strict", "--yes"]);
        assert!(!out.contains("nearest storage class"), "{out}");
        let q = |sql: &str| dst.query_any(kind, sql);
        assert_eq!(
            q("SELECT took FROM job WHERE id = 1"),
            "615600000000",
            "{kind:?}"
        );
        assert_eq!(
            q("SELECT took FROM job WHERE id = 2"),
            "-7200000000",
            "{kind:?}"
        );
        assert!(
            q("SELECT every FROM job WHERE id = 1").starts_with("1970-01-01 00:00:01.5"),
            "{kind:?}"
        );
        assert!(
            q("SELECT every FROM job WHERE id = 3").starts_with("1970-01-02 00:00:00"),
            "{kind:?}"
        );
        assert_eq!(
            q("SELECT count(*) FROM job WHERE took IS NULL"),
            "1",
            "{kind:?}"
        );
        let diff = env.json(&["diff", &latest, "--live", &dst.url()]);
        assert_eq!(diff["tables"][0]["unchanged"], 3, "{kind:?}: {diff}");
    }
    // a month: 30 days, said so and refused by --strict
    src.exec("UPDATE job SET took = '1 mon' WHERE id = 3");
    let latest = backed_up(&env, &src);
    for (dst, kind) in [(&lite, Kind::Sqlite), (&my, Kind::Mariadb)] {
        listed_refused_then_restored(
            &env,
            &latest,
            &dst.url(),
            (&["job.took: 1 value interval with months"], &[]),
        );
        assert_eq!(
            dst.query_any(kind, "SELECT took FROM job WHERE id = 3"),
            (30 * 86_400_000_000_i64).to_string(),
            "{kind:?}"
        );
    }
}

/// A `varchar(3000)` under a unique index (Airflow's `dataset.uri`) into
/// a MariaDB table tresor makes keeps its length: MariaDB keeps the key
/// unique by a hash, and a plain index over a `varchar(1000)` takes a
/// prefix. Both columns became `varchar(1)`, which refused the rows (or, in
/// an empty table, every row the application wrote later).
#[test]
fn wide_text_under_an_index_keeps_its_length_in_mariadb() {
    let env = Env::new();
    let src = Db::create(Kind::Sqlite, env.dir.path());
    src.exec(
        "CREATE TABLE dataset (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
           uri VARCHAR(3000) NOT NULL, name VARCHAR(1000));
         CREATE UNIQUE INDEX idx_uri_unique ON dataset (uri);
         CREATE INDEX idx_name ON dataset (name);
         CREATE TABLE alias (id INTEGER PRIMARY KEY, name VARCHAR(3000) NOT NULL);
         CREATE UNIQUE INDEX idx_alias ON alias (name);
         INSERT INTO dataset (uri, name) VALUES ('s3://bucket/file.txt', 'x');",
    );
    let latest = backed_up(&env, &src);
    let my = Db::create(Kind::Mariadb, env.dir.path());
    env.ok(&["restore", &latest, "--to", &my.url(), "--yes"]);
    let (long, name) = ("u".repeat(2999), "n".repeat(999));
    my.exec(&format!(
        "INSERT INTO dataset (uri, name) VALUES ('{long}', '{name}');
         INSERT INTO alias (name) VALUES ('{long}');"
    ));
    assert_eq!(
        my.query_any(Kind::Mariadb, "SELECT max(length(uri)) FROM dataset"),
        "2999"
    );
    // still unique, whole
    let dup = std::process::Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-u", "root", my.name(), "-e"])
        .arg(format!("INSERT INTO alias (name) VALUES ('{long}')"))
        .output()
        .expect("mariadb");
    assert!(!dup.status.success(), "a duplicate went in");
}

/// `diff --live` of a SQLite snapshot against the PostgreSQL database it
/// was restored into: the same rows, though the engines spell a timestamp
/// and a boolean differently. It used to report every row as updated
/// (`at: "2026-12-07 14:15:58.552294" -> {"$timestamp": ...}, ok: 1 ->
/// true`) where the restore's dry run found them unchanged.
#[test]
fn a_diff_against_another_engine_compares_values_as_the_restore_does() {
    let env = Env::new();
    let src = Db::create(Kind::Sqlite, env.dir.path());
    src.exec(
        "CREATE TABLE d (id integer PRIMARY KEY, at datetime, ok boolean, n decimal(10,2));
         INSERT INTO d VALUES (1, '2026-12-07 14:15:58.552294', 1, 3.5),
           (2, '2026-12-07 10:00:00', 0, 12);
         CREATE TABLE log (msg text);
         INSERT INTO log VALUES ('started'), ('stopped');",
    );
    let latest = backed_up(&env, &src);
    let dst = Db::create(Kind::Postgres, env.dir.path());
    env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
    let diff = env.json(&["diff", &latest, "--live", &dst.url()]);
    let d = &diff["tables"][0];
    assert_eq!(d["updated"], 0, "{diff}");
    assert_eq!(d["unchanged"], 2, "{diff}");
    // snapshot against snapshot: the same rows in two engines are an
    // unchanged table, not one whose every column changed type, and
    // SQLite's hidden rowid of a keyless table is no removed column
    let restored = backed_up(&env, &dst);
    for args in [
        vec!["diff", &latest, &restored],
        vec!["diff", &latest, "--live", &dst.url()],
    ] {
        let diff = env.json(&args);
        assert_eq!(diff["engines"]["from"], "sqlite", "{diff}");
        assert_eq!(diff["engines"]["to"], "postgres", "{diff}");
        for t in diff["tables"].as_array().unwrap() {
            assert_eq!(t["status"], "unchanged", "{diff}");
            assert!(t.get("columns_retyped").is_none(), "{diff}");
            assert!(t.get("columns_removed").is_none(), "{diff}");
        }
        let text = env.ok(&args);
        assert!(
            text.contains("compared as postgres holds them") && !text.contains('~'),
            "{text}"
        );
    }
    // a column the other engine's table gained still is one
    dst.exec("ALTER TABLE log ADD COLUMN at timestamptz");
    let diff = env.json(&["diff", &latest, "--live", &dst.url()]);
    let log = &diff["tables"][1];
    assert_eq!(log["columns_added"], serde_json::json!(["at"]), "{diff}");
    assert_eq!(log["status"], "changed", "{diff}");
    // a real change is still one
    dst.exec("UPDATE d SET ok = true WHERE id = 2");
    let diff = env.json(&["diff", &latest, "--live", &dst.url()]);
    assert_eq!(diff["tables"][0]["updated"], 1, "{diff}");
}

/// PostgreSQL timestamps into an application's SQLite `DATETIME` columns
/// go in as the application writes them: UTC, no zone, a space between
/// date and time; with every fraction written out where the database is
/// SQLAlchemy's (an `alembic_version` table), which binds `.000000`. A
/// `timestamptz` used to go in as `2026-01-01 12:00:00Z`: an equality the
/// application asked (Django binds `2026-01-01 12:00:00`) found nothing,
/// and the value sorted after every other of its second. A table tresor
/// makes keeps its `Z`, which says the instant's zone to the next restore.
#[test]
fn timestamps_go_into_an_applications_datetime_as_it_writes_them() {
    let env = Env::new();
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE TABLE ev (id int PRIMARY KEY, at timestamptz, naive timestamp);
         INSERT INTO ev VALUES (1, '2026-01-01 12:00:00+00', '2026-01-01 12:00:00'),
           (2, '2026-01-01 12:00:00.5+02', '2026-01-01 12:00:00.123456');",
    );
    let latest = backed_up(&env, &src);
    for (alembic, whole) in [(false, "12:00:00"), (true, "12:00:00.000000")] {
        let dst = Db::create(Kind::Sqlite, env.dir.path());
        dst.exec("CREATE TABLE ev (id integer PRIMARY KEY, at datetime, naive datetime)");
        if alembic {
            dst.exec("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)");
        }
        let out = env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
        assert!(!out.contains("nearest storage class"), "{out}");
        let q = |sql: &str| dst.query_any(Kind::Sqlite, sql);
        assert_eq!(
            q("SELECT at || '|' || naive FROM ev WHERE id = 1"),
            format!("2026-01-01 {whole}|2026-01-01 {whole}")
        );
        assert_eq!(
            q("SELECT at || '|' || naive FROM ev WHERE id = 2"),
            "2026-01-01 10:00:00.500000|2026-01-01 12:00:00.123456"
        );
        assert_eq!(
            q(&format!(
                "SELECT id FROM ev WHERE at = '2026-01-01 {whole}'"
            )),
            "1"
        );
        assert_eq!(
            q("SELECT group_concat(id) FROM (SELECT id FROM ev ORDER BY at)"),
            "2,1"
        );
        let diff = env.json(&["diff", &latest, "--live", &dst.url(), "--tables", "ev"]);
        assert_eq!(diff["tables"][0]["table"], "ev", "{diff}");
        assert_eq!(diff["tables"][0]["unchanged"], 2, "{diff}");
    }
    // in a table tresor makes: the zone, and an infinity as PostgreSQL
    // writes it (it was `infinityZ`, which no restore could read back)
    src.exec("INSERT INTO ev VALUES (3, 'infinity', '-infinity')");
    let latest = backed_up(&env, &src);
    let made = Db::create(Kind::Sqlite, env.dir.path());
    env.ok(&["restore", &latest, "--to", &made.url(), "--yes"]);
    assert_eq!(
        made.query_any(Kind::Sqlite, "SELECT group_concat(at, '|') FROM ev"),
        "2026-01-01 12:00:00Z|2026-01-01 10:00:00.500000Z|infinity"
    );
    let back = Db::create(Kind::Postgres, env.dir.path());
    let made_latest = backed_up(&env, &made);
    env.ok(&["restore", &made_latest, "--to", &back.url(), "--yes"]);
    assert_eq!(
        back.query("SELECT at::text || ' ' || naive::text FROM ev WHERE id = 3"),
        "infinity -infinity"
    );
}

/// Prisma's own engine (and knex, under Directus) keeps a `DateTime` in
/// SQLite as its milliseconds since 1970 in a `DATETIME` column; others
/// keep SQLite's `unixepoch()` seconds there. Such a database could not
/// move: `cannot write a int value into type timestamp` in PostgreSQL, and
/// MariaDB refused the number as a date. They now go over as the instants
/// they stand for (milliseconds told from seconds by magnitude), compare
/// equal in a diff, and come back into the application's own SQLite
/// schema as integers of the unit its column keeps (they were written as
/// text, which its queries compare with numbers).
#[test]
fn integer_instants_of_sqlite_cross_as_the_instants_they_are() {
    let env = Env::new();
    let src = Db::create(Kind::Sqlite, env.dir.path());
    src.exec(
        "CREATE TABLE \"Post\" (id INTEGER PRIMARY KEY AUTOINCREMENT,
           \"createdAt\" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, seen DATETIME, day DATE);
         INSERT INTO \"Post\" VALUES (1, 1767268800000, 1767268800, 1772582400000),
           (2, 1767268800500, NULL, NULL), (3, -2208988800000, -2208988800, NULL),
           (4, '2026-01-01 12:00:00', '2026-01-01 12:00:00', '2026-03-04');",
    );
    let latest = backed_up(&env, &src);
    let want = [
        "1|2026-01-01 12:00:00|2026-01-01 12:00:00|2026-03-04",
        "2|2026-01-01 12:00:00.5||",
        "3|1900-01-01 00:00:00|1900-01-01 00:00:00|",
        "4|2026-01-01 12:00:00|2026-01-01 12:00:00|2026-03-04",
    ]
    .join("\n");
    // into PostgreSQL: a table tresor makes, and one the application's
    // migrations made (Prisma's `timestamp(3)`, `date`)
    for made_by_app in [false, true] {
        let pg = Db::create(Kind::Postgres, env.dir.path());
        if made_by_app {
            pg.exec(
                "CREATE TABLE \"Post\" (id serial PRIMARY KEY,
                   \"createdAt\" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
                   seen timestamp(3), day date)",
            );
        }
        let out = env.ok(&["restore", &latest, "--to", &pg.url(), "--yes"]);
        assert!(!out.contains("cannot write"), "{out}");
        let rows = pg.query(
            "SELECT id || '|' || \"createdAt\"::text || '|' || coalesce(seen::text, '') \
             || '|' || coalesce(day::text, '') FROM \"Post\" ORDER BY id",
        );
        assert_eq!(rows, want, "made by the application: {made_by_app}");
        let diff = env.json(&["diff", &latest, "--live", &pg.url()]);
        assert_eq!(diff["tables"][0]["unchanged"], 4, "{diff}");
    }
    // into MariaDB
    let my = Db::create(Kind::Mariadb, env.dir.path());
    env.ok(&["restore", &latest, "--to", &my.url(), "--yes"]);
    assert_eq!(
        my.query_any(
            Kind::Mariadb,
            "SELECT CONCAT(createdAt, '|', IFNULL(seen, '-')) FROM Post WHERE id IN (2, 3) ORDER BY id"
        ),
        "2026-01-01 12:00:00.500000|-\n1900-01-01 00:00:00.000000|1900-01-01 00:00:00.000000"
    );
    // and back from PostgreSQL into the application's SQLite schema: each
    // `DATETIME` column in the unit its values are in (a `DATE` takes text)
    let pg = Db::create(Kind::Postgres, env.dir.path());
    env.ok(&["restore", &latest, "--to", &pg.url(), "--yes"]);
    pg.exec("UPDATE \"Post\" SET \"createdAt\" = '2026-01-01 12:00:00.123456' WHERE id = 1");
    let from_pg = backed_up(&env, &pg);
    let out = env.ok(&["restore", &from_pg, "--to", &src.url(), "--yes"]);
    assert!(out.contains("finer fractions of a second"), "{out}");
    assert_eq!(
        src.query_any(
            Kind::Sqlite,
            "SELECT group_concat(id || '|' || \"createdAt\" || '|' || typeof(\"createdAt\") || '|' \
             || ifnull(seen, '') || '|' || ifnull(day, ''), ' ') FROM \"Post\""
        ),
        "1|1767268800123|integer|1767268800|2026-03-04 2|1767268800500|integer|| \
         3|-2208988800000|integer|-2208988800| 4|1767268800000|integer|1767268800|2026-03-04"
    );
}

/// PostgreSQL quotes a column whose name is not all lower case in an
/// index's definition (`"orgId"`: Prisma names every column so), and
/// such indexes were left out of the tables made in SQLite and MariaDB,
/// unique ones included, without a word: duplicates then went in. They
/// are made now; an index over an expression, which no other engine can
/// read, is listed as not created.
#[test]
fn indexes_over_mixed_case_columns_are_made_in_every_engine() {
    let env = Env::new();
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE TABLE c (id serial PRIMARY KEY, kind text, \"Kind2\" text, \"Code\" text, \"orgId\" int);
         CREATE INDEX \"C_Kind2_idx\" ON c (\"Kind2\");
         CREATE UNIQUE INDEX \"c_Code_key\" ON c (\"Code\");
         CREATE UNIQUE INDEX c_org_kind ON c (\"orgId\", kind);
         CREATE INDEX c_lower_idx ON c (lower(kind));
         INSERT INTO c (kind, \"Kind2\", \"Code\", \"orgId\") VALUES ('a', 'b', 'x', 1);",
    );
    let latest = backed_up(&env, &src);
    for kind in [Kind::Sqlite, Kind::Mariadb] {
        let dst = Db::create(kind, env.dir.path());
        let dry = env.ok(&["restore", &latest, "--to", &dst.url(), "--dry-run"]);
        assert!(dry.contains("c_lower_idx"), "{kind:?}: {dry}");
        assert!(!dry.contains("C_Kind2_idx"), "{kind:?}: {dry}");
        env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
        let indexes = match kind {
            Kind::Sqlite => dst.query_any(
                kind,
                "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master \
                 WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name)",
            ),
            _ => dst.query_any(
                kind,
                "SELECT GROUP_CONCAT(DISTINCT INDEX_NAME ORDER BY INDEX_NAME SEPARATOR ' ') \
                 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
                 AND INDEX_NAME <> 'PRIMARY'",
            ),
        };
        for name in ["C_Kind2_idx", "c_Code_key", "c_org_kind"] {
            assert!(
                indexes.contains(name),
                "{kind:?}: {name} missing in {indexes}"
            );
        }
        // the unique ones hold
        let quoted = |c: &str| match kind {
            Kind::Mariadb => format!("`{c}`"),
            _ => format!("\"{c}\""),
        };
        for duplicate in [
            format!("INSERT INTO c (id, {}) VALUES (10, 'x')", quoted("Code")),
            format!(
                "INSERT INTO c (id, kind, {}) VALUES (11, 'a', 1)",
                quoted("orgId")
            ),
        ] {
            assert!(!dst.try_exec(&duplicate), "{kind:?}: {duplicate}");
        }
    }
}

/// MariaDB's zero dates become NULL in PostgreSQL, in columns the restore
/// makes nullable. Restoring that snapshot again (`restore latest`, a
/// merge, one table) was refused: the check read `NOT NULL` off the
/// snapshot, not off the target's column, which takes NULL.
#[test]
fn zero_dates_go_again_into_a_column_that_takes_null() {
    let env = Env::new();
    let src = Db::create(Kind::Mariadb, env.dir.path());
    src.exec(
        "SET SESSION sql_mode = '';
         CREATE TABLE links (id int PRIMARY KEY, updated datetime NOT NULL DEFAULT '0000-00-00 00:00:00');
         INSERT INTO links VALUES (1, '0000-00-00 00:00:00'), (2, '2024-01-01 10:00:00');",
    );
    let latest = backed_up(&env, &src);
    let pg = Db::create(Kind::Postgres, env.dir.path());
    env.ok(&["restore", &latest, "--to", &pg.url(), "--yes"]);
    pg.exec("UPDATE links SET updated = now() WHERE id = 2");
    for args in [
        vec!["--yes"],
        vec!["--tables", "links", "--mode", "merge", "--yes"],
    ] {
        let mut all = vec!["restore", latest.as_str(), "--to"];
        let url = pg.url();
        all.push(&url);
        all.extend(args);
        let out = env.ok(&all);
        assert!(out.contains("NULL"), "{out}");
        assert_eq!(
            pg.query("SELECT count(*) FILTER (WHERE updated IS NULL) || ' ' || max(updated)::text FROM links"),
            "1 2024-01-01 10:00:00"
        );
    }
}

/// Prisma's driver adapters keep a `DateTime` in SQLite as text with a `T`
/// and an offset (`2024-01-01T10:00:00.123+00:00`), which MariaDB refused:
/// `Incorrect datetime value`. It is read as the instant it spells, as
/// PostgreSQL reads it.
#[test]
fn zoned_text_timestamps_go_into_mariadb() {
    let env = Env::new();
    let src = Db::create(Kind::Sqlite, env.dir.path());
    src.exec(
        "CREATE TABLE t (id integer PRIMARY KEY, d DATETIME, day DATE);
         INSERT INTO t VALUES (1, '2024-01-01T10:00:00.123+00:00', '2024-03-04'),
           (2, '2024-01-01T10:00:00Z', NULL), (3, '2024-01-01 12:00:00.5+02:00', NULL),
           (4, '2024-01-01 10:00:00', NULL);",
    );
    let latest = backed_up(&env, &src);
    let dst = Db::create(Kind::Mariadb, env.dir.path());
    env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
    assert_eq!(
        dst.query_any(
            Kind::Mariadb,
            "SELECT GROUP_CONCAT(CONCAT(id, '|', d, '|', IFNULL(day, '-')) ORDER BY id SEPARATOR ' ') FROM t"
        ),
        "1|2024-01-01 10:00:00.123000|2024-03-04 2|2024-01-01 10:00:00.000000|- \
         3|2024-01-01 10:00:00.500000|- 4|2024-01-01 10:00:00.000000|-"
    );
}

/// SQLite's integers are signed: a MariaDB `bigint unsigned` beyond
/// 2^63-1 (WordPress plugins keep 18446744073709551615) became the nearest
/// float in a column of integer affinity, without a word, and `--strict`
/// let it through. It is listed and refused now; a text column keeps it
/// exactly.
#[test]
fn unsigned_integers_beyond_sqlites_are_listed() {
    let env = Env::new();
    let src = Db::create(Kind::Mariadb, env.dir.path());
    src.exec(
        "CREATE TABLE u (id int PRIMARY KEY, v bigint unsigned NOT NULL);
         INSERT INTO u VALUES (1, 18446744073709551615), (2, 9223372036854775808),
           (3, 9223372036854775807);",
    );
    let latest = backed_up(&env, &src);
    let dst = Db::create(Kind::Sqlite, env.dir.path());
    listed_refused_then_restored(
        &env,
        &latest,
        &dst.url(),
        (&["unsigned integer beyond 9223372036854775807"], &[]),
    );
    assert_eq!(
        dst.query_any(Kind::Sqlite, "SELECT typeof(v) FROM u WHERE id = 3"),
        "integer"
    );
    let text = Db::create(Kind::Sqlite, env.dir.path());
    text.exec("CREATE TABLE u (id integer PRIMARY KEY, v text NOT NULL)");
    env.ok(&["restore", &latest, "--to", &text.url(), "--strict", "--yes"]);
    assert_eq!(
        text.query_any(Kind::Sqlite, "SELECT group_concat(v, ' ') FROM u"),
        "18446744073709551615 9223372036854775808 9223372036854775807"
    );
}

/// A second move of the same snapshot previews its rows as unchanged,
/// as a diff of the two says. Into SQLite the preview compared its columns
/// by their type `Dynamic`, not their declared one: a MariaDB unsigned
/// integer and SQLite's integer differed, and every row of every
/// WordPress table was listed as deleted and inserted again. Into
/// PostgreSQL an enum's label differed from its text, and a JSON number an
/// application wrote as `1.234567890123457e+19` from the exact decimal
/// `jsonb` keeps. And MySQL's `tinyint(1)` is a `BOOLEAN` in the SQLite
/// table tresor makes (it was an `INTEGER`, whose 0 Rails reads as a true
/// value: Redmine's non-admins became admins).
#[test]
fn a_second_move_previews_its_rows_as_unchanged() {
    let env = Env::new();
    let src = Db::create(Kind::Mariadb, env.dir.path());
    src.exec(
        "CREATE TABLE u (id int unsigned PRIMARY KEY, n bigint unsigned, admin tinyint(1) NOT NULL DEFAULT 0,
           status enum('DRAFT','PUBLISHED') NOT NULL, doc json);
         INSERT INTO u VALUES (1, 5, 0, 'DRAFT', '{\"big\": 1.234567890123457e+19, \"n\": 9007199254740993}'),
           (2, 6, 1, 'PUBLISHED', NULL);",
    );
    let latest = backed_up(&env, &src);
    let unchanged = |to: &str| {
        let dry = env.json(&["restore", &latest, "--to", to, "--dry-run"]);
        let t = &dry["tables"][0];
        assert_eq!(
            (
                &t["inserted"],
                &t["updated"],
                &t["deleted"],
                &t["unchanged"]
            ),
            (&0.into(), &0.into(), &0.into(), &2.into()),
            "{to}: {dry}"
        );
        let diff = env.json(&["diff", &latest, "--live", to]);
        assert_eq!(diff["tables"][0]["unchanged"], 2, "{to}: {diff}");
    };
    let lite = Db::create(Kind::Sqlite, env.dir.path());
    env.ok(&["restore", &latest, "--to", &lite.url(), "--yes"]);
    assert!(
        lite.query_any(
            Kind::Sqlite,
            "SELECT sql FROM sqlite_master WHERE name = 'u'"
        )
        .contains("\"admin\" BOOLEAN NOT NULL"),
    );
    unchanged(&lite.url());
    let pg = Db::create(Kind::Postgres, env.dir.path());
    pg.exec(
        "CREATE TYPE \"Status\" AS ENUM ('DRAFT', 'PUBLISHED');
         CREATE TABLE u (id bigint PRIMARY KEY, n numeric(20,0), admin boolean NOT NULL DEFAULT false,
           status \"Status\" NOT NULL, doc jsonb);",
    );
    env.ok(&["restore", &latest, "--to", &pg.url(), "--yes"]);
    assert_eq!(
        pg.query("SELECT doc->>'big' FROM u WHERE id = 1"),
        "12345678901234570000"
    );
    unchanged(&pg.url());
    // a JSON integer no float holds is still a change of its own
    pg.exec("UPDATE u SET doc = jsonb_set(doc, '{n}', '9007199254740992') WHERE id = 1");
    let diff = env.json(&["diff", &latest, "--live", &pg.url()]);
    assert_eq!(diff["tables"][0]["updated"], 1, "{diff}");
}

/// Prisma's driver adapters keep a `DateTime` in SQLite as text with a
/// `T`, milliseconds and an offset (`2024-06-04T22:13:44.969+00:00`), and
/// compare it as text. Another engine's timestamps went into such a column
/// as `2024-06-04 22:13:44.969000`, which sorts before it: every Prisma
/// filter `gte` its own value missed. They go in as the column's first
/// value shows it keeps them now.
#[test]
fn timestamps_go_into_sqlite_as_its_column_keeps_them() {
    let env = Env::new();
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE TABLE \"User\" (id int PRIMARY KEY, \"lastLoginAt\" timestamp(3), seen timestamptz);
         INSERT INTO \"User\" VALUES (1, '2024-06-04 22:13:44.969', '2024-06-04 22:13:44+00'),
           (2, '2024-06-04 22:13:45', NULL), (3, NULL, '2024-06-04 22:13:44.5+02');",
    );
    let latest = backed_up(&env, &src);
    let dst = Db::create(Kind::Sqlite, env.dir.path());
    dst.exec(
        "CREATE TABLE \"User\" (id INTEGER PRIMARY KEY, \"lastLoginAt\" DATETIME, seen DATETIME);
         INSERT INTO \"User\" VALUES (9, '2023-11-15T22:13:20.123+00:00', '2023-11-15T22:13:20Z');",
    );
    env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
    assert_eq!(
        dst.query_any(
            Kind::Sqlite,
            "SELECT group_concat(id || '|' || ifnull(\"lastLoginAt\", '') || '|' || ifnull(seen, ''), ' ') \
             FROM \"User\""
        ),
        "1|2024-06-04T22:13:44.969+00:00|2024-06-04T22:13:44Z \
         2|2024-06-04T22:13:45.000+00:00| 3||2024-06-04T20:13:44.500000Z"
    );
    // what Prisma asks: each row is at or after its own instant
    assert_eq!(
        dst.query_any(
            Kind::Sqlite,
            "SELECT count(*) FROM \"User\" WHERE \"lastLoginAt\" >= '2024-06-04T22:13:44.969+00:00'"
        ),
        "2"
    );
    let diff = env.json(&["diff", &latest, "--live", &dst.url()]);
    assert_eq!(diff["tables"][0]["unchanged"], 3, "{diff}");
}

/// The numbers of rows deleted before the backup are not given again in
/// another engine: the target's counter starts where the source's was, not
/// after the largest id restored. Redmine's issue #224, deleted, came back
/// as a new issue's number after a move (same-engine restores kept the
/// counter), and an issue number in an old e-mail named another issue.
#[test]
fn a_counter_moves_to_another_engine_past_the_rows_deleted() {
    let env = Env::new();
    let make = |kind: Kind| {
        let db = Db::create(kind, env.dir.path());
        db.exec(&format!(
            "CREATE TABLE issues (id {}, subject varchar(20));
             INSERT INTO issues (subject) VALUES ('a'), ('b'), ('c'), ('d'), ('e');
             DELETE FROM issues WHERE id > 3;",
            match kind {
                Kind::Postgres => "serial PRIMARY KEY",
                Kind::Mariadb => "int AUTO_INCREMENT PRIMARY KEY",
                Kind::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            }
        ));
        db
    };
    let next = |db: &Db, kind: Kind| {
        let sql = match kind {
            Kind::Postgres => "INSERT INTO issues (subject) VALUES ('new') RETURNING id",
            Kind::Mariadb => "INSERT INTO issues (subject) VALUES ('new'); SELECT LAST_INSERT_ID()",
            Kind::Sqlite => {
                "INSERT INTO issues (subject) VALUES ('new'); SELECT last_insert_rowid()"
            }
        };
        db.query_any(kind, sql)
    };
    for from in [Kind::Postgres, Kind::Mariadb, Kind::Sqlite] {
        let src = make(from);
        let latest = backed_up(&env, &src);
        for to in [Kind::Postgres, Kind::Mariadb, Kind::Sqlite] {
            if to == from {
                continue;
            }
            let dst = Db::create(to, env.dir.path());
            env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
            assert_eq!(next(&dst, to), "6", "{from:?} into {to:?}");
            // a merge never moves it back; a replace sets the source's, as
            // a restore of the same engine does (the row 6 is gone again)
            env.ok(&[
                "restore",
                &latest,
                "--to",
                &dst.url(),
                "--mode",
                "merge",
                "--yes",
            ]);
            assert_eq!(next(&dst, to), "7", "{from:?} into {to:?}, merged");
            env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
            assert_eq!(next(&dst, to), "6", "{from:?} into {to:?}, replaced");
        }
    }
}

/// A MariaDB `datetime` keeps no fraction of a second, and a table made
/// from it in PostgreSQL now keeps none either (`timestamp(0)`), so that
/// the way back makes a `datetime` again: WordPress, moved to PostgreSQL
/// and back, came back with `datetime(6)` columns, read
/// `2024-01-01 10:00:00.000000`, and showed no dates.
#[test]
fn a_datetime_keeps_its_digits_of_a_second_there_and_back() {
    let env = Env::new();
    let src = Db::create(Kind::Mariadb, env.dir.path());
    src.exec(
        "CREATE TABLE p (id int PRIMARY KEY, d datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
           d3 datetime(3), tm time, d6 datetime(6));
         INSERT INTO p VALUES (1, '2024-01-01 10:00:00', '2024-01-01 10:00:00.123', '10:11:12',
           '2024-01-01 10:00:00.123456');",
    );
    let latest = backed_up(&env, &src);
    let pg = Db::create(Kind::Postgres, env.dir.path());
    env.ok(&["restore", &latest, "--to", &pg.url(), "--yes"]);
    assert_eq!(
        pg.query(
            "SELECT string_agg(format_type(atttypid, atttypmod), ', ' ORDER BY attnum) \
             FROM pg_attribute WHERE attrelid = 'p'::regclass AND attnum > 1"
        ),
        "timestamp(0) without time zone, timestamp(3) without time zone, \
         time(0) without time zone, timestamp without time zone"
    );
    let from_pg = backed_up(&env, &pg);
    let back = Db::create(Kind::Mariadb, env.dir.path());
    env.ok(&["restore", &from_pg, "--to", &back.url(), "--yes"]);
    assert_eq!(
        back.query_any(
            Kind::Mariadb,
            "SELECT GROUP_CONCAT(COLUMN_TYPE ORDER BY ORDINAL_POSITION SEPARATOR ', ') \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'p' \
             AND COLUMN_NAME <> 'id'"
        ),
        "datetime, datetime(3), time, datetime(6)"
    );
    assert_eq!(
        back.query_any(Kind::Mariadb, "SELECT CONCAT(d, '|', d3, '|', tm) FROM p"),
        "2024-01-01 10:00:00|2024-01-01 10:00:00.123|10:11:12"
    );
    // the application's insert without a date still gets one
    back.exec("INSERT INTO p (id) VALUES (2)");
    assert_eq!(
        back.query_any(Kind::Mariadb, "SELECT d IS NOT NULL FROM p WHERE id = 2"),
        "1"
    );
}

/// Applications on .NET write seven digits of a second, on Go nine; no
/// engine's timestamp keeps more than six, and such text was refused
/// (`cannot write a text value into type timestamp`). The digits beyond
/// the sixth are cut now. And a value MariaDB refuses in a table the
/// restore makes names that table, not the work table it is loaded into.
#[test]
fn digits_beyond_a_microsecond_are_cut_and_errors_name_the_table() {
    let env = Env::new();
    let src = Db::create(Kind::Sqlite, env.dir.path());
    src.exec(
        "CREATE TABLE ev (id integer PRIMARY KEY, at timestamp);
         INSERT INTO ev VALUES (1, '2024-06-04 22:13:44.123456789+00:00'),
           (2, '2024-06-04T22:13:44.1234567Z');",
    );
    let latest = backed_up(&env, &src);
    let pg = Db::create(Kind::Postgres, env.dir.path());
    env.ok(&["restore", &latest, "--to", &pg.url(), "--yes"]);
    assert_eq!(
        pg.query("SELECT string_agg(at::text, ' ' ORDER BY id) FROM ev"),
        "2024-06-04 22:13:44.123456 2024-06-04 22:13:44.123456"
    );
    let my = Db::create(Kind::Mariadb, env.dir.path());
    env.ok(&["restore", &latest, "--to", &my.url(), "--yes"]);
    assert_eq!(
        my.query_any(Kind::Mariadb, "SELECT GROUP_CONCAT(at ORDER BY id) FROM ev"),
        "2024-06-04 22:13:44.123456,2024-06-04 22:13:44.123456"
    );
    src.exec("INSERT INTO ev VALUES (3, 'not a time')");
    let latest = backed_up(&env, &src);
    let my = Db::create(Kind::Mariadb, env.dir.path());
    let out = env.tresor(&["restore", &latest, "--to", &my.url(), "--yes"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("`ev`.`at`"), "{text}");
    assert!(!text.contains("__tresor_"), "{text}");
}

/// MariaDB's zero dates go into SQLite as the text `0000-00-00 00:00:00`;
/// a second restore's dry run listed every such row as updated, though the
/// restore would write it as it is.
#[test]
fn zero_dates_in_sqlite_preview_as_unchanged() {
    let env = Env::new();
    let src = Db::create(Kind::Mariadb, env.dir.path());
    src.exec(
        "SET SESSION sql_mode = '';
         CREATE TABLE links (id int PRIMARY KEY, updated datetime NOT NULL DEFAULT '0000-00-00 00:00:00',
           day date);
         INSERT INTO links VALUES (1, '0000-00-00 00:00:00', '0000-00-00'),
           (2, '2024-01-01 10:00:00', '2024-01-01');",
    );
    let latest = backed_up(&env, &src);
    let dst = Db::create(Kind::Sqlite, env.dir.path());
    env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
    let dry = env.json(&["restore", &latest, "--to", &dst.url(), "--dry-run"]);
    assert_eq!(dry["tables"][0]["unchanged"], 2, "{dry}");
    assert_eq!(dry["tables"][0]["updated"], 0, "{dry}");
}

/// A PostgreSQL table of a schema other than `public` (MediaWiki keeps
/// every table in `mediawiki`) goes into an engine without schemas under
/// its own name. Into a database that has a table of that name, the
/// restore planned `app.t` as a table to make and `t` as one to leave
/// alone, then loaded into `t`: the rows written there since were gone,
/// without a confirmation or a safety snapshot. Refused now, dry run and
/// restore alike, as are two tables that would meet under one name; into
/// a database without the table it is made.
#[test]
fn a_table_of_another_schema_never_overwrites_a_table_of_its_name() {
    let env = Env::new();
    let src = Db::create(Kind::Postgres, env.dir.path());
    src.exec(
        "CREATE SCHEMA app; CREATE TABLE app.t (id serial PRIMARY KEY, v text);
         INSERT INTO app.t (v) VALUES ('a'), ('b');",
    );
    let latest = backed_up(&env, &src);
    for kind in [Kind::Sqlite, Kind::Mariadb] {
        let dst = Db::create(kind, env.dir.path());
        env.ok(&["restore", &latest, "--to", &dst.url(), "--yes"]);
        dst.exec("INSERT INTO t (v) VALUES ('precious')");
        for last in ["--dry-run", "--yes"] {
            let out = env.tresor(&["restore", &latest, "--to", &dst.url(), last]);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{kind:?} {last}: {err}");
            assert!(
                err.contains("table app.t of the snapshot would go into the target's table t"),
                "{kind:?}: {err}"
            );
            assert_eq!(
                dst.query_any(kind, "SELECT count(*) FROM t"),
                "3",
                "{kind:?}"
            );
        }
    }
    src.exec("CREATE TABLE t (id int PRIMARY KEY)");
    let latest = backed_up(&env, &src);
    let dst = Db::create(Kind::Sqlite, env.dir.path());
    let out = env.tresor(&["restore", &latest, "--to", &dst.url(), "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("tables app.t and t would both be table t"),
        "{}",
        stderr(&out)
    );
}

/// Rails keeps a `time` column on SQLite as the time after the date
/// 2000-01-01 (`2000-01-01 01:01:07`), and compares it so. Into
/// PostgreSQL's `time` such a value was refused (`cannot write a text
/// value into type time`), though PostgreSQL reads it as its time of day;
/// the other way, into Rails' own SQLite schema, it went in as `01:01:07`,
/// which Rails' queries never matched.
#[test]
fn rails_times_of_day_cross_both_ways() {
    let env = Env::new();
    let lite = Db::create(Kind::Sqlite, env.dir.path());
    lite.exec(
        "CREATE TABLE ar_internal_metadata (key varchar PRIMARY KEY, value varchar);
         CREATE TABLE events (id integer PRIMARY KEY, at time);
         INSERT INTO events VALUES (1, '2000-01-01 01:01:07'), (2, '2000-01-01 23:59:59.5');",
    );
    let pg = Db::create(Kind::Postgres, env.dir.path());
    pg.exec("CREATE TABLE events (id bigint PRIMARY KEY, at time)");
    let latest = backed_up(&env, &lite);
    env.ok(&[
        "restore",
        &latest,
        "--to",
        &pg.url(),
        "--tables",
        "events",
        "--yes",
    ]);
    assert_eq!(
        pg.query("SELECT string_agg(at::text, ',' ORDER BY id) FROM events"),
        "01:01:07,23:59:59.5"
    );
    lite.exec("DELETE FROM events");
    let back = backed_up(&env, &pg);
    env.ok(&["restore", &back, "--to", &lite.url(), "--yes"]);
    assert_eq!(
        lite.query_any(Kind::Sqlite, "SELECT group_concat(at, '|') FROM events"),
        "2000-01-01 01:01:07|2000-01-01 23:59:59.500000"
    );
    assert_eq!(
        lite.query_any(
            Kind::Sqlite,
            "SELECT id FROM events WHERE at = '2000-01-01 01:01:07'"
        ),
        "1"
    );
}

/// A value the target's column cannot hold fails the restore, naming the
/// table, the row and the column (PostgreSQL's `COPY` said only `numeric
/// field overflow`).
#[test]
fn a_value_postgresql_refuses_names_its_column() {
    let env = Env::new();
    let lite = Db::create(Kind::Sqlite, env.dir.path());
    lite.exec(
        "CREATE TABLE customers (id integer PRIMARY KEY, balance real);
         INSERT INTO customers VALUES (1, 5.5), (2, 1e14);",
    );
    let pg = Db::create(Kind::Postgres, env.dir.path());
    pg.exec("CREATE TABLE customers (id bigint PRIMARY KEY, balance numeric(20,6))");
    let latest = backed_up(&env, &lite);
    let out = env.tresor(&["restore", &latest, "--to", &pg.url(), "--dry-run"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("numeric field overflow") && text.contains("line 2, column balance"),
        "{text}"
    );
}

/// MediaWiki numbers its actors with a `bigint unsigned AUTO_INCREMENT`:
/// into an empty PostgreSQL database it became a `numeric(20,0)` identity,
/// which PostgreSQL refuses (`identity column type must be smallint,
/// integer, or bigint`). It counts in a `bigint` identity now.
#[test]
fn an_unsigned_bigint_counter_is_a_bigint_identity_in_postgresql() {
    let env = Env::new();
    let my = Db::create(Kind::Mariadb, env.dir.path());
    my.exec(
        "CREATE TABLE actor (actor_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
           actor_name varbinary(255) NOT NULL);
         INSERT INTO actor (actor_name) VALUES ('Admin'), ('Bot');",
    );
    let latest = backed_up(&env, &my);
    let pg = Db::create(Kind::Postgres, env.dir.path());
    env.ok(&["restore", &latest, "--to", &pg.url(), "--yes"]);
    assert_eq!(
        pg.query(
            "SELECT data_type || ' ' || is_identity FROM information_schema.columns \
             WHERE table_name = 'actor' AND column_name = 'actor_id'"
        ),
        "bigint YES"
    );
    pg.exec("INSERT INTO actor (actor_name) VALUES ('\\x4e6577')");
    assert_eq!(pg.query("SELECT max(actor_id) FROM actor"), "3");
}

/// A key the source numbered itself (PostgreSQL's `serial`, MariaDB's
/// `AUTO_INCREMENT`) into an empty SQLite database is `INTEGER PRIMARY
/// KEY AUTOINCREMENT`, as Rails and knex make it: a plain `INTEGER` key
/// gave the number of a deleted newest row again, and Directus, which
/// reads the column as not numbered, refused to insert without an id.
#[test]
fn a_numbered_key_is_sqlites_autoincrement() {
    let env = Env::new();
    let pg = Db::create(Kind::Postgres, env.dir.path());
    pg.exec(
        "CREATE TABLE tags (id serial PRIMARY KEY, label text UNIQUE);
         INSERT INTO tags (label) VALUES ('a'), ('b'), ('c');
         CREATE TABLE pairs (a int, b int, PRIMARY KEY (a, b));",
    );
    let latest = backed_up(&env, &pg);
    let lite = Db::create(Kind::Sqlite, env.dir.path());
    env.ok(&["restore", &latest, "--to", &lite.url(), "--yes"]);
    let q = |sql: &str| lite.query_any(Kind::Sqlite, sql);
    let ddl = q("SELECT sql FROM sqlite_master WHERE name = 'tags'");
    assert!(
        ddl.contains("\"id\" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT"),
        "{ddl}"
    );
    assert!(
        q("SELECT sql FROM sqlite_master WHERE name = 'pairs'")
            .contains("PRIMARY KEY (\"a\", \"b\")")
    );
    lite.exec("DELETE FROM tags WHERE id = 3; INSERT INTO tags (label) VALUES ('d')");
    assert_eq!(q("SELECT id FROM tags WHERE label = 'd'"), "4");
}

/// MediaWiki's `job` table indexes four columns, unbounded text among
/// them (`job_params`): into an empty MariaDB database each became a
/// `varchar` sized to share the index's bytes, which refused the longer
/// values (`Data too long for column 'job_params'`). They stay `longtext`
/// now, and the index takes a prefix of each.
#[test]
fn text_under_a_plain_index_keeps_every_value_in_mariadb() {
    let env = Env::new();
    let pg = Db::create(Kind::Postgres, env.dir.path());
    pg.exec(
        "CREATE TABLE job (job_id serial PRIMARY KEY, job_cmd text NOT NULL,
           job_namespace int NOT NULL, job_title text NOT NULL, job_params text NOT NULL);
         CREATE INDEX job_cmd ON job (job_cmd, job_namespace, job_title, job_params);
         INSERT INTO job (job_cmd, job_namespace, job_title, job_params)
           VALUES ('refreshLinks', 0, 'Main_Page', repeat('p', 5000));",
    );
    let latest = backed_up(&env, &pg);
    let my = Db::create(Kind::Mariadb, env.dir.path());
    env.ok(&["restore", &latest, "--to", &my.url(), "--yes"]);
    assert_eq!(
        my.query_any(Kind::Mariadb, "SELECT length(job_params) FROM job"),
        "5000"
    );
    my.exec(&format!(
        "INSERT INTO job (job_cmd, job_namespace, job_title, job_params) \
         VALUES ('htmlCacheUpdate', 0, '{}', 'x')",
        "T".repeat(2000)
    ));
}
