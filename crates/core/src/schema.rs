//! The schema model: what a snapshot records about each table so that a
//! restore can rebuild it exactly (same engine) or faithfully (another
//! engine).
//!
//! Every engine fills the portable fields (columns, keys, indexes, foreign
//! keys) and, where it can, the engine's own DDL in [`TableSchema::ddl`];
//! a same-engine restore into an empty database prefers the engine's DDL.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A database engine, by the lowercase name that URLs, manifests and
/// archives use. The engines tresor ships are the constants below; an
/// engine crate may name its own with [`Engine::named`], so adding an
/// engine touches no crate but its own and the one line that registers
/// its connector.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Engine(&'static str);

impl Engine {
    /// SQLite 3.
    pub const SQLITE: Engine = Engine("sqlite");
    /// PostgreSQL.
    pub const POSTGRES: Engine = Engine("postgres");
    /// MySQL and MariaDB.
    pub const MYSQL: Engine = Engine("mysql");
    /// MongoDB.
    pub const MONGODB: Engine = Engine("mongodb");

    /// An engine called `name` (lowercase ASCII letters and digits).
    pub const fn named(name: &'static str) -> Engine {
        Engine(name)
    }

    /// The engine's lowercase name, as used in URLs and manifests.
    pub fn name(self) -> &'static str {
        self.0
    }

    /// The engine a manifest names: one of the constants, or a name seen
    /// before, or a new one kept for the rest of the process (a handful
    /// at most: names are checked and their number bounded).
    fn intern(name: &str) -> Result<Engine, String> {
        const KNOWN: [Engine; 4] = [
            Engine::SQLITE,
            Engine::POSTGRES,
            Engine::MYSQL,
            Engine::MONGODB,
        ];
        if let Some(e) = KNOWN.iter().find(|e| e.0 == name) {
            return Ok(*e);
        }
        let valid = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid {
            return Err(format!("{name:?} is not an engine name"));
        }
        static OTHERS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let mut others = OTHERS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = others.iter().find(|n| **n == name) {
            return Ok(Engine(n));
        }
        if others.len() >= 64 {
            return Err(format!("unknown engine {name:?}"));
        }
        let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
        others.push(leaked);
        Ok(Engine(leaked))
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Engine {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Engine {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        Engine::intern(&name).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A table's name, with its schema (namespace) where the engine has one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableName {
    /// PostgreSQL schema; `None` for SQLite, MySQL (the database is the
    /// source) and MongoDB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The table or collection name.
    pub name: String,
}

impl TableName {
    /// A name without a schema.
    pub fn new(name: impl Into<String>) -> Self {
        TableName {
            schema: None,
            name: name.into(),
        }
    }

    /// A name inside a schema.
    pub fn qualified(schema: impl Into<String>, name: impl Into<String>) -> Self {
        TableName {
            schema: Some(schema.into()),
            name: name.into(),
        }
    }

    /// Parses `name` or `schema.name` as the user types it on the command
    /// line. The split is on the first dot.
    pub fn parse(s: &str) -> Self {
        match s.split_once('.') {
            Some((schema, name)) => TableName::qualified(schema, name),
            None => TableName::new(s),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A type every engine can map to, for cross-engine restores and for the
/// export archive's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PortableType {
    /// Boolean.
    Bool,
    /// Integer of `bits` bits.
    Int {
        /// 8, 16, 24, 32 or 64.
        bits: u8,
        /// Unsigned (MySQL).
        #[serde(default)]
        unsigned: bool,
    },
    /// Binary floating point of `bits` bits (32 or 64).
    Float {
        /// 32 or 64.
        bits: u8,
    },
    /// Exact decimal.
    Decimal {
        /// Total digits, if bounded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        precision: Option<u32>,
        /// Digits after the point, if bounded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scale: Option<u32>,
    },
    /// Character data.
    Text {
        /// Maximum length in characters, if bounded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_len: Option<u64>,
        /// Fixed length, padded (`CHAR(n)`).
        #[serde(default)]
        fixed: bool,
    },
    /// Binary data.
    Bytes {
        /// Maximum length in bytes, if bounded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_len: Option<u64>,
        /// Fixed length (`BINARY(n)`).
        #[serde(default)]
        fixed: bool,
    },
    /// Bit string.
    Bits {
        /// Length in bits, if fixed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        len: Option<u32>,
    },
    /// Calendar date.
    Date,
    /// Time of day (or duration for MySQL).
    Time,
    /// Time of day with offset.
    TimeTz,
    /// Date and time without zone.
    Timestamp,
    /// Instant.
    TimestampTz,
    /// Interval.
    Interval,
    /// UUID.
    Uuid,
    /// JSON.
    Json,
    /// Enumerated labels.
    Enum {
        /// The labels in order.
        labels: Vec<String>,
    },
    /// Array of elements.
    Array {
        /// The element type.
        element: Box<PortableType>,
    },
    /// A BSON document.
    Document,
    /// SQLite's dynamic typing: any storage class per value.
    Dynamic,
    /// Anything else, named by the engine type.
    Other {
        /// The engine's type name.
        name: String,
    },
}

/// A generated (computed) column. Its values are not stored in snapshots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generated {
    /// The generating expression, in the engine's syntax.
    pub expression: String,
    /// Stored (materialized) rather than virtual.
    pub stored: bool,
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// The engine's exact type text (`varchar(20)`, `numeric(10,2)[]`,
    /// `int(10) unsigned zerofill`), or the declared type in SQLite.
    pub engine_type: String,
    /// The portable type.
    pub portable: PortableType,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The default expression in the engine's syntax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Set for generated columns; their values are not in the row data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<Generated>,
    /// Identity / auto-increment column.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identity: bool,
    /// Collation, where it differs from the table's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
    /// Column comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// A column that is not part of the table's declared columns but is
    /// kept so rows restore exactly, such as SQLite's implicit `rowid`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// Engine-specific details (MySQL charset, `ON UPDATE`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Column {
    /// A nullable column with the given engine and portable types.
    pub fn new(
        name: impl Into<String>,
        engine_type: impl Into<String>,
        portable: PortableType,
    ) -> Self {
        Column {
            name: name.into(),
            engine_type: engine_type.into(),
            portable,
            nullable: true,
            default: None,
            generated: None,
            identity: false,
            collation: None,
            comment: None,
            hidden: false,
            extra: BTreeMap::new(),
        }
    }

    /// Whether row data carries this column's values (generated columns
    /// are recomputed by the engine instead).
    pub fn is_stored_in_rows(&self) -> bool {
        self.generated.is_none()
    }

    /// A stored generated column computing `expression`.
    #[cfg(test)]
    pub(crate) fn computed(
        name: &str,
        engine_type: &str,
        portable: PortableType,
        expression: &str,
    ) -> Self {
        let mut c = Column::new(name, engine_type, portable);
        c.generated = Some(Generated {
            expression: expression.into(),
            stored: true,
        });
        c
    }
}

/// An index (other than the one behind the primary key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Index name.
    pub name: String,
    /// Indexed columns or expressions, in order.
    pub columns: Vec<String>,
    /// Whether the index enforces uniqueness.
    pub unique: bool,
    /// The engine's DDL for the index, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddl: Option<String>,
    /// Engine-specific details (method, partial predicate, options).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Index {
    /// The indexed columns by name: PostgreSQL's definition quotes a
    /// column whose name is not all lower case (`"orgId"`, as Prisma names
    /// every column), which is the plain name here; an expression stays
    /// as it is (and names no column).
    pub fn column_names(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| unquoted_identifier(c).unwrap_or_else(|| c.clone()))
            .collect()
    }

    /// The kind of index, when it is one only its own engine makes: a
    /// PostgreSQL `gin`, `gist`, `spgist` or `brin` index (read from its
    /// definition), a MySQL `FULLTEXT` or `SPATIAL` key. `None` for the
    /// plain ordered (or hash) index every engine has. A table made in
    /// another engine goes without it: made as a plain index it would
    /// index something else, and could not hold long values (a `tsvector`
    /// or a document's text in a MySQL key).
    pub fn special_kind(&self) -> Option<String> {
        if let Some(t) = self.extra.get("type").and_then(|v| v.as_str()) {
            let t = t.to_ascii_lowercase();
            return matches!(t.as_str(), "fulltext" | "spatial").then_some(t);
        }
        let ddl = self.ddl.as_deref()?;
        let at = ddl.find(" USING ")?;
        let method: String = ddl[at + 7..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
            .to_ascii_lowercase();
        (!method.is_empty() && !matches!(method.as_str(), "btree" | "hash")).then_some(method)
    }
}

/// The identifier a double-quoted `entry` spells (`"a""b"` is `a"b`), or
/// `None` when it is anything else.
fn unquoted_identifier(entry: &str) -> Option<String> {
    let inner = entry.strip_prefix('"')?.strip_suffix('"')?;
    // a quote inside is doubled; a lone one ends the identifier early
    let name = inner.replace("\"\"", "\"");
    (name.matches('"').count() * 2 == inner.matches('"').count()).then_some(name)
}

/// A foreign key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    /// Constraint name, if named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Referencing columns.
    pub columns: Vec<String>,
    /// Referenced table.
    pub references: TableName,
    /// Referenced columns.
    pub referenced_columns: Vec<String>,
    /// `ON DELETE` action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_delete: Option<String>,
    /// `ON UPDATE` action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_update: Option<String>,
    /// The engine's definition text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddl: Option<String>,
}

/// Any other named constraint (unique, check, exclusion).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    /// Constraint name.
    pub name: String,
    /// `unique`, `check`, `exclusion`, ...
    pub kind: String,
    /// Columns involved, where it makes sense.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// The engine's definition text.
    pub definition: String,
}

