//! Work tables (their names, and `SHOW CREATE TABLE` text split for a
//! fast load), their deferred indexes, and the database's views,
//! triggers, routines and events.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use tresor_core::{ErrorKind, SchemaObject, SourceError, TableName};

use crate::catalog::WORK_PREFIX;
use crate::error::Context;
use crate::sql::quote;
use crate::url::SQL_MODE;

use super::session::{MysqlSession, Route};

/// A work-table name: `__tresor_<run>_<n>_<name>`, cut to MySQL's 64
/// characters.
pub(super) fn work_name(run: &str, n: usize, name: &str) -> String {
    let mut s = format!("{WORK_PREFIX}{run}_{n}_");
    for c in name.chars() {
        if s.chars().count() >= 64 {
            break;
        }
        s.push(c);
    }
    s
}

/// `SHOW CREATE TABLE` text split for a fast load: the `CREATE TABLE`
/// under the work name without secondary indexes and foreign keys, the
/// index clauses (`KEY ...`, for one `ALTER TABLE ... ADD ...`) and the
/// foreign key clauses. Full-text indexes stay in the `CREATE` (adding
/// one later rebuilds the table to add `FTS_DOC_ID`), and so does any
/// index that leads with the `AUTO_INCREMENT` column (MySQL requires one).
pub(super) fn split_ddl(
    ddl: &str,
    name: &str,
    work: &str,
    auto_increment: Option<&str>,
) -> Result<(String, Vec<String>, Vec<String>), SourceError> {
    let prefix = format!("CREATE TABLE {} (", quote(name));
    let rest = ddl.strip_prefix(&prefix).ok_or_else(|| {
        SourceError::new(
            ErrorKind::Unsupported,
            format!("unexpected definition of table {name}"),
        )
    })?;
    let lines: Vec<&str> = rest.split('\n').collect();
    let close = lines
        .iter()
        .rposition(|l| l.starts_with(')'))
        .ok_or_else(|| {
            SourceError::new(
                ErrorKind::Unsupported,
                format!("unexpected definition of table {name}"),
            )
        })?;
    let mut kept = Vec::new();
    let mut keys = Vec::new();
    let mut fks = Vec::new();
    let ai_lead = auto_increment.map(|c| format!(" ({}", quote(c)));
    for line in &lines[..close] {
        let item = line.trim().trim_end_matches(',');
        if item.is_empty() {
            continue;
        }
        let is_key = item.starts_with("KEY ")
            || item.starts_with("UNIQUE KEY ")
            || item.starts_with("SPATIAL KEY ");
        let leads_ai = ai_lead
            .as_ref()
            .is_some_and(|lead| item.contains(lead.as_str()));
        if is_key && !leads_ai {
            keys.push(item.to_string());
        } else if item.starts_with("CONSTRAINT ") && item.contains(" FOREIGN KEY ") {
            fks.push(item.to_string());
        } else {
            kept.push(format!("  {item}"));
        }
    }
    let create = format!(
        "CREATE TABLE {} (\n{}\n{}",
        quote(work),
        kept.join(",\n"),
        lines[close..].join("\n")
    );
    Ok((create, keys, fks))
}

