//! Restore behaviour: atomicity on failure, schema checks, encodings,
//! filters, restores without superuser rights, missing extensions.

use serde_json::json;
use tokio::sync::mpsc;
use tresor_core::{
    Connector, ErrorKind, ReadOptions, RestoreMode, RestorePlan, SchemaObject, TableFilter,
    TableName, Value,
};
use tresor_postgres::PostgresConnector;

use super::common::{TestDb, copy_database, diff_lines};
use super::roundtrip::{DATA, SCHEMA};

async fn plan_of(url: &str, filter: TableFilter, mode: RestoreMode) -> RestorePlan {
    let source = PostgresConnector.source(url).expect("source");
    let snap = source
        .open(&ReadOptions {
            filter: filter.clone(),
            ..Default::default()
        })
        .await
        .expect("open");
    let schema = snap.schema().clone();
    snap.close().await.expect("close");
    RestorePlan {
        whole_database: filter.is_all(),
        ..RestorePlan::of_all(schema, mode)
    }
}

/// Loads every planned table from the source, then hands the session back
/// for the test to end as it likes.
async fn load_all(src: &str, dst: &str, plan: &RestorePlan) -> Box<dyn tresor_core::TargetSession> {
    let snap = PostgresConnector
        .source(src)
        .expect("source")
        .open(&ReadOptions::default())
        .await
        .expect("open");
    let mut session = PostgresConnector
        .target(dst)
        .expect("target")
        .begin(plan)
        .await
        .expect("begin");
    for name in &plan.tables {
        let t = plan.schema.table(name).expect("table").clone();
        let (tx, rx) = mpsc::channel(2);
        let (r, l) = tokio::join!(snap.read_table(&t, tx), session.load_table(&t, rx));
        r.expect("read");
        l.expect("load");
    }
    snap.close().await.expect("close");
    session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_or_rolled_back_sessions_change_nothing() {
    let src = TestDb::create().await;
    src.exec(SCHEMA).await;
    src.exec(DATA).await;
    let dst = TestDb::create().await;
    dst.exec(SCHEMA).await;
    dst.exec("INSERT INTO public.customers VALUES (7, 'keep me', NULL, NULL, 3)")
        .await;
    let before = dst.dump_sorted(&[]);
    let plan = plan_of(&src.url(), TableFilter::all(), RestoreMode::Replace).await;
    for explicit in [true, false] {
        let session = load_all(&src.url(), &dst.url(), &plan).await;
        if explicit {
            session.rollback().await.expect("rollback");
        } else {
            drop(session);
            // the server notices the closed connection asynchronously
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        let after = dst.dump_sorted(&[]);
        assert!(
            before == after,
            "target changed:\n{}",
            diff_lines(&before, &after)
        );
    }

    // into a database that did not exist: rollback removes it again
    let fresh = TestDb::unborn();
    let session = load_all(&src.url(), &fresh.url(), &plan).await;
    session.rollback().await.expect("rollback");
    let state = PostgresConnector
        .target(&fresh.url())
        .expect("target")
        .inspect()
        .await
        .expect("inspect");
    assert!(
        !state.exists,
        "the database created for the restore is still there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_row_stream_leaves_the_target_unchanged() {
    let src = TestDb::create().await;
    src.exec(SCHEMA).await;
    src.exec(DATA).await;
    let dst = TestDb::create().await;
    dst.exec(SCHEMA).await;
    dst.exec(DATA).await;
    dst.exec("UPDATE public.customers SET name = 'changed' WHERE id = 1")
        .await;
    let before = dst.dump_sorted(&[]);
    let plan = plan_of(&src.url(), TableFilter::all(), RestoreMode::Replace).await;
    let mut session = PostgresConnector
        .target(&dst.url())
        .expect("target")
        .begin(&plan)
        .await
        .expect("begin");
    let customers = plan
        .schema
        .table(&TableName::new("customers"))
        .expect("customers")
        .clone();
    let (tx, rx) = mpsc::channel(2);
    let width = customers.stored_columns().count();
    let feed = async move {
        let good: Vec<Vec<Value>> = (1..=5)
            .map(|i| {
                let mut r = vec![Value::Null; width];
                r[0] = Value::Int(i);
                r[1] = Value::Text(format!("n{i}"));
                r
            })
            .collect();
        tx.send(good).await.expect("send");
        // a value of the wrong type, as a corrupt stream would deliver
        let mut bad = vec![Value::Null; width];
        bad[0] = Value::Text("not a number".into());
        tx.send(vec![bad]).await.expect("send");
    };
    let (_, loaded) = tokio::join!(feed, session.load_table(&customers, rx));
    let err = loaded.expect_err("a bad value must fail the load");
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    assert!(err.to_string().contains("customers"), "{err}");
    session.rollback().await.expect("rollback");
    let after = dst.dump_sorted(&[]);
    assert!(
        before == after,
        "target changed:\n{}",
        diff_lines(&before, &after)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mismatch_is_reported_before_anything_changes() {
    let src = TestDb::create().await;
    src.exec(SCHEMA).await;
    src.exec(DATA).await;
    let dst = TestDb::create().await;
    dst.exec(
        "CREATE TABLE public.customers (id integer PRIMARY KEY, name integer, email text);
         CREATE TABLE public.orders (id integer PRIMARY KEY, customer_id integer, total numeric(12,2),
            placed_at timestamptz, during int4range, extra text NOT NULL);
         INSERT INTO public.customers VALUES (1, 1, 'x');",
    )
    .await;
    let before = dst.dump_sorted(&[]);
    let filter = TableFilter::new(&["customers", "orders"], &[]).expect("filter");
    let plan = plan_of(&src.url(), filter, RestoreMode::Replace).await;
    let Err(err) = PostgresConnector
        .target(&dst.url())
        .expect("target")
        .begin(&plan)
        .await
    else {
        panic!("begin accepted a mismatched schema")
    };
    assert_eq!(err.kind(), ErrorKind::SchemaMismatch);
    let msg = err.to_string();
    for part in [
        "column name is text",
        "column parent is missing",
        "column balance is missing",
        "extra",
    ] {
        assert!(msg.contains(part), "{part:?} not in {msg}");
    }
    assert!(err.hint().is_some());
    let after = dst.dump_sorted(&[]);
    assert!(
        before == after,
        "target changed:\n{}",
        diff_lines(&before, &after)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_without_superuser_sets_aside_foreign_keys_and_triggers() {
    let role = format!("tresor_role_{}", std::process::id());
    let src = TestDb::create().await;
    let dst = TestDb::create().await;
    let admin = super::common::connect("postgres").await;
    let _ = admin
        .batch_execute(&format!("CREATE ROLE \"{role}\" LOGIN"))
        .await;
    let shop = "CREATE TABLE a (id integer PRIMARY KEY, b_id integer);
         CREATE TABLE b (id integer PRIMARY KEY, a_id integer REFERENCES a(id));
         ALTER TABLE a ADD CONSTRAINT a_b FOREIGN KEY (b_id) REFERENCES b(id);
         CREATE TABLE log (n integer);
         CREATE FUNCTION note() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO log VALUES (NEW.id); RETURN NEW; END $$;
         CREATE TRIGGER a_note AFTER INSERT ON a FOR EACH ROW EXECUTE FUNCTION note();";
    src.exec(shop).await;
    src.exec(
        "BEGIN; SET session_replication_role = replica;
         INSERT INTO a VALUES (1, 2), (2, 1); INSERT INTO b VALUES (1, 2), (2, 1); COMMIT;",
    )
    .await;
    dst.exec(&format!(
        "ALTER DATABASE \"{}\" OWNER TO \"{role}\"",
        dst.name
    ))
    .await;
    dst.exec(&format!("SET ROLE \"{role}\"; {shop}")).await;
    let url = format!("postgres://{role}@127.0.0.1:5432/{}", dst.name);
    copy_database(
        &src.url(),
        &url,
        RestoreMode::Replace,
        ReadOptions::default(),
    )
    .await
    .expect("restore as a plain user");
    let a = src.dump_sorted(&[]);
    let b = dst.dump_sorted(&["--no-owner"]);
    let a: Vec<String> = a.into_iter().filter(|l| !l.contains("OWNER TO")).collect();
    assert!(a == b, "differs:\n{}", diff_lines(&a, &b));
    drop((src, dst));
    let _ = admin
        .batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\""))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_server_encodings_round_trip() {
    for encoding in ["LATIN1", "SQL_ASCII", "EUC_JP"] {
        let src = TestDb::create_with(encoding).await;
        let text = match encoding {
            "EUC_JP" => "'日本語', 'テキスト', 'abc', 'ｱ'",
            _ => "'caf\u{e9}', 'na\u{ef}ve', 'abc', '\u{ff}'",
        };
        src.exec(&format!(
            "CREATE TABLE t (k text PRIMARY KEY, n serial);
             INSERT INTO t (k) SELECT unnest(ARRAY[{text}]);"
        ))
        .await;
        let dst = TestDb::create_with(encoding).await;
        copy_database(
            &src.url(),
            &dst.url(),
            RestoreMode::Replace,
            ReadOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{encoding}: {e}"));
        let a = src.dump_sorted(&[]);
        let b = dst.dump_sorted(&[]);
        assert!(a == b, "{encoding} differs:\n{}", diff_lines(&a, &b));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_pick_schemas_and_tables_with_globs() {
    let src = TestDb::create().await;
    src.exec(SCHEMA).await;
    src.exec(DATA).await;
    let pick = |inc: &[&str], exc: &[&str]| TableFilter::new(inc, exc).expect("filter");
    let cases = [
        (
            pick(&["Odd Schema.*"], &[]),
            vec!["Odd Schema.Weird \"Table\" Name"],
        ),
        (
            pick(&["public.cust*", "orders"], &[]),
            vec!["customers", "orders"],
        ),
        (
            pick(&["*key"], &["nokey"]),
            vec!["compositekey", "enumkey", "textkey"],
        ),
    ];
    for (filter, expected) in cases {
        let snap = PostgresConnector
            .source(&src.url())
            .expect("source")
            .open(&ReadOptions {
                filter: filter.clone(),
                ..Default::default()
            })
            .await
            .expect("open");
        let mut names: Vec<String> = snap
            .schema()
            .tables
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        names.sort();
        snap.close().await.expect("close");
        assert_eq!(names, expected, "{filter:?}");
        let dst = TestDb::unborn();
        copy_database(
            &src.url(),
            &dst.url(),
            RestoreMode::Replace,
            ReadOptions {
                filter,
                ..Default::default()
            },
        )
        .await
        .expect("filtered copy");
    }
    let missing = PostgresConnector
        .source(&src.url())
        .expect("source")
        .open(&ReadOptions {
            filter: pick(&["no_such_table"], &[]),
            ..Default::default()
        })
        .await;
    assert_eq!(missing.err().map(|e| e.kind()), Some(ErrorKind::NotFound));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_extension_is_named() {
    let src = TestDb::create().await;
    src.exec("CREATE TABLE t (id integer PRIMARY KEY)").await;
    let mut plan = plan_of(&src.url(), TableFilter::all(), RestoreMode::Replace).await;
    let mut ext = SchemaObject {
        kind: "extension".into(),
        name: TableName::new("postgis_imaginary"),
        ddl: "CREATE EXTENSION IF NOT EXISTS \"postgis_imaginary\" WITH SCHEMA \"public\"".into(),
        table: None,
        extra: Default::default(),
    };
    ext.extra.insert("version".into(), json!("9.9"));
    plan.schema.objects.insert(0, ext);
    let dst = TestDb::create().await;
    let Err(err) = PostgresConnector
        .target(&dst.url())
        .expect("target")
        .begin(&plan)
        .await
    else {
        panic!("restore without the extension went ahead")
    };
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("postgis_imaginary 9.9"), "{err}");
    assert!(
        err.hint().is_some_and(|h| h.contains("extension")),
        "{:?}",
        err.hint()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_grants_only_on_request() {
    let role = format!("tresor_reader_{}", std::process::id());
    let admin = super::common::connect("postgres").await;
    let _ = admin
        .batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\""))
        .await;
    let src = TestDb::create().await;
    src.exec(&format!(
        "CREATE ROLE \"{role}\" NOLOGIN; CREATE TABLE t (id integer PRIMARY KEY);
         GRANT SELECT ON t TO \"{role}\";"
    ))
    .await;
    let without = TestDb::unborn();
    copy_database(
        &src.url(),
        &without.url(),
        RestoreMode::Replace,
        ReadOptions::default(),
    )
    .await
    .expect("copy");
    assert!(!without.dump(&["--schema-only"]).contains("GRANT SELECT"));
    let with = TestDb::unborn();
    copy_database(
        &src.url(),
        &format!("{}?restore_roles=true", with.url()),
        RestoreMode::Replace,
        ReadOptions::default(),
    )
    .await
    .expect("copy with roles");
    assert!(
        with.dump(&["--schema-only"])
            .contains(&format!("GRANT SELECT ON TABLE public.t TO {role}"))
    );
    drop((src, without, with));
    let _ = admin
        .batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\""))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_follow_libpq() {
    let db = TestDb::create().await;
    db.exec("CREATE TABLE t (id integer PRIMARY KEY)").await;
    let cert = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    let url =
        |host: &str, query: &str| format!("postgres://postgres@{host}:5432/{}?{query}", db.name);
    let open = |u: String| async move {
        let snap = PostgresConnector
            .source(&u)?
            .open(&ReadOptions::default())
            .await?;
        snap.close().await
    };
    // require: encrypted, certificate not checked (the server's is self-signed)
    let app = format!("tresor_tls_{}", std::process::id());
    let snap = PostgresConnector
        .source(&url(
            "127.0.0.1",
            &format!("sslmode=require&application_name={app}"),
        ))
        .expect("source")
        .open(&ReadOptions::default())
        .await
        .expect("require");
    let ssl: bool = db
        .client()
        .await
        .query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .expect("pg_stat_ssl")
        .get::<_, Option<bool>>(0)
        .expect("the session is listed");
    assert!(ssl, "sslmode=require did not encrypt");
    snap.close().await.expect("close");

    open(url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={cert}"),
    ))
    .await
    .expect("verify-full with the right name and root");
    open(url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={cert}"),
    ))
    .await
    .expect("verify-ca ignores the name");
    let wrong_name = open(url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={cert}"),
    ))
    .await;
    assert_eq!(
        wrong_name.err().map(|e| e.kind()),
        Some(ErrorKind::Connection)
    );
    let untrusted = open(url("localhost", "sslmode=verify-full")).await;
    assert_eq!(
        untrusted.err().map(|e| e.kind()),
        Some(ErrorKind::Connection)
    );
    let bad = PostgresConnector.source(&url("localhost", "sslmode=sometimes"));
    assert_eq!(bad.err().map(|e| e.kind()), Some(ErrorKind::InvalidUrl));
}

/// Pages a first `count(*)` of `table` in `db` dirtied: the hint bits it
/// had to set on rows not yet known to be committed (after a checkpoint,
/// so that no page is dirty already).
async fn dirtied_by_first_read(db: &TestDb, table: &str) -> i64 {
    let client = db.client().await;
    client
        .batch_execute("CHECKPOINT")
        .await
        .expect("checkpoint");
    let row = client
        .query_one(
            &format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM {table}"),
            &[],
        )
        .await
        .expect("explain");
    let plan: serde_json::Value = row.get(0);
    plan[0]["Plan"]["Shared Dirtied Blocks"]
        .as_i64()
        .expect("dirtied blocks")
}

/// A table the restore made, or emptied with `TRUNCATE`, gets its rows
/// frozen: the first read after the restore writes nothing, where rows
/// loaded without the restore (the same table filled by `INSERT`) make it
/// dirty every page. A table merged into keeps its rows as any writer's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_a_table_the_restore_made_or_emptied_are_frozen() {
    let src = TestDb::create().await;
    src.exec(
        "CREATE TABLE t (id int PRIMARY KEY, body text);
         INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g;",
    )
    .await;
    // the source's own rows, inserted: the first read sets their hint bits
    assert!(dirtied_by_first_read(&src, "t").await > 0);
    // into a new database, then again over it (replace: truncated)
    let dst = TestDb::create().await;
    for _ in 0..2 {
        copy_database(
            &src.url(),
            &dst.url(),
            RestoreMode::Replace,
            ReadOptions::default(),
        )
        .await
        .expect("restore");
        assert_eq!(dirtied_by_first_read(&dst, "t").await, 0);
    }
    // merged into: updated where the key exists, through a staging table
    src.exec("UPDATE t SET body = 'y' WHERE id <= 2500").await;
    copy_database(
        &src.url(),
        &dst.url(),
        RestoreMode::Merge,
        ReadOptions::default(),
    )
    .await
    .expect("merge");
    assert!(dirtied_by_first_read(&dst, "t").await > 0);
    assert_eq!(
        dst.client()
            .await
            .query_one("SELECT count(*) FROM t WHERE body = 'y'", &[])
            .await
            .expect("count")
            .get::<_, i64>(0),
        2500
    );
}
