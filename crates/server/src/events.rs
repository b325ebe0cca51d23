//! The server's event log: every event goes to tracing (stderr) and, when
//! `[server] log-file` is set, as exactly one line to that file, text or
//! JSON by `log-format`, never with terminal colour codes.

use std::io::Write as _;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tresor_ops::LogFormat;

/// Where events are written.
#[derive(Default)]
pub struct Events {
    file: Option<Mutex<std::fs::File>>,
    format: LogFormat,
    tz: Option<Tz>,
}

impl Events {
    /// Events to tracing, and to `file` when given, in `format` with times
    /// in `tz`.
    pub fn new(file: Option<std::fs::File>, format: LogFormat, tz: Tz) -> Self {
        Events {
            file: file.map(Mutex::new),
            format,
            tz: Some(tz),
        }
    }

    /// Writes a structured event.
    pub fn log(&self, level: &str, message: &str, fields: &[(&str, &str)]) {
        let text = fields_text(fields);
        match level {
            "error" => tracing::error!("{message}{text}"),
            "warn" => tracing::warn!("{message}{text}"),
            _ => tracing::info!("{message}{text}"),
        }
        if let Some(f) = &self.file {
            let line = self.line(Utc::now(), level, message, fields);
            let mut f = f.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = writeln!(f, "{line}");
        }
    }

    fn line(
        &self,
        at: DateTime<Utc>,
        level: &str,
        message: &str,
        fields: &[(&str, &str)],
    ) -> String {
        match self.format {
            LogFormat::Json => {
                let mut obj = serde_json::Map::new();
                obj.insert("at".into(), crate::store::ts(at).into());
                obj.insert("level".into(), level.into());
                obj.insert("message".into(), message.into());
                for (k, v) in fields {
                    obj.insert((*k).to_string(), (*v).into());
                }
                serde_json::Value::Object(obj).to_string()
            }
            LogFormat::Text => {
                let local = at.with_timezone(&self.tz.unwrap_or(Tz::UTC));
                // one event, one line: a message cannot break it
                let message = message.replace(['\n', '\r'], " ");
                format!(
                    "[{}] {level:<5} {message}{}",
                    local.format("%Y-%m-%d %H:%M:%S"),
                    fields_text(fields)
                )
            }
        }
    }
}

/// ` key=value` pairs, values quoted when they need it.
fn fields_text(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            if !v.is_empty() && v.chars().all(|c| c.is_ascii_graphic() && c != '"') {
                format!(" {k}={v}")
            } else {
                format!(" {k}={v:?}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn one_line_per_event_in_either_format() {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 5, 5, 0, 1)
            .single()
            .expect("time");
        let text = Events {
            file: None,
            format: LogFormat::Text,
            tz: Some(chrono_tz::Europe::Berlin),
        };
        assert_eq!(
            text.line(
                at,
                "info",
                "backup finished",
                &[("source", "shop"), ("reason", "before migration")]
            ),
            "[2026-12-05 06:00:01] info  backup finished source=shop reason=\"before migration\""
        );
        assert!(!text.line(at, "error", "a\nb", &[]).contains('\n'));
        let json = Events {
            format: LogFormat::Json,
            ..text
        };
        let line = json.line(at, "warn", "x", &[("job", "7")]);
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["job"], "7");
        assert_eq!(v["level"], "warn");
    }
}
