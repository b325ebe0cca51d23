//! `tresor key add|list|remove`.

use std::process::ExitCode;

use anyhow::Result;
use tresor_repo::{KdfParams, Password};

use crate::cli::KeyCommand;
use crate::context::Context;
use crate::exit::UserError;
use crate::output::table;

pub async fn run(ctx: &Context, cmd: &KeyCommand) -> Result<ExitCode> {
    let repo = ctx.open_repo().await?;
    match cmd {
        KeyCommand::Add { new_password_file } => {
            let new = match new_password_file {
                Some(f) => Password::new(tresor_ops::read_secret_file(f)?.expose()),
                None => {
                    use std::io::IsTerminal;
                    if !std::io::stdin().is_terminal() {
                        return Err(UserError::usage(
                            "no new password given",
                            "pass --new-password-file FILE, or run on a terminal to be asked",
                        )
                        .into());
                    }
                    let a = rpassword::prompt_password("new password: ")?;
                    let b = rpassword::prompt_password("repeat new password: ")?;
                    if a != b || a.is_empty() {
                        return Err(UserError::usage(
                            "the passwords are empty or do not match",
                            "try again",
                        )
                        .into());
                    }
                    Password::new(a)
                }
            };
            let id = repo
                .add_key(&new, KdfParams::default())
                .await
                .map_err(tresor_ops::OpsError::from)?;
            if ctx.global.json {
                super::print_json(&serde_json::json!({ "id": id.to_hex() }))?;
            } else if !ctx.global.quiet {
                outln!("added key {}", id.short());
            }
        }
        KeyCommand::List => {
            let keys = repo.list_keys().await.map_err(tresor_ops::OpsError::from)?;
            if ctx.global.json {
                let v: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({
                            "id": k.id.to_hex(), "created": k.created, "hostname": k.hostname,
                            "username": k.username, "current": k.current,
                        })
                    })
                    .collect();
                super::print_json(&v)?;
            } else {
                let mut rows = vec![vec![
                    "".to_string(),
                    "ID".into(),
                    "Created".into(),
                    "Host".into(),
                    "User".into(),
                ]];
                for k in &keys {
                    rows.push(vec![
                        if k.current { "*".into() } else { " ".into() },
                        k.id.short(),
                        k.created
                            .with_timezone(&chrono::Local)
                            .format("%Y-%m-%d %H:%M:%S")
                            .to_string(),
                        k.hostname.clone(),
                        k.username.clone(),
                    ]);
                }
                table(&rows);
            }
        }
        KeyCommand::Remove { id } => {
            let keys = repo.list_keys().await.map_err(tresor_ops::OpsError::from)?;
            let matches: Vec<_> = keys
                .iter()
                .filter(|k| k.id.to_hex().starts_with(&id.to_ascii_lowercase()))
                .collect();
            let key = match matches.as_slice() {
                [one] => one,
                [] => {
                    return Err(UserError::not_found(
                        format!("no key matches {id:?}"),
                        "tresor key list",
                    )
                    .into());
                }
                _ => {
                    return Err(UserError::usage(
                        format!("key id prefix {id:?} is ambiguous"),
                        "give more digits",
                    )
                    .into());
                }
            };
            repo.remove_key(&key.id)
                .await
                .map_err(tresor_ops::OpsError::from)?;
            if ctx.global.json {
                super::print_json(&serde_json::json!({ "removed": key.id.to_hex() }))?;
            } else if !ctx.global.quiet {
                outln!("removed key {}", key.id.short());
            }
        }
    }
    super::ok()
}
