//! `tresor unlock`: remove stale (or all) locks.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::UnlockArgs;
use crate::context::Context;

pub async fn run(ctx: &Context, args: &UnlockArgs) -> Result<ExitCode> {
    let repo = ctx.open_repo().await?;
    repo.refuse_if_append_only("unlock")
        .map_err(tresor_ops::OpsError::from)?;
    let removed = if args.all {
        repo.remove_all_locks().await
    } else {
        repo.remove_stale_locks().await
    }
    .map_err(tresor_ops::OpsError::from)?;
    if ctx.global.json {
        super::print_json(&serde_json::json!({ "removed": removed }))?;
    } else if !ctx.global.quiet {
        outln!("removed {removed} lock(s)");
    }
    super::ok()
}
