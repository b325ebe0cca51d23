//! Tables of another engine's snapshot (PostgreSQL, SQLite), made for
//! MySQL and MariaDB from the portable model: columns with the closest
//! type (docs/cross-engine.md has the table), the primary key,
//! unique constraints, indexes and foreign keys, written the way `SHOW
//! CREATE TABLE` prints them so the restore splits and loads them like
//! the engine's own.

use tresor_core::convert::portable_of;
use tresor_core::{Engine, PortableType, TableSchema, TypeChange};

use crate::sql::quote;

/// Longest `VARCHAR` a key can hold in utf8mb4 (3072 key bytes / 4).
const KEY_VARCHAR: u64 = 768;
/// Longest `VARCHAR` kept as such; longer text becomes `LONGTEXT`.
const MAX_VARCHAR: u64 = 16_383;

/// Key bytes MySQL allows (InnoDB, `DYNAMIC` rows).
const KEY_BYTES: u64 = 3072;

/// Whether the MySQL type of `p` in a key is sized by [`key_width`]
/// (unbounded text and bytes, and what is stored as text).
fn sized_by_key(p: &PortableType) -> bool {
    matches!(
        p,
        PortableType::Text { max_len: None, .. }
            | PortableType::Bytes { max_len: None, .. }
            | PortableType::Interval
            | PortableType::Dynamic
            | PortableType::Other { .. }
    )
}

/// Key bytes a column of portable type `p` takes (an estimate on the
/// large side; 0 for those [`sized_by_key`]).
fn key_bytes(p: &PortableType) -> u64 {
    match p {
        _ if sized_by_key(p) => 0,
        PortableType::Text {
            max_len: Some(n), ..
        } => 4 * n.min(&KEY_VARCHAR) + 2,
        PortableType::Bytes {
            max_len: Some(n), ..
        } => n + 2,
        PortableType::Uuid => 4 * 36,
        PortableType::Decimal { .. } => 32,
        _ => 8,
    }
}

/// For a column `c` that is part of a key of `t` (its primary key, a
/// unique constraint or index, a foreign key: MySQL cannot key unbounded
/// text without a prefix length, and a prefix would make values that
/// differ after it collide): the longest `VARCHAR` unbounded text in it
/// can have, the key bytes its widest key leaves once its other columns
/// have theirs, shared evenly among that key's unbounded columns; `None`
/// when it is in no key. Text only in a plain index stays `longtext`,
/// and the index takes a prefix of it ([`index_parts`]): as a `VARCHAR`
/// sized for the index it refused longer values (MediaWiki's `job_params`
/// under its `job_cmd` index).
fn key_width(t: &TableSchema, c: &str) -> Option<u64> {
    let indexed: Vec<Vec<String>> = t
        .indexes
        .iter()
        .filter(|i| i.special_kind().is_none() && i.unique)
        .map(tresor_core::Index::column_names)
        .collect();
    let keys = std::iter::once(&t.primary_key)
        .chain(t.constraints.iter().map(|u| &u.columns))
        .chain(indexed.iter())
        .chain(t.foreign_keys.iter().map(|f| &f.columns));
    keys.filter(|k| k.iter().any(|x| x == c))
        .map(|k| {
            let types: Vec<PortableType> = k
                .iter()
                .filter_map(|x| t.column(x))
                .map(portable_of)
                .collect();
            let fixed: u64 = types.iter().map(key_bytes).sum();
            let shared = types.iter().filter(|p| sized_by_key(p)).count().max(1) as u64;
            if fixed >= KEY_BYTES {
                // the key's other columns take all an index holds whole:
                // MariaDB keeps it unique by a hash and indexes a prefix
                // of a plain one, so these get their widest key length
                // rather than none
                return KEY_VARCHAR;
            }
            (KEY_BYTES.saturating_sub(fixed) / 4 / shared).clamp(1, KEY_VARCHAR)
        })
        .min()
}

