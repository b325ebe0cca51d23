//! An application's database moved across PostgreSQL majors: a database
//! that Django's or TypeORM's own migrations made on one major and their
//! ORMs filled, backed up, and restored into a server of another major,
//! older or newer, both into an empty database and into the schema the
//! application migrated there. The ORM then reads back exactly the same
//! objects through its own serializer and writes new rows (sequences,
//! defaults and constraints work). The types of every major are tested
//! on the fidelity fixtures in `crates/postgres/tests/integration/versions.rs`;
//! these are schemas nobody here wrote.

use tresor_testing::servers::PostgresServer;

use super::apps::App;
use super::cross_engine::{app_dump, app_writes};
use super::support::Env;

/// A new database on `server`, answering its URL.
fn database(runtime: &tokio::runtime::Runtime, server: &PostgresServer, name: &str) -> String {
    runtime
        .block_on(server.create_database(name))
        .unwrap_or_else(|e| panic!("{e:#}"));
    server.url_for(name)
}

/// `app`'s database made on PostgreSQL `from`, restored into `to`.
fn moves_across(app: App, from: u32, to: u32) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let start = |major| {
        runtime
            .block_on(PostgresServer::start(major))
            .unwrap_or_else(|e| panic!("{e:#}"))
    };
    let (old, new) = (start(from), start(to));
    let env = Env::new();
    let src = database(&runtime, &old, "shop");
    let made = app.shop(&[&src, "25"]);
    assert!(
        made.status.success(),
        "the {app:?} shop on PostgreSQL {from}: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    env.ok(&["backup", &src, "--quiet"]);
    let expected = app_dump(app, &src);
    let latest = format!("latest:{src}");

    let empty = database(&runtime, &new, "empty");
    let migrated = database(&runtime, &new, "migrated");
    let schema = app.shop(&[&migrated, "0"]);
    assert!(
        schema.status.success(),
        "the {app:?} migrations on PostgreSQL {to}: {}",
        String::from_utf8_lossy(&schema.stderr)
    );
    for target in [&empty, &migrated] {
        env.ok(&["restore", &latest, "--to", target, "--dry-run"]);
        env.ok(&["restore", &latest, "--to", target, "--yes"]);
        let got = app_dump(app, target);
        assert!(
            got == expected,
            "{app:?} {from} -> {to} into {target}: the application reads back other objects"
        );
        app_writes(app, target);
    }
}

#[test]
fn a_typeorm_database_moves_from_postgresql_18_to_12() {
    moves_across(App::Typeorm, 18, 12);
}

#[test]
fn a_typeorm_database_moves_from_postgresql_12_to_18() {
    moves_across(App::Typeorm, 12, 18);
}

/// Django 5.1 supports PostgreSQL 13 and later.
#[test]
fn a_django_database_moves_from_postgresql_18_to_13() {
    moves_across(App::Django, 18, 13);
}

#[test]
fn a_django_database_moves_from_postgresql_13_to_18() {
    moves_across(App::Django, 13, 18);
}
