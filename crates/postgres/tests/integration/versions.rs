//! Restores across PostgreSQL majors: a database with every type and
//! object kind of the fixtures (and what its major added on top), backed
//! up through the engine's source into a repository on one major, then
//! restored into a new database on another, older ones included. The dry
//! run must list exactly the version approximations, the restore must do
//! what it approved, the rest must match row for row and object for
//! object, and the sequences must have moved.
//!
//! PostgreSQL 15 is the machine's server on port 5432; the other majors
//! (12 to 18) are throwaway servers
//! (`tresor_testing::servers::PostgresServer`), started once per test
//! binary and shared by its tests.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio_postgres::Client;
use tresor_core::{Connector, DatabaseSchema, RestoreMode, SchemaObject, TableFilter, Value};
use tresor_ops::{
    BackupOptions, CacheDir, NoProgress, RestoreOptions, Snapshot, backup, preview, restore,
};
use tresor_postgres::PostgresConnector;
use tresor_repo::{InitOptions, KdfParams, Password, Repository, Storage};
use tresor_testing::servers::PostgresServer;

use super::common::unique_name;

const FIXTURE: &str = include_str!("versions_fixture.sql");

/// A server of one major: the machine's (port 5432) or a throwaway one.
struct Pg {
    major: u32,
    port: u16,
    lz4: bool,
    _server: Option<PostgresServer>,
}

impl Pg {
    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    async fn client(&self, db: &str) -> Client {
        let (client, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname={db}",
                self.port
            ),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap_or_else(|e| panic!("connect to PostgreSQL {} on {}: {e}", self.major, self.port));
        tokio::spawn(conn);
        client
    }

    async fn exec(&self, db: &str, sql: &str) {
        if let Err(e) = self.client(db).await.batch_execute(sql).await {
            panic!("sql failed on PostgreSQL {}: {e:?}\n{sql}", self.major);
        }
    }
}

/// The server of `major`, started on first use.
async fn pg(major: u32) -> &'static Pg {
    static SERVERS: [OnceCell<Pg>; 7] = [const { OnceCell::const_new() }; 7];
    let slot = usize::try_from(major.wrapping_sub(12))
        .ok()
        .filter(|s| *s < SERVERS.len())
        .unwrap_or_else(|| panic!("no PostgreSQL {major} in this matrix (12 to 18)"));
    SERVERS[slot]
        .get_or_init(|| async move {
            let (port, server) = if major == 15 {
                (5432, None)
            } else {
                let s = PostgresServer::start(major)
                    .await
                    .unwrap_or_else(|e| panic!("{e:#}"));
                (s.port, Some(s))
            };
            let mut pg = Pg {
                major,
                port,
                lz4: false,
                _server: server,
            };
            let row = pg
                .client("postgres")
                .await
                .query_one(
                    "SELECT current_setting('server_version_num')::int / 10000, \
                            EXISTS (SELECT 1 FROM pg_settings \
                                    WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals))",
                    &[],
                )
                .await
                .expect("server version");
            assert_eq!(
                row.get::<_, i32>(0),
                i32::try_from(major).unwrap_or_default(),
                "the server on port {port} is not PostgreSQL {major}"
            );
            pg.lz4 = row.get(1);
            pg
        })
        .await
}

/// A database of its own on `pg`, dropped at the end on the machine's
/// server (the throwaway ones go with their server).
struct Db {
    pg: &'static Pg,
    name: String,
}

impl Db {
    async fn create(pg: &'static Pg) -> Db {
        let name = unique_name();
        pg.exec(
            "postgres",
            &format!("CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"),
        )
        .await;
        Db { pg, name }
    }

    fn unborn(pg: &'static Pg) -> Db {
        Db {
            pg,
            name: unique_name(),
        }
    }

    fn url(&self) -> String {
        self.pg.url(&self.name)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if self.pg.port == 5432 {
            let _ = std::process::Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    "5432",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-q",
                    "-c",
                ])
                .arg(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .output();
        }
    }
}

/// A role the fixture grants to, dropped at the end from the machine's
/// server (declared before the databases, so dropped after them).
struct Role(String);

impl Role {
    fn new() -> Role {
        Role(format!("{}_reader", unique_name()))
    }

