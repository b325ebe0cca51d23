//! `tresor check [--read-data]`.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::CheckArgs;
use crate::context::Context;
use crate::exit::code;
use crate::output::bytes;

pub async fn run(ctx: &Context, args: &CheckArgs) -> Result<ExitCode> {
    let repo = ctx.open_repo().await?;
    let outcome = tresor_ops::check(&repo, args.read_data).await?;
    if ctx.global.json {
        super::print_json(&outcome)?;
    } else {
        let r = &outcome.report;
        if !ctx.global.quiet {
            outln!(
                "checked {} snapshots, {} index files, {} packs, {} blobs{}",
                outcome.snapshots,
                r.index_files,
                r.packs,
                r.blobs,
                if args.read_data {
                    format!("; read {} packs ({})", r.packs_read, bytes(r.bytes_read))
                } else {
                    String::new()
                }
            );
            for w in &r.warnings {
                outln!("warning: {w}");
            }
        }
        for e in r.errors.iter().chain(&outcome.errors) {
            eprintln!("error: {e}");
        }
        for d in &r.damaged_packs {
            eprintln!(
                "damaged pack {}: {} ({} blobs affected)",
                d.pack,
                d.reason,
                d.blobs.len()
            );
        }
        for s in &outcome.damaged_snapshots {
            eprintln!(
                "snapshot {} of {} ({}) cannot be fully restored: {}",
                &s.id[..8.min(s.id.len())],
                s.source,
                s.time.format("%Y-%m-%d %H:%M"),
                if s.tables.is_empty() {
                    "its schema is damaged".to_string()
                } else {
                    format!("tables {}", s.tables.join(", "))
                }
            );
        }
        if outcome.is_ok() && !ctx.global.quiet {
            outln!("no errors were found");
        } else if !outcome.is_ok() {
            eprintln!(
                "  try: restore from another snapshot; `tresor forget ID --prune` removes the damaged ones"
            );
        }
    }
    Ok(if outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(code::DAMAGED)
    })
}
