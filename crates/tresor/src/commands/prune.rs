//! `tresor prune`: garbage collection under an exclusive lock.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::PruneArgs;
use crate::context::Context;
use crate::output::bytes;

pub async fn run(ctx: &Context, args: &PruneArgs) -> Result<ExitCode> {
    let repo = ctx.open_repo().await?;
    let report = tresor_ops::prune(&repo, args.dry_run).await?;
    if ctx.global.json {
        super::print_json(&report)?;
    } else if !ctx.global.quiet {
        let verb = if report.dry_run { "would" } else { "did" };
        outln!(
            "prune {verb}: delete {} packs, repack {} ({} blobs into {} new packs), remove {} leftover packs of interrupted backups",
            report.packs_deleted,
            report.packs_repacked,
            report.blobs_repacked,
            report.packs_written,
            report.unreferenced_packs_deleted
        );
        outln!(
            "{} {}",
            if report.dry_run {
                "would free"
            } else {
                "freed"
            },
            bytes(report.bytes_freed)
        );
        if !report.locked.is_empty() {
            outln!(
                "kept {} object(s) still under object lock:",
                report.locked.len()
            );
            for l in &report.locked {
                outln!("  {l}");
            }
        }
        if report.temp_files_removed > 0 {
            outln!(
                "{} {} temporary file(s) left by interrupted writes",
                if report.dry_run {
                    "would remove"
                } else {
                    "removed"
                },
                report.temp_files_removed
            );
        }
    }
    super::ok()
}