/// The parts of an index of `t` over `columns`, quoted. A plain index
/// whose text columns take more than the key bytes MySQL allows (MLflow's
/// lookup index over five `varchar(250..500)` columns) indexes a prefix of
/// them instead, the bytes shared out from the shortest up: it finds the
/// same rows. A unique one is left whole, since a prefix would make
/// values that differ after it collide.
fn index_parts(t: &TableSchema, columns: &[String], unique: bool) -> Vec<String> {
    // (name, characters of text in the key, or None, its key bytes, and
    // whether it is `longtext`, which an index takes only a prefix of)
    let sized: Vec<(&String, Option<u64>, u64, bool)> = columns
        .iter()
        .map(|c| match t.column(c).map(portable_of) {
            Some(p) if sized_by_key(&p) => match key_width(t, c) {
                Some(n) => (c, Some(n), 4 * n + 2, false),
                None => (c, Some(KEY_VARCHAR), 4 * KEY_VARCHAR + 2, true),
            },
            Some(PortableType::Text {
                max_len: Some(n), ..
            }) => {
                let n = n.min(MAX_VARCHAR);
                (c, Some(n), 4 * n + 2, false)
            }
            Some(p) => (c, None, key_bytes(&p), false),
            None => (c, None, 8, false),
        })
        .collect();
    let total: u64 = sized.iter().map(|(_, _, b, _)| b).sum();
    let long = sized.iter().any(|(_, _, _, long)| *long);
    if !long && (unique || total <= KEY_BYTES) {
        return columns.iter().map(|c| quote(c)).collect();
    }
    let fixed: u64 = sized
        .iter()
        .filter(|(_, n, _, _)| n.is_none())
        .map(|(_, _, b, _)| b)
        .sum();
    let mut texts: Vec<(usize, u64)> = sized
        .iter()
        .enumerate()
        .filter_map(|(i, (_, n, _, _))| n.map(|n| (i, n)))
        .collect();
    texts.sort_by_key(|(_, n)| *n);
    let mut left = KEY_BYTES.saturating_sub(fixed + 2 * texts.len() as u64) / 4;
    let mut prefix = vec![None; sized.len()];
    let count = texts.len() as u64;
    for (k, (i, n)) in texts.into_iter().enumerate() {
        let share = (left / (count - k as u64)).max(1);
        let take = n.min(share);
        left = left.saturating_sub(take);
        if take < n || sized[i].3 {
            prefix[i] = Some(take);
        }
    }
    sized
        .iter()
        .zip(prefix)
        .map(|((c, _, _, _), p)| match p {
            Some(p) => format!("{}({p})", quote(c)),
            None => quote(c),
        })
        .collect()
}

/// The MySQL type for a portable type; `key` is the longest `VARCHAR` for
/// a column of a key or index (see [`key_width`]).
pub(crate) fn mysql_type(p: &PortableType, key: Option<u64>) -> String {
    let in_key = key.is_some();
    let width = key.unwrap_or(KEY_VARCHAR);
    match p {
        PortableType::Bool => "tinyint(1)".into(),
        PortableType::Int { bits, unsigned } => {
            let t = match bits {
                ..=8 => "tinyint",
                9..=16 => "smallint",
                17..=24 => "mediumint",
                25..=32 => "int",
                _ => "bigint",
            };
            if *unsigned {
                format!("{t} unsigned")
            } else {
                t.into()
            }
        }
        PortableType::Float { bits } if *bits <= 32 => "float".into(),
        PortableType::Float { .. } => "double".into(),
        PortableType::Decimal {
            precision: Some(p),
            scale,
        } if *p <= 65 && scale.unwrap_or(0) <= 30 => {
            format!("decimal({p},{})", scale.unwrap_or(0))
        }
        PortableType::Decimal { .. } => "decimal(65,30)".into(),
        PortableType::Text {
            max_len: Some(n),
            fixed: true,
        } if *n <= 255 => format!("char({n})"),
        // its declared length even in a key: a key too long to index whole
        // is a prefix for a plain index (see `index_parts`) and, on
        // MariaDB, a hash for a unique one; shortening the column would
        // cut its values (Airflow's `uri varchar(3000)`, unique, became
        // `varchar(1)`)
        PortableType::Text {
            max_len: Some(n), ..
        } if *n <= MAX_VARCHAR => format!("varchar({n})"),
        PortableType::Text { .. }
        | PortableType::Interval
        | PortableType::Dynamic
        | PortableType::Other { .. }
            if in_key =>
        {
            format!("varchar({width})")
        }
        PortableType::Text { .. }
        | PortableType::Interval
        | PortableType::Dynamic
        | PortableType::Other { .. } => "longtext".into(),
        PortableType::Bytes {
            max_len: Some(n),
            fixed,
        } if *n <= 255 => {
            if *fixed {
                format!("binary({n})")
            } else {
                format!("varbinary({n})")
            }
        }
        PortableType::Bytes { .. } if in_key => format!("varbinary({})", width * 4),
        PortableType::Bytes { .. } => "longblob".into(),
        PortableType::Bits { len: Some(n) } if *n <= 64 => format!("bit({n})"),
        PortableType::Bits { .. } => "varbinary(8192)".into(),
        PortableType::Date => "date".into(),
        PortableType::Time | PortableType::TimeTz => "time(6)".into(),
        PortableType::Timestamp | PortableType::TimestampTz => "datetime(6)".into(),
        PortableType::Uuid => "char(36)".into(),
        PortableType::Json | PortableType::Array { .. } | PortableType::Document => "json".into(),
        PortableType::Enum { labels } if !labels.is_empty() => {
            let l: Vec<String> = labels
                .iter()
                .map(|x| format!("'{}'", x.replace('\'', "''")))
                .collect();
            format!("enum({})", l.join(","))
        }
        PortableType::Enum { .. } => "varchar(255)".into(),
    }
}

