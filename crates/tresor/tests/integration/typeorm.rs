//! Moving an application's database to another engine, with a second ORM
//! from another ecosystem: a database that a TypeORM application (Node,
//! `crates/testing/apps/typeorm`) made with the migration TypeORM generates
//! for the engine and filled through its repositories, restored into
//! another engine, read back through the same repositories and written to
//! by the application. TypeORM's choices differ from Django's: SQLite
//! tables with `AUTOINCREMENT` (ids kept in `sqlite_sequence`), booleans as
//! `tinyint` (not `tinyint(1)`) in MySQL and MariaDB, JSON as text
//! (`simple-json`), composite primary keys, a `version` column that every
//! save moves on, and its own `migrations` table.

use super::apps::App;
use super::cross_engine::{approximated, moves_from};
use super::disasters::Kind;

/// `dump` with `change` made to every value, then the documented
/// approximations of a move into an empty database.
fn approximated_with(dump: &str, change: fn(&mut serde_json::Value)) -> String {
    fn walk(v: &mut serde_json::Value, change: fn(&mut serde_json::Value)) {
        change(v);
        match v {
            serde_json::Value::Array(a) => a.iter_mut().for_each(|v| walk(v, change)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|v| walk(v, change)),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(dump).expect("json");
    walk(&mut v, change);
    approximated(&serde_json::to_string_pretty(&v).expect("json"))
}

/// What TypeORM adds for a snapshot of SQLite: SQLite's integers are
/// 64-bit, so the tables tresor makes from one have `bigint` columns,
/// which node-postgres and mysql2 (as TypeORM sets it up,
/// `bigNumberStrings`) hand back as text: the entity's `1` reads back as
/// `"1"`.
fn approximated_from_sqlite(dump: &str) -> String {
    approximated_with(dump, |v| {
        if let serde_json::Value::String(s) = v
            && let Ok(n) = s.parse::<i64>()
            && n.to_string() == *s
        {
            *v = n.into();
        }
    })
}

/// What TypeORM adds for a snapshot of MySQL or MariaDB: TypeORM declares
/// its booleans `tinyint`, not `tinyint(1)`, which the catalog cannot tell
/// from a small integer; PostgreSQL gets `smallint`, and TypeORM's
/// PostgreSQL driver hands back `0` and `1` (its SQLite driver still makes
/// them booleans).
fn approximated_from_mariadb(dump: &str) -> String {
    approximated_with(dump, |v| {
        if let serde_json::Value::Bool(b) = v {
            *v = u8::from(*b).into();
        }
    })
}

#[test]
fn from_sqlite_into_postgres_and_mariadb() {
    moves_from(App::Typeorm, Kind::Sqlite, "25", approximated_from_sqlite);
}

#[test]
fn from_postgres_into_sqlite_and_mariadb() {
    moves_from(App::Typeorm, Kind::Postgres, "25", approximated);
}

#[test]
fn from_mariadb_into_sqlite_and_postgres() {
    moves_from(App::Typeorm, Kind::Mariadb, "25", approximated_from_mariadb);
}
