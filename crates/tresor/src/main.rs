//! The `tresor` command: backup and restore for SQLite, PostgreSQL,
//! MySQL/MariaDB and MongoDB into an encrypted, deduplicated repository.
#![deny(unsafe_code)]

/// `outln!` that neither panics when the reader went away nor cuts the
/// command short (see [`output::line`]).
macro_rules! outln {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

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
    // the server sets up its logging once it has read its config
    if !matches!(cli.command, cli::Command::Serve(_)) {
        init_logging(&cli.global, false, cli.global.log_file.as_deref());
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
    let code = match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => exit::report(&e, json),
    };
    match output::write_failure() {
        Some(why) => {
            eprintln!("error: cannot write the output: {why}");
            ExitCode::from(exit::code::ERROR)
        }
        None => code,
    }
}

/// Logs to stderr (human-readable, coloured only on a terminal) and, with
/// `--log-file` (`file`), to that file (text or JSON by `--log-format`, never
/// coloured). `server` logs at info level, as the server's log does.
pub(crate) fn init_logging(global: &cli::Global, server: bool, file: Option<&std::path::Path>) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = match (global.quiet, global.verbose, server) {
        (true, _, _) => "error",
        (false, 0, false) => "warn",
        (false, 0, true) | (false, 1, _) => "info",
        (false, 2, _) => "debug",
        _ => "trace",
    };
    let filter = |default: &str| {
        tracing_subscriber::EnvFilter::try_from_env("TRESOR_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
    };
    // what a command did goes to the log file only; stderr has the
    // command's own output
    let quiet_events = || {
        let mut f = filter(default);
        if let Ok(d) = format!("{}=off", commands::LOG_TARGET).parse() {
            f = f.add_directive(d);
        }
        f
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(quiet_events());
    let file = file.and_then(|path| {
        std::os::unix::fs::OpenOptionsExt::mode(
            std::fs::OpenOptions::new().create(true).append(true),
            0o600,
        )
        .open(path)
        .map_err(|e| eprintln!("warning: cannot open log file {}: {e}", path.display()))
        .ok()
    });
    // the file keeps what happened (info), whatever stderr shows
    let level = if global.verbose > 0 { default } else { "info" };
    let (text, json) = match (file, global.log_format) {
        (None, _) => (None, None),
        (Some(f), tresor_ops::LogFormat::Text) => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_target(false)
                    .with_writer(std::sync::Mutex::new(f))
                    .with_filter(filter(level)),
            ),
            None,
        ),
        (Some(f), tresor_ops::LogFormat::Json) => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::sync::Mutex::new(f))
                    .with_filter(filter(level)),
            ),
        ),
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(text)
        .with(json)
        .try_init();
}
