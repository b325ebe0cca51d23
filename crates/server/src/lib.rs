//! tresor-server: `tresor serve`, one process that keeps any number of
//! databases backed up.
//!
//! - [`Server`] / [`run`]: the HTTP server (JSON API under `/api/v1`, the
//!   web admin pages, `/healthz`, `/metrics`) on a listener the caller
//!   binds, stopped by a future the caller completes (the mini-redis
//!   shape, so tests bind `127.0.0.1:0` and stop it cleanly).
//! - The scheduler turns cron expressions (with time zones) into jobs;
//!   the job runner runs backups, restores, forget, prune, check, drills
//!   and imports one per source at a time, with live progress, logs and
//!   cancellation; notifications go out by email and webhooks.
//! - The server's own state (users, hashed tokens, sessions, one-time code
//!   secrets, jobs, audit log) lives in one SQLite file; snapshots are
//!   always read from the repository.
//! - People sign in with a password (and a one-time code, `totp`, when
//!   they set one up) or through an OpenID Connect provider (`oidc`);
//!   half-done sign-ins wait in `tickets`; either way ends in the same
//!   session.
//!
//! Modules depend only downwards: `store` (one module per table, numbered
//! migrations), `catalog` (sources by name, the cached snapshot list),
//! `events` and `uploads` at the bottom; `notify` above them; `jobs` above
//! that, handed a `JobEnv`; `scheduler` above the jobs, handed a
//! `Scheduler`; `app` (the HTTP side's state) holds them all; `actions`
//! (what the API and the pages both do) on top of it; `api` and `web` (one
//! module per area, forms checked by one CSRF extractor) call the actions
//! and never each other.
//!
//! ```no_run
//! # async fn f(config: tresor_ops::Config, engines: tresor_ops::Engines) -> anyhow::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8420").await?;
//! tresor_server::run(config, engines, listener, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
#![forbid(unsafe_code)]

mod actions;
mod api;
mod app;
mod auth;
mod catalog;
mod clock;
mod demo;
mod error;
mod events;
mod jobs;
mod metrics;
mod notify;
mod offsite;
mod oidc;
mod openapi;
mod scheduler;
mod state_backup;
mod store;
mod throttle;
mod tickets;
mod totp;
mod uploads;
mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tresor_ops::{Config, Engines};

pub use clock::Clock;
pub use demo::{DemoSetup, create_sample_database, prepare_demo};
pub use openapi::openapi_document;
pub use state_backup::{STATE_SOURCE, restore_state};

use crate::app::App;
use crate::store::Store;

/// Settings that are not in `tresor.toml`.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where "now" comes from (tests use a virtual clock).
    pub clock: Clock,
    /// The repository password, taken before anything else (the demo
    /// setup hands its own over).
    pub repository_password: Option<String>,
    /// `--password-file`: read before `TRESOR_PASSWORD` and the config's
    /// `password-file` / `password-env`, the order docs/cli.md gives.
    pub password_file: Option<std::path::PathBuf>,
    /// The first admin's password when no user exists yet; random (and
    /// printed) when unset and `TRESOR_ADMIN_PASSWORD` is unset too.
    pub admin_password: Option<String>,
    /// Print how to log in when the first admin is created.
    pub announce: bool,
    /// Run the scheduler.
    pub scheduler: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Clock::System,
            repository_password: None,
            password_file: None,
            admin_password: None,
            announce: true,
            scheduler: true,
        }
    }
}

/// A server ready to serve.
pub struct Server {
    app: Arc<App>,
}

/// Runs the server with default [`Options`] until `shutdown` completes.
///
/// # Errors
/// Invalid configuration, an unopenable repository or state file, or a
/// failing listener.
pub async fn run(
    config: Config,
    engines: Engines,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    Server::new(config, engines, Options::default())
        .await?
        .serve(listener, shutdown)
        .await
}

