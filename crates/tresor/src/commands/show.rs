//! `tresor show SNAPSHOT`: one snapshot in detail.

use std::process::ExitCode;

use anyhow::Result;
use tresor_ops::{list_snapshots, load_schema};

use crate::cli::ShowArgs;
use crate::context::Context;
use crate::output::{bytes, table};

pub async fn run(ctx: &Context, args: &ShowArgs) -> Result<ExitCode> {
    let repo = ctx.open_repo().await?;
    let all = list_snapshots(&repo).await?;
    let s = ctx.resolve(&all, &args.snapshot)?;
    if ctx.global.json {
        let schema = load_schema(&repo, s).await?;
        let mut v = serde_json::to_value(s)?;
        v["id"] = s.id.clone().into();
        v["schema"] = serde_json::to_value(&schema)?;
        return super::print_json(&v).map(|()| ExitCode::SUCCESS);
    }
    outln!("snapshot   {}", s.id);
    outln!(
        "time       {} (took {:.1}s)",
        s.time
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S %Z"),
        (s.end_time - s.time).num_milliseconds() as f64 / 1000.0
    );
    outln!(
        "source     {}{} ({} {})",
        s.source
            .name
            .as_deref()
            .map(|n| format!("{n}: "))
            .unwrap_or_default(),
        s.source.url,
        s.source.engine,
        s.source.server_version
    );
    outln!(
        "trigger    {}{}",
        s.trigger.as_str(),
        s.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    if !s.tags.is_empty() {
        outln!("tags       {}", s.tags.join(", "));
    }
    if let Some(c) = &s.copied_from {
        outln!(
            "copied     from repository {} on {}",
            &c.repository[..c.repository.len().min(8)],
            c.time
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
        );
    }
    outln!("host       {} (user {})", s.hostname, s.username);
    if let Some(v) = &s.app_version {
        outln!("app        {v}");
    }
    outln!("consistency {}", s.consistency);
    for w in &s.warnings {
        outln!("warning    {w}");
    }
    outln!(
        "totals     {} tables, {} rows, {}; {} added to the repository",
        s.totals.tables,
        s.totals.rows,
        bytes(s.totals.bytes),
        bytes(s.totals.added_bytes)
    );
    outln!();
    let with_changes = s.tables.iter().any(|t| t.changes.is_some());
    let mut header = vec![
        "Table".to_string(),
        "Rows".into(),
        "Size".into(),
        "Added".into(),
    ];
    if with_changes {
        header.extend(["Inserted".to_string(), "Updated".into(), "Deleted".into()]);
    }
    let mut rows = vec![header];
    for t in &s.tables {
        let mut r = vec![
            t.name.to_string(),
            t.rows.to_string(),
            bytes(t.bytes),
            bytes(t.added_bytes),
        ];
        if with_changes {
            let c = t.changes.unwrap_or_default();
            r.extend([
                c.inserted.to_string(),
                c.updated.to_string(),
                c.deleted.to_string(),
            ]);
        }
        rows.push(r);
    }
    table(&rows);
    super::ok()
}