    /// Grants to the role on a server of `major`.
    fn grants(&self, major: u32) -> String {
        let r = &self.0;
        let mut sql = format!(
            "CREATE ROLE {r} NOLOGIN; GRANT SELECT ON public.customers TO {r}; \
             GRANT USAGE ON SCHEMA \"Odd Schema\" TO {r};"
        );
        if major >= 17 {
            sql.push_str(&format!(" GRANT MAINTAIN ON public.orders TO {r};"));
        }
        sql
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                "5432",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-q",
                "-c",
            ])
            .arg(format!("DROP ROLE IF EXISTS {}", self.0))
            .output();
    }
}

/// What majors after 12 added, made on a server of `major`: the table
/// `features`, the functions, view and index around it, and its rows.
fn features(major: u32, lz4: bool) -> String {
    let mut cols = vec![
        "id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        "a text",
        "b text",
    ];
    let mut values: Vec<Vec<&str>> =
        vec![vec!["'x'", "NULL"], vec!["'y'", "'z'"], vec!["NULL", "'w'"]];
    let mut names = vec!["a", "b"];
    let mut after = Vec::new();
    if major >= 13 {
        cols.extend(["x xid8", "u uuid DEFAULT gen_random_uuid()"]);
        names.push("x");
        for (row, v) in values
            .iter_mut()
            .zip(["'18446744073709551615'", "'0'", "NULL"])
        {
            row.push(v);
        }
    }
    if major >= 14 {
        cols.extend(["mr int4multirange", "fmr public.floatmultirange"]);
        cols.push(if lz4 {
            "big text COMPRESSION lz4"
        } else {
            "big text COMPRESSION pglz"
        });
        names.extend(["mr", "fmr", "big"]);
        let rows = [
            ["'{[1,3),[5,7)}'", "'{[1.5,2.5)}'", "repeat('z', 10000)"],
            ["'{}'", "NULL", "NULL"],
            ["NULL", "'{(,0]}'", "''"],
        ];
        for (row, v) in values.iter_mut().zip(rows) {
            row.extend(v);
        }
        after.push(
            "CREATE FUNCTION public.feature_count() RETURNS bigint LANGUAGE sql STABLE \
             BEGIN ATOMIC SELECT count(*) FROM public.features; END",
        );
        after.push(
            "CREATE FUNCTION public.twice(n integer) RETURNS integer LANGUAGE sql IMMUTABLE RETURN n * 2",
        );
    }
    if major >= 15 {
        cols.push("CONSTRAINT features_ab_key UNIQUE NULLS NOT DISTINCT (a, b)");
        after.push("CREATE UNIQUE INDEX features_b_idx ON public.features (b) NULLS NOT DISTINCT");
        after.push(
            "CREATE VIEW public.features_v WITH (security_invoker = true) AS SELECT id, a FROM public.features",
        );
    }
    if major >= 18 {
        cols.push("v integer GENERATED ALWAYS AS (length(a)) VIRTUAL");
        cols.push("CONSTRAINT features_b_short CHECK (length(b) < 100) NOT ENFORCED");
        after.push("COMMENT ON CONSTRAINT features_b_short ON public.features IS 'not enforced'");
        after.push(
            "CREATE EXTENSION btree_gist;
             CREATE TABLE public.bookings (room integer, during daterange, guest text,
               CONSTRAINT bookings_pkey PRIMARY KEY (room, during WITHOUT OVERLAPS));
             CREATE TABLE public.stays (room integer, during daterange,
               CONSTRAINT stays_booking_fkey FOREIGN KEY (room, PERIOD during)
                 REFERENCES public.bookings (room, PERIOD during));
             INSERT INTO public.bookings VALUES (1, '[2024-01-01,2024-01-10)', 'ann'),
               (1, '[2024-01-10,2024-01-20)', 'bob');
             INSERT INTO public.stays VALUES (1, '[2024-01-02,2024-01-05)')",
        );
    }
    let rows: Vec<String> = values
        .iter()
        .map(|r| format!("({})", r.join(", ")))
        .collect();
    let mut sql = format!(
        "CREATE TABLE public.features (\n  {}\n);\nINSERT INTO public.features ({}) VALUES {};\n",
        cols.join(",\n  "),
        names.join(", "),
        rows.join(", ")
    );
    for a in after {
        sql.push_str(a);
        sql.push_str(";\n");
    }
    sql
}

