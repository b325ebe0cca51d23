//! Loading rows: multi-row `INSERT`s with bound parameters, into a work
//! table in its own transaction or into an existing table in the
//! restore's transaction.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Statement, Value as My};
use tresor_core::{
    AppForm, ErrorKind, PortableType, RestoreMode, RowKey, RowReceiver, SourceError, TableSchema,
    Value, ValueChange, ValueChanges, convert::portable_of, hex_text, is_negative_zero,
};

use crate::convert;
use crate::error::Context;
use crate::sql::quote;
use crate::url::SQL_MODE;

use super::session::{MysqlSession, Route};

/// Most placeholders MySQL accepts in one statement.
const MAX_PLACEHOLDERS: usize = 65_535;
/// Rows per `INSERT` statement at most.
const MAX_ROWS_PER_INSERT: usize = 512;
/// Bytes of parameters per `INSERT` statement (below the 16 MiB default
/// `max_allowed_packet` of MariaDB).
const MAX_INSERT_BYTES: usize = 8 << 20;

/// Builds and runs multi-row `INSERT`s with bound parameters.
///
/// Full batches reuse one prepared statement per table; a shorter batch (the
/// last one, or one cut early by [`MAX_INSERT_BYTES`]) gets a statement of its
/// own that is closed right after it ran. Nothing is left in the connection's
/// statement cache, so memory does not grow with the number of tables.
struct Inserter {
    table: String,
    /// The table as the user knows it (not its work name), for messages.
    label: String,
    columns: Vec<String>,
    /// Per column, what the values it cannot hold as they are need.
    facts: Vec<ColumnFacts>,
    suffix: String,
    params: Vec<My>,
    rows: usize,
    bytes: usize,
    max_rows: usize,
    full: Option<Statement>,
    /// Positions of `ENUM` columns that have no `''` member.
    enums: Vec<usize>,
    /// Empty strings for those columns in the rows not yet sent.
    error_values: usize,
    /// In a merge, the positions of the key columns: `ON DUPLICATE KEY
    /// UPDATE` takes any unique key, so a row whose unique value another
    /// row of the target holds under another key would update that row
    /// instead of going in. After each statement the rows' keys are
    /// counted in the table, and one missing fails the restore, as the
    /// other engines' merges fail on such a row.
    merge_keys: Vec<usize>,
    /// Those columns' values for the rows not yet sent.
    sent_keys: Vec<My>,
}

/// What [`Inserter::push`] needs to know of a column for the values it
/// writes in another form.
struct ColumnFacts {
    name: String,
    /// Whether it takes NULL.
    nullable: bool,
    /// A floating-point column (where MariaDB stores `-0` as `0`).
    float: bool,
    /// SQLite's untyped column in a table this restore made (its type is
    /// `longtext`): a blob there is written as its hex text.
    untyped: bool,
    /// What an existing column keeps of values it may keep less of.
    keeps: Option<tresor_core::Keeps>,
    /// The form an existing column keeps a kind of value in (a UUID as
    /// its 32 hex digits in a `char(32)`, an interval as microseconds in
    /// a `bigint`).
    form: Option<AppForm>,
    /// A date or date-time column: an integer or text there (SQLite keeps
    /// an application's instants so) is written as the date or instant it
    /// stands for.
    dated: Option<Dated>,
}

/// Whether date-time text has what MySQL and MariaDB refuse in one: a `T`
/// between date and time, or a zone (`Z`, `+02:00`).
fn zoned(text: &str) -> bool {
    let t = text.trim();
    t.get(10..11) == Some("T")
        || t.ends_with(['Z', 'z'])
        || t.get(19..).is_some_and(|rest| rest.contains(['+', '-']))
}

/// What an integer or text in a snapshot's date or date-time column is
/// written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dated {
    Date,
    Instant,
}

impl Dated {
    fn of(t: &PortableType) -> Option<Dated> {
        match t {
            PortableType::Date => Some(Dated::Date),
            PortableType::Timestamp | PortableType::TimestampTz => Some(Dated::Instant),
            _ => None,
        }
    }

