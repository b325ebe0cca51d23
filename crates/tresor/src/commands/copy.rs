//! `tresor copy --from-repo A [SNAPSHOT...]`: snapshots of A into the
//! repository (--repo), under the same ids.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use tresor_ops::{CopySelection, NoProgress, Progress, copy_snapshots, pending_copies};

use crate::cli::CopyArgs;
use crate::context::Context;
use crate::output::{Bars, bytes};

pub async fn run(ctx: &Context, args: &CopyArgs) -> Result<ExitCode> {
    let from = ctx
        .open_from_repo(&args.from_repo, args.from.from_password_file.as_deref())
        .await?;
    let to = ctx.open_repo().await.with_context(|| {
        format!(
            "cannot open the repository to copy to ({})",
            ctx.storage()
                .map(|s| tresor_core::redact_url(s.location()))
                .unwrap_or_default()
        )
    })?;
    let select = CopySelection {
        snapshots: args.snapshots.clone(),
        source: args.source.clone(),
        tags: args.tags.clone(),
    };
    if args.dry_run {
        let pending = pending_copies(&from, &to, &select).await?;
        if ctx.global.json {
            let v: Vec<serde_json::Value> = pending
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "id": s.id, "source": s.source.key(), "time": s.time,
                    })
                })
                .collect();
            super::print_json(&serde_json::json!({ "dry_run": true, "pending": v }))?;
        } else if !ctx.global.quiet {
            for s in &pending {
                println!(
                    "would copy {} {} {}",
                    s.short_id(),
                    s.source.key(),
                    s.time.format("%Y-%m-%d %H:%M:%S")
                );
            }
            println!(
                "{} snapshots would be copied (dry run: nothing was written)",
                pending.len()
            );
        }
        return super::ok();
    }
    let bars = ctx.progress_enabled().then(Bars::new);
    let progress: &dyn Progress = match &bars {
        Some(b) => b,
        None => &NoProgress,
    };
    let report = copy_snapshots(&from, &to, &select, progress).await;
    if let Some(b) = &bars {
        b.finish();
    }
    let report = report?;
    if ctx.global.json {
        return super::print_json(&report).map(|()| ExitCode::SUCCESS);
    }
    if !ctx.global.quiet {
        for c in &report.copied {
            println!(
                "copied  {}  {}  {}  ({} blobs, {})",
                &c.id[..8],
                c.time.format("%Y-%m-%d %H:%M:%S"),
                c.source,
                c.blobs_sent,
                bytes(c.bytes_sent)
            );
        }
        for id in &report.skipped {
            println!("skipped {}  (already in the destination)", &id[..8]);
        }
        println!(
            "{} snapshots copied, {} skipped; {} blobs sent ({}), {} already present{}",
            report.copied.len(),
            report.skipped.len(),
            report.blobs_sent,
            bytes(report.bytes_sent),
            report.blobs_present,
            if report.shared_ids || report.copied.is_empty() {
                ""
            } else {
                " (the repositories name blobs differently: every blob was read; \
                 `tresor init --copy-ids-from` makes a destination that needs only the missing ones)"
            }
        );
    }
    super::ok()
}
