//! `tresor import FILE`: an export archive back into a snapshot.

use std::process::ExitCode;

use anyhow::Result;
use tresor_ops::{ImportOptions, import_archive};

use crate::cli::ImportArgs;
use crate::context::Context;
use crate::exit::UserError;
use crate::output::bytes;

pub async fn run(ctx: &Context, args: &ImportArgs) -> Result<ExitCode> {
    if !args.file.is_file() {
        return Err(UserError::not_found(
            format!("no file {}", args.file.display()),
            "give the path of a .zip or .tar.zst made by `tresor export`",
        )
        .into());
    }
    let repo = ctx.open_repo().await?;
    let options = ImportOptions {
        tags: args.tags.clone(),
        ..ImportOptions::default()
    };
    let snapshot = import_archive(&repo, args.file.clone(), &options).await?;
    if ctx.global.json {
        let mut v = serde_json::to_value(&snapshot)?;
        v["id"] = snapshot.id.into();
        super::print_json(&v)?;
    } else if !ctx.global.quiet {
        outln!(
            "imported {} as snapshot {}: {} tables, {} rows, {} added",
            args.file.display(),
            snapshot.short_id(),
            snapshot.totals.tables,
            snapshot.totals.rows,
            bytes(snapshot.totals.added_bytes)
        );
    }
    super::ok()
}
