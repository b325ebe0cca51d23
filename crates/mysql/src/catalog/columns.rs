//! Columns and their portable types.

use mysql_async::Conn;
use serde_json::json;
use tresor_core::{Column, Generated, PortableType, SourceError, TableSchema};

use super::{IndexOf, req, rows, text_col};

/// The columns of the `tables`; `json_cols` are MariaDB's JSON columns.
pub(super) async fn columns(
    conn: &mut Conn,
    db: &str,
    index_of: &IndexOf,
    tables: &mut [TableSchema],
    json_cols: &[(String, String)],
) -> Result<(), SourceError> {
    for mut r in rows(
        conn,
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE, COLUMN_TYPE, \
         CHARACTER_SET_NAME, COLLATION_NAME, EXTRA, GENERATION_EXPRESSION, COLUMN_COMMENT, \
         NUMERIC_PRECISION, NUMERIC_SCALE, CHARACTER_MAXIMUM_LENGTH \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION",
        db,
    )
    .await?
    {
        let table = req(&mut r, 0);
        let Some(&i) = index_of.get(&table) else { continue };
        let name = req(&mut r, 1);
        let data_type = req(&mut r, 4).to_ascii_lowercase();
        let column_type = req(&mut r, 5);
        let charset = text_col(&mut r, 6);
        let collation = text_col(&mut r, 7);
        let extra_text = req(&mut r, 8);
        let lower_extra = extra_text.to_ascii_lowercase();
        let precision: Option<u32> = text_col(&mut r, 11).and_then(|s| s.parse().ok());
        let scale: Option<u32> = text_col(&mut r, 12).and_then(|s| s.parse().ok());
        let max_len: Option<u64> = text_col(&mut r, 13).and_then(|s| s.parse().ok());
        let is_json = data_type == "json" || json_cols.contains(&(table.clone(), name.clone()));
        let portable = portable_type(&data_type, &column_type, precision, scale, max_len, is_json);
        let mut col = Column::new(name, column_type, portable);
        col.default = text_col(&mut r, 2);
        col.nullable = req(&mut r, 3) == "YES";
        col.identity = lower_extra.contains("auto_increment");
        if lower_extra.contains("virtual generated")
            || lower_extra.contains("stored generated")
            || lower_extra.contains("persistent generated")
        {
            col.generated = Some(Generated {
                expression: req(&mut r, 9),
                stored: !lower_extra.contains("virtual"),
            });
        }
        col.comment = text_col(&mut r, 10).filter(|s| !s.is_empty());
        let table_collation = tables[i]
            .extra
            .get("collation")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        if collation.is_some() && collation != table_collation {
            col.collation = collation.clone();
        }
        col.extra.insert("data_type".to_string(), json!(data_type));
        if let Some(cs) = charset {
            col.extra.insert("charset".to_string(), json!(cs));
        }
        if let Some(c) = collation {
            col.extra.insert("collation".to_string(), json!(c));
        }
        if !extra_text.is_empty() {
            col.extra.insert("extra".to_string(), json!(extra_text));
        }
        tables[i].columns.push(col);
    }
    Ok(())
}

/// The portable type of a column.
fn portable_type(
    data_type: &str,
    column_type: &str,
    precision: Option<u32>,
    scale: Option<u32>,
    max_len: Option<u64>,
    is_json: bool,
) -> PortableType {
    let unsigned = column_type.to_ascii_lowercase().contains("unsigned");
    let int = |bits| PortableType::Int { bits, unsigned };
    if is_json {
        return PortableType::Json;
    }
    match data_type {
        "tinyint" => int(8),
        "smallint" => int(16),
        "mediumint" => int(24),
        "int" | "integer" => int(32),
        "bigint" => int(64),
        "year" => PortableType::Int {
            bits: 16,
            unsigned: false,
        },
        "float" => PortableType::Float { bits: 32 },
        "double" | "real" => PortableType::Float { bits: 64 },
        "decimal" | "numeric" => PortableType::Decimal { precision, scale },
        "bit" => PortableType::Bits {
            len: Some(precision.unwrap_or(1)),
        },
        "date" => PortableType::Date,
        "datetime" => PortableType::Timestamp,
        "timestamp" => PortableType::TimestampTz,
        "time" => PortableType::Time,
        "char" => PortableType::Text {
            max_len,
            fixed: true,
        },
        "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "set" => PortableType::Text {
            max_len,
            fixed: false,
        },
        "binary" => PortableType::Bytes {
            max_len,
            fixed: true,
        },
        "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => PortableType::Bytes {
            max_len,
            fixed: false,
        },
        "enum" => PortableType::Enum {
            labels: enum_labels(column_type),
        },
        // MariaDB 10.7's native UUID (Django's UUIDField there), read as
        // its dashed text
        "uuid" => PortableType::Uuid,
        other => PortableType::Other {
            name: other.to_string(),
        },
    }
}

/// `enum('a','it''s')` -> `["a", "it's"]`.
fn enum_labels(column_type: &str) -> Vec<String> {
    let Some(start) = column_type.find('(') else {
        return Vec::new();
    };
    let body = &column_type[start + 1..];
    let mut labels = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    label.push('\'');
                } else {
                    break;
                }
            } else {
                label.push(c);
            }
        }
        labels.push(label);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_labels_parse() {
        assert_eq!(
            enum_labels("enum('a','it''s','x,y')"),
            vec!["a".to_string(), "it's".to_string(), "x,y".to_string()]
        );
        assert!(enum_labels("int").is_empty());
    }

    #[test]
    fn portable_types() {
        assert_eq!(
            portable_type("bigint", "bigint(20) unsigned", None, None, None, false),
            PortableType::Int {
                bits: 64,
                unsigned: true
            }
        );
        assert_eq!(
            portable_type("longtext", "longtext", None, None, None, true),
            PortableType::Json
        );
        assert_eq!(
            portable_type("point", "point", None, None, None, false),
            PortableType::Other {
                name: "point".into()
            }
        );
    }
}