    /// The date or instant the integer or text `v` stands for: an integer
    /// counts milliseconds or seconds since 1970 (Prisma's own engine,
    /// knex), a text's `T`, `Z` or offset (`2024-01-01T10:00:00.123+00:00`,
    /// Prisma's driver adapters), which MariaDB refuses, is read and the
    /// offset applied. `None` for other values, and for text that is no
    /// date (MySQL's zero date), which go in as they are.
    fn apply(self, v: &Value) -> Option<Value> {
        match v {
            Value::Int(_) | Value::UInt(_) => {}
            // text MariaDB reads as it is goes in so (a zero date too)
            Value::Text(t) if zoned(t) => {}
            _ => return None,
        }
        match self {
            Dated::Date => tresor_core::convert::to_date(v).map(Value::Date),
            Dated::Instant => tresor_core::convert::to_timestamp(v).map(Value::Timestamp),
        }
    }
}

/// MySQL and MariaDB hold no NaN or infinity, in floats or decimals.
const NON_FINITE: ValueChange = ValueChange {
    from: "NaN or infinity",
    to: "NULL",
    why: "mysql and mariadb have no NaN or infinity",
};

/// Whether `v` is a NaN or an infinity (a float, or a PostgreSQL
/// `numeric`).
fn non_finite(v: &Value) -> bool {
    match v {
        Value::F64(f) => !f.is_finite(),
        Value::F32(f) => !f.is_finite(),
        Value::Decimal(s) => matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity" | "+Infinity"),
        _ => false,
    }
}

/// The members of an `enum('a','it''s')` column type, unquoted.
fn enum_members(engine_type: &str) -> Option<Vec<String>> {
    let t = engine_type.trim();
    let inner = t
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("enum("))
        .and_then(|_| t[5..].strip_suffix(')'))?;
    let mut members = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.next()? != '\'' {
            return None;
        }
        let mut m = String::new();
        loop {
            match chars.next()? {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    m.push('\'');
                }
                '\'' => break,
                '\\' => m.push(chars.next()?),
                c => m.push(c),
            }
        }
        members.push(m);
        if chars.peek().is_none() {
            return Some(members);
        }
    }
}

/// The session mode for rows holding an `ENUM` column's error value (the
/// empty string MariaDB and MySQL store for an invalid value under a
/// permissive `sql_mode`): [`SQL_MODE`] without strictness, which the
/// server refuses to store it under.
const LENIENT_SQL_MODE: &str = "ALLOW_INVALID_DATES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION";

/// The temporary table a merge into a table without a key stages its rows
/// in.
const MERGE_STAGE: &str = "tresor_merge_stage";

/// The insert of the rows staged in `stage` that `table` lacks, into its
/// columns `cols`: rows compare by the bytes of every value (what a backup
/// and a preview compare, where a collation would take `'a'` for `'A'` or
/// `'a '`), duplicates counted (the nth copy of a row is added unless the
/// table has n copies), through one key per row.
pub(super) fn missing_rows(table: &str, stage: &str, cols: &[String]) -> String {
    let key = {
        let parts: Vec<String> = cols
            .iter()
            .map(|c| format!("COALESCE(CONCAT('v', HEX(CAST({c} AS BINARY))), 'n')"))
            .collect();
        format!("CONCAT_WS(',', {})", parts.join(", "))
    };
    let cols = cols.join(", ");
    format!(
        "INSERT INTO {table} ({cols}) SELECT {cols} FROM \
         (SELECT {cols}, tresor_k, ROW_NUMBER() OVER (PARTITION BY tresor_k) AS tresor_n \
         FROM (SELECT {cols}, {key} AS tresor_k FROM {stage}) AS tresor_s0) AS tresor_s \
         WHERE NOT EXISTS (SELECT 1 FROM (SELECT {key} AS tresor_k, \
         ROW_NUMBER() OVER (PARTITION BY {key}) AS tresor_n FROM {table}) AS tresor_l \
         WHERE tresor_l.tresor_k = tresor_s.tresor_k AND tresor_l.tresor_n = tresor_s.tresor_n)"
    )
}

/// Per column, the forms existing columns keep values in.
type Forms = [(String, AppForm)];

