//! `tresor serve`: the server (schedules, retention, HTTP API, web admin,
//! notifications), or with `--demo` a ready-made sample setup.

use std::process::ExitCode;

use anyhow::{Context as _, Result};

use crate::cli::{Global, ServeArgs};
use crate::context::engines;

pub async fn run(global: &Global, args: &ServeArgs) -> Result<ExitCode> {
    let mut options = tresor_server::Options::default();
    let mut config = if args.demo {
        let listen = args.listen.as_deref().unwrap_or("127.0.0.1:8420");
        let setup = tresor_server::prepare_demo(&args.demo_dir, listen).await?;
        eprintln!(
            "tresor demo: sample database {}, config {} (repository password {:?})",
            setup.database.display(),
            setup.config_file.display(),
            setup.password
        );
        options.repository_password = Some(setup.password.clone());
        setup.config
    } else {
        let Some(mut config) = tresor_ops::discover_config(global.config.as_deref())? else {
            anyhow::bail!(crate::exit::UserError::usage(
                "no configuration file",
                "pass --config FILE, set TRESOR_CONFIG, create tresor.toml (see tresor.example.toml), or try `tresor serve --demo`",
            ));
        };
        config.apply_env();
        if let Some(repo) = &global.repo {
            config.repository.url = Some(repo.clone());
        }
        options.password_file.clone_from(&global.password_file);
        config
    };
    if let Some(listen) = &args.listen {
        config.server.listen = listen.clone();
    }
    config.validate()?;
    // the server writes its log file itself, one line per event
    crate::init_logging(global, true, None);
    if args.restore_state {
        let from = tresor_ops::PasswordSource {
            given: options.repository_password.as_deref(),
            file: options.password_file.as_deref(),
            ..tresor_ops::PasswordSource::default()
        };
        let repo =
            std::sync::Arc::new(tresor_ops::open_repository(&config.repository, &from).await?);
        let s = tresor_server::restore_state(&repo, &engines(), &config.server.state_file).await?;
        eprintln!(
            "tresor serve: restored the server's state from snapshot {} ({}) into {}",
            s.short_id(),
            s.time.format("%Y-%m-%d %H:%M:%S UTC"),
            config.server.state_file.display()
        );
    }
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    eprintln!("tresor serve: listening on http://{addr} (stop with Ctrl-C)");
    let server = tresor_server::Server::new(config, engines(), options).await?;
    server.serve(listener, shutdown_signal()).await?;
    super::ok()
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