/// How the rows of a table are ordered and identified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RowKey {
    /// Rows are ordered and identified by these columns (a primary key,
    /// SQLite's rowid, MongoDB's `_id`).
    Columns {
        /// Key column names.
        columns: Vec<String>,
    },
    /// No key: rows stream in an engine-defined order, restore can only
    /// insert, and merge falls back to replace semantics per table.
    None,
}

/// Everything a snapshot records about one table or collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableSchema {
    /// The table's name.
    pub name: TableName,
    /// `table`, `partitioned_table`, `collection`, [`large_objects`](Self::LARGE_OBJECTS)...
    #[serde(default = "default_kind")]
    pub kind: String,
    /// All columns in declaration order (generated ones included).
    pub columns: Vec<Column>,
    /// The primary key columns, empty if none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<String>,
    /// How rows are keyed and ordered in the snapshot.
    pub row_key: RowKey,
    /// Unique, check and exclusion constraints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// Secondary indexes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<Index>,
    /// Foreign keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
    /// The engine's own DDL for the table (`sqlite_master.sql`,
    /// `SHOW CREATE TABLE`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddl: Option<String>,
    /// The next auto-increment / identity value, if the engine keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_increment: Option<i64>,
    /// Table comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Engine-specific details (SQLite `WITHOUT ROWID`, MySQL engine and
    /// charset, PostgreSQL partitioning, MongoDB collection options).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

