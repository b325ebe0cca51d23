//! The commit through temporary collections (indexes, swap, a check of
//! the options the swap kept) and the views made after the data.

use mongodb::bson::raw::RawDocumentBuf;
use mongodb::bson::{Document, doc};
use tresor_core::{RestoreMode, SourceError};

use super::session::{MongoSession, run};
use super::swap_in;
use crate::catalog::{self};
use crate::error::{bson_error, mongo_error};

impl MongoSession {
    /// Creates the views of a whole-database restore.
    pub(super) async fn restore_views(&mut self) -> Result<(), SourceError> {
        if !self.whole_database || self.views.is_empty() {
            return Ok(());
        }
        let current = catalog::list_collections(&self.conn.db).await?;
        for v in &self.views {
            let name = &v.name.name;
            match current.iter().find(|c| &c.name == name) {
                Some(c) if !c.is_view() => {
                    self.warnings.push(format!(
                        "view {name} not restored: a collection of that name exists"
                    ));
                    continue;
                }
                Some(_) if self.mode == RestoreMode::Merge => continue,
                Some(_) => {
                    self.conn
                        .db
                        .collection::<Document>(name)
                        .drop()
                        .await
                        .map_err(|e| mongo_error(format!("cannot replace view {name}"), e))?;
                }
                None => {}
            }
            let json: serde_json::Value = serde_json::from_str(&v.ddl).map_err(|e| {
                SourceError::data(format!("view {name}: its definition is not json: {e}"))
            })?;
            let cmd = catalog::from_json(&json, &format!("view {name}"))?;
            run(&self.conn.db, cmd, None)
                .await
                .map_err(|e| e.context(format!("cannot create view {name}")))?;
        }
        Ok(())
    }

    /// Drops the collections the snapshot lacks, after the commit; one
    /// that cannot be dropped stays, with a warning naming it.
    pub(super) async fn drop_extra(&mut self) {
        for name in std::mem::take(&mut self.drop) {
            if let Err(e) = self.conn.db.collection::<Document>(&name).drop().await {
                self.warnings.push(format!(
                    "collection {name}, which the snapshot lacks, could not be dropped: {e}"
                ));
            }
        }
    }

    pub(super) async fn commit_swap(&mut self) -> Result<(), SourceError> {
        self.build_indexes().await?;
        // renaming over a collection drops what it holds: the deploy-safe
        // restore looks once more
        if self.only_missing {
            let holding = super::session::holding_documents(
                &self.conn.db,
                self.planned.iter().map(|p| p.name.as_str()),
            )
            .await?;
            if !holding.is_empty() {
                return Err(tresor_core::tables_hold_rows(&holding));
            }
        }
        for p in &self.planned {
            swap_in(&self.conn.client, self.conn.db.name(), &p.tmp, &p.name).await?;
        }
        self.check_swapped_options().await
    }

    /// A collection keeps its options when renamed on mongod; on a server
    /// that loses them (SecantusDB does), the validation options are set
    /// again with `collMod`, and whatever still differs gets a warning per
    /// collection.
    async fn check_swapped_options(&mut self) -> Result<(), SourceError> {
        let now = catalog::list_collections(&self.conn.db).await?;
        let mut modded = false;
        for p in &self.planned {
            let expected = match (&p.existing, self.mode) {
                (Some(e), RestoreMode::Merge) => e.info.options.clone(),
                _ => Document::try_from(catalog::options_of(&p.table)?.as_ref())
                    .map_err(|e| bson_error("collection options", e))?,
            };
            let actual = now.iter().find(|c| c.name == p.name).map(|c| &c.options);
            if actual == Some(&expected) {
                continue;
            }
            let mut cmd = doc! { "collMod": p.name.as_str() };
            for key in ["validator", "validationLevel", "validationAction"] {
                if let Some(v) = expected.get(key) {
                    cmd.insert(key, v.clone());
                }
            }
            if cmd.len() > 1 {
                let raw =
                    RawDocumentBuf::try_from(&cmd).map_err(|e| bson_error("collMod command", e))?;
                // a server that refuses is reported below, with the rest
                if run(&self.conn.db, raw, None).await.is_ok() {
                    modded = true;
                }
            }
        }
        let now = if modded {
            catalog::list_collections(&self.conn.db).await?
        } else {
            now
        };
        for p in &self.planned {
            let expected = match (&p.existing, self.mode) {
                (Some(e), RestoreMode::Merge) => catalog::to_json(&e.info.options)?,
                _ => p
                    .table
                    .extra
                    .get("options")
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({})),
            };
            let actual = match now.iter().find(|c| c.name == p.name) {
                Some(c) => catalog::to_json(&c.options)?,
                None => serde_json::Value::Null,
            };
            if actual != expected {
                self.warnings.push(format!(
                    "collection {}: the server reports options {actual} after the swap, not \
                     {expected}",
                    p.name
                ));
            }
        }
        Ok(())
    }
}