impl Inserter {
    fn new(
        table: &str,
        schema: &TableSchema,
        (merge, fresh): (bool, bool),
        (keeps, forms): (&[(String, tresor_core::Keeps)], &Forms),
    ) -> Inserter {
        let columns: Vec<String> = schema.stored_columns().map(|c| quote(&c.name)).collect();
        let keys: Vec<String> = match &schema.row_key {
            RowKey::Columns { columns } => columns.iter().map(|c| quote(c)).collect(),
            RowKey::None => Vec::new(),
        };
        let suffix = if merge {
            let updates: Vec<String> = columns
                .iter()
                .filter(|c| !keys.contains(c))
                .map(|c| format!("{c} = VALUES({c})"))
                .collect();
            match (updates.is_empty(), columns.first()) {
                (false, _) => format!(" ON DUPLICATE KEY UPDATE {}", updates.join(", ")),
                (true, Some(c)) => format!(" ON DUPLICATE KEY UPDATE {c} = {c}"),
                (true, None) => String::new(),
            }
        } else {
            String::new()
        };
        let max_rows = if columns.is_empty() {
            1
        } else {
            (MAX_PLACEHOLDERS / columns.len()).clamp(1, MAX_ROWS_PER_INSERT)
        };
        let enums = schema
            .stored_columns()
            .enumerate()
            .filter(|(_, c)| {
                enum_members(&c.engine_type).is_some_and(|m| !m.iter().any(String::is_empty))
            })
            .map(|(i, _)| i)
            .collect();
        Inserter {
            table: quote(table),
            label: schema.name.to_string(),
            facts: schema
                .stored_columns()
                .map(|c| {
                    let portable = portable_of(c);
                    ColumnFacts {
                        name: c.name.clone(),
                        nullable: c.nullable,
                        float: matches!(portable, PortableType::Float { .. }),
                        untyped: fresh && portable == PortableType::Dynamic,
                        keeps: keeps.iter().find(|(n, _)| *n == c.name).map(|(_, k)| *k),
                        form: forms.iter().find(|(n, _)| *n == c.name).map(|(_, f)| *f),
                        dated: Dated::of(&portable),
                    }
                })
                .collect(),
            columns: columns.clone(),
            suffix,
            params: Vec::new(),
            rows: 0,
            bytes: 0,
            max_rows,
            full: None,
            enums,
            error_values: 0,
            merge_keys: if merge {
                keys.iter()
                    .filter_map(|k| columns.iter().position(|c| c == k))
                    .collect()
            } else {
                Vec::new()
            },
            sent_keys: Vec::new(),
        }
    }

