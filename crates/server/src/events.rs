//! The server's event log: every event goes to tracing and, when
//! `[server] log-file` is set, as one JSON line to that file.

use std::io::Write as _;
use std::sync::{Mutex, PoisonError};

use chrono::Utc;

/// Where events are written.
#[derive(Default)]
pub struct Events {
    file: Option<Mutex<std::fs::File>>,
}

impl Events {
    /// Events to tracing, and to `file` when given.
    pub fn new(file: Option<std::fs::File>) -> Self {
        Events {
            file: file.map(Mutex::new),
        }
    }

    /// Writes a structured event.
    pub fn log(&self, level: &str, message: &str, fields: &[(&str, &str)]) {
        let text: String = fields.iter().map(|(k, v)| format!(" {k}={v:?}")).collect();
        match level {
            "error" => tracing::error!("{message}{text}"),
            "warn" => tracing::warn!("{message}{text}"),
            _ => tracing::info!("{message}{text}"),
        }
        if let Some(f) = &self.file {
            let mut obj = serde_json::Map::new();
            obj.insert("at".into(), crate::store::ts(Utc::now()).into());
            obj.insert("level".into(), level.into());
            obj.insert("message".into(), message.into());
            for (k, v) in fields {
                obj.insert((*k).to_string(), (*v).into());
            }
            let line = serde_json::Value::Object(obj).to_string();
            let mut f = f.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = writeln!(f, "{line}");
        }
    }
}