/// A MySQL identifier of at most 64 characters.
/// What a column of portable type `p` loses in a table made here from
/// another engine's snapshot (`Target::approximate_type`): the type
/// [`mysql_type`] gives it, and what changes.
pub(crate) fn type_change(p: &PortableType) -> Option<TypeChange> {
    use PortableType as P;
    match p {
        P::TimestampTz => Some((
            "datetime(6)",
            "the instant is kept in UTC; the column no longer has a time zone",
        )),
        P::TimeTz => Some(("time(6)", "the offset is dropped")),
        P::Uuid => Some(("char(36)", "stored as text in its dashed form")),
        P::Array { .. } => Some(("json", "the array is stored as a JSON array")),
        P::Document => Some(("json", "the document is stored as JSON")),
        P::Interval => Some(("longtext", tresor_core::TEXT_FORM)),
        P::Other { name } => Some(("longtext", tresor_core::other_type_note(name))),
        P::Dynamic => Some((
            "longtext",
            "SQLite's untyped column: every value is stored as its text",
        )),
        P::Decimal {
            precision: Some(p), ..
        } if *p > 65 => Some((
            "decimal(65,30)",
            "MySQL holds at most 65 digits: larger values fail the restore",
        )),
        P::Decimal {
            precision: None, ..
        } => Some((
            "decimal(65,30)",
            "an unbounded decimal gets 30 digits after the point",
        )),
        _ => None,
    }
}

fn short(name: &str) -> String {
    tresor_core::convert::fit_identifier(name, 64)
}