/// The approximations a restore from `from` into `to` must list, as the
/// start of each line the dry run prints; `privileges`: with owners and
/// grants.
fn expected(from: &Pg, to: &Pg, privileges: bool) -> Vec<String> {
    let (f, t) = (from.major, to.major);
    let mut out = Vec::new();
    let mut add = |since: u32, lines: &[&str]| {
        if f >= since && t < since {
            out.extend(lines.iter().map(|l| l.replace("{t}", &t.to_string())));
        }
    };
    add(
        13,
        &[
            "features.x: xid8 becomes numeric(20,0): PostgreSQL 12 has no xid8 type (13+)",
            "features.u: default gen_random_uuid() becomes public.gen_random_uuid(): PostgreSQL 12 has no built-in gen_random_uuid() (13+)",
        ],
    );
    add(
        14,
        &[
            "features.mr: int4multirange becomes int4range[]",
            "features.fmr: public.floatmultirange becomes public.floatrange[]",
            "range type public.floatrange: no multirange type",
            "function public.feature_count: string body",
            "function public.twice: string body",
        ],
    );
    add(
        15,
        &[
            "unique constraint features: NULLS DISTINCT: features_ab_key",
            "unique index features: NULLS DISTINCT: features_b_idx",
            "view features_v: security definer view",
        ],
    );
    add(
        18,
        &[
            "features.v: virtual generated column becomes stored generated column",
            "check constraint features: not created: features_b_short",
            "primary key bookings: not created: bookings_pkey: PostgreSQL {t} has no temporal keys",
            "foreign key stays: not created: stays_booking_fkey: PostgreSQL {t} has no temporal keys",
        ],
    );
    if privileges && f >= 15 && t < 14 {
        out.push(format!(
            "schema public: owner unchanged: PostgreSQL {t} has no role pg_database_owner (14+)"
        ));
    }
    if privileges && f >= 17 && t < 17 {
        out.push(format!(
            "grant privileges: not restored: PostgreSQL {t} has no MAINTAIN privilege (17+)"
        ));
    }
    if f >= 14 && from.lz4 && !(t >= 14 && to.lz4) {
        out.push("features.big: COMPRESSION lz4 becomes the server's default compression".into());
    }
    out
}

async fn new_repo() -> Arc<Repository> {
    let options = InitOptions {
        kdf: KdfParams::insecure_for_tests(),
        ..InitOptions::default()
    };
    Arc::new(
        Repository::init(Storage::memory(), &Password::new("pw"), options)
            .await
            .expect("repository"),
    )
}

/// The fixture on `pg` (with grants to `role`), backed up into a new
/// repository.
async fn backed_up(pg: &'static Pg, role: Option<&Role>) -> (Db, Arc<Repository>, Snapshot) {
    let src = Db::create(pg).await;
    pg.exec(&src.name, FIXTURE).await;
    pg.exec(&src.name, &features(pg.major, pg.lz4)).await;
    if let Some(role) = role {
        pg.exec(&src.name, &role.grants(pg.major)).await;
    }
    let repo = new_repo().await;
    let source = PostgresConnector.source(&src.url()).expect("source");
    let options = BackupOptions {
        url: src.url(),
        cache: CacheDir::Off,
        ..BackupOptions::default()
    };
    let snap = backup(&repo, source.as_ref(), &options, &NoProgress)
        .await
        .expect("backup");
    (src, repo, snap)
}

fn restore_options(url: &str) -> RestoreOptions {
    RestoreOptions {
        tables: TableFilter::default(),
        mode: RestoreMode::Replace,
        target_url: url.to_string(),
        rehearsal: Some(Duration::from_secs(120)),
        ..RestoreOptions::default()
    }
}

