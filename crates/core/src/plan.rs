//! Restore planning: the order tables are loaded in.
//!
//! Referenced tables load before the tables that reference them, so a
//! target that checks foreign keys row by row still accepts a consistent
//! snapshot. Cycles (and self-references) are broken by name order; the
//! targets defer or disable foreign key checks for the duration of the
//! transaction, so the order is a speed-up, not a requirement.

use std::collections::{BTreeMap, BTreeSet};

use crate::schema::{TableName, TableSchema};

/// Orders `tables` so that, where the foreign keys allow it, every table
/// comes after the tables it references. Ties keep the input order.
pub fn load_order(tables: &[&TableSchema]) -> Vec<TableName> {
    let names: BTreeSet<&TableName> = tables.iter().map(|t| &t.name).collect();
    let mut deps: BTreeMap<&TableName, BTreeSet<&TableName>> = BTreeMap::new();
    for t in tables {
        let d = deps.entry(&t.name).or_default();
        for fk in &t.foreign_keys {
            if fk.references != t.name && names.contains(&fk.references) {
                d.insert(&fk.references);
            }
        }
    }
    let mut done: BTreeSet<&TableName> = BTreeSet::new();
    let mut order = Vec::with_capacity(tables.len());
    while order.len() < tables.len() {
        let ready = tables
            .iter()
            .find(|t| !done.contains(&t.name) && deps[&t.name].iter().all(|d| done.contains(d)))
            // a cycle: take the first remaining table
            .or_else(|| tables.iter().find(|t| !done.contains(&t.name)));
        let Some(t) = ready else { break };
        done.insert(&t.name);
        order.push(t.name.clone());
    }
    order
}

/// What a restore says of a foreign key of a table it made whose
/// referenced table it neither restores nor finds in the target: a
/// selection of the snapshot's tables, or the backup of a table group,
/// restored into a database without the rest. PostgreSQL cannot make such
/// a key (`made` false: left out, and added back by a later restore that
/// brings the referenced table); SQLite and MySQL/MariaDB keep it as the
/// snapshot has it (`made` true), and it refuses the table's new rows
/// while foreign key checks are on.
pub fn key_to_a_missing_table(
    table: &TableName,
    key: Option<&str>,
    references: &TableName,
    made: bool,
) -> String {
    let key = key.map_or_else(
        || "a foreign key".to_string(),
        |k| format!("foreign key {k}"),
    );
    if made {
        format!(
            "{key} of {table} references {references}, which this restore does not bring and \
             the target lacks: new rows of {table} fail the key until {references} is restored \
             too"
        )
    } else {
        format!(
            "{key} of {table} not made: it references {references}, which this restore does not \
             bring and the target lacks; a restore that brings {references} adds the key back"
        )
    }
}

/// The refusal of a merge into `table` whose rows (`rows` of them, when
/// counted) hold a unique value that a row of the target holds under
/// another primary key (`key`): a user deleted, then another made with
/// the same address. A merge matches rows by their key, so such a row
/// cannot go in without overwriting the other; every engine says so
/// alike, naming the unique constraint where it is known.
pub fn unique_collision(
    table: &str,
    rows: Option<u64>,
    key: &[String],
    constraint: Option<&str>,
) -> crate::SourceError {
    let rows = rows.map_or_else(|| "rows".to_string(), |n| format!("{n} row(s)"));
    let constraint = constraint.map_or_else(String::new, |c| format!(" ({c})"));
    crate::SourceError::new(
        crate::ErrorKind::Conflict,
        format!(
            "table {table}: {rows} of the snapshot hold a unique value that a row of the target \
             holds under another key ({}){constraint}; a merge matches rows by their key",
            key.join(", ")
        ),
    )
    .with_hint(
        "try: restore in replace mode, or change or delete the target's rows that hold those \
         values first",
    )
}

/// The `--tables` of a restore of the tables `restored` with `also` too,
/// for a hint: every one of them, so that following the hint keeps the
/// tables already given (naming only the two tables of one key sent a
/// restore of three round in a circle). A long list is said in words.
pub fn tables_too<S: AsRef<str>>(restored: &[S], also: &str) -> String {
    let mut names: Vec<&str> = restored.iter().map(AsRef::as_ref).collect();
    names.sort_unstable();
    names.dedup();
    if !names.contains(&also) {
        names.push(also);
    }
    if names.len() > 12 {
        format!(
            "--tables with {also} added to the {} tables restored",
            names.len() - 1
        )
    } else {
        format!("--tables {}", names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_keeps_the_tables_given() {
        assert_eq!(
            tables_too(&["Organization", "Membership"], "Post"),
            "--tables Membership,Organization,Post"
        );
        assert_eq!(tables_too(&["a", "b"], "a"), "--tables a,b");
        let many: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        assert_eq!(
            tables_too(&many, "p"),
            "--tables with p added to the 20 tables restored"
        );
    }
    use crate::schema::{ForeignKey, RowKey};

    fn table(name: &str, refs: &[&str]) -> TableSchema {
        TableSchema {
            name: TableName::new(name),
            kind: "table".into(),
            columns: vec![],
            primary_key: vec![],
            row_key: RowKey::None,
            constraints: vec![],
            indexes: vec![],
            foreign_keys: refs
                .iter()
                .map(|r| ForeignKey {
                    name: None,
                    columns: vec!["x".into()],
                    references: TableName::new(*r),
                    referenced_columns: vec!["id".into()],
                    on_delete: None,
                    on_update: None,
                    ddl: None,
                })
                .collect(),
            ddl: None,
            auto_increment: None,
            comment: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn referenced_tables_first() {
        let t = [
            table("order_items", &["orders", "products"]),
            table("orders", &["users"]),
            table("users", &["users"]),
            table("products", &[]),
        ];
        let refs: Vec<&TableSchema> = t.iter().collect();
        let order: Vec<String> = load_order(&refs).into_iter().map(|n| n.name).collect();
        assert_eq!(order, ["users", "orders", "products", "order_items"]);
    }

    #[test]
    fn cycles_still_order_everything() {
        let t = [table("a", &["b"]), table("b", &["a"]), table("c", &[])];
        let refs: Vec<&TableSchema> = t.iter().collect();
        assert_eq!(load_order(&refs).len(), 3);
    }
}
