//! Column names of the snapshot spelt as the target's existing tables
//! spell them. SQLite and MySQL do not tell `Lock` from `lock` in a column
//! name; PostgreSQL folds an unquoted name to lower case. A table an
//! application made in both with the same `CREATE TABLE` (Synapse's
//! `schema_version (Lock ...)`) has `Lock` in the one and `lock` in the
//! other: the same column, which the application's own SQL names either
//! way. Moved from a case-blind engine into a table the target already has,
//! a column without a match of its exact name takes the one column whose
//! name matches it but for case.

use std::collections::HashMap;

use tresor_core::{DatabaseSchema, Engine, RestorePlan, RowKey, TableName};

/// Whether `engine` tells column names apart by case.
fn case_blind(engine: Engine) -> bool {
    engine == Engine::SQLITE || engine == Engine::MYSQL
}

/// Renames the columns of `plan`'s tables (made in `from`) that `live`,
/// the target's existing tables, spells in another case; returns what was
/// renamed, as `table.Old -> new`.
pub(super) fn spell_as_target(
    plan: &mut RestorePlan,
    from: Engine,
    live: &DatabaseSchema,
) -> Vec<String> {
    if !case_blind(from) {
        return Vec::new();
    }
    let mut renamed: HashMap<TableName, HashMap<String, String>> = HashMap::new();
    for t in &plan.schema.tables {
        let Some(now) = live.table(&t.name) else {
            continue;
        };
        let names: HashMap<String, String> = t
            .columns
            .iter()
            .filter(|c| now.column(&c.name).is_none())
            .filter_map(|c| {
                let l = now.column_folded(&c.name)?;
                t.column(&l.name)
                    .is_none()
                    .then(|| (c.name.clone(), l.name.clone()))
            })
            .collect();
        if !names.is_empty() {
            renamed.insert(t.name.clone(), names);
        }
    }
    if renamed.is_empty() {
        return Vec::new();
    }
    let respell = |names: &HashMap<String, String>, columns: &mut Vec<String>| {
        for c in columns {
            if let Some(new) = names.get(c) {
                c.clone_from(new);
            }
        }
    };
    for t in &mut plan.schema.tables {
        if let Some(names) = renamed.get(&t.name) {
            for c in &mut t.columns {
                if let Some(new) = names.get(&c.name) {
                    c.name.clone_from(new);
                }
            }
            respell(names, &mut t.primary_key);
            if let RowKey::Columns { columns } = &mut t.row_key {
                respell(names, columns);
            }
            for i in &mut t.indexes {
                respell(names, &mut i.columns);
            }
            for fk in &mut t.foreign_keys {
                respell(names, &mut fk.columns);
            }
        }
        for fk in &mut t.foreign_keys {
            if let Some(names) = renamed.get(&fk.references) {
                respell(names, &mut fk.referenced_columns);
            }
        }
    }
    let mut notes: Vec<String> = renamed
        .iter()
        .flat_map(|(t, names)| {
            names
                .iter()
                .map(move |(old, new)| format!("{t}.{old} -> {new}"))
        })
        .collect();
    notes.sort();
    tracing::info!(columns = ?notes, "snapshot columns spelt as the target's tables spell them");
    notes
}

#[cfg(test)]
mod tests {
    use tresor_core::{Column, PortableType, RestoreMode, TableSchema};

    use super::*;

    fn table(name: &str, columns: &[&str], key: &[&str]) -> TableSchema {
        let text = PortableType::Text {
            max_len: None,
            fixed: false,
        };
        let key: Vec<String> = key.iter().map(ToString::to_string).collect();
        TableSchema {
            row_key: RowKey::Columns {
                columns: key.clone(),
            },
            primary_key: key,
            ..TableSchema::with_columns(
                TableName::new(name),
                columns
                    .iter()
                    .map(|c| Column::new(*c, "text", text.clone()))
                    .collect(),
            )
        }
    }

    fn schema(engine: Engine, tables: Vec<TableSchema>) -> DatabaseSchema {
        DatabaseSchema {
            engine,
            tables,
            objects: Vec::new(),
            settings: Default::default(),
        }
    }

    fn plan(from: Engine, tables: Vec<TableSchema>) -> RestorePlan {
        RestorePlan::of_all(schema(from, tables), RestoreMode::Replace)
    }

    #[test]
    fn a_case_blind_engines_column_takes_the_targets_spelling() {
        let mut p = plan(
            Engine::SQLITE,
            vec![table("schema_version", &["Lock", "version"], &["Lock"])],
        );
        let live = schema(
            Engine::POSTGRES,
            vec![table("schema_version", &["lock", "version"], &["lock"])],
        );
        let notes = spell_as_target(&mut p, Engine::SQLITE, &live);
        assert_eq!(notes, ["schema_version.Lock -> lock"]);
        let t = &p.schema.tables[0];
        assert_eq!(t.columns[0].name, "lock");
        assert_eq!(t.primary_key, ["lock"]);
        assert_eq!(
            t.row_key,
            RowKey::Columns {
                columns: vec!["lock".into()]
            }
        );
    }

    #[test]
    fn postgres_names_and_ambiguous_matches_stay_as_they_are() {
        let live = schema(
            Engine::POSTGRES,
            vec![table("t", &["lock", "LOCK", "name"], &[])],
        );
        let mut p = plan(Engine::POSTGRES, vec![table("t", &["Lock", "Name"], &[])]);
        assert!(spell_as_target(&mut p, Engine::POSTGRES, &live).is_empty());
        let notes = spell_as_target(&mut p, Engine::MYSQL, &live);
        // two columns match Lock but for case: no guess
        assert_eq!(notes, ["t.Name -> name"]);
        assert_eq!(p.schema.tables[0].columns[0].name, "Lock");
    }
}
