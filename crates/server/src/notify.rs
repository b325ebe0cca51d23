//! Notifications: email over SMTP (STARTTLS, TLS or plain, with the backup
//! attached as an export archive when it is small enough) and webhooks
//! (generic JSON, Slack, Discord, ntfy). Every delivery runs on its own
//! task, is retried with doubling waits, and is recorded in the state file
//! with its last error, so a failing mail server is visible on the
//! Settings page and never holds up a backup.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};
use tokio_util::task::TaskTracker;
use tresor_ops::{
    Config, EmailConfig, Engines, Secret, SmtpTls, SourceNotify, WebhookFormat, parse_duration,
    read_secret_file,
};

use crate::catalog::Catalog;
use crate::events::Events;
use crate::store::JobRow;
use crate::store::Store;

/// The event of a source whose last passing restore drill is older than
/// its `drill-max-age`.
pub const DRILL_OVERDUE: &str = "drill-overdue";

/// The event of an offsite repository whose copies fall behind its
/// `max-lag`.
pub const OFFSITE_BEHIND: &str = "offsite-behind";

/// What an event that is not a job's end says.
struct Alert<'a> {
    kind: &'a str,
    source: &'a str,
    state: &'a str,
    message: &'a str,
    hint: &'a str,
}

/// One event worth telling someone about.
#[derive(Clone, Debug)]
pub struct Event {
    /// `backup-success`, `restore-failure`, ...
    pub name: String,
    /// The job.
    pub job: JobRow,
    /// A link to the job's page, if the public URL is known.
    pub link: Option<String>,
    /// The server's host name.
    pub host: String,
}

impl Event {
    fn success(&self) -> bool {
        self.job.state == "succeeded"
    }

    /// One line for chat messages and subjects.
    pub fn title(&self) -> String {
        let what = match &self.job.source {
            Some(s) => format!("{} of {s}", self.job.kind),
            None => self.job.kind.clone(),
        };
        if self.name == DRILL_OVERDUE {
            format!("tresor: restore {what} overdue")
        } else if self.name == OFFSITE_BEHIND {
            format!(
                "tresor: offsite copies to {} behind",
                self.job.source.as_deref().unwrap_or("?")
            )
        } else if self.success() {
            format!("tresor: {what} succeeded")
        } else {
            format!("tresor: {what} failed")
        }
    }

    /// A few lines of detail.
    pub fn text(&self) -> String {
        let j = &self.job;
        let mut lines = vec![self.title()];
        if self.name == DRILL_OVERDUE || self.name == OFFSITE_BEHIND {
            lines.extend(j.error.iter().cloned());
            if j.id > 0 {
                lines.push(format!("last {}: job {} ({})", j.kind, j.id, j.trigger));
            }
            lines.extend(j.hint.iter().map(|h| format!("try: {h}")));
            lines.extend(self.link.iter().cloned());
            return lines.join("\n");
        }
        lines.push(format!(
            "job {} ({}, started by {}{}) on {}",
            j.id,
            j.trigger,
            j.started_by,
            if j.attempt > 1 {
                format!(", attempt {}", j.attempt)
            } else {
                String::new()
            },
            self.host
        ));
        if let Some(e) = &j.error {
            lines.push(format!("error: {e}"));
        }
        if let Some(h) = &j.hint {
            lines.push(format!("try: {h}"));
        }
        if let Some(f) = &j.figures {
            if let Some(s) = f.get("snapshot").and_then(Value::as_str) {
                lines.push(format!("snapshot: {s}"));
            }
            if let (Some(r), Some(b)) = (f.get("rows"), f.get("bytes")) {
                lines.push(format!("rows: {r}, bytes: {b}"));
            }
        }
        if let Some(l) = &self.link {
            lines.push(l.clone());
        }
        lines.join("\n")
    }

