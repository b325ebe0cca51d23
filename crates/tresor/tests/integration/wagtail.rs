//! A Wagtail site's database (`crates/testing/apps/wagtail`), made by
//! Wagtail's own migrations on each engine and filled through its API:
//! about fifty tables of a kind no fixture here was written like. Pages in
//! a materialized-path tree, revisions as JSON, index names longer than
//! PostgreSQL keeps, a JSON column that a migration renamed (MariaDB keeps
//! its check under the old name), and a search index that is engine
//! specific: a full-text virtual table with its storage tables in SQLite,
//! `tsvector` columns with GIN indexes in PostgreSQL, FULLTEXT keys in
//! MariaDB.

use super::apps::App;
use super::cross_engine::{app_dump, app_writes, drilled_and_restored, first_difference};
use super::disasters::{Db, Kind, differences, dry_run_dropping};
use super::support::{Env, stderr};

/// The number the site's command `what` prints for the site at `url`.
fn count(what: &[&str], url: &str) -> u64 {
    let mut args = vec![what[0], url];
    args.extend(&what[1..]);
    let out = App::Wagtail.shop(&args);
    assert!(out.status.success(), "{what:?} of {url}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count")
}

/// How many pages the site's own search finds for `term`.
fn search(url: &str, term: &str) -> u64 {
    count(&["search", term], url)
}

fn site(kind: Kind, env: &Env, pages: &str) -> Db {
    let db = Db::create(kind, env.dir.path());
    db.make(App::Wagtail, pages);
    db
}

/// Every engine: the drill passes on a good snapshot (MariaDB's renamed
/// JSON column reads back as the same type from the restored copy), and a
/// restore into a new database is the same site: the same objects through
/// Django's serializer, the same search results, and (SQLite, MariaDB) the
/// same dump line for line.
#[test]
fn a_wagtail_site_restores_and_drills_on_every_engine() {
    for kind in [Kind::Sqlite, Kind::Postgres, Kind::Mariadb] {
        let env = Env::new();
        let src = site(kind, &env, "15");
        let from = src.url();
        let to = drilled_and_restored(App::Wagtail, kind, &env, &src);
        assert!(
            search(&from, "tresor") > 0,
            "the source's search finds nothing"
        );
        assert_eq!(search(&from, "tresor"), search(&to.url(), "tresor"));
        if kind != Kind::Postgres {
            // PostgreSQL prints a partial index's predicate it parsed again
            // with its casts in other places; the same index
            assert_eq!(src.dump(), to.dump(), "{from}");
        }
        app_writes(App::Wagtail, &to.url());
    }
}

/// SQLite's full-text table is a virtual table whose index lives in five
/// storage tables. Chosen by the virtual table's name, it restores on its
/// own, into a new file, in place after it was dropped and in place over
/// itself (a safety snapshot first), and searches again; a backup chooses
/// it by that name too; left out, its storage stays out too.
#[test]
fn the_sqlite_search_index_restores_on_its_own() {
    let env = Env::new();
    let src = site(Kind::Sqlite, &env, "15");
    let from = src.url();
    env.ok(&["backup", &from, "--quiet"]);
    let latest = format!("latest:{from}");
    let fts = "wagtailsearch_indexentry_fts";
    let matches = format!("SELECT count(*) FROM {fts} WHERE {fts} MATCH 'tresor'");
    let want = src.query_any(Kind::Sqlite, &matches);
    assert_ne!(want, "0");

    let alone = Db::create(Kind::Sqlite, env.dir.path());
    env.ok(&[
        "restore",
        &latest,
        "--tables",
        fts,
        "--to",
        &alone.url(),
        "--yes",
    ]);
    assert_eq!(alone.query_any(Kind::Sqlite, &matches), want);
    alone.exec(&format!(
        "INSERT INTO {fts}({fts}) VALUES ('integrity-check')"
    ));

    // in place, after the table was dropped
    src.exec(&format!("DROP TABLE {fts}"));
    let preview = env.ok(&[
        "restore",
        &latest,
        "--tables",
        fts,
        "--to",
        &from,
        "--dry-run",
    ]);
    assert!(preview.contains(&format!("{fts}_data")), "{preview}");
    env.ok(&["restore", &latest, "--tables", fts, "--to", &from, "--yes"]);
    assert_eq!(src.query_any(Kind::Sqlite, &matches), want);
    assert!(search(&from, "tresor") > 0);

    // in place over the index as it is: the safety snapshot chooses the
    // storage by the virtual table's name, as a backup by that name does
    for how in [["--tables", fts], ["--exclude", "nothing"]] {
        let out = env.ok(&["restore", &latest, how[0], how[1], "--to", &from, "--yes"]);
        assert!(out.contains("safety snapshot"), "{out}");
        assert_eq!(src.query_any(Kind::Sqlite, &matches), want);
    }

    let without = Db::create(Kind::Sqlite, env.dir.path());
    env.ok(&[
        "restore",
        &latest,
        "--exclude",
        fts,
        "--to",
        &without.url(),
        "--yes",
    ]);
    let left = without.query_any(
        Kind::Sqlite,
        "SELECT count(*) FROM sqlite_master WHERE name LIKE 'wagtailsearch_indexentry_fts%'",
    );
    assert_eq!(left, "0");

    // a backup of the index alone, by its name
    let out = env.ok(&["backup", &from, "--tables", fts]);
    assert!(out.contains("snapshot"), "{out}");
    let shown = env.ok(&["show", "latest"]);
    assert!(shown.contains(&format!("{fts}_data")), "{shown}");
}