/// Backs up on `from`, dry-runs and restores on `to`, and compares;
/// `privileges`: a role with grants, restored with owners and grants.
async fn across(from: u32, to: u32, privileges: bool) {
    let (from, to) = (pg(from).await, pg(to).await);
    let role = privileges.then(Role::new);
    let (src, repo, snap) = backed_up(from, role.as_ref()).await;
    let dst = Db::unborn(to);
    let target = PostgresConnector.target(&dst.url()).expect("target");
    let target_source = PostgresConnector.source(&dst.url()).expect("target source");
    let options = RestoreOptions {
        with_privileges: privileges,
        ..restore_options(&dst.url())
    };

    let dry = preview(
        &repo,
        &snap,
        target.as_ref(),
        target_source.as_ref(),
        &options,
    )
    .await
    .expect("dry run");
    assert!(
        dry.failure().is_none(),
        "the rehearsal failed: {:?}",
        dry.failure()
    );
    let listed: Vec<String> = dry.approximations.iter().map(ToString::to_string).collect();
    let want = expected(from, to, privileges);
    let missing: Vec<&String> = want
        .iter()
        .filter(|w| !listed.iter().any(|l| l.starts_with(w.as_str())))
        .collect();
    assert!(
        missing.is_empty() && listed.len() == want.len(),
        "PostgreSQL {} into {}: the dry run listed\n{}\nbut should list\n{}",
        from.major,
        to.major,
        listed.join("\n"),
        want.join("\n")
    );

    let done = restore(&repo, &snap, target.as_ref(), None, &options, &NoProgress)
        .await
        .expect("restore");
    assert_eq!(done.summary.rows.get("everything"), Some(&3));

    compare(from, &src, to, &dst).await;
    sequences_moved(to, &dst).await;
    domain_not_null_once(to, &dst).await;
    if let Some(role) = &role {
        granted(from, to, &dst, &role.0).await;
    }
}

/// The role and its grants are on `to`, but for MAINTAIN where it lacks it.
async fn granted(from: &Pg, to: &Pg, dst: &Db, role: &str) {
    let c = to.client(&dst.name).await;
    let check = |sql: &str| format!("SELECT {sql}");
    for (sql, want) in [
        (
            format!("has_table_privilege('{role}', 'public.customers', 'SELECT')"),
            true,
        ),
        (
            format!("has_schema_privilege('{role}', 'Odd Schema', 'USAGE')"),
            true,
        ),
        (
            format!("has_table_privilege('{role}', 'public.orders', 'SELECT')"),
            false,
        ),
    ] {
        let got: bool = c.query_one(&check(&sql), &[]).await.expect(&sql).get(0);
        assert_eq!(got, want, "{sql} on PostgreSQL {}", to.major);
    }
    // PUBLIC could create in schema public before 15: a snapshot of 12 to
    // 14 carries that grant, restored as it was; on 15 and later the
    // target keeps its own default unless the snapshot grants it
    let sql = format!("has_schema_privilege('{role}', 'public', 'CREATE')");
    let got: bool = c.query_one(&check(&sql), &[]).await.expect(&sql).get(0);
    assert_eq!(
        got,
        from.major < 15 || to.major < 15,
        "{sql} on PostgreSQL {}",
        to.major
    );
    if from.major >= 17 && to.major >= 17 {
        let sql = format!("has_table_privilege('{role}', 'public.orders', 'MAINTAIN')");
        let got: bool = c.query_one(&check(&sql), &[]).await.expect(&sql).get(0);
        assert!(got, "{sql} on PostgreSQL {}", to.major);
    }
}

