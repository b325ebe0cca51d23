//! Who to tell, read from the application's own database: the rows of one
//! table (or collection) that match a `TABLE: PREDICATE` filter, and one
//! column or document field of each (`users: role = 'admin'`, `email`),
//! the way an application mails the admin whose address it stores.

use tokio::sync::mpsc;
use tresor_core::{ReadOptions, RowFilter, Source, TableFilter, Value};

use crate::error::{OpsError, Result};

/// At most this many addresses are read.
pub const MAX_RECIPIENTS: usize = 100;

/// The addresses in `column` of the rows of `filter`'s table that match
/// it, de-duplicated, in the order read. A MongoDB collection's `column`
/// is a field of the document (`contact.email` a path).
///
/// # Errors
/// The table does not exist, the predicate names unknown columns, or the
/// database fails.
pub async fn read_recipients(
    source: &dyn Source,
    filter: &RowFilter,
    column: &str,
) -> Result<Vec<String>> {
    let snap = source
        .open(&ReadOptions {
            filter: TableFilter::exact(vec![filter.table.clone()]),
            ..ReadOptions::default()
        })
        .await?;
    let result = async {
        let Some(table) = snap
            .schema()
            .tables
            .iter()
            .find(|t| filter.applies_to(&t.name))
            .cloned()
        else {
            return Err(OpsError::NotFound {
                what: format!("no table {} to read recipients from", filter.table),
                hint: Some("check recipients-from in tresor.toml".into()),
            });
        };
        let bound = filter
            .predicate
            .bind(&table)
            .map_err(|e| OpsError::InvalidInput {
                what: format!("recipients-from: {e}"),
                hint: e.hint().map(str::to_string),
            })?;
        let stored: Vec<&str> = table.stored_columns().map(|c| c.name.as_str()).collect();
        let at = stored.iter().position(|c| *c == column);
        let document = stored.iter().position(|c| *c == "document");
        if at.is_none() && document.is_none() {
            return Err(OpsError::InvalidInput {
                what: format!("table {} has no column {column:?}", table.name),
                hint: Some(format!("its columns: {}", stored.join(", "))),
            });
        }
        let (tx, mut rx) = mpsc::channel::<tresor_core::RowBatch>(2);
        let collect = async {
            let mut out: Vec<String> = Vec::new();
            while let Some(batch) = rx.recv().await {
                for row in batch {
                    if out.len() >= MAX_RECIPIENTS || !bound.matches(&row) {
                        continue;
                    }
                    let value = match (at, document) {
                        (Some(i), _) => text(&row[i]),
                        (None, Some(d)) => match &row[d] {
                            Value::Document(bytes) => tresor_core::document_text(bytes, column),
                            _ => None,
                        },
                        (None, None) => None,
                    };
                    if let Some(v) = value.map(|v| v.trim().to_string())
                        && v.contains('@')
                        && !out.contains(&v)
                    {
                        out.push(v);
                    }
                }
            }
            out
        };
        let (read, out) = tokio::join!(snap.read_table(&table, tx), collect);
        read?;
        Ok(out)
    }
    .await;
    let _ = snap.close().await;
    result
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Text(s) => Some(s.clone()),
        Value::RawText(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}
