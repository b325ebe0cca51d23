//! `tresor snapshots`: list snapshots.

use std::process::ExitCode;

use anyhow::Result;
use tresor_ops::{Snapshot, list_snapshots};

use crate::cli::SnapshotsArgs;
use crate::context::Context;
use crate::output::{bytes, table};

pub async fn run(ctx: &Context, args: &SnapshotsArgs) -> Result<ExitCode> {
    let repo = ctx.open_repo().await?;
    let all = list_snapshots(&repo).await?;
    let owners = ctx.owners();
    // a URL or path names its database however it is spelled
    let identity = args
        .source
        .as_deref()
        .filter(|src| ctx.config.source(src).is_none())
        .map(|src| ctx.engines.identity(src));
    let shown: Vec<_> = all
        .iter()
        .filter(|s| {
            args.source.as_deref().is_none_or(|src| {
                s.source.name.as_deref() == Some(src)
                    || s.source.url == src
                    || owners.owner_of(s.source.name.as_deref(), &s.source.url) == Some(src)
                    || identity
                        .as_ref()
                        .is_some_and(|i| *i == ctx.engines.identity(&s.source.url))
            })
        })
        .filter(|s| {
            args.tag
                .as_deref()
                .is_none_or(|t| s.tags.iter().any(|x| x == t))
        })
        .collect();
    if ctx.global.json {
        let v: Vec<serde_json::Value> = shown
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["id"] = s.id.clone().into();
                v
            })
            .collect();
        return super::print_json(&v).map(|()| ExitCode::SUCCESS);
    }
    if shown.is_empty() {
        if !ctx.global.quiet {
            outln!("no snapshots");
        }
        return super::ok();
    }
    let (backups, safety): (Vec<&&Snapshot>, Vec<&&Snapshot>) =
        shown.iter().partition(|s| s.trigger.is_backup());
    if !backups.is_empty() {
        table(&listing(&backups));
    }
    if !safety.is_empty() {
        if !backups.is_empty() {
            outln!();
        }
        outln!(
            "safety snapshots (taken by restores and guards; `latest` never chooses them, \
             `latest:safety` does):"
        );
        table(&listing(&safety));
    }
    outln!(
        "{} snapshots ({} backups, {} safety)",
        shown.len(),
        backups.len(),
        safety.len()
    );
    super::ok()
}

fn listing(snapshots: &[&&Snapshot]) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "ID".to_string(),
        "Time".into(),
        "Source".into(),
        "Tables".into(),
        "Rows".into(),
        "Size".into(),
        "Added".into(),
        "Trigger".into(),
        "Tags / reason".into(),
    ]];
    for s in snapshots {
        let mut note = s.tags.join(",");
        if let Some(r) = &s.reason {
            if !note.is_empty() {
                note.push(' ');
            }
            note.push_str(r);
        }
        rows.push(vec![
            s.short_id().to_string(),
            s.time
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            s.source
                .name
                .clone()
                .unwrap_or_else(|| s.source.url.clone()),
            s.totals.tables.to_string(),
            s.totals.rows.to_string(),
            bytes(s.totals.bytes),
            bytes(s.totals.added_bytes),
            match &s.copied_from {
                Some(c) => format!(
                    "{} (copy {})",
                    s.trigger.as_str(),
                    c.time.with_timezone(&chrono::Local).format("%Y-%m-%d")
                ),
                None => s.trigger.as_str().to_string(),
            },
            note,
        ]);
    }
    rows
}