/// Rows and objects of `dst` against `src`, but for what the version
/// approximations changed.
async fn compare(from: &Pg, src: &Db, to: &Pg, dst: &Db) {
    let all = TableFilter::default();
    let a = tresor_testing::read_database(&PostgresConnector, &src.url(), &all)
        .await
        .expect("read the source");
    let b = tresor_testing::read_database(&PostgresConnector, &dst.url(), &all)
        .await
        .expect("read the target");
    assert_eq!(
        a.tables.keys().collect::<Vec<_>>(),
        b.tables.keys().collect::<Vec<_>>()
    );
    // the columns whose type the target lacks: their values, converted
    let converted = converted_columns(from.major, to.major);
    for table in a.schema.tables.iter() {
        let name = table.name.to_string();
        let other = b.schema.table(&table.name).expect("restored table");
        let cols: Vec<String> = table.stored_columns().map(|c| c.name.clone()).collect();
        let other_cols: Vec<String> = other.stored_columns().map(|c| c.name.clone()).collect();
        assert_eq!(cols, other_cols, "columns of {name}");
        for c in table
            .columns
            .iter()
            .filter(|c| !converted.contains_key(c.name.as_str()))
        {
            let o = other.column(&c.name).expect("column");
            assert_eq!(c.engine_type, o.engine_type, "type of {name}.{}", c.name);
        }
        let (ra, rb) = (a.rows(&name), b.rows(&name));
        assert_eq!(ra.len(), rb.len(), "rows of {name}");
        for (x, y) in ra.iter().zip(rb) {
            for (i, col) in cols.iter().enumerate() {
                let (want, got) = match converted.get(col.as_str()) {
                    // the type's name changed with the type: the text counts
                    Some(convert) if name == "features" => match (convert(&x[i]), &y[i]) {
                        (Value::Other { text, .. }, Value::Other { text: got, .. }) => {
                            (Value::Text(text), Value::Text(got.clone()))
                        }
                        (want, got) => (want, got.clone()),
                    },
                    _ => (x[i].clone(), y[i].clone()),
                };
                assert!(
                    want.same(&got),
                    "{name}.{col} from PostgreSQL {} into {}: {want:?} became {:?}",
                    from.major,
                    to.major,
                    y[i]
                );
            }
        }
    }
    let (oa, ob) = (objects(&a.schema), objects(&b.schema));
    let mut lost: BTreeSet<&String> = oa.difference(&ob).collect();
    if from.major >= 18 && to.major < 18 {
        // the NOT ENFORCED and temporal constraints are not created, nor
        // the comment of the first
        lost.retain(|o| !o.contains("features_b_short") && !o.contains("stays_booking_fkey"));
    }
    let mut gained: BTreeSet<&String> = ob.difference(&oa).collect();
    if from.major >= 13 && to.major < 13 {
        // gen_random_uuid() comes from pgcrypto on 12
        gained.retain(|o| o.as_str() != "extension pgcrypto ");
    }
    assert!(
        lost.is_empty() && gained.is_empty(),
        "objects differ from PostgreSQL {} into {}:\nlost {lost:#?}\ngained {gained:#?}",
        from.major,
        to.major
    );
}

type Convert = fn(&Value) -> Value;

/// The columns of `features` whose type a restore from `from` into `to`
/// changes, and what their values become.
fn converted_columns(from: u32, to: u32) -> HashMap<&'static str, Convert> {
    let mut out: HashMap<&'static str, Convert> = HashMap::new();
    if from >= 13 && to < 13 {
        out.insert("x", |v| match v {
            Value::Other { text, .. } => Value::Decimal(text.clone()),
            v => v.clone(),
        });
    }
    if from >= 14 && to < 14 {
        fn array(v: &Value) -> Value {
            let Value::Other { text, .. } = v else {
                return v.clone();
            };
            let text = match text.as_str() {
                "{[1,3),[5,7)}" => r#"{"[1,3)","[5,7)"}"#,
                "{}" => "{}",
                "{[1.5,2.5)}" => r#"{"[1.5,2.5)"}"#,
                "{(,0]}" => r#"{"(,0]"}"#,
                other => panic!("unexpected multirange {other}"),
            };
            Value::Other {
                type_name: String::new(),
                text: text.into(),
            }
        }
        out.insert("mr", array);
        out.insert("fmr", array);
    }
    out
}

/// Every object by kind, name and table, with the DDL of those whose
/// text does not depend on the server's version (comments); constraints
/// and indexes of the tables by name.
fn objects(schema: &DatabaseSchema) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let show = |o: &SchemaObject| {
        let table = o
            .table
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        match o.kind.as_str() {
            "comment" => format!("comment {}", o.ddl),
            _ => format!("{} {} {table}", o.kind, o.name),
        }
    };
    out.extend(schema.objects.iter().map(show));
    for t in &schema.tables {
        out.extend(
            t.constraints
                .iter()
                .map(|c| format!("constraint {} {}", c.name, t.name)),
        );
        out.extend(
            t.indexes
                .iter()
                .map(|i| format!("index {} {}", i.name, t.name)),
        );
        out.extend(
            t.foreign_keys
                .iter()
                .map(|f| format!("foreign key {:?} {}", f.name, t.name)),
        );
    }
    out
}

/// A domain's NOT NULL, a constraint of its own from 17, is made once.
async fn domain_not_null_once(to: &Pg, dst: &Db) {
    let row = to
        .client(&dst.name)
        .await
        .query_one(
            "SELECT t.typnotnull, (SELECT count(*) FROM pg_constraint c \
                                   WHERE c.contypid = t.oid AND c.contype = 'n') \
             FROM pg_type t WHERE t.oid = 'public.code'::regtype",
            &[],
        )
        .await
        .expect("domain code");
    let (not_null, constraints): (bool, i64) = (row.get(0), row.get(1));
    assert!(
        not_null,
        "domain code lost its NOT NULL on PostgreSQL {}",
        to.major
    );
    let want = i64::from(to.major >= 17);
    assert_eq!(
        constraints, want,
        "NOT NULL constraints of domain code on PostgreSQL {}",
        to.major
    );
}

