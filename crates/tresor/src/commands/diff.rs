//! `tresor diff A B` and `tresor diff A --live [SOURCE]`: what changed,
//! per table and, with `--rows`, row by row.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::{Value as Json, json};
use tresor_core::{RowChange, RowFilter, TableFilter, Value};
use tresor_ops::{ChangedRow, DiffOptions, DiffTarget, TableDiff, diff, list_snapshots};

use crate::cli::DiffArgs;
use crate::context::Context;
use crate::exit::UserError;
use crate::output::table;

pub async fn run(ctx: &Context, args: &DiffArgs) -> Result<ExitCode> {
    let tables = TableFilter::new(&args.tables, &args.exclude).map_err(|e| {
        UserError::usage(
            e.to_string(),
            "table patterns are globs such as users, user_*",
        )
    })?;
    let filters = row_filters(&args.filters)?;
    let repo = ctx.open_repo().await?;
    let all = list_snapshots(&repo).await?;
    let from = ctx.resolve(&all, &args.from)?.clone();
    let options = DiffOptions {
        tables,
        filters,
        ..DiffOptions::default()
    };
    let mut rows = RowPrinter::new(args, ctx.global.json);
    let to_label;
    let engines;
    let result = match (&args.to, &args.live) {
        (Some(to), None) => {
            let to = ctx.resolve(&all, to)?.clone();
            to_label = format!("snapshot {}", to.short_id());
            engines = (from.source.engine != to.source.engine)
                .then_some((from.source.engine, to.source.engine));
            diff(
                &repo,
                &from,
                DiffTarget::Snapshot(&to),
                &options,
                &mut |c| rows.row(&c),
            )
            .await?
        }
        (None, Some(live)) => {
            let spec = live.clone().unwrap_or_else(|| {
                from.source
                    .name
                    .clone()
                    .unwrap_or_else(|| from.source.url.clone())
            });
            let db = ctx.database(&spec)?;
            let source = ctx.engines.source(&db.url)?;
            engines = (from.source.engine != source.engine())
                .then(|| (from.source.engine, source.engine()));
            to_label = format!(
                "{} now",
                db.name
                    .clone()
                    .unwrap_or_else(|| tresor_core::redact_url(&db.url))
            );
            diff(
                &repo,
                &from,
                DiffTarget::Live(source.as_ref()),
                &options,
                &mut |c| rows.row(&c),
            )
            .await?
        }
        _ => {
            return Err(UserError::usage(
                "diff compares a snapshot with another snapshot or with the live database",
                "give two snapshots (tresor diff A B) or one and --live (tresor diff A --live)",
            )
            .into());
        }
    };
    rows.finish(&result, from.short_id(), &to_label, engines)?;
    super::ok()
}

pub(super) fn row_filters(texts: &[String]) -> Result<Vec<RowFilter>> {
    texts
        .iter()
        .map(|t| {
            RowFilter::parse(t).map_err(|e| {
                UserError::usage(
                    e.to_string(),
                    e.hint()
                        .unwrap_or("write --where 'TABLE: PREDICATE', see docs/rows.md")
                        .to_string(),
                )
                .into()
            })
        })
        .collect()
}

/// Where changed rows go: JSON Lines as they come, kept for one JSON
/// document, or printed as text, up to `--limit`.
struct RowPrinter {
    show: bool,
    lines: bool,
    json: bool,
    limit: Option<u64>,
    shown: u64,
    kept: Vec<Json>,
    text: Vec<String>,
}

impl RowPrinter {
    fn new(args: &DiffArgs, json: bool) -> Self {
        RowPrinter {
            show: args.rows || args.json_lines,
            lines: args.json_lines,
            json,
            limit: args.limit,
            shown: 0,
            kept: Vec::new(),
            text: Vec::new(),
        }
    }

    fn row(&mut self, c: &ChangedRow<'_>) {
        if !self.show || self.limit.is_some_and(|l| self.shown >= l) {
            return;
        }
        self.shown += 1;
        if self.lines || self.json {
            let line = c.to_json();
            if self.lines {
                outln!("{line}");
            } else {
                self.kept.push(line);
            }
        } else {
            self.text.push(row_text(c));
        }
    }

    fn finish(
        self,
        tables: &[TableDiff],
        from: &str,
        to: &str,
        engines: Option<(tresor_core::Engine, tresor_core::Engine)>,
    ) -> Result<()> {
        if self.lines {
            for t in tables {
                outln!("{}", json!({ "summary": t }));
            }
            return Ok(());
        }
        if self.json {
            let mut doc = json!({ "from": from, "to": to, "tables": tables });
            if let Some((old, new)) = engines {
                doc["engines"] = json!({ "from": old.to_string(), "to": new.to_string() });
            }
            if self.show {
                doc["rows"] = Json::Array(self.kept);
                doc["rows_shown"] = json!(self.shown);
            }
            return super::print_json(&doc);
        }
        outln!("diff of snapshot {from} and {to}:");
        if let Some((old, new)) = engines {
            outln!(
                "(a {old} snapshot and {new}: every column's values are compared as {new} holds them)"
            );
        }
        let mut rows = vec![vec![
            "Table".to_string(),
            "Status".into(),
            "Inserted".into(),
            "Updated".into(),
            "Deleted".into(),
            "Unchanged".into(),
            "Not read".into(),
        ]];
        for t in tables {
            let mut status = serde_json::to_value(t.status)
                .ok()
                .and_then(|s| s.as_str().map(str::to_string))
                .unwrap_or_default();
            for (what, cols) in [
                ("+", &t.columns_added),
                ("-", &t.columns_removed),
                ("~", &t.columns_retyped),
            ] {
                if !cols.is_empty() {
                    status.push_str(&format!(" {what}{}", cols.join(&format!(" {what}"))));
                }
            }
            rows.push(vec![
                t.table.clone(),
                status,
                t.inserted.to_string(),
                t.updated.to_string(),
                t.deleted.to_string(),
                t.unchanged.map_or("-".into(), |n| n.to_string()),
                t.rows_skipped.to_string(),
            ]);
        }
        table(&rows);
        if self.show {
            for line in &self.text {
                outln!("{line}");
            }
            let total: u64 = tables
                .iter()
                .map(|t| t.inserted + t.updated + t.deleted)
                .sum();
            if self.shown < total {
                outln!("({} of {total} changed rows shown)", self.shown);
            }
        }
        Ok(())
    }
}

/// A value in a line of text: short, and unambiguous enough.
fn short(v: &Value) -> String {
    let s = match v {
        Value::Null => "NULL".to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Decimal(d) => d.clone(),
        Value::Text(t) => format!("{t:?}"),
        Value::Bool(b) => b.to_string(),
        other => tresor_core::json::value_to_json(other).to_string(),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

pub(super) fn row_text(c: &ChangedRow<'_>) -> String {
    let row = c.change.row();
    let key: Vec<String> = c
        .key
        .iter()
        .filter_map(|&i| Some(format!("{}={}", c.columns.get(i)?, short(row.get(i)?))))
        .collect();
    let key = key.join(" ");
    match c.change {
        RowChange::Inserted(_) => format!("+ {} {key}", c.table),
        RowChange::Deleted(_) => format!("- {} {key}", c.table),
        RowChange::Updated { .. } => {
            let cols: Vec<String> = c
                .changed_columns()
                .into_iter()
                .map(|(n, old, new)| format!("{n}: {} -> {}", short(old), short(new)))
                .collect();
            format!("~ {} {key}: {}", c.table, cols.join(", "))
        }
    }
}