/// `CREATE TABLE` for `t` in the form `SHOW CREATE TABLE` prints (one item
/// per line), without SQLite's implicit rowid.
pub(crate) fn create_table(t: &TableSchema, from: Engine) -> String {
    let mut items = Vec::new();
    // with the generated columns whose expression is written in MySQL's SQL
    let visible = tresor_core::made_columns(t, from, Engine::MYSQL);
    let key: Vec<&String> = if t.primary_key.iter().any(|k| {
        !visible
            .iter()
            .any(|(c, generated)| generated.is_none() && &c.name == k)
    }) {
        Vec::new()
    } else {
        t.primary_key.iter().collect()
    };
    for (c, generated) in &visible {
        let p = portable_of(c);
        if let Some(expr) = generated {
            // MariaDB takes neither NOT NULL nor a default on one
            items.push(format!(
                "{} {} AS ({expr}) STORED",
                quote(&c.name),
                mysql_type(&p, key_width(t, &c.name))
            ));
            continue;
        }
        let auto = tresor_core::auto_numbered(c)
            && matches!(p, PortableType::Int { .. })
            && key.len() == 1
            && key[0] == &c.name;
        let ty = mysql_type(&p, key_width(t, &c.name));
        // as many digits of a second as the source's column keeps
        // (PostgreSQL's `timestamp(0)`: none)
        let digits = matches!(
            p,
            PortableType::Timestamp
                | PortableType::TimestampTz
                | PortableType::Time
                | PortableType::TimeTz
        )
        .then(|| tresor_core::Keeps::second_digits_of(c, from))
        .flatten();
        let fsp = match digits {
            Some(0) => String::new(),
            Some(n) => format!("({n})"),
            None => "(6)".into(),
        };
        let ty = if digits.is_some() {
            ty.replace("(6)", &fsp)
        } else {
            ty
        };
        let default = tresor_core::portable_default(c)
            .map(|d| {
                let sql = match d {
                    // the precision of the `datetime` it goes in
                    tresor_core::PortableDefault::CurrentTimestamp => {
                        format!("CURRENT_TIMESTAMP{fsp}")
                    }
                    d => d.sql(false),
                };
                // MySQL takes a default for text only as an expression
                if ["text", "blob", "json"].iter().any(|x| ty.ends_with(x)) {
                    format!(" DEFAULT ({sql})")
                } else {
                    format!(" DEFAULT {sql}")
                }
            })
            .unwrap_or_default();
        items.push(format!(
            "{} {ty}{}{default}{}",
            quote(&c.name),
            if c.nullable { "" } else { " NOT NULL" },
            if auto { " AUTO_INCREMENT" } else { "" }
        ));
    }
    if !key.is_empty() {
        let k: Vec<String> = key.iter().map(|k| quote(k)).collect();
        items.push(format!("PRIMARY KEY ({})", k.join(",")));
    }
    for u in t.constraints.iter().filter(|u| u.kind == "unique") {
        let cols: Vec<String> = u.columns.iter().map(|c| quote(c)).collect();
        items.push(format!(
            "UNIQUE KEY {} ({})",
            quote(&short(&u.name)),
            cols.join(",")
        ));
    }
    // checks in the SQL every engine shares (the others are listed as not
    // created), unnamed: MySQL wants a check's name unique in the database
    for k in t.constraints.iter().filter(|k| k.kind == "check") {
        if let Some(expr) = tresor_core::check_for(t, &k.definition, from, Engine::MYSQL) {
            items.push(format!("CHECK ({expr})"));
        }
    }
    for (i, columns) in t
        .indexes
        .iter()
        .map(|i| (i, i.column_names()))
        .filter(|(i, columns)| {
            i.special_kind().is_none()
                && !columns.is_empty()
                && columns
                    .iter()
                    .all(|c| visible.iter().any(|(v, _)| &v.name == c))
        })
    {
        let cols = index_parts(t, &columns, i.unique);
        items.push(format!(
            "{}KEY {} ({})",
            if i.unique { "UNIQUE " } else { "" },
            quote(&short(&i.name)),
            cols.join(",")
        ));
    }
    for (n, f) in t.foreign_keys.iter().enumerate() {
        let cols: Vec<String> = f.columns.iter().map(|c| quote(c)).collect();
        let refs: Vec<String> = f.referenced_columns.iter().map(|c| quote(c)).collect();
        let mut fk = format!(
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
            quote(&short(&format!("{}_fk{}", t.name.name, n + 1))),
            cols.join(", "),
            quote(&f.references.name),
            refs.join(", ")
        );
        for (clause, action) in [("DELETE", &f.on_delete), ("UPDATE", &f.on_update)] {
            if let Some(a) = action
                .as_deref()
                .map(str::to_ascii_uppercase)
                .filter(|a| matches!(a.as_str(), "CASCADE" | "SET NULL" | "RESTRICT"))
            {
                fk.push_str(&format!(" ON {clause} {a}"));
            }
        }
        items.push(fk);
    }
    format!(
        "CREATE TABLE {} (\n  {}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        quote(&t.name.name),
        items.join(",\n  ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tresor_core::{Column, Constraint, ForeignKey, RowKey, TableName};

    #[test]
    fn what_a_made_column_loses_matches_the_type_it_gets() {
        let tz = type_change(&PortableType::TimestampTz).expect("a change");
        assert_eq!(tz.0, mysql_type(&PortableType::TimestampTz, None));
        let arr = PortableType::Array {
            element: Box::new(PortableType::Int {
                bits: 32,
                unsigned: false,
            }),
        };
        assert_eq!(type_change(&arr).map(|c| c.0), Some("json"));
        let wide = PortableType::Decimal {
            precision: Some(80),
            scale: Some(2),
        };
        assert_eq!(
            type_change(&wide).map(|c| c.0),
            Some(mysql_type(&wide, None).as_str())
        );
        assert!(
            type_change(&PortableType::Enum {
                labels: vec!["a".into()]
            })
            .is_none()
        );
        assert!(type_change(&PortableType::Json).is_none());
    }

    #[test]
    fn a_sqlite_table_reads_as_mysql() {
        let mut id = Column::new("id", "integer", PortableType::Dynamic);
        id.identity = true;
        id.nullable = false;
        let mut name = Column::new("name", "varchar(200)", PortableType::Dynamic);
        name.nullable = false;
        let body = Column::new("body", "text", PortableType::Dynamic);
        let parent = Column::new("parent_id", "bigint", PortableType::Dynamic);
        let t = TableSchema {
            name: TableName::new("item"),
            kind: "table".into(),
            columns: vec![id, name, body, parent],
            primary_key: vec!["id".into()],
            row_key: RowKey::Columns {
                columns: vec!["id".into()],
            },
            constraints: vec![Constraint {
                name: "sqlite_autoindex_item_1".into(),
                kind: "unique".into(),
                columns: vec!["name".into()],
                definition: String::new(),
            }],
            indexes: Vec::new(),
            foreign_keys: vec![ForeignKey {
                name: None,
                columns: vec!["parent_id".into()],
                references: TableName::new("item"),
                referenced_columns: vec!["id".into()],
                on_delete: Some("CASCADE".into()),
                on_update: None,
                ddl: None,
            }],
            ddl: None,
            auto_increment: None,
            comment: None,
            extra: Default::default(),
        };
        assert_eq!(
            create_table(&t, Engine::POSTGRES),
            "CREATE TABLE `item` (\n  `id` bigint NOT NULL AUTO_INCREMENT,\n  `name` varchar(200) NOT NULL,\n  \
             `body` longtext,\n  `parent_id` bigint,\n  PRIMARY KEY (`id`),\n  \
             UNIQUE KEY `sqlite_autoindex_item_1` (`name`),\n  \
             CONSTRAINT `item_fk1` FOREIGN KEY (`parent_id`) REFERENCES `item` (`id`) ON DELETE CASCADE\n\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        );
    }

    #[test]
    fn a_plain_index_too_wide_for_a_key_indexes_prefixes() {
        let text = |n| PortableType::Text {
            max_len: Some(n),
            fixed: false,
        };
        let int = PortableType::Int {
            bits: 32,
            unsigned: false,
        };
        let t = TableSchema::with_columns(
            TableName::new("rollups"),
            vec![
                Column::new("experiment_id", "INTEGER", int),
                Column::new("metric_name", "VARCHAR(250)", text(250)),
                Column::new("grouping_set", "VARCHAR(50)", text(50)),
                Column::new("model_name", "VARCHAR(500)", text(500)),
                Column::new("model_provider", "VARCHAR(500)", text(500)),
            ],
        );
        let cols: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        let parts = index_parts(&t, &cols, false);
        assert_eq!(
            parts,
            [
                "`experiment_id`",
                "`metric_name`(238)",
                "`grouping_set`",
                "`model_name`(238)",
                "`model_provider`(238)"
            ]
        );
        // the integer's 8 bytes, 4 per character and 2 per text column
        assert_eq!(8 + 4 * (238 + 50 + 238 + 238) + 2 * 4, KEY_BYTES);
        // a unique one keeps its columns whole; a narrow one is as it was
        assert!(
            index_parts(&t, &cols, true)
                .iter()
                .all(|p| !p.contains('('))
        );
        assert_eq!(
            index_parts(&t, &cols[..2], false),
            ["`experiment_id`", "`metric_name`"]
        );
    }

    #[test]
    fn text_in_keys_shares_the_key_bytes() {
        let text = || PortableType::Text {
            max_len: None,
            fixed: false,
        };
        let mut tenant = Column::new(
            "tenant",
            "public.citext",
            PortableType::Other {
                name: "public.citext".into(),
            },
        );
        tenant.nullable = false;
        let id = Column::new(
            "id",
            "bigint",
            PortableType::Int {
                bits: 64,
                unsigned: false,
            },
        );
        let t = TableSchema {
            name: TableName::new("people"),
            kind: "table".into(),
            columns: vec![
                tenant,
                id,
                Column::new("email", "text", text()),
                Column::new("a", "text", text()),
                Column::new("b", "text", text()),
            ],
            primary_key: vec!["tenant".into(), "id".into()],
            row_key: RowKey::Columns {
                columns: vec!["tenant".into(), "id".into()],
            },
            constraints: vec![
                Constraint {
                    name: "people_email_key".into(),
                    kind: "unique".into(),
                    columns: vec!["email".into()],
                    definition: String::new(),
                },
                Constraint {
                    name: "people_a_b_key".into(),
                    kind: "unique".into(),
                    columns: vec!["a".into(), "b".into()],
                    definition: String::new(),
                },
            ],
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            ddl: None,
            auto_increment: None,
            comment: None,
            extra: Default::default(),
        };
        let made = create_table(&t, Engine::POSTGRES);
        for column in [
            "`tenant` varchar(766) NOT NULL",
            "`email` varchar(768)",
            "`a` varchar(384)",
            "`b` varchar(384)",
        ] {
            assert!(made.contains(column), "{column}: {made}");
        }
    }

    /// Unbounded text only in a plain index (MediaWiki's `job_params`, the
    /// last column of its `job_cmd` index) stays `longtext`, and the index
    /// takes a prefix of it: sized for the index as a `VARCHAR`, it
    /// refused the application's longer values (`Data too long`).
    #[test]
    fn text_in_a_plain_index_keeps_every_value() {
        let text = |name: &str| {
            Column::new(
                name,
                "text",
                PortableType::Text {
                    max_len: None,
                    fixed: false,
                },
            )
        };
        let mut t = TableSchema::with_columns(
            TableName::new("job"),
            vec![
                text("job_cmd"),
                Column::new(
                    "job_namespace",
                    "integer",
                    PortableType::Int {
                        bits: 32,
                        unsigned: false,
                    },
                ),
                text("job_title"),
                text("job_params"),
            ],
        );
        t.indexes.push(tresor_core::Index {
            name: "job_cmd".into(),
            columns: vec![
                "job_cmd".into(),
                "job_namespace".into(),
                "job_title".into(),
                "job_params".into(),
            ],
            unique: false,
            ddl: None,
            extra: Default::default(),
        });
        let made = create_table(&t, Engine::POSTGRES);
        for part in [
            "`job_cmd` longtext",
            "`job_title` longtext",
            "`job_params` longtext",
            "KEY `job_cmd` (`job_cmd`(254),`job_namespace`,`job_title`(255),`job_params`(255))",
        ] {
            assert!(made.contains(part), "{part}: {made}");
        }
    }

    /// A bounded text column wider than a key keeps its length in a key:
    /// Airflow's unique `uri varchar(3000)` was made `varchar(1)`, which
    /// cut every value or, in an empty table, took none the application
    /// wrote later; and text sharing a key with it got no width either.
    #[test]
    fn wide_text_in_a_key_keeps_its_length() {
        let wide = |n| PortableType::Text {
            max_len: Some(n),
            fixed: false,
        };
        let t = TableSchema {
            name: TableName::new("dataset"),
            kind: "table".into(),
            columns: vec![
                Column::new("uri", "varchar(3000)", wide(3000)),
                Column::new(
                    "extra",
                    "text",
                    PortableType::Text {
                        max_len: None,
                        fixed: false,
                    },
                ),
                Column::new("url", "varchar(1000)", wide(1000)),
            ],
            primary_key: Vec::new(),
            row_key: RowKey::None,
            constraints: vec![Constraint {
                name: "idx_uri_unique".into(),
                kind: "unique".into(),
                columns: vec!["uri".into(), "extra".into()],
                definition: String::new(),
            }],
            indexes: vec![tresor_core::Index {
                name: "idx_url".into(),
                columns: vec!["url".into()],
                unique: false,
                ddl: None,
                extra: Default::default(),
            }],
            foreign_keys: Vec::new(),
            ddl: None,
            auto_increment: None,
            comment: None,
            extra: Default::default(),
        };
        let made = create_table(&t, Engine::SQLITE);
        for part in [
            "`uri` varchar(3000)",
            "`extra` varchar(768)",
            "`url` varchar(1000)",
            "KEY `idx_url` (`url`(767))",
        ] {
            assert!(made.contains(part), "{part}: {made}");
        }
    }
}
