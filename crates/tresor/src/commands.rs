//! One module per subcommand; [`run`] dispatches.

mod backup;
mod check;
mod copy;
mod demo;
mod diff;
mod drill;
mod export;
mod forget;
mod generate;
mod guard;
mod import;
mod init;
mod key;
mod prune;
mod repair;
mod restore;
mod serve;
mod show;
mod snapshots;
mod undo;
mod unlock;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::context::Context;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Demo(args) = &cli.command {
        return demo::run(&cli.global, args).await;
    }
    if let Command::Generate(command) = &cli.command {
        return generate::run(command);
    }
    if let Command::Serve(args) = &cli.command {
        return serve::run(&cli.global, args).await;
    }
    let ctx = Context::new(cli.global)?;
    let name = cli.command.name();
    let result = run_command(&ctx, cli.command).await;
    match &result {
        Ok(code) if *code == ExitCode::SUCCESS => {
            tracing::info!(target: LOG_TARGET, "tresor {name} finished");
        }
        Ok(_) => tracing::warn!(target: LOG_TARGET, "tresor {name} finished with problems"),
        Err(e) => tracing::error!(target: LOG_TARGET, "tresor {name} failed: {e:#}"),
    }
    result
}

/// The tracing target of what commands did: written to `--log-file`,
/// never to stderr (where the command prints it itself).
pub const LOG_TARGET: &str = "tresor_log";

async fn run_command(ctx: &Context, command: Command) -> Result<ExitCode> {
    match command {
        Command::Init(a) => init::run(ctx, &a).await,
        Command::Backup(a) => backup::run(ctx, &a).await,
        Command::Snapshots(a) => snapshots::run(ctx, &a).await,
        Command::Show(a) => show::run(ctx, &a).await,
        Command::Restore(a) => restore::run(ctx, &a).await,
        Command::Diff(a) => diff::run(ctx, &a).await,
        // boxed: the largest futures (they hold a lock guard across a
        // whole restore)
        Command::Guard(a) => Box::pin(guard::run(ctx, &a)).await,
        Command::Undo(a) => Box::pin(undo::run(ctx, &a)).await,
        Command::Key(a) => key::run(ctx, &a).await,
        Command::Unlock(a) => unlock::run(ctx, &a).await,
        Command::Repair(a) => repair::run(ctx, &a).await,
        Command::Drill(a) => drill::run(ctx, &a).await,
        Command::Check(a) => check::run(ctx, &a).await,
        Command::Copy(a) => copy::run(ctx, &a).await,
        Command::Forget(a) => forget::run(ctx, &a).await,
        Command::Prune(a) => prune::run(ctx, &a).await,
        Command::Export(a) => export::run(ctx, &a).await,
        Command::Import(a) => import::run(ctx, &a).await,
        Command::Demo(_) | Command::Serve(_) | Command::Generate(_) => {
            unreachable!("handled above")
        }
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Success.
pub fn ok() -> Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