    /// The generic webhook body.
    pub fn json(&self) -> Value {
        let j = &self.job;
        json!({
            "event": self.name,
            "kind": j.kind,
            "state": j.state,
            "source": j.source,
            "job_id": j.id,
            "trigger": j.trigger,
            "started_by": j.started_by,
            "attempt": j.attempt,
            "started_at": j.started_at,
            "finished_at": j.finished_at,
            "error": j.error,
            "hint": j.hint,
            "figures": j.figures,
            "host": self.host,
            "link": self.link,
        })
    }
}

struct Email {
    cfg: EmailConfig,
    password: Option<Secret>,
    attach_under: Option<u64>,
}

struct Hook {
    url: Secret,
    label: String,
    format: WebhookFormat,
    events: Vec<String>,
    sources: Vec<String>,
}

/// Sends notifications.
///
/// Clones share the same channels and deliveries.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Shared>,
}

/// The channels and what a delivery needs to record itself.
struct Shared {
    email: Option<Email>,
    hooks: Vec<Hook>,
    attempts: u32,
    backoff: Duration,
    http: reqwest::Client,
    tracker: TaskTracker,
    public_url: Option<String>,
    store: Arc<Store>,
    events: Arc<Events>,
    catalog: Arc<Catalog>,
    /// `[export] file-name`, and the zone its times are in.
    file_name: String,
    tz: chrono_tz::Tz,
    /// Each source's `[sources.NAME.notify]`, with its URL.
    sources: BTreeMap<String, (String, SourceNotify)>,
    engines: Engines,
}

fn matches_source(list: &[String], source: Option<&str>) -> bool {
    list.iter().any(|s| s == "*" || Some(s.as_str()) == source)
}

