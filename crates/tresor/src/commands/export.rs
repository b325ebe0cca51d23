//! `tresor export SNAPSHOT -o FILE`: a portable archive.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use tresor_archive::ArchiveFormat as Format;
use tresor_core::TableFilter;
use tresor_ops::{export_snapshot, format_for, list_snapshots};

use crate::cli::{ArchiveFormat, ExportArgs};
use crate::context::Context;
use crate::exit::UserError;

/// The tables a restore or an export of `snapshot` takes: a group's (as
/// the snapshot's source, else `target`, defines it) plus `tables`, minus
/// `exclude`.
pub fn table_selection(
    ctx: &Context,
    snapshot: &tresor_ops::Snapshot,
    group: Option<&str>,
    tables: &[String],
    exclude: &[String],
    target: Option<&str>,
) -> Result<TableFilter> {
    let mut include = tables.to_vec();
    if let Some(g) = group {
        let owners = ctx.owners();
        let owner = owners.owner_of(snapshot.source.name.as_deref(), &snapshot.source.url);
        include.extend(ctx.config.group_tables(g, [owner, target])?);
    }
    Ok(TableFilter::new(&include, exclude).map_err(|e| {
        UserError::usage(
            e.to_string(),
            "table patterns are globs such as users, user_*",
        )
    })?)
}

pub async fn run(ctx: &Context, args: &ExportArgs) -> Result<ExitCode> {
    let repo = ctx.open_repo().await?;
    let all = list_snapshots(&repo).await?;
    let snapshot = ctx.resolve(&all, &args.snapshot)?.clone();
    let filter = table_selection(
        ctx,
        &snapshot,
        args.group.as_deref(),
        &args.tables,
        &args.exclude,
        None,
    )?;
    // a directory: the file is named by [export] file-name, in local time
    let into_dir = args.output.is_dir() || args.output.as_os_str().to_string_lossy().ends_with('/');
    let format = match args.format {
        Some(ArchiveFormat::Zip) => Format::Zip,
        Some(ArchiveFormat::TarZst) => Format::TarZst,
        None if into_dir => Format::Zip,
        None => format_for(&args.output),
    };
    let output = if into_dir {
        args.output.join(tresor_ops::archive_file_name(
            &ctx.config.export.file_name,
            &snapshot,
            &chrono::Local,
            format.extension(),
        ))
    } else {
        args.output.clone()
    };
    let args = &ExportArgs {
        output,
        ..args.clone()
    };
    let to_stdout = args.output.as_os_str() == "-";
    let summary = if to_stdout {
        let out = std::io::BufWriter::new(std::io::stdout());
        let (mut out, summary) = export_snapshot(&repo, &snapshot, &filter, format, out).await?;
        out.flush()?;
        summary
    } else {
        // Write next to the destination and rename at the end, so a failed
        // export never leaves a truncated archive under the final name.
        let dir = args
            .output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let tmp = tempfile_in(dir)?;
        let file = tmp
            .reopen()
            .context("cannot open the temporary export file")?;
        let out = std::io::BufWriter::with_capacity(1 << 20, file);
        let (out, summary) = export_snapshot(&repo, &snapshot, &filter, format, out).await?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        tmp.persist(&args.output)
            .with_context(|| format!("cannot write {}", args.output.display()))?;
        summary
    };
    if ctx.global.json {
        if !to_stdout {
            super::print_json(&summary)?;
        }
    } else if !ctx.global.quiet && !to_stdout {
        let rows: u64 = summary.tables.iter().map(|(_, n)| n).sum();
        let size = std::fs::metadata(&args.output)
            .map(|m| m.len())
            .unwrap_or(0);
        outln!(
            "exported snapshot {} to {} ({} tables, {rows} rows, {})",
            snapshot.short_id(),
            args.output.display(),
            summary.tables.len(),
            crate::output::bytes(size)
        );
    }
    super::ok()
}

fn tempfile_in(dir: &std::path::Path) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".tresor-export-")
        .tempfile_in(dir)
        .map_err(|e| {
            let message = format!("cannot create a file in {}: {e}", dir.display());
            if e.kind() == std::io::ErrorKind::NotFound {
                crate::exit::UserError::not_found(
                    message,
                    "the directory does not exist: create it, or give -o a path in one that does",
                )
            } else {
                crate::exit::UserError::usage(
                    message,
                    "give -o a path in a directory you can write to (or -o - for stdout)",
                )
            }
            .into()
        })
}