fn default_kind() -> String {
    "table".to_string()
}

impl TableSchema {
    /// A table named `name` with `columns` and nothing else: no key (rows
    /// unordered), constraint, index, foreign key or definition.
    pub fn with_columns(name: TableName, columns: Vec<Column>) -> Self {
        TableSchema {
            name,
            kind: default_kind(),
            columns,
            primary_key: Vec::new(),
            row_key: RowKey::None,
            constraints: Vec::new(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            ddl: None,
            auto_increment: None,
            comment: None,
            extra: BTreeMap::new(),
        }
    }

    /// The [`kind`](Self::kind) of PostgreSQL's large objects, kept as one
    /// table-like stream (`pg_catalog.pg_largeobject`: object id, part
    /// number, bytes) so that backups, diffs, drills and exports treat
    /// them as rows. Only PostgreSQL can hold them.
    pub const LARGE_OBJECTS: &'static str = "large_objects";

    /// Whether this is PostgreSQL's large objects rather than a table.
    pub fn is_large_objects(&self) -> bool {
        self.kind == Self::LARGE_OBJECTS
    }

    /// [`extra`](Self::extra) key: the table is the storage of a virtual
    /// table (SQLite's full-text and R*Tree tables keep their index in
    /// ordinary "shadow" tables), whose name is the value. Its rows mean
    /// something only to that virtual table, in the snapshot's own engine.
    pub const SHADOW_OF: &'static str = "shadow_of";

    /// The virtual table this table is the storage of, if it is one.
    pub fn shadow_of(&self) -> Option<&str> {
        self.extra.get(Self::SHADOW_OF).and_then(|v| v.as_str())
    }

    /// The name a table selection chooses this table by: its own, or for
    /// the storage of a virtual table, the virtual table's (its storage
    /// comes and goes with it).
    pub fn chosen_by(&self) -> TableName {
        match self.shadow_of() {
            Some(owner) => TableName {
                schema: self.name.schema.clone(),
                name: owner.to_string(),
            },
            None => self.name.clone(),
        }
    }

    /// Whether only the snapshot's own engine can hold this: PostgreSQL's
    /// large objects, and the storage of a virtual table. A restore into
    /// another engine leaves it out and says so.
    pub fn is_engine_storage(&self) -> bool {
        self.is_large_objects() || self.shadow_of().is_some()
    }

    /// The columns whose values the row data carries, in row order.
    pub fn stored_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.is_stored_in_rows())
    }

    /// Positions (in row order) of the row key columns, or `None` when the
    /// table has no key or a key column is not stored.
    pub fn key_positions(&self) -> Option<Vec<usize>> {
        let RowKey::Columns { columns } = &self.row_key else {
            return None;
        };
        let stored: Vec<&str> = self.stored_columns().map(|c| c.name.as_str()).collect();
        columns
            .iter()
            .map(|k| stored.iter().position(|c| c == k))
            .collect()
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column named `name`, or else the one column whose name differs
    /// from it only in case (none when several do): how SQLite and MySQL,
    /// and PostgreSQL for an unquoted name, find a column.
    pub fn column_folded(&self, name: &str) -> Option<&Column> {
        self.column(name).or_else(|| {
            let mut alike = self
                .columns
                .iter()
                .filter(|c| c.name.eq_ignore_ascii_case(name));
            match (alike.next(), alike.next()) {
                (Some(c), None) => Some(c),
                _ => None,
            }
        })
    }
}

