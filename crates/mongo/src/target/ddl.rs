//! Collections and indexes: the temporary twins of planned collections,
//! and their indexes.

use mongodb::bson::raw::RawDocumentBuf;
use tresor_core::{RestoreMode, SourceError};

use super::load::copy_documents;
use super::session::{MongoSession, run};
use crate::catalog::{self};
use crate::error::bson_error;

impl MongoSession {
    pub(super) async fn prepare_tmp(&self, i: usize) -> Result<(), SourceError> {
        let p = &self.planned[i];
        let db = &self.conn.db;
        match (&p.existing, self.mode) {
            (Some(e), RestoreMode::Merge) => {
                let opts = RawDocumentBuf::try_from(&e.info.options)
                    .map_err(|err| bson_error("collection options", err))?;
                run(db, catalog::create_command(&p.tmp, &opts)?, None)
                    .await
                    .map_err(|e| e.context(format!("cannot create a copy of {}", p.name)))?;
                copy_documents(db, &p.name, &p.tmp).await?;
            }
            _ => {
                let opts = catalog::options_of(&p.table)?;
                run(db, catalog::create_command(&p.tmp, &opts)?, None)
                    .await
                    .map_err(|e| {
                        e.context(format!(
                            "cannot create a temporary collection for {}",
                            p.name
                        ))
                    })?;
            }
        }
        Ok(())
    }

    /// Builds every planned collection's indexes on its temporary (what
    /// can fail before the swap: a unique index over duplicate values).
    pub(super) async fn build_indexes(&mut self) -> Result<(), SourceError> {
        let db = &self.conn.db;
        for p in &self.planned {
            let specs = match (&p.existing, self.mode) {
                (Some(e), RestoreMode::Merge) => e
                    .indexes
                    .iter()
                    .map(|d| RawDocumentBuf::try_from(d).map_err(|e| bson_error("index", e)))
                    .collect::<Result<Vec<_>, _>>()?,
                _ => catalog::index_specs(&p.table)?,
            };
            if let Some(cmd) = catalog::create_indexes_command(&p.tmp, &specs) {
                run(db, cmd, None)
                    .await
                    .map_err(|e| e.context(format!("cannot build the indexes of {}", p.name)))?;
            }
        }
        Ok(())
    }
}