    fn sql(&self, rows: usize) -> String {
        let (table, columns, suffix) = (&self.table, &self.columns, &self.suffix);
        if columns.is_empty() {
            return format!("INSERT INTO {table} () VALUES (){suffix}");
        }
        let one = format!("({})", vec!["?"; columns.len()].join(","));
        let mut sql = String::with_capacity(64 + rows * (one.len() + 1));
        sql.push_str(&format!(
            "INSERT INTO {table} ({}) VALUES ",
            columns.join(",")
        ));
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&one);
        }
        sql.push_str(suffix);
        sql
    }

    async fn push(
        &mut self,
        conn: &mut Conn,
        row: tresor_core::Row,
        changes: &mut ValueChanges,
    ) -> Result<(), SourceError> {
        if row.len() != self.columns.len() {
            return Err(SourceError::data(format!(
                "a row of table {} has {} values, expected {}",
                self.label,
                row.len(),
                self.columns.len()
            )));
        }
        for (i, mut v) in row.into_iter().enumerate() {
            let col = &self.facts[i];
            if non_finite(&v) {
                if !col.nullable {
                    return Err(ValueChanges::not_null(&self.label, &col.name, NON_FINITE));
                }
                changes.note(&self.label, &col.name, NON_FINITE)?;
                v = Value::Null;
            }
            if let Some(dated) = col.dated.and_then(|d| d.apply(&v)) {
                v = dated;
            }
            if let Some((converted, change)) = col.form.and_then(|f| f.apply(&v)) {
                if let Some(change) = change {
                    changes.note(&self.label, &col.name, change)?;
                }
                v = converted;
            }
            if let Some(k) = col.keeps
                && k.changes(&v)
            {
                changes.note(&self.label, &col.name, k.change())?;
            }
            if col.float && is_negative_zero(&v) {
                changes.note(&self.label, &col.name, ValueChange::NEGATIVE_ZERO)?;
            }
            if let Value::Bytes(b) = &v
                && col.untyped
            {
                changes.note(&self.label, &col.name, ValueChange::BLOB_AS_HEX_TEXT)?;
                v = Value::Text(hex_text(b));
            }
            if matches!(&v, Value::Text(t) | Value::Enum(t) if t.is_empty())
                && self.enums.contains(&i)
            {
                self.error_values += 1;
            }
            self.bytes += convert::approx_size(&v);
            let param = convert::to_mysql(v).map_err(|e| {
                let hint = e.hint().map(str::to_string);
                let e = SourceError::data(format!(
                    "table {}, column {}: {e}",
                    self.label, self.facts[i].name
                ));
                match hint {
                    Some(h) => e.with_hint(h),
                    None => e,
                }
            })?;
            if self.merge_keys.contains(&i) {
                self.sent_keys.push(param.clone());
            }
            self.params.push(param);
        }
        self.rows += 1;
        if self.rows >= self.max_rows || self.bytes >= MAX_INSERT_BYTES {
            self.flush(conn).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, conn: &mut Conn) -> Result<(), SourceError> {
        if self.rows == 0 {
            return Ok(());
        }
        let error_values = std::mem::take(&mut self.error_values);
        if error_values == 0 {
            return self.send(conn).await;
        }
        // The server stores an ENUM's error value only when not strict; it
        // then warns once per such value, and any other warning would be a
        // value changed on the way in: that fails the restore as strictness
        // would have.
        let table = self.label.clone();
        let what = || format!("cannot insert into {table}");
        conn.query_drop(format!("SET SESSION sql_mode = '{LENIENT_SQL_MODE}'"))
            .await
            .ctx(what)?;
        let sent = self.send(conn).await;
        let warnings = conn.get_warnings();
        conn.query_drop(format!("SET SESSION sql_mode = '{SQL_MODE}'"))
            .await
            .ctx(what)?;
        sent?;
        if usize::from(warnings) > error_values {
            return Err(SourceError::data(format!(
                "a value of table {} does not fit its column: the server changed {} value(s), \
                 of which only {error_values} are the enum error value (the empty string)",
                self.label, warnings
            ))
            .with_hint(
                "try: compare the target table's definition with the snapshot's (tresor show)",
            ));
        }
        Ok(())
    }

    /// Sends the rows gathered so far as one statement.
    async fn send(&mut self, conn: &mut Conn) -> Result<(), SourceError> {
        let what = || format!("cannot insert into {}", self.label);
        let params = std::mem::replace(
            &mut self.params,
            Vec::with_capacity(self.max_rows * self.columns.len()),
        );
        if params.is_empty() {
            conn.query_drop(self.sql(self.rows)).await.ctx(what)?;
        } else if self.rows == self.max_rows {
            let stmt = match self.full.take() {
                Some(stmt) => stmt,
                None => conn.prep(self.sql(self.rows)).await.ctx(what)?,
            };
            let result = conn.exec_drop(&stmt, params).await;
            self.full = Some(stmt);
            result.map_err(|e| self.named(e))?;
        } else {
            let stmt = conn.prep(self.sql(self.rows)).await.ctx(what)?;
            let result = conn.exec_drop(&stmt, params).await;
            conn.close(stmt).await.ctx(what)?;
            result.map_err(|e| self.named(e))?;
        }
        let rows = std::mem::take(&mut self.rows);
        self.bytes = 0;
        self.check_merged(conn, rows).await
    }

    /// The error of an insert, the work table the server's message may
    /// name (`for column db.__tresor_5fc6d4a3_0_ev.at`) said as the user's
    /// table.
    fn named(&self, e: mysql_async::Error) -> SourceError {
        let doing = format!("cannot insert into {}", self.label);
        let work = self.table.trim_matches('`');
        match &e {
            mysql_async::Error::Server(s) if work != self.label && s.message.contains(work) => {
                SourceError::new(
                    crate::error::error_kind(&e),
                    format!(
                        "{doing}: ERROR {} ({}): {}",
                        s.code,
                        s.state,
                        s.message.replace(work, &self.label)
                    ),
                )
            }
            _ => crate::error::engine_error(e, &doing),
        }
    }

    /// Whether every row of the statement just sent is in the table under
    /// its own key (see `merge_keys`).
    async fn check_merged(&mut self, conn: &mut Conn, rows: usize) -> Result<(), SourceError> {
        let keys = std::mem::take(&mut self.sent_keys);
        if self.merge_keys.is_empty() || rows == 0 {
            return Ok(());
        }
        let names: Vec<&str> = self
            .merge_keys
            .iter()
            .map(|i| self.columns[*i].as_str())
            .collect();
        let one = format!("({})", vec!["?"; names.len()].join(","));
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE ({}) IN ({})",
            self.table,
            names.join(", "),
            vec![one; rows].join(",")
        );
        let found: Option<u64> = conn
            .exec_first(sql, keys)
            .await
            .ctx(|| format!("cannot check the rows merged into {}", self.label))?;
        let missing = (rows as u64).saturating_sub(found.unwrap_or(0));
        if missing > 0 {
            let key: Vec<String> = names
                .iter()
                .map(|n| n.trim_matches('`').to_string())
                .collect();
            return Err(tresor_core::unique_collision(
                &self.label,
                Some(missing),
                &key,
                None,
            ));
        }
        Ok(())
    }

    /// Sends the last rows and closes the table's prepared statement.
    async fn finish(mut self, conn: &mut Conn) -> Result<(), SourceError> {
        self.flush(conn).await?;
        if let Some(stmt) = self.full.take() {
            conn.close(stmt)
                .await
                .ctx(|| format!("cannot insert into {}", self.label))?;
        }
        Ok(())
    }
}

