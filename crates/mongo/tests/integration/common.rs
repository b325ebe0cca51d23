//! Helpers shared by the tests: unique database names, reading schemas,
//! comparing collections definition by definition.

use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::bail;
use mongodb::bson::doc;
use tresor_core::{Connector, DatabaseSchema, ReadOptions};
use tresor_mongo::MongoConnector;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique database name.
pub fn unique_name(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "tresor_{tag}_{}_{}_{}",
        std::process::id() % 10_000,
        nanos % 1_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The schema the source captures from `url`.
pub async fn schema_of(url: &str) -> anyhow::Result<DatabaseSchema> {
    let source = MongoConnector.source(url)?;
    let snap = source.open(&ReadOptions::default()).await?;
    let schema = snap.schema().clone();
    snap.close().await?;
    Ok(schema)
}

/// Every collection's options and indexes, and every view, compare equal
/// (index by index, as canonical Extended JSON).
pub fn same_definitions(left: &DatabaseSchema, right: &DatabaseSchema) -> anyhow::Result<()> {
    definitions_agree(left, right, true)
}

/// [`same_definitions`], optionally leaving collection options out.
pub fn definitions_agree(
    left: &DatabaseSchema,
    right: &DatabaseSchema,
    options: bool,
) -> anyhow::Result<()> {
    let mut report = Vec::new();
    let names = |s: &DatabaseSchema| {
        s.tables
            .iter()
            .map(|t| t.name.name.clone())
            .collect::<Vec<_>>()
    };
    if names(left) != names(right) {
        report.push(format!(
            "collections: {:?} vs {:?}",
            names(left),
            names(right)
        ));
    }
    for l in &left.tables {
        let Some(r) = right.table(&l.name) else {
            continue;
        };
        if options && l.extra != r.extra {
            report.push(format!(
                "collection {}: options differ:\n  {:?}\n  {:?}",
                l.name, l.extra, r.extra
            ));
        }
        let li: Vec<_> = l.indexes.iter().map(|i| (&i.name, &i.extra)).collect();
        let ri: Vec<_> = r.indexes.iter().map(|i| (&i.name, &i.extra)).collect();
        if li.len() != ri.len() {
            report.push(format!(
                "collection {}: {} indexes vs {}",
                l.name,
                li.len(),
                ri.len()
            ));
        }
        for (a, b) in li.iter().zip(&ri) {
            if a != b {
                report.push(format!(
                    "collection {}: index differs:\n  {a:?}\n  {b:?}",
                    l.name
                ));
            }
        }
    }
    let views = |s: &DatabaseSchema| {
        s.objects
            .iter()
            .map(|o| (o.kind.clone(), o.name.name.clone(), o.ddl.clone()))
            .collect::<Vec<_>>()
    };
    if views(left) != views(right) {
        report.push(format!(
            "views differ:\n  {:?}\n  {:?}",
            views(left),
            views(right)
        ));
    }
    if report.is_empty() {
        Ok(())
    } else {
        bail!("{}", report.join("\n"))
    }
}

/// Every document of a collection, as raw bytes, in `_id` order.
pub async fn raw_docs(
    client: &mongodb::Client,
    db: &str,
    coll: &str,
) -> anyhow::Result<Vec<Vec<u8>>> {
    use futures::TryStreamExt;
    let docs: Vec<mongodb::bson::RawDocumentBuf> = client
        .database(db)
        .collection::<mongodb::bson::RawDocumentBuf>(coll)
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await?
        .try_collect()
        .await?;
    Ok(docs.into_iter().map(|d| d.into_bytes()).collect())
}
