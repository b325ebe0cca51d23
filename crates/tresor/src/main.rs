//! The `tresor` command: backup and restore for SQLite, PostgreSQL,
//! MySQL/MariaDB and MongoDB into an encrypted, deduplicated repository.
#![deny(unsafe_code)]

mod alloc;
mod cli;
mod commands;
mod context;
mod exit;
mod output;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::Layer as _;

fn main() -> ExitCode {
    alloc::tune();
    let cli = cli::Cli::parse();
    // the server sets up its logging once it knows its log file
    if !matches!(cli.command, cli::Command::Serve(_)) {
        init_logging(&cli.global, None);
    }
    let json = cli.global.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(exit::code::ERROR);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => exit::report(&e, json),
    }
}

/// Logs to stderr (human-readable) and, when given, as JSON lines to a
/// file (the server's `log-file`).
pub(crate) fn init_logging(global: &cli::Global, file: Option<&std::path::Path>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = match (global.quiet, global.verbose, file.is_some()) {
        (true, _, _) => "error",
        (false, 0, false) => "warn",
        (false, 0, true) | (false, 1, _) => "info",
        (false, 2, _) => "debug",
        _ => "trace",
    };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("TRESOR_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter());
    let file_layer = file
        .and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| eprintln!("warning: cannot open log file {}: {e}", path.display()))
                .ok()
        })
        .map(|f| {
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::sync::Mutex::new(f))
                .with_filter(filter())
        });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
}
