//! Row-level security, policies, rules, publications, collations and
//! text-search configurations: what applications built on PostgreSQL's
//! own security and search (Supabase-style) rely on, through a restore
//! into an empty database and after a dropped table, compared with
//! pg_dump.

use tresor_core::{ReadOptions, RestoreMode};

use super::common::{TestDb, connect, copy_database, copy_database_after, diff_lines};

/// A role of its own per test run (roles belong to the whole server).
struct Role(String);

impl Role {
    async fn create(prefix: &str) -> Role {
        let name = format!("{prefix}_{}", std::process::id());
        let admin = connect("postgres").await;
        admin
            .batch_execute(&format!(
                "DROP ROLE IF EXISTS \"{name}\"; CREATE ROLE \"{name}\" NOLOGIN"
            ))
            .await
            .expect("create role");
        Role(name)
    }
}

fn schema(role: &str) -> String {
    format!(
        r#"
CREATE COLLATION public.nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TEXT SEARCH DICTIONARY public.english_stem_nostop (TEMPLATE = pg_catalog.snowball, language = 'english');
CREATE TEXT SEARCH CONFIGURATION public.notes_search (COPY = pg_catalog.english);
ALTER TEXT SEARCH CONFIGURATION public.notes_search
    ALTER MAPPING FOR asciiword, word WITH public.english_stem_nostop;
ALTER TEXT SEARCH CONFIGURATION public.notes_search DROP MAPPING FOR email, url;
CREATE TABLE public.notes (
    id integer PRIMARY KEY,
    owner text NOT NULL DEFAULT CURRENT_USER,
    body text COLLATE public.nocase NOT NULL,
    search tsvector GENERATED ALWAYS AS (to_tsvector('public.notes_search'::regconfig, body)) STORED
);
CREATE INDEX notes_search_idx ON public.notes USING gin (search);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.notes FORCE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON public.notes FOR SELECT TO "{role}" USING (owner = CURRENT_USER);
CREATE POLICY no_empty ON public.notes AS RESTRICTIVE FOR INSERT TO PUBLIC WITH CHECK (body <> '');
CREATE POLICY "Everyone edits" ON public.notes FOR UPDATE USING (true) WITH CHECK (length(body) < 1000);
CREATE TABLE public.archive (id integer PRIMARY KEY, body text);
CREATE RULE keep_archive AS ON DELETE TO public.archive DO INSTEAD NOTHING;
CREATE RULE tell AS ON INSERT TO public.notes DO ALSO NOTIFY notes_changed;
ALTER TABLE public.notes DISABLE RULE tell;
CREATE PUBLICATION notes_pub FOR TABLE public.notes, public.archive WITH (publish = 'insert, update');
CREATE PUBLICATION everything FOR ALL TABLES;
INSERT INTO public.notes VALUES (1, 'ann', 'Hello'), (2, 'bob', 'hello again');
INSERT INTO public.archive VALUES (1, 'old');
"#
    )
}

fn same_dumps(src: &TestDb, dst: &TestDb) {
    for args in [["--schema-only"], ["--data-only"]] {
        let a = src.dump_sorted(&args);
        let b = dst.dump_sorted(&args);
        assert!(a == b, "{args:?} differs:\n{}", diff_lines(&a, &b));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_security_rules_publications_and_collations_come_back() {
    let role = Role::create("tresor_rls").await;
    let src = TestDb::create().await;
    src.exec(&schema(&role.0)).await;

    // into an empty database
    let dst = TestDb::unborn();
    let summary = copy_database(
        &src.url(),
        &dst.url(),
        RestoreMode::Replace,
        ReadOptions::default(),
    )
    .await
    .expect("restore into an empty database");
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    same_dumps(&src, &dst);

    // the disaster: the table with the policies is dropped (its policies,
    // rules and publication membership go with it); a whole-database
    // restore brings all of it back
    dst.exec("DROP TABLE public.notes").await;
    copy_database(
        &src.url(),
        &dst.url(),
        RestoreMode::Replace,
        ReadOptions::default(),
    )
    .await
    .expect("restore after a dropped table");
    same_dumps(&src, &dst);

    drop((src, dst));
    let admin = connect("postgres").await;
    let _ = admin
        .batch_execute(&format!("DROP ROLE IF EXISTS \"{}\"", role.0))
        .await;
}

/// A policy for a role the target server lacks is not a failed restore:
/// the table keeps row-level security on (closed, not open) and the
/// restore says which policy it left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_for_a_missing_role_is_a_warning_and_the_table_stays_closed() {
    let role = Role::create("tresor_gone").await;
    let src = TestDb::create().await;
    src.exec(&format!(
        "CREATE TABLE t (id integer PRIMARY KEY);
         ALTER TABLE t ENABLE ROW LEVEL SECURITY;
         CREATE POLICY readers ON t FOR SELECT TO \"{}\" USING (true);
         INSERT INTO t VALUES (1);",
        role.0
    ))
    .await;
    // the snapshot names the role; then the role goes away (another
    // server): renamed, as it cannot be dropped while src's policy names it
    let dst = TestDb::unborn();
    let admin = connect("postgres").await;
    let result = copy_database_after(
        &src.url(),
        &dst.url(),
        RestoreMode::Replace,
        ReadOptions::default(),
        async {
            admin
                .batch_execute(&format!(
                    "ALTER ROLE \"{0}\" RENAME TO \"{0}_away\"",
                    role.0
                ))
                .await
                .expect("rename role");
        },
    )
    .await;
    admin
        .batch_execute(&format!(
            "ALTER ROLE \"{0}_away\" RENAME TO \"{0}\"",
            role.0
        ))
        .await
        .expect("rename back");
    let summary = result.expect("restore");
    assert!(
        summary
            .warnings
            .iter()
            .any(|w| w.contains("policy") && w.contains("readers")),
        "{:?}",
        summary.warnings
    );
    let on: bool = dst
        .client()
        .await
        .query_one(
            "SELECT relrowsecurity FROM pg_class WHERE oid = 'public.t'::regclass",
            &[],
        )
        .await
        .expect("row security flag")
        .get(0);
    assert!(on, "row-level security was left off");
    drop((src, dst));
    let _ = admin
        .batch_execute(&format!("DROP ROLE IF EXISTS \"{}\"", role.0))
        .await;
}
