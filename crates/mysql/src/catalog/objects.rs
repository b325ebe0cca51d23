//! Views, routines, triggers and events.

use std::collections::BTreeMap;

use mysql_async::{Conn, Row};
use serde_json::json;
use tresor_core::{ErrorKind, SchemaObject, SourceError, TableFilter, TableName, TableSchema};

use super::{req, rows, show_create, text_col};

/// Views the filter selects, every routine, the triggers of the `tables`
/// and every event, each with the session settings it was created under.
pub(super) async fn capture_objects(
    conn: &mut Conn,
    db: &str,
    filter: &TableFilter,
    tables: &[TableSchema],
    objects: &mut Vec<SchemaObject>,
) -> Result<(), SourceError> {
    let names: Vec<String> = rows(
        conn,
        "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
        db,
    )
    .await?
    .into_iter()
    .map(|mut r| req(&mut r, 0))
    .collect();
    for name in names {
        if !filter.matches(&TableName::new(name.clone())) {
            continue;
        }
        let mut row = show_create(conn, "VIEW", &name, 3).await?;
        let ddl = req(&mut row, 1);
        let mut extra = BTreeMap::new();
        extra.insert("character_set_client".to_string(), json!(req(&mut row, 2)));
        extra.insert("collation_connection".to_string(), json!(req(&mut row, 3)));
        objects.push(SchemaObject {
            kind: "view".to_string(),
            name: TableName::new(name),
            ddl,
            table: None,
            extra,
        });
    }

    let routines: Vec<(String, String)> = rows(
        conn,
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES \
         WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
        db,
    )
    .await?
    .into_iter()
    .map(|mut r| (req(&mut r, 0), req(&mut r, 1)))
    .collect();
    for (name, kind) in routines {
        let mut row = show_create(conn, &kind, &name, 4).await?;
        let ddl = text_col(&mut row, 2).ok_or_else(|| {
            SourceError::new(
                ErrorKind::Permission,
                format!("cannot read the body of {} {name}", kind.to_lowercase()),
            )
            .with_hint("grant the backup user SELECT on mysql.proc or SHOW_ROUTINE")
        })?;
        objects.push(SchemaObject {
            kind: kind.to_lowercase(),
            name: TableName::new(name),
            ddl,
            table: None,
            extra: session_extra(&mut row, 1, 3, 4, None),
        });
    }

    let triggers: Vec<(String, String)> = rows(
        conn,
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS \
         WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
        db,
    )
    .await?
    .into_iter()
    .map(|mut r| (req(&mut r, 0), req(&mut r, 1)))
    .collect();
    for (name, table) in triggers {
        if !tables.iter().any(|t| t.name.name == table) {
            continue;
        }
        let mut row = show_create(conn, "TRIGGER", &name, 4).await?;
        let ddl = req(&mut row, 2);
        objects.push(SchemaObject {
            kind: "trigger".to_string(),
            name: TableName::new(name),
            ddl,
            table: Some(TableName::new(table)),
            extra: session_extra(&mut row, 1, 3, 4, None),
        });
    }

    let events: Vec<String> = rows(
        conn,
        "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME",
        db,
    )
    .await?
    .into_iter()
    .map(|mut r| req(&mut r, 0))
    .collect();
    for name in events {
        let mut row = show_create(conn, "EVENT", &name, 5).await?;
        let ddl = req(&mut row, 3);
        objects.push(SchemaObject {
            kind: "event".to_string(),
            name: TableName::new(name),
            ddl,
            table: None,
            extra: session_extra(&mut row, 1, 4, 5, Some(2)),
        });
    }
    Ok(())
}

/// The session settings an object was created under, replayed on restore.
fn session_extra(
    row: &mut Row,
    sql_mode: usize,
    charset: usize,
    collation: usize,
    time_zone: Option<usize>,
) -> BTreeMap<String, serde_json::Value> {
    let mut extra = BTreeMap::new();
    extra.insert("sql_mode".to_string(), json!(req(row, sql_mode)));
    extra.insert("character_set_client".to_string(), json!(req(row, charset)));
    extra.insert(
        "collation_connection".to_string(),
        json!(req(row, collation)),
    );
    if let Some(tz) = time_zone {
        extra.insert("time_zone".to_string(), json!(req(row, tz)));
    }
    extra
}
