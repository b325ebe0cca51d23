//! Exit codes and how errors are printed: one line saying what went wrong,
//! one line saying what to try.

use std::process::ExitCode;

use tresor_ops::{ErrorClass, OpsError};

/// Exit codes (also in `tresor --help` and docs/cli.md).
pub mod code {
    pub const ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const WRONG_PASSWORD: u8 = 4;
    pub const CONFLICT: u8 = 5;
    pub const DAMAGED: u8 = 6;
    pub const DATABASE: u8 = 7;
    pub const STORAGE: u8 = 8;
    pub const CANCELLED: u8 = 130;
}

/// An error the CLI itself raises, with a hint.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
    pub code: u8,
}

impl UserError {
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: Some(hint.into()),
            code: code::USAGE,
        }
    }

    pub fn not_found(message: impl Into<String>, hint: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: Some(hint.into()),
            code: code::NOT_FOUND,
        }
    }

    pub fn cancelled(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: None,
            code: code::CANCELLED,
        }
    }
}

pub(crate) fn class_code(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Usage => code::USAGE,
        ErrorClass::Auth => code::WRONG_PASSWORD,
        ErrorClass::NotFound => code::NOT_FOUND,
        ErrorClass::Conflict => code::CONFLICT,
        ErrorClass::Corrupt => code::DAMAGED,
        ErrorClass::Database => code::DATABASE,
        ErrorClass::Repository => code::STORAGE,
        ErrorClass::Cancelled => code::CANCELLED,
        ErrorClass::Internal => code::ERROR,
    }
}

/// Prints `err` (as JSON on stdout when `json`) and returns the exit code.
pub fn report(err: &anyhow::Error, json: bool) -> ExitCode {
    let (code, hint) = if let Some(u) = err.downcast_ref::<UserError>() {
        (u.code, u.hint.clone())
    } else if let Some(o) = err.downcast_ref::<OpsError>() {
        (class_code(o.class()), o.hint())
    } else if let Some(s) = err.downcast_ref::<tresor_core::SourceError>() {
        (
            class_code(OpsError::from(clone_source(s)).class()),
            s.hint().map(str::to_string),
        )
    } else {
        (code::ERROR, None)
    };
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !message.contains(&c) {
            message = format!("{message}: {c}");
        }
    }
    if json {
        let v =
            serde_json::json!({ "error": { "message": message, "hint": hint, "exit_code": code } });
        outln!("{v}");
    } else {
        eprintln!("error: {message}");
        if let Some(h) = hint {
            eprintln!("  try: {h}");
        }
    }
    ExitCode::from(code)
}

fn clone_source(s: &tresor_core::SourceError) -> tresor_core::SourceError {
    tresor_core::SourceError::new(s.kind(), s.to_string())
}
