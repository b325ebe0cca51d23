//! `tresor forget`: retention.

use std::process::ExitCode;

use anyhow::Result;
use tresor_ops::ForgetOptions;
use tresor_repo::RetentionPolicy;

use crate::cli::{ForgetArgs, PruneArgs};
use crate::context::Context;
use crate::exit::UserError;

pub async fn run(ctx: &Context, args: &ForgetArgs) -> Result<ExitCode> {
    let keep_within = match args.keep_within {
        Some(d) => Some(chrono::Duration::from_std(d).map_err(|_| {
            UserError::usage(
                "--keep-within is too long",
                "use a shorter duration such as 90d",
            )
        })?),
        None => None,
    };
    let policy = RetentionPolicy {
        keep_last: args.keep_last,
        keep_hourly: args.keep_hourly,
        keep_daily: args.keep_daily,
        keep_weekly: args.keep_weekly,
        keep_monthly: args.keep_monthly,
        keep_yearly: args.keep_yearly,
        keep_within,
        keep_tags: args.keep_tags.clone(),
        forget_pre_restore: args.include_safety,
    };
    let repo = ctx.open_repo().await?;
    let outcome = tresor_ops::forget(
        &repo,
        &ForgetOptions {
            policy,
            rules: tresor_ops::RetentionRules::from_config(&ctx.config, &ctx.engines)?,
            tag: args.tag.clone(),
            source: args.source.clone(),
            ids: args.snapshots.clone(),
            dry_run: args.dry_run,
        },
    )
    .await?;
    if ctx.global.json {
        super::print_json(&outcome)?;
    } else if !ctx.global.quiet {
        for (group, decisions) in &outcome.groups {
            outln!("{group}:");
            for d in decisions {
                outln!(
                    "  {} {}  {}{}",
                    if d.keep { "keep  " } else { "remove" },
                    &d.id[..8.min(d.id.len())],
                    d.time
                        .with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M:%S"),
                    if d.reasons.is_empty() {
                        String::new()
                    } else {
                        format!("  ({})", d.reasons.join(", "))
                    }
                );
            }
        }
        outln!(
            "{} {} snapshot(s)",
            if outcome.dry_run {
                "would remove"
            } else {
                "removed"
            },
            outcome.removed.len()
        );
        for l in &outcome.locked {
            outln!("kept, still under object lock: {l}");
        }
    }
    if args.prune && !args.dry_run {
        return super::prune::run(ctx, &PruneArgs { dry_run: false }).await;
    }
    super::ok()
}