/// Moving the site to another engine the way a Wagtail user does: the
/// target migrated by Wagtail, the search index left out (each engine's is
/// its own) and rebuilt there. Django's serializer reads back exactly the
/// same objects, the search finds the same pages, and the site goes on
/// writing (its page tree, its revisions, its sequences).
#[test]
fn a_wagtail_site_moves_between_engines() {
    let env = Env::new();
    for (from_kind, to_kind) in [
        (Kind::Sqlite, Kind::Postgres),
        (Kind::Postgres, Kind::Mariadb),
        (Kind::Mariadb, Kind::Sqlite),
    ] {
        let src = site(from_kind, &env, "12");
        let from = src.url();
        env.ok(&["backup", &from, "--quiet"]);
        let latest = format!("latest:{from}");
        let to = site(to_kind, &env, "0");
        let args = ["--exclude", "wagtailsearch_indexentry*", "--to", &to.url()];
        let mut dry = vec!["restore", &latest, "--dry-run"];
        dry.extend(args);
        env.ok(&dry);
        let mut restore = vec!["restore", &latest, "--yes"];
        restore.extend(args);
        env.ok(&restore);
        let (want, got) = (
            documents_compared(&app_dump(App::Wagtail, &from)),
            documents_compared(&app_dump(App::Wagtail, &to.url())),
        );
        assert!(
            want == got,
            "{from} into {}: {}",
            to.url(),
            first_difference(&want, &got)
        );
        rebuild_index(&to.url());
        assert_eq!(search(&from, "tresor"), search(&to.url(), "tresor"));
        app_writes(App::Wagtail, &to.url());
    }
}

/// Into an empty PostgreSQL database, tresor makes the tables: every index
/// SQLite had comes along, also those whose names PostgreSQL would cut to
/// the same 63 bytes, and so do the checks of Django's positive integers;
/// the full-text table's storage, which means nothing outside SQLite, is
/// left out and named in the dry run.
#[test]
fn a_wagtail_site_from_sqlite_into_an_empty_postgres_keeps_every_index() {
    let env = Env::new();
    let src = site(Kind::Sqlite, &env, "5");
    let from = src.url();
    env.ok(&["backup", &from, "--quiet"]);
    let latest = format!("latest:{from}");
    let to = Db::create(Kind::Postgres, env.dir.path());
    let preview = env.ok(&["restore", &latest, "--to", &to.url(), "--dry-run"]);
    assert!(
        preview.contains("virtual table storage wagtailsearch_indexentry_fts_data: not restored"),
        "{preview}"
    );
    let out = env.ok(&["restore", &latest, "--to", &to.url(), "--yes"]);
    assert!(!out.contains("skipped"), "{out}");
    let long = src.query_any(
        Kind::Sqlite,
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
         AND length(name) > 63",
    );
    assert_ne!(long, "0", "the site has no index name longer than 63 bytes");
    // every explicit index of the tables that came along
    let indexes = src.query_any(
        Kind::Sqlite,
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
         AND tbl_name NOT LIKE 'wagtailsearch_indexentry_fts%'",
    );
    let made = to.query(
        "SELECT count(*) FROM pg_indexes i WHERE schemaname = 'public' AND NOT EXISTS \
         (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
    );
    assert_eq!(made, indexes);
    // under their own names (SQLite's are unique in the database, as
    // PostgreSQL's are), so a migration of the site that names one finds it
    let names = src.query_any(
        Kind::Sqlite,
        "SELECT group_concat(name, ',') FROM sqlite_master WHERE type = 'index' \
         AND sql IS NOT NULL AND length(name) <= 63 \
         AND tbl_name NOT LIKE 'wagtailsearch_indexentry_fts%'",
    );
    let named = names.split(',').count().to_string();
    assert_eq!(
        to.query(&format!(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' \
             AND indexname = ANY(string_to_array('{names}', ','))"
        )),
        named,
        "index names changed on the way"
    );
    let storage = to.query(
        "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'wagtailsearch_indexentry_fts%'",
    );
    assert_eq!(storage, "0");
    // the checks Django wrote in SQLite's CREATE TABLE text: those of its
    // positive integers (`"depth" >= 0`) are made; its JSON fields, text
    // checked by `JSON_VALID(...)`, become jsonb, which Django's JSON
    // lookups need there
    let positive = src.query_any(
        Kind::Sqlite,
        "SELECT sum((length(sql) - length(replace(sql, '\" >= 0)', ''))) / 7) \
         FROM sqlite_master WHERE type = 'table'",
    );
    assert_ne!(positive, "0");
    assert_eq!(
        to.query("SELECT count(*) FROM pg_constraint WHERE contype = 'c' AND conrelid <> 0"),
        positive
    );
    assert!(!preview.contains("JSON_VALID"), "{preview}");
    let json_fields = src.query_any(
        Kind::Sqlite,
        "SELECT sum((length(sql) - length(replace(sql, 'JSON_VALID(', ''))) / 11) \
         FROM sqlite_master WHERE type = 'table'",
    );
    assert_eq!(json_fields, "6");
    assert_eq!(
        to.query(
            "SELECT count(*) FROM information_schema.columns \
             WHERE table_schema = 'public' AND data_type = 'jsonb'"
        ),
        json_fields
    );
    let lookup = count(&["lookup"], &from);
    assert_ne!(lookup, 0);
    assert_eq!(count(&["lookup"], &to.url()), lookup);
    assert!(!to.try_exec(
        "UPDATE wagtailcore_page SET depth = -1 WHERE depth = (SELECT min(depth) FROM wagtailcore_page)"
    ));
}