impl MysqlSession {
    /// Loads the rows of `table`; answers how many.
    pub(super) async fn load(
        &mut self,
        table: &TableSchema,
        mut rows: RowReceiver,
    ) -> Result<u64, SourceError> {
        let name = table.name.clone();
        let (work, existing, keyed, (keeps, forms)) = match self.tables.get(&name) {
            Some(Route::Fresh { work, .. }) => {
                (work.clone(), false, true, (Vec::new(), Vec::new()))
            }
            Some(Route::Existing {
                keyed,
                keeps,
                forms,
                ..
            }) => (
                name.name.clone(),
                true,
                *keyed,
                (keeps.clone(), forms.clone()),
            ),
            None => {
                return Err(SourceError::new(
                    ErrorKind::NotFound,
                    format!("table {name} is not part of this restore"),
                ));
            }
        };
        let merge = existing && self.mode == RestoreMode::Merge;
        let conn = if existing {
            self.txn.as_mut()
        } else {
            self.ddl.as_mut()
        }
        .ok_or_else(|| SourceError::new(ErrorKind::Engine, "restore session already closed"))?;
        if !existing {
            conn.query_drop("START TRANSACTION")
                .await
                .ctx(|| format!("cannot start loading {name}"))?;
        }
        // SQLite's implicit rowid is no column in another engine
        let foreign = self.foreign;
        let keep: Vec<usize> = table
            .stored_columns()
            .enumerate()
            .filter(|(_, c)| !(foreign && c.hidden))
            .map(|(i, _)| i)
            .collect();
        let width = table.stored_columns().count();
        let visible;
        let schema = if keep.len() == width {
            table
        } else {
            let mut t = table.clone();
            t.columns.retain(|c| !c.hidden);
            visible = t;
            &visible
        };
        // a merge into a table without a primary key (the target's, as
        // PostgreSQL and SQLite decide too) adds the rows it lacks: they
        // are staged in a temporary table of the same shape first
        let missing = merge && !keyed;
        let into = if missing {
            for sql in [
                format!("DROP TEMPORARY TABLE IF EXISTS {}", quote(MERGE_STAGE)),
                format!(
                    "CREATE TEMPORARY TABLE {} LIKE {}",
                    quote(MERGE_STAGE),
                    quote(&work)
                ),
            ] {
                conn.query_drop(sql)
                    .await
                    .ctx(|| format!("cannot stage the rows of {name}"))?;
            }
            MERGE_STAGE
        } else {
            work.as_str()
        };
        let mut inserter = Inserter::new(
            into,
            schema,
            (merge && !missing, !existing),
            (&keeps, &forms),
        );
        let mut count = 0u64;
        while let Some(batch) = rows.recv().await {
            for row in batch {
                let row = if keep.len() == width {
                    row
                } else {
                    keep.iter().filter_map(|i| row.get(*i).cloned()).collect()
                };
                inserter.push(conn, row, &mut self.changes).await?;
                count += 1;
            }
        }
        inserter.finish(conn).await?;
        if missing {
            let cols: Vec<String> = schema.stored_columns().map(|c| quote(&c.name)).collect();
            for sql in [
                missing_rows(&quote(&work), &quote(MERGE_STAGE), &cols),
                format!("DROP TEMPORARY TABLE {}", quote(MERGE_STAGE)),
            ] {
                conn.query_drop(sql)
                    .await
                    .ctx(|| format!("cannot merge the rows of {name}"))?;
            }
        }
        if !existing {
            conn.query_drop("COMMIT")
                .await
                .ctx(|| format!("cannot finish loading {name}"))?;
            self.add_keys(&name).await?;
        }
        *self.rows.entry(name.to_string()).or_default() += count;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_members_are_unquoted() {
        assert_eq!(
            enum_members("enum('a','b')"),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(
            enum_members("ENUM('it''s','', 'c,d')"),
            Some(vec!["it's".to_string(), String::new(), "c,d".to_string()])
        );
        assert_eq!(enum_members("varchar(3)"), None);
        assert_eq!(enum_members("set('a')"), None);
    }
}
