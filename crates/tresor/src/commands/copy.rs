//! `tresor copy --from-repo A [SNAPSHOT...]`: snapshots of A into the
//! repository (--repo), under the same ids; `tresor copy --offsite NAME`:
//! the repository into the config's offsite repository NAME, as the server
//! copies after each backup.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use tresor_ops::{CopySelection, NoProgress, Progress, copy_snapshots, pending_copies};

use crate::cli::CopyArgs;
use crate::context::Context;
use crate::output::{Bars, bytes};

pub async fn run(ctx: &Context, args: &CopyArgs) -> Result<ExitCode> {
    let Some(from_repo) = &args.from_repo else {
        let name = args.offsite.as_deref().unwrap_or_default();
        return offsite(ctx, name, args.dry_run).await;
    };
    let from = ctx
        .open_from_repo(from_repo, args.from.from_password_file.as_deref())
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
                outln!(
                    "would copy {} {} {}",
                    s.short_id(),
                    s.source.key(),
                    s.time.format("%Y-%m-%d %H:%M:%S")
                );
            }
            outln!(
                "{} snapshots would be copied (dry run: nothing was written)",
                pending.len()
            );
        }
        return super::ok();
    }
    let bars = ctx.progress_enabled().then(Bars::new);
    let report = copy_snapshots(&from, &to, &select, progress_of(&bars)).await;
    finish(bars);
    let report = report?;
    if ctx.global.json {
        return super::print_json(&report).map(|()| ExitCode::SUCCESS);
    }
    if !ctx.global.quiet {
        print_copied(&report.copied);
        for id in &report.skipped {
            outln!("skipped {}  (already in the destination)", &id[..8]);
        }
        outln!(
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

/// `tresor copy --offsite NAME`: [`tresor_ops::sync_offsite`] from the
/// repository into `[offsite.NAME]`.
async fn offsite(ctx: &Context, name: &str, dry_run: bool) -> Result<ExitCode> {
    let config = ctx.config.offsite.get(name).ok_or_else(|| {
        let known: Vec<&str> = ctx.config.offsite.keys().map(String::as_str).collect();
        crate::exit::UserError::not_found(
            format!("no offsite repository named {name:?} in the config"),
            if known.is_empty() {
                "add an [offsite.NAME] table to tresor.toml (docs/config.md)".to_string()
            } else {
                format!("configured: {}", known.join(", "))
            },
        )
    })?;
    let primary = ctx.open_repo().await?;
    let far = std::sync::Arc::new(
        tresor_ops::open_offsite(config)
            .await
            .with_context(|| format!("cannot open the offsite repository {name}"))?,
    );
    let rules = tresor_ops::RetentionRules::from_config(&ctx.config, &ctx.engines)?;
    if dry_run {
        let status = tresor_ops::offsite_status(&primary, &far, config, &rules).await?;
        if ctx.global.json {
            super::print_json(&serde_json::json!({ "dry_run": true, "status": status }))?;
        } else if !ctx.global.quiet {
            for p in &status.pending {
                outln!(
                    "would copy {} {} {}",
                    &p.id[..8],
                    p.source,
                    p.time.format("%Y-%m-%d %H:%M:%S")
                );
            }
            outln!(
                "{} snapshots would be copied to {name}, which holds {} (dry run: nothing was written)",
                status.pending.len(),
                status.copies
            );
        }
        return super::ok();
    }
    let bars = ctx.progress_enabled().then(Bars::new);
    let report = tresor_ops::sync_offsite(&primary, &far, config, &rules, progress_of(&bars)).await;
    finish(bars);
    let report = report?;
    if ctx.global.json {
        return super::print_json(&report).map(|()| ExitCode::SUCCESS);
    }
    if !ctx.global.quiet {
        print_copied(&report.copy.copied);
        let removed = report.forget.as_ref().map_or(0, |f| f.removed.len());
        outln!(
            "{name}: {} snapshots copied ({}), {} removed by its retention; it holds {}",
            report.copy.copied.len(),
            bytes(report.copy.bytes_sent),
            removed,
            report.status.copies
        );
    }
    super::ok()
}

/// The bars as the operation's progress (nothing without a terminal).
fn progress_of(bars: &Option<Bars>) -> &dyn Progress {
    match bars {
        Some(b) => b,
        None => &NoProgress,
    }
}

fn finish(bars: Option<Bars>) {
    if let Some(b) = bars {
        b.finish();
    }
}

/// One line per copied snapshot.
fn print_copied(copied: &[tresor_ops::CopiedSnapshot]) {
    for c in copied {
        outln!(
            "copied  {}  {}  {}  ({} blobs, {})",
            &c.id[..8],
            c.time.format("%Y-%m-%d %H:%M:%S"),
            c.source,
            c.blobs_sent,
            bytes(c.bytes_sent)
        );
    }
}