impl Server {
    /// Validates the config, opens the repository and the state file, and
    /// creates the first admin when there is no user yet.
    ///
    /// # Errors
    /// See [`run`].
    pub async fn new(config: Config, engines: Engines, options: Options) -> anyhow::Result<Server> {
        // reqwest and lettre both link rustls; pick ring once for all.
        let _ = rustls::crypto::ring::default_provider().install_default();
        config.validate()?;
        let tz = tresor_ops::parse_timezone(&config.server.timezone).map_err(anyhow::Error::msg)?;
        let log_file = match &config.server.log_file {
            Some(p) => Some(
                std::os::unix::fs::OpenOptionsExt::mode(
                    std::fs::OpenOptions::new().create(true).append(true),
                    0o600,
                )
                .open(p)
                .with_context(|| format!("cannot open the log file {}", p.display()))?,
            ),
            None => None,
        };
        let state_file = &config.server.state_file;
        if let Some(dir) = state_file.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let store = Store::open(state_file)
            .with_context(|| format!("cannot open the state file {}", state_file.display()))?;
        let orphans = store.fail_orphaned_jobs(options.clock.now())?;
        if orphans > 0 {
            tracing::warn!(
                orphans,
                "jobs of a previous run were left unfinished; marked failed"
            );
        }
        let from = tresor_ops::PasswordSource {
            given: options.repository_password.as_deref(),
            file: options.password_file.as_deref(),
            ..tresor_ops::PasswordSource::default()
        };
        let repo = Arc::new(tresor_ops::open_repository(&config.repository, &from).await?);
        let upload_limit = config
            .server
            .upload_limit
            .bytes()
            .map_err(anyhow::Error::msg)?;
        let session_lifetime = tresor_ops::parse_duration(&config.server.session_lifetime)
            .map_err(anyhow::Error::msg)?;
        let oidc = oidc::Provider::from_config(&config)?;
        let config = Arc::new(config);
        let store = Arc::new(store);
        let events = Arc::new(events::Events::new(log_file, config.server.log_format, tz));
        let catalog = Arc::new(catalog::Catalog::new(repo.clone()));
        let uploads = Arc::new(uploads::Uploads::default());
        let notifier = notify::Notifier::new(
            &config,
            engines.clone(),
            store.clone(),
            events.clone(),
            catalog.clone(),
        )?;
        let offsites = Arc::new(offsite::Offsites::new(&config, &engines)?);
        let jobs = jobs::Jobs::new(jobs::JobEnv {
            config: config.clone(),
            engines: engines.clone(),
            store: store.clone(),
            catalog: catalog.clone(),
            uploads: uploads.clone(),
            notifier: notifier.clone(),
            events: events.clone(),
            clock: options.clock,
            offsites: offsites.clone(),
        });
        let shutdown = CancellationToken::new();
        let scheduler = scheduler::Scheduler {
            config: config.clone(),
            store: store.clone(),
            clock: options.clock,
            tz,
            board: scheduler::ScheduleBoard::default(),
            jobs: jobs.clone(),
            events: events.clone(),
            notifier: notifier.clone(),
            shutdown: shutdown.clone(),
            catalog: catalog.clone(),
            offsites: offsites.clone(),
        };
        let app = Arc::new(App {
            owners: tresor_ops::SourceOwners::new(&config, &engines),
            config,
            engines,
            repo,
            store,
            catalog,
            uploads,
            events,
            jobs,
            scheduler,
            notifier,
            offsites,
            clock: options.clock,
            tz,
            templates: web::templates(tz)?,
            upload_limit,
            session_lifetime,
            shutdown,
            started: chrono::Utc::now(),
            throttle: throttle::Throttle::default(),
            oidc,
            oidc_flows: tickets::Tickets::new(Duration::from_secs(600), 1000),
            pending_logins: tickets::Tickets::new(Duration::from_secs(300), 1000),
        });
        bootstrap_admin(&app, &options)?;
        let server = Server { app };
        if options.scheduler {
            scheduler::spawn(&server.app.scheduler);
        }
        Ok(server)
    }

    /// The HTTP routes (for tests that call the router without a socket).
    pub fn router(&self) -> axum::Router {
        routes(&self.app)
    }

    /// Serves on `listener` until `shutdown` completes, then stops the
    /// scheduler, gives running jobs `shutdown-grace` to finish, cancels
    /// what is left (nothing half-done stays) and returns.
    ///
    /// # Errors
    /// The listener fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = self.app.clone();
        let addr = listener.local_addr()?;
        app.log_event("info", "listening", &[("address", &addr.to_string())]);
        let housekeeping = tokio::spawn(housekeeping(app.clone()));
        let state_backup = match app.config.server.state_backup.as_str() {
            "off" => None,
            every => Some(tokio::spawn(state_backup::run(
                app.clone(),
                tresor_ops::parse_duration(every).unwrap_or(Duration::from_secs(600)),
            ))),
        };
        let stop = app.shutdown.clone();
        let router = routes(&app);
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop.cancel();
        })
        .await;
        app.shutdown.cancel();
        app.log_event("info", "shutting down", &[]);
        let grace = tresor_ops::parse_duration(&app.config.server.shutdown_grace)
            .unwrap_or(Duration::from_secs(30));
        app.jobs.close();
        app.jobs.shutdown(grace).await;
        app.notifier.drain(Duration::from_secs(5)).await;
        housekeeping.abort();
        if let Some(t) = state_backup {
            // one last backup, of the state as the server leaves it
            let last = t.await.unwrap_or(None);
            let _ = tokio::time::timeout(
                Duration::from_secs(60),
                state_backup::back_up_if_changed(&app, last),
            )
            .await;
        }
        app.log_event("info", "stopped", &[]);
        drop(self);
        served.context("the HTTP server failed")
    }
}