impl Notifier {
    /// Builds the notifier, reading secrets from their files or variables.
    ///
    /// # Errors
    /// A secret file or variable that cannot be read.
    pub fn new(
        config: &Config,
        engines: Engines,
        store: Arc<Store>,
        events: Arc<Events>,
        catalog: Arc<Catalog>,
    ) -> anyhow::Result<Notifier> {
        let n = &config.notifications;
        let email = match &n.email {
            None => None,
            Some(e) => {
                let password = match (&e.password_file, &e.password_env) {
                    (Some(f), _) => Some(read_secret_file(f)?),
                    (None, Some(var)) => Some(Secret::new(std::env::var(var).map_err(|_| {
                        anyhow::anyhow!("[notifications.email] password-env {var:?} is not set")
                    })?)),
                    (None, None) => None,
                };
                let attach_under = match &e.attach_archive_under {
                    Some(s) => Some(s.bytes().map_err(anyhow::Error::msg)?),
                    None => None,
                };
                Some(Email {
                    cfg: e.clone(),
                    password,
                    attach_under,
                })
            }
        };
        let mut hooks = Vec::new();
        for w in &n.webhooks {
            let url = match (&w.url, &w.url_env, &w.url_file) {
                (Some(u), _, _) => Secret::new(u.clone()),
                (None, Some(var), _) => Secret::new(
                    std::env::var(var)
                        .map_err(|_| anyhow::anyhow!("webhook url-env {var:?} is not set"))?,
                ),
                (None, None, Some(f)) => read_secret_file(f)?,
                _ => anyhow::bail!("a webhook has no url"),
            };
            let host = url::Url::parse(url.expose())
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| "?".into());
            let format = match w.format {
                WebhookFormat::Generic => "generic",
                WebhookFormat::Slack => "slack",
                WebhookFormat::Discord => "discord",
                WebhookFormat::Ntfy => "ntfy",
            };
            hooks.push(Hook {
                url,
                label: format!("webhook ({format}) {host}"),
                format: w.format,
                events: w.events.clone(),
                sources: w.sources.clone(),
            });
        }
        Ok(Notifier {
            inner: Arc::new(Shared {
                email,
                hooks,
                attempts: n.attempts.max(1),
                backoff: parse_duration(&n.backoff).map_err(anyhow::Error::msg)?,
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()?,
                tracker: TaskTracker::new(),
                public_url: config.server.public_url.clone(),
                store,
                events,
                catalog,
                file_name: config.export.file_name.clone(),
                sources: config
                    .sources
                    .iter()
                    .filter_map(|(name, sc)| {
                        let notify = sc.notify.clone()?;
                        Some((name.clone(), (sc.url.clone(), notify)))
                    })
                    .collect(),
                engines,
                tz: tresor_ops::parse_timezone(&config.server.timezone)
                    .unwrap_or(chrono_tz::Tz::UTC),
            }),
        })
    }

    /// Sends what the config asks for about a finished job, in the
    /// background.
    pub fn job_finished(&self, job: &JobRow) {
        let success = match job.state.as_str() {
            "succeeded" => true,
            "failed" => false,
            _ => return,
        };
        let name = format!(
            "{}-{}",
            job.kind,
            if success { "success" } else { "failure" }
        );
        let link = self
            .inner
            .public_url
            .as_ref()
            .map(|u| format!("{}/jobs/{}", u.trim_end_matches('/'), job.id));
        self.dispatch(&Event {
            name,
            job: job.clone(),
            link,
            host: gethostname::gethostname().to_string_lossy().into_owned(),
        });
    }

    /// Sends a `drill-overdue` event about `source` in the background: to
    /// the webhooks subscribed to it (or to `failure`) and to whoever is
    /// mailed about failures. `last` is the source's newest drill job, if
    /// there is one; `message` says since when no drill passed.
    pub fn drill_overdue(&self, source: &str, last: Option<JobRow>, message: &str) {
        self.alert(
            DRILL_OVERDUE,
            &Alert {
                kind: "drill",
                source,
                state: "overdue",
                message,
                hint: &format!(
                    "run a drill now (tresor drill latest:{source}, or the dashboard's button) and look at the source's drill schedule"
                ),
            },
            last,
        );
    }

    /// Sends an `offsite-behind` event about the offsite repository
    /// `name`, like [`Notifier::drill_overdue`]; `last` is its newest copy
    /// job, if there is one.
    pub fn offsite_behind(&self, name: &str, last: Option<JobRow>, message: &str) {
        self.alert(
            OFFSITE_BEHIND,
            &Alert {
                kind: "copy",
                source: name,
                state: "behind",
                message,
                hint: "look at the last copy job's error and the offsite repository's storage; a copy catches up from the dashboard's Copy now button or tresor copy",
            },
            last,
        );
    }

    /// Sends an event that is not a job's end, shaped like one (so every
    /// channel's format carries it): `last` is the newest job it concerns.
    fn alert(&self, name: &str, a: &Alert<'_>, last: Option<JobRow>) {
        let base = last.unwrap_or_else(|| JobRow {
            id: 0,
            kind: a.kind.into(),
            source: Some(a.source.to_string()),
            state: String::new(),
            trigger: "scheduled".into(),
            started_by: crate::jobs::SCHEDULER.into(),
            params: Value::Null,
            attempt: 1,
            scheduled_for: None,
            created_at: String::new(),
            started_at: None,
            finished_at: None,
            error: None,
            hint: None,
            figures: None,
        });
        let link = self.inner.public_url.as_ref().map(|u| {
            let u = u.trim_end_matches('/');
            if base.id > 0 {
                format!("{u}/jobs/{}", base.id)
            } else {
                format!("{u}/")
            }
        });
        let job = JobRow {
            state: a.state.into(),
            error: Some(a.message.to_string()),
            hint: Some(a.hint.to_string()),
            figures: None,
            ..base
        };
        self.dispatch(&Event {
            name: name.into(),
            job,
            link,
            host: gethostname::gethostname().to_string_lossy().into_owned(),
        });
    }

    /// Delivers `event` to every channel that asks for it.
    fn dispatch(&self, event: &Event) {
        let shared = &self.inner;
        let job = &event.job;
        let success = event.success();
        let source = job.source.as_deref();
        if let Some(e) = &shared.email {
            let everyone = if success {
                job.kind == "backup" && matches_source(&e.cfg.on_success, source)
            } else {
                matches_source(&e.cfg.on_failure, source)
            };
            // the source's own recipients, for the events it names
            let own = source
                .and_then(|s| shared.sources.get(s))
                .filter(|(_, n)| n.wants(&job.kind, success) || n.events.contains(&event.name))
                .cloned();
            if everyone || own.is_some() {
                let (app, event) = (shared.clone(), event.clone());
                let to = if everyone {
                    e.cfg.to.clone()
                } else {
                    Vec::new()
                };
                shared.tracker.spawn(async move {
                    let to = match &own {
                        Some((url, notify)) => with_source_recipients(&app, to, url, notify).await,
                        None => to,
                    };
                    if to.is_empty() {
                        return;
                    }
                    deliver(&app, &event, "email", |attempt| {
                        let (app, event, to) = (app.clone(), event.clone(), to.clone());
                        async move { send_email(&app, &event, &to, attempt).await }
                    })
                    .await;
                });
            }
        }
        for (i, h) in shared.hooks.iter().enumerate() {
            let wanted_event = h.events.iter().any(|e| {
                e == "*"
                    || *e == event.name
                    || (e == "success" && success)
                    || (e == "failure" && !success)
            });
            if wanted_event && matches_source(&h.sources, source) {
                let (app, event) = (shared.clone(), event.clone());
                let label = h.label.clone();
                shared.tracker.spawn(async move {
                    deliver(&app, &event, &label, |_| {
                        let (app, event) = (app.clone(), event.clone());
                        async move { send_webhook(&app, i, &event).await }
                    })
                    .await;
                });
            }
        }
    }

    /// Waits up to `grace` for deliveries in flight.
    pub async fn drain(&self, grace: Duration) {
        self.inner.tracker.close();
        let _ = tokio::time::timeout(grace, self.inner.tracker.wait()).await;
    }
}

