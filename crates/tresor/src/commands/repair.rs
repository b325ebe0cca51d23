//! `tresor repair index`: the index rebuilt from the packs.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;

use crate::cli::RepairCommand;
use crate::context::Context;

pub async fn run(ctx: &Context, command: &RepairCommand) -> Result<ExitCode> {
    match command {
        RepairCommand::Index => index(ctx).await,
    }
}

async fn index(ctx: &Context) -> Result<ExitCode> {
    let repo = Arc::new(ctx.open_repo_without_index().await?);
    let report = tresor_ops::repair_index(&repo).await?;
    if ctx.global.json {
        super::print_json(&report)?;
    } else if !ctx.global.quiet {
        outln!(
            "index rebuilt from {} packs: {} blobs in {} new index file(s), {} old one(s) removed",
            report.packs,
            report.blobs,
            report.index_files_written,
            report.index_files_removed
        );
        for p in &report.damaged_packs {
            outln!("left out, damaged: pack {p}");
        }
        if !report.damaged_packs.is_empty() {
            outln!("run `tresor check --read-data` to see which snapshots needed them");
        }
    }
    Ok(if report.damaged_packs.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::code::DAMAGED)
    })
}