/// The restored identity columns go on after the restored rows.
async fn sequences_moved(to: &Pg, dst: &Db) {
    let c = to.client(&dst.name).await;
    let order: i32 = c
        .query_one(
            "INSERT INTO public.orders (customer_id, total) VALUES (1, 5) RETURNING id",
            &[],
        )
        .await
        .expect("insert an order")
        .get(0);
    assert_eq!(
        order, 1003,
        "the orders' identity did not move with the restore"
    );
    let feature: i32 = c
        .query_one(
            "INSERT INTO public.features (a, b) VALUES ('new', 'new') RETURNING id",
            &[],
        )
        .await
        .expect("insert a feature")
        .get(0);
    assert_eq!(feature, 4);
    let everything: i64 = c
        .query_one(
            "INSERT INTO public.everything (i4) VALUES (1) RETURNING id",
            &[],
        )
        .await
        .expect("insert into everything")
        .get(0);
    assert_eq!(everything, 4);
}

/// An infinite interval (17+) has a binary form an older server would
/// take for the largest finite interval: the dry run's rehearsal names
/// it, and the restore fails, changing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_interval_is_refused_by_an_older_server() {
    let (from, to) = (pg(18).await, pg(16).await);
    let src = Db::create(from).await;
    from.exec(
        &src.name,
        "CREATE TABLE public.waits (id integer PRIMARY KEY, d interval);
         INSERT INTO public.waits VALUES (1, '1 day'), (2, 'infinity');",
    )
    .await;
    let repo = new_repo().await;
    let source = PostgresConnector.source(&src.url()).expect("source");
    let backup_options = BackupOptions {
        url: src.url(),
        cache: CacheDir::Off,
        ..BackupOptions::default()
    };
    let snap = backup(&repo, source.as_ref(), &backup_options, &NoProgress)
        .await
        .expect("backup");
    let dst = Db::unborn(to);
    let target = PostgresConnector.target(&dst.url()).expect("target");
    let target_source = PostgresConnector.source(&dst.url()).expect("target source");
    let options = restore_options(&dst.url());
    let dry = preview(
        &repo,
        &snap,
        target.as_ref(),
        target_source.as_ref(),
        &options,
    )
    .await
    .expect("dry run");
    let failure = dry.failure().map(|f| f.message.clone()).unwrap_or_default();
    assert!(
        failure.contains("an infinite interval: PostgreSQL 16 has none (17+)"),
        "{failure:?}"
    );
    let err = restore(&repo, &snap, target.as_ref(), None, &options, &NoProgress)
        .await
        .expect_err("the restore fails");
    assert!(err.to_string().contains("infinite interval"), "{err}");
    let left: i64 = to
        .client("postgres")
        .await
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&dst.name],
        )
        .await
        .expect("databases")
        .get(0);
    assert_eq!(left, 0, "the failed restore left its database behind");
}

macro_rules! across {
    ($($name:ident: $from:literal => $to:literal, $privileges:literal;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                across($from, $to, $privileges).await;
            }
        )*
    };
}

across! {
    from_12_into_15: 12 => 15, false;
    from_12_into_16: 12 => 16, false;
    from_12_into_18: 12 => 18, false;
    from_15_into_12: 15 => 12, false;
    from_15_into_16: 15 => 16, false;
    from_15_into_18: 15 => 18, false;
    from_16_into_12: 16 => 12, false;
    from_16_into_15: 16 => 15, false;
    from_16_into_18: 16 => 18, false;
    from_18_into_12: 18 => 12, false;
    from_18_into_15: 18 => 15, false;
    from_18_into_16: 18 => 16, false;
    // the majors in between, for what each one added
    from_13_into_12: 13 => 12, false;
    from_14_into_13: 14 => 13, false;
    from_12_into_14: 12 => 14, false;
    from_17_into_14: 17 => 14, false;
    from_18_into_17: 18 => 17, false;
    // with roles, owners and grants (--with-privileges)
    privileges_from_12_into_18: 12 => 18, true;
    privileges_from_18_into_12: 18 => 12, true;
    privileges_from_17_into_15: 17 => 15, true;
}
