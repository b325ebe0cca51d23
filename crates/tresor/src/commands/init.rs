//! `tresor init`: create a repository.

use std::process::ExitCode;

use anyhow::Result;
use tresor_repo::{InitOptions, KdfParams, ObjectLock, Repository};

use crate::cli::InitArgs;
use crate::context::Context;

pub async fn run(ctx: &Context, args: &InitArgs) -> Result<ExitCode> {
    let storage = ctx.storage()?;
    let location = storage.location().to_string();
    let password = ctx.password(true)?;
    let kdf = KdfParams {
        m_cost_kib: args.kdf_memory_mib.max(8) * 1024,
        ..KdfParams::default()
    };
    let settings = &ctx.config.repository;
    let object_lock = args
        .object_lock_days
        .or(settings.object_lock_days)
        .map(|days| ObjectLock {
            days,
            mode: args
                .object_lock_mode
                .or(settings.object_lock_mode)
                .unwrap_or_default(),
        });
    let options = InitOptions {
        kdf,
        zstd_level: args.compression,
        object_lock,
        ..InitOptions::default()
    };
    let repo = match &args.copy_ids_from {
        Some(other) => {
            let other = ctx
                .open_from_repo(other, args.from.from_password_file.as_deref())
                .await?;
            Repository::init_with_ids_of(storage, &password, options, &other).await
        }
        None => Repository::init(storage, &password, options).await,
    }
    .map_err(tresor_ops::OpsError::from)?;
    if ctx.global.json {
        super::print_json(&serde_json::json!({
            "repository": location,
            "id": repo.config().id.to_string(),
            "format_version": repo.config().version,
            "compression": repo.config().zstd_level,
            "blob_ids_from": args.copy_ids_from.as_deref().map(tresor_core::redact_url),
            "object_lock": repo.config().object_lock,
        }))?;
    } else if !ctx.global.quiet {
        outln!(
            "created repository {} at {location}",
            repo.config().id.short()
        );
        if let Some(other) = &args.copy_ids_from {
            outln!(
                "it names blobs as {} does: `tresor copy --from-repo` sends only what is missing",
                tresor_core::redact_url(other)
            );
        }
        if let Some(lock) = repo.config().object_lock {
            outln!(
                "every object is kept {} days from its write ({} mode object lock)",
                lock.days,
                lock.mode
            );
        }
        outln!();
        outln!("Keep the password safe: without it the backups cannot be read.");
        outln!("Next: tresor backup sqlite:///path/to/app.db");
    }
    super::ok()
}