async fn deliver<F, Fut>(app: &Arc<Shared>, event: &Event, channel: &str, send: F)
where
    F: Fn(u32) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let n = app;
    let id = app
        .store
        .create_delivery(
            (event.job.id > 0).then_some(event.job.id),
            channel,
            &event.name,
        )
        .ok();
    for attempt in 1..=n.attempts {
        match send(attempt).await {
            Ok(()) => {
                if let Some(id) = id {
                    let _ = app.store.update_delivery(id, "sent", attempt, None);
                }
                app.events.log(
                    "info",
                    "notification sent",
                    &[("channel", channel), ("event", &event.name)],
                );
                return;
            }
            Err(e) => {
                let last = attempt == n.attempts;
                app.events.log(
                    "warn",
                    "notification failed",
                    &[
                        ("channel", channel),
                        ("event", &event.name),
                        ("attempt", &attempt.to_string()),
                        ("error", &e),
                    ],
                );
                if let Some(id) = id {
                    let state = if last { "failed" } else { "pending" };
                    let _ = app.store.update_delivery(id, state, attempt, Some(&e));
                }
                if last {
                    return;
                }
                let wait = n.backoff.saturating_mul(1 << (attempt - 1).min(16));
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// A writer that refuses to grow past a limit (the attachment size).
struct Limited {
    buf: Vec<u8>,
    limit: u64,
}

impl std::io::Write for Limited {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() as u64 + data.len() as u64 > self.limit {
            return Err(std::io::Error::other(
                "archive larger than the attachment limit",
            ));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn attachment(
    app: &Arc<Shared>,
    event: &Event,
    limit: u64,
) -> Result<(String, Vec<u8>), String> {
    let id = event
        .job
        .figures
        .as_ref()
        .and_then(|f| f.get("snapshot"))
        .and_then(Value::as_str)
        .ok_or("no snapshot")?;
    let snap = app.catalog.find(id).await.map_err(|e| e.message)?;
    let (out, _) = tresor_ops::export_snapshot(
        app.catalog.repo(),
        &snap,
        &tresor_core::TableFilter::all(),
        tresor_archive::ArchiveFormat::Zip,
        Limited {
            buf: Vec::new(),
            limit,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let name = tresor_ops::archive_file_name(&app.file_name, &snap, &app.tz, "zip");
    Ok((name, out.buf))
}

/// `to` plus a source's own recipients: its `to` and those its
/// `recipients-from` reads from the application's database now. A lookup
/// that fails is logged; the others still get the message.
async fn with_source_recipients(
    app: &Arc<Shared>,
    mut to: Vec<String>,
    url: &str,
    notify: &SourceNotify,
) -> Vec<String> {
    let add = |addr: &str, to: &mut Vec<String>| {
        if !to.iter().any(|t| t.eq_ignore_ascii_case(addr)) {
            to.push(addr.to_string());
        }
    };
    for a in &notify.to {
        add(a, &mut to);
    }
    if let Some(from) = &notify.recipients_from {
        let found = async {
            let filter = tresor_core::RowFilter::parse(from).map_err(|e| e.to_string())?;
            let source = app.engines.source(url).map_err(|e| e.to_string())?;
            tresor_ops::read_recipients(source.as_ref(), &filter, &notify.recipients_column)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        match found {
            Ok(list) => {
                for a in &list {
                    add(a, &mut to);
                }
            }
            Err(why) => app.events.log(
                "warn",
                "cannot read notification recipients from the database",
                &[("recipients_from", from.as_str()), ("error", why.as_str())],
            ),
        }
    }
    to
}

async fn send_email(
    app: &Arc<Shared>,
    event: &Event,
    to: &[String],
    _attempt: u32,
) -> Result<(), String> {
    let Some(e) = &app.email else {
        return Ok(());
    };
    let cfg = &e.cfg;
    let mut text = event.text();
    let mut attached = None;
    if event.success()
        && event.job.kind == "backup"
        && let Some(limit) = e.attach_under
    {
        match attachment(app, event, limit).await {
            Ok(a) => attached = Some(a),
            Err(why) => text.push_str(&format!("\n(archive not attached: {why})")),
        }
    }
    let from: Mailbox = cfg.from.parse().map_err(|e| format!("from address: {e}"))?;
    let mut b = Message::builder().from(from).subject(event.title());
    for to in to {
        b = b.to(to.parse().map_err(|e| format!("to address {to:?}: {e}"))?);
    }
    let body = SinglePart::plain(text);
    let message = match attached {
        Some((name, bytes)) => {
            let ct = ContentType::parse("application/zip").map_err(|e| e.to_string())?;
            b.multipart(
                MultiPart::mixed()
                    .singlepart(body)
                    .singlepart(Attachment::new(name).body(bytes, ct)),
            )
        }
        None => b.singlepart(body),
    }
    .map_err(|e| format!("cannot build the message: {e}"))?;
    let builder = match cfg.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host)
            .map_err(|e| e.to_string())?
            .port(cfg.port.unwrap_or(587)),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host)
            .map_err(|e| e.to_string())?
            .port(cfg.port.unwrap_or(465)),
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            .port(cfg.port.unwrap_or(25)),
    };
    let mut builder = builder.timeout(Some(Duration::from_secs(30)));
    if let Some(user) = &cfg.username {
        let pw = e
            .password
            .as_ref()
            .map(|p| p.expose().to_string())
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), pw));
    }
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("smtp {}: {e}", cfg.host))
}

async fn send_webhook(app: &Arc<Shared>, index: usize, event: &Event) -> Result<(), String> {
    let Some(h) = app.hooks.get(index) else {
        return Ok(());
    };
    let client = &app.http;
    let req = match h.format {
        WebhookFormat::Generic => client.post(h.url.expose()).json(&event.json()),
        WebhookFormat::Slack => client
            .post(h.url.expose())
            .json(&json!({"text": event.text()})),
        WebhookFormat::Discord => client
            .post(h.url.expose())
            .json(&json!({"content": event.text()})),
        WebhookFormat::Ntfy => client
            .post(h.url.expose())
            .header("Title", event.title())
            .header(
                "Tags",
                if event.success() {
                    "white_check_mark"
                } else {
                    "warning"
                },
            )
            .header("Priority", if event.success() { "default" } else { "high" })
            .body(event.text()),
    };
    let resp = req
        .send()
        .await
        .map_err(|e| format!("{}: {}", h.label, e.without_url()))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("{} answered {}", h.label, resp.status()))
    }
}