impl Drop for Server {
    /// A server dropped without serving (or after) stops its scheduler.
    fn drop(&mut self) {
        self.app.shutdown.cancel();
    }
}

fn routes(app: &Arc<App>) -> axum::Router {
    axum::Router::new()
        .merge(api::routes())
        .merge(web::routes())
        .route("/healthz", axum::routing::get(healthz))
        .route("/metrics", axum::routing::get(metrics::metrics))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(json_rejections))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::extract::DefaultBodyLimit::max(
            usize::try_from(app.upload_limit).unwrap_or(usize::MAX),
        ))
        .with_state(app.clone())
}

/// Headers every answer carries: pages only load this server's own
/// scripts and styles and cannot be framed, content types are not
/// guessed, addresses are not leaked to other sites, and answers that can
/// carry a secret are never stored. Static files may be cached.
async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let path = req.uri().path();
    let cacheable = path.starts_with("/static/");
    // answers that can carry a secret (API answers: new tokens, downloads;
    // the pages that show a new token or a new one-time code key) are never stored; other pages are
    // private and revalidated, and stay in the history so Back works
    let secret =
        path.starts_with("/api/") || matches!(path, "/tokens" | "/metrics" | "/account/totp/start");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if secret {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    } else if !cacheable {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
    }
    resp
}

/// An unknown path: the API's JSON error under `/api/`, a page elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        crate::error::ApiError::not_found(format!("no API endpoint {}", uri.path()))
            .hint("GET /api/v1/openapi.json lists every endpoint")
            .into_response()
    } else {
        web::not_found_page()
    }
}

/// Turns the framework's plain-text rejections (a malformed JSON body, a
/// wrong content type, a body over the limit) on API routes into the API's
/// JSON error shape.
async fn json_rejections(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let api = req.uri().path().starts_with("/api/");
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&bytes).trim().to_lowercase();
    let kind = match status.as_u16() {
        413 => error::Kind::TooLarge,
        s if s >= 500 => error::Kind::Ops(tresor_ops::ErrorClass::Internal),
        _ => error::Kind::Ops(tresor_ops::ErrorClass::Usage),
    };
    let mut e = error::ApiError::new(kind, message)
        .hint("see /api/v1/openapi.json for the request format")
        .into_response();
    *e.status_mut() = status;
    e
}

async fn healthz(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let state_ok = app.store.user_count().is_ok();
    let body = serde_json::json!({
        "status": if state_ok { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
    });
    let status = if state_ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn housekeeping(app: Arc<App>) {
    app.sample_repo_stats().await;
    loop {
        tokio::select! {
            () = app.catalog.wait_changed() => {}
            () = tokio::time::sleep(Duration::from_secs(3600)) => {
                if let Err(e) = app.store.expire(app.config.server.history_days) {
                    tracing::warn!(error = %e, "cannot expire old history");
                }
            }
            () = app.shutdown.cancelled() => return,
        }
        app.sample_repo_stats().await;
    }
}

fn bootstrap_admin(app: &App, options: &Options) -> anyhow::Result<()> {
    if app.store.user_count()? > 0 {
        return Ok(());
    }
    let env_password = std::env::var("TRESOR_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let (password, generated) = match options.admin_password.clone().or(env_password) {
        Some(p) => (p, false),
        None => (auth::random_token(15), true),
    };
    let hash = auth::hash_password(&password).map_err(|e| anyhow::anyhow!(e.message))?;
    app.store.create_user("admin", "admin", &hash)?;
    app.store
        .audit("server", "user.create", Some("admin"), Some("first start"));
    if options.announce {
        let url = app
            .config
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", app.config.server.listen));
        if generated {
            eprintln!(
                "\ntresor: created the first user.\n  log in at {url}/login as \"admin\" with password: {password}\n  (shown once; change it on the Users page)\n"
            );
        } else {
            eprintln!("\ntresor: created the first user \"admin\"; log in at {url}/login\n");
        }
    }
    Ok(())
}