/// Anything in a database that is not a table: views, triggers,
/// sequences, functions, types, extensions, events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaObject {
    /// `view`, `trigger`, `sequence`, `function`, `procedure`, `type`,
    /// `domain`, `extension`, `event`, `materialized_view`, ...
    pub kind: String,
    /// The object's name (schema-qualified where the engine has schemas).
    pub name: TableName,
    /// The engine's DDL that recreates it.
    pub ddl: String,
    /// The table it belongs to (triggers), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableName>,
    /// Engine-specific details (sequence value, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The schema of a whole database as captured at backup time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatabaseSchema {
    /// The engine.
    pub engine: Engine,
    /// Tables (and collections) captured, in the order the engine listed
    /// them.
    pub tables: Vec<TableSchema>,
    /// Non-table objects, in an order that recreates them (dependencies
    /// first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<SchemaObject>,
    /// Database-level settings (SQLite `user_version`, `application_id`,
    /// encoding; PostgreSQL extensions; MySQL charset).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, serde_json::Value>,
}

impl DatabaseSchema {
    /// The table named `name`.
    pub fn table(&self, name: &TableName) -> Option<&TableSchema> {
        self.tables.iter().find(|t| &t.name == name)
    }

    /// The number the source would have given the next row of `table`, as
    /// the snapshot recorded its counter: MySQL's `AUTO_INCREMENT`,
    /// SQLite's `sqlite_sequence`, or a PostgreSQL sequence owned by one
    /// of its columns (its last value, and whether that was taken). A
    /// restore into another engine moves the table's counter at least
    /// there: the numbers of rows deleted before the backup are not given
    /// again (an issue number in an e-mail would name another issue).
    pub fn next_number(&self, table: &TableSchema) -> Option<i64> {
        let sequences = self
            .objects
            .iter()
            .filter(|o| {
                matches!(o.kind.as_str(), "sequence" | "identity_sequence")
                    && o.table.as_ref() == Some(&table.name)
            })
            .filter_map(|o| {
                let last = o.extra.get("last_value")?.as_i64()?;
                let called = o.extra.get("is_called")?.as_bool()?;
                Some(if called { last.saturating_add(1) } else { last })
            });
        table.auto_increment.into_iter().chain(sequences).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tables_next_number_is_its_counters() {
        let name = TableName::qualified("public", "issues");
        let mut schema = DatabaseSchema {
            engine: Engine::POSTGRES,
            tables: vec![TableSchema::with_columns(name.clone(), Vec::new())],
            objects: Vec::new(),
            settings: BTreeMap::new(),
        };
        assert_eq!(schema.next_number(&schema.tables[0]), None);
        let mut seq = SchemaObject {
            kind: "sequence".into(),
            name: TableName::qualified("public", "issues_id_seq"),
            ddl: String::new(),
            table: Some(name),
            extra: BTreeMap::new(),
        };
        seq.extra
            .insert("last_value".into(), serde_json::json!(226));
        seq.extra
            .insert("is_called".into(), serde_json::json!(true));
        schema.objects.push(seq);
        assert_eq!(schema.next_number(&schema.tables[0]), Some(227));
        schema.tables[0].auto_increment = Some(300);
        assert_eq!(schema.next_number(&schema.tables[0]), Some(300));
    }

    #[test]
    fn engines_are_named_in_manifests_as_before() {
        for (e, name) in [
            (Engine::SQLITE, "sqlite"),
            (Engine::POSTGRES, "postgres"),
            (Engine::MYSQL, "mysql"),
            (Engine::MONGODB, "mongodb"),
        ] {
            let json = serde_json::to_string(&e).expect("serializes");
            assert_eq!(json, format!("\"{name}\""));
            let back: Engine = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, e);
            assert_eq!(e.to_string(), name);
        }
        let duck: Engine = serde_json::from_str("\"duckdb\"").expect("another engine");
        assert_eq!(duck, Engine::named("duckdb"));
        assert_eq!(
            serde_json::from_str::<Engine>("\"duckdb\"").ok(),
            Some(duck)
        );
        for bad in ["\"\"", "\"Postgres\"", "\"pg sql\"", "7"] {
            assert!(serde_json::from_str::<Engine>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_positions_skip_generated_columns() {
        let mut g = Column::new(
            "g",
            "int",
            PortableType::Int {
                bits: 32,
                unsigned: false,
            },
        );
        g.generated = Some(Generated {
            expression: "a+1".into(),
            stored: true,
        });
        let t = TableSchema {
            name: TableName::new("t"),
            kind: "table".into(),
            columns: vec![
                Column::new(
                    "a",
                    "int",
                    PortableType::Int {
                        bits: 32,
                        unsigned: false,
                    },
                ),
                g,
                Column::new(
                    "b",
                    "text",
                    PortableType::Text {
                        max_len: None,
                        fixed: false,
                    },
                ),
            ],
            primary_key: vec!["b".into()],
            row_key: RowKey::Columns {
                columns: vec!["b".into()],
            },
            constraints: vec![],
            indexes: vec![],
            foreign_keys: vec![],
            ddl: None,
            auto_increment: None,
            comment: None,
            extra: BTreeMap::new(),
        };
        assert_eq!(t.key_positions(), Some(vec![1]));
        let json = serde_json::to_string(&t).expect("serialize");
        let back: TableSchema = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, t);
    }

    #[test]
    fn table_name_parse() {
        assert_eq!(TableName::parse("public.users").to_string(), "public.users");
        assert_eq!(TableName::parse("users").schema, None);
    }
}