impl MysqlSession {
    /// Adds the deferred indexes of a loaded work table.
    pub(super) async fn add_keys(&mut self, name: &TableName) -> Result<(), SourceError> {
        let Some(Route::Fresh {
            work,
            keys,
            keys_added,
            ..
        }) = self.tables.get(name)
        else {
            return Ok(());
        };
        if *keys_added || keys.is_empty() {
            if let Some(Route::Fresh { keys_added, .. }) = self.tables.get_mut(name) {
                *keys_added = true;
            }
            return Ok(());
        }
        let sql = format!(
            "ALTER TABLE {} {}",
            quote(work),
            keys.iter()
                .map(|k| format!("ADD {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.ddl()?
            .query_drop(sql)
            .await
            .ctx(|| format!("cannot add the indexes of table {name}"))?;
        if let Some(Route::Fresh { keys_added, .. }) = self.tables.get_mut(name) {
            *keys_added = true;
        }
        Ok(())
    }

    pub(super) async fn restore_objects(&mut self) -> Result<(), SourceError> {
        let order = ["function", "procedure", "view", "trigger", "event"];
        let mut pending: Vec<SchemaObject> = Vec::new();
        for kind in order {
            pending.extend(self.objects.iter().filter(|o| o.kind == kind).cloned());
        }
        // views may depend on views: retry until no progress
        let conn = self
            .ddl
            .as_mut()
            .ok_or_else(|| SourceError::new(ErrorKind::Engine, "restore session already closed"))?;
        let mut last_error = None;
        loop {
            let before = pending.len();
            let mut failed = Vec::new();
            for o in pending {
                match create_object(conn, &o).await {
                    Ok(()) => {}
                    Err(e) => {
                        last_error = Some(e);
                        failed.push(o);
                    }
                }
            }
            pending = failed;
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        conn.query_drop(format!(
            "SET NAMES utf8mb4, SESSION sql_mode = '{SQL_MODE}', SESSION time_zone = '+00:00'"
        ))
        .await
        .ctx(|| "cannot reset the session".to_string())?;
        if let (Some(o), Some(e)) = (pending.first(), last_error) {
            return Err(SourceError::new(
                e.kind(),
                format!("cannot recreate {} {}: {e}", o.kind, o.name),
            ));
        }
        Ok(())
    }
}

async fn create_object(conn: &mut Conn, o: &SchemaObject) -> Result<(), SourceError> {
    let kind_sql = match o.kind.as_str() {
        "view" => "VIEW",
        "trigger" => "TRIGGER",
        "procedure" => "PROCEDURE",
        "function" => "FUNCTION",
        "event" => "EVENT",
        _ => return Ok(()),
    };
    conn.query_drop(format!("DROP {kind_sql} IF EXISTS {}", quote(&o.name.name)))
        .await
        .ctx(|| format!("cannot drop {} {}", o.kind, o.name))?;
    let get = |k: &str| o.extra.get(k).and_then(|v| v.as_str()).map(str::to_string);
    if let Some(mode) = get("sql_mode") {
        conn.exec_drop("SET SESSION sql_mode = ?", (mode,))
            .await
            .ctx(|| "cannot set sql_mode".to_string())?;
    }
    if let Some(c) = get("collation_connection") {
        conn.exec_drop("SET SESSION collation_connection = ?", (c,))
            .await
            .ctx(|| "cannot set collation_connection".to_string())?;
    }
    if let Some(tz) = get("time_zone") {
        conn.exec_drop("SET SESSION time_zone = ?", (tz,))
            .await
            .ctx(|| "cannot set time_zone".to_string())?;
    }
    // the client character set the object was created under, as the
    // server records it with the object, where the DDL text (UTF-8 here)
    // reads the same in it: ASCII, or no character beyond utf8mb3
    let client_charset = get("character_set_client").filter(|cs| {
        o.ddl.is_ascii()
            || (cs.starts_with("utf8") && o.ddl.chars().all(|c| u32::from(c) < 0x10000))
    });
    if let Some(cs) = &client_charset {
        conn.exec_drop("SET SESSION character_set_client = ?", (cs,))
            .await
            .ctx(|| "cannot set character_set_client".to_string())?;
    }
    let created = conn
        .query_drop(o.ddl.as_str())
        .await
        .ctx(|| format!("cannot create {} {}", o.kind, o.name));
    if client_charset.is_some() {
        conn.query_drop("SET SESSION character_set_client = utf8mb4")
            .await
            .ctx(|| "cannot set character_set_client".to_string())?;
    }
    created
}

#[cfg(test)]
mod tests {
    use super::*;

    const DDL: &str = "CREATE TABLE `orders` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `c` int(11) DEFAULT NULL,\n  `t` text DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u` (`c`),\n  KEY `k` (`c`,`id`),\n  FULLTEXT KEY `ft` (`t`),\n  CONSTRAINT `fk` FOREIGN KEY (`c`) REFERENCES `customers` (`id`),\n  CONSTRAINT `chk` CHECK (`c` > 0)\n) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4";

    #[test]
    fn ddl_is_split_for_fast_loading() {
        let (create, keys, fks) =
            split_ddl(DDL, "orders", "__tresor_x_0_orders", Some("id")).expect("split");
        assert_eq!(
            create,
            "CREATE TABLE `__tresor_x_0_orders` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `c` int(11) DEFAULT NULL,\n  `t` text DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  FULLTEXT KEY `ft` (`t`),\n  CONSTRAINT `chk` CHECK (`c` > 0)\n) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4"
        );
        assert_eq!(keys, ["UNIQUE KEY `u` (`c`)", "KEY `k` (`c`,`id`)"]);
        assert_eq!(
            fks,
            ["CONSTRAINT `fk` FOREIGN KEY (`c`) REFERENCES `customers` (`id`)"]
        );
    }

    #[test]
    fn work_names_fit() {
        let long = "x".repeat(64);
        assert_eq!(work_name("abcd1234", 3, &long).chars().count(), 64);
        assert_eq!(work_name("abcd1234", 3, "t"), "__tresor_abcd1234_3_t");
    }
}
