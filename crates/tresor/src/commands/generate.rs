//! `tresor generate man DIR` and `tresor generate completions SHELL`: what
//! packages install next to the binary, made from the same argument
//! definitions the binary parses, so they never drift.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use crate::cli::{Cli, GenerateCommand};

pub fn run(command: &GenerateCommand) -> Result<ExitCode> {
    match command {
        GenerateCommand::Man { dir } => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let cmd = Cli::command();
            write_page(&cmd, dir, "tresor")?;
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let name = format!("tresor-{}", sub.get_name());
                let page = sub.clone().name(name.clone());
                write_page(&page, dir, &name)?;
            }
        }
        GenerateCommand::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "tresor", &mut std::io::stdout());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_page(cmd: &clap::Command, dir: &std::path::Path, name: &str) -> Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .with_context(|| format!("cannot render the man page of {name}"))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))
}