/// `dump` with every JSON document it holds as text (a StreamField, a
/// revision) written with its keys in order: PostgreSQL's `jsonb` keeps
/// an object's keys in an order of its own, as it does for Wagtail's own
/// `loaddata`.
fn documents_compared(dump: &str) -> String {
    fn sorted(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(o) => {
                let mut keys: Vec<(String, serde_json::Value)> = o.into_iter().collect();
                keys.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(keys.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            serde_json::Value::Array(a) => a.into_iter().map(sorted).collect(),
            serde_json::Value::String(s) if s.starts_with(['[', '{']) => {
                match serde_json::from_str::<serde_json::Value>(&s) {
                    Ok(doc) => serde_json::Value::String(sorted(doc).to_string()),
                    Err(_) => serde_json::Value::String(s),
                }
            }
            v => v,
        }
    }
    let v: serde_json::Value = serde_json::from_str(dump).expect("json");
    serde_json::to_string_pretty(&sorted(v)).expect("json")
}

/// Wagtail's `update_index`, as a user runs it after a move.
fn rebuild_index(url: &str) {
    let out = App::Wagtail.shop(&["update-index", url]);
    assert!(
        out.status.success(),
        "update_index of {url}: {}",
        stderr(&out)
    );
}

/// Runs the site's migrations (an upgrade), or takes an app back (`[APP,
/// NAME]`); what Django printed when they fail.
fn migrate(url: &str, to: &[&str]) -> Result<(), String> {
    let mut args = vec!["migrate", url];
    args.extend(to);
    let out = App::Wagtail.shop(&args);
    if out.status.success() {
        Ok(())
    } else {
        Err(stderr(&out))
    }
}

/// The tables an upgrade of the site makes: version 2 adds Wagtail's
/// forms, redirects and embeds, whose tables reference pages and sites.
const UPGRADE_TABLES: [&str; 3] = [
    "wagtailembeds_embed",
    "wagtailforms_formsubmission",
    "wagtailredirects_redirect",
];

/// An upgrade rolled back by a restore. Version 1 of the site lacks three
/// of Wagtail's apps; the backup is taken; version 2's migrations make
/// their tables and the site writes; then version 2 is judged broken. A
/// plain restore of the backup leaves the three tables behind while
/// Django's record of migrations says they never ran, so the upgrade can
/// no longer run ("already exists"). With `--drop-extra-tables` the
/// database is what the backup held, line for line: the dry run names the
/// tables it drops and rehearses it, the safety snapshot keeps them (its
/// undo brings them back), and the upgrade runs again.
#[test]
fn an_upgrade_rolled_back_by_a_restore_runs_again() {
    for kind in [Kind::Sqlite, Kind::Postgres, Kind::Mariadb] {
        let env = Env::new();
        let db = site(kind, &env, "3");
        let url = db.url();
        for app in ["wagtailforms", "wagtailredirects", "wagtailembeds"] {
            migrate(&url, &[app, "zero"]).expect("taking an app back to version 1");
        }
        env.ok(&["backup", &url, "--quiet"]);
        let before = db.dump();
        migrate(&url, &[]).expect("the upgrade");
        app_writes(App::Wagtail, &url);
        let latest = format!("latest:{url}");
        env.ok(&["restore", &latest, "--to", &url, "--yes", "--quiet"]);
        let err = migrate(&url, &[]).expect_err("the upgrade ran over the tables it left");
        assert!(err.contains("already exists"), "{kind:?}: {err}");

        let dry = dry_run_dropping(&env, &url);
        let line = dry
            .lines()
            .find(|l| l.starts_with("dropped (the snapshot does not have them"))
            .unwrap_or_else(|| panic!("{kind:?}: no tables to drop:\n{dry}"));
        for t in UPGRADE_TABLES {
            assert!(line.contains(t), "{kind:?}: {t} is not dropped: {line}");
        }
        assert!(!dry.contains("left alone"), "{kind:?}:\n{dry}");
        assert!(
            dry.contains("every table loaded and every check passed"),
            "{kind:?}:\n{dry}"
        );
        let rolled_back = || {
            env.ok(&[
                "restore",
                &latest,
                "--to",
                &url,
                "--drop-extra-tables",
                "--yes",
            ])
        };
        let out = rolled_back();
        let after = db.dump();
        assert!(
            after == before,
            "{kind:?}: not what the backup held: {}",
            differences(&before, &after)
        );
        let safety = out
            .lines()
            .find_map(|l| l.strip_prefix("safety snapshot "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("{kind:?}: no safety snapshot:\n{out}"));
        let kept = env.ok(&["show", safety]);
        for t in UPGRADE_TABLES {
            assert!(
                kept.contains(t),
                "{kind:?}: the safety snapshot lacks {t}:\n{kept}"
            );
        }
        // the undo brings them back; the restore then drops them again
        env.ok(&["restore", safety, "--to", &url, "--yes", "--quiet"]);
        for t in UPGRADE_TABLES {
            let n = db.query_any(kind, &format!("SELECT count(*) FROM {t}"));
            assert!(n.parse::<u64>().is_ok(), "{kind:?}: {t} is not back: {n}");
        }
        rolled_back();
        assert!(db.dump() == before, "{kind:?}: not what the backup held");
        migrate(&url, &[]).expect("the upgrade runs again");
        app_writes(App::Wagtail, &url);
    }
}

/// An upgrade that only added an index to a table the backup has
/// (Wagtail's `wagtailimages` 0024, `db_index=True` on `file_hash`),
/// rolled back by a restore. The restore used to keep the index while
/// Django's record of migrations said it never ran, so on PostgreSQL and
/// MariaDB the upgrade could not run again (`relation
/// "wagtailimages_image_file_hash_fb5bbb23" already exists`); the table
/// is now made again as the backup had it, the dry run says why, and the
/// database is what the backup held.
#[test]
fn an_index_an_upgrade_added_goes_with_its_rollback() {
    for kind in [Kind::Postgres, Kind::Mariadb, Kind::Sqlite] {
        let env = Env::new();
        let db = site(kind, &env, "3");
        let url = db.url();
        let (before_upgrade, upgrade) =
            ("0023_add_choose_permissions", "0024_index_image_file_hash");
        migrate(&url, &["wagtailimages", before_upgrade]).expect("version 1");
        env.ok(&["backup", &url, "--quiet"]);
        let before = db.dump();
        migrate(&url, &["wagtailimages", upgrade]).expect("the upgrade");
        let latest = format!("latest:{url}");
        let dry = env.ok(&["restore", &latest, "--to", &url, "--dry-run"]);
        // Django remakes the table in SQLite for it, the column last
        let why = match kind {
            Kind::Sqlite => "the columns are in another order",
            _ => "index wagtailimages_image_file_hash_fb5bbb23 was added",
        };
        assert!(
            dry.lines().any(
                |l| l.starts_with("wagtailimages_image: definition changed") && l.contains(why)
            ),
            "{kind:?}: the dry run does not say why the table is made again:\n{dry}"
        );
        // and no other table is made again
        assert_eq!(
            dry.lines()
                .filter(|l| l.contains("definition changed"))
                .count(),
            1,
            "{kind:?}:\n{dry}"
        );
        env.ok(&["restore", &latest, "--to", &url, "--yes", "--quiet"]);
        let after = db.dump();
        assert!(
            after == before,
            "{kind:?}: not what the backup held: {}",
            differences(&before, &after)
        );
        migrate(&url, &["wagtailimages", upgrade]).expect("the upgrade runs again");
    }
}
