//! Names of exported archives, by a pattern users recognise from their own
//! scripts: `backup_{time:%m%d%y_%H%M%S}_{reason}` gives
//! `backup_120526_060001_before_migration.zip`.
//!
//! Placeholders: `{source}`, `{time}` or `{time:FORMAT}` (strftime, in the
//! time zone given: the server's, or the user's for the CLI), `{reason}`,
//! `{id}` (the short snapshot id), `{group}`, `{trigger}`. Substituted
//! values keep letters, digits, `.`, `-` and `_`; anything else becomes
//! `_`, so a name never leaves its directory. The extension is added.

use chrono::TimeZone;
use chrono::format::{Item, StrftimeItems};

use crate::retention::group_of;
use crate::snapshot::Snapshot;

/// The pattern used when none is configured.
pub const DEFAULT_ARCHIVE_NAME: &str = "tresor-{source}-{time:%Y%m%d-%H%M%S}-{id}";

const DEFAULT_TIME: &str = "%Y%m%d_%H%M%S";

/// Checks a pattern: known placeholders, valid time formats, braces that
/// close.
///
/// # Errors
/// What is wrong, for the config's validation.
pub fn check_archive_name(pattern: &str) -> Result<(), String> {
    for part in parts(pattern)? {
        if let Part::Field(name, format) = part {
            match (name, format) {
                ("time", Some(f)) => {
                    if StrftimeItems::new(f).any(|i| matches!(i, Item::Error)) {
                        return Err(format!("invalid time format {f:?} in {pattern:?}"));
                    }
                }
                ("source" | "reason" | "id" | "group" | "trigger" | "time", None) => {}
                (other, _) => {
                    return Err(format!(
                        "unknown placeholder {{{other}}} in {pattern:?} (use source, time, time:FORMAT, reason, id, group, trigger)"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The file name of an archive of `snapshot` by `pattern`, times in `tz`,
/// with the extension `ext` (`zip`, `tar.zst`). An invalid pattern (the
/// config's validation refuses those) falls back to the default.
pub fn archive_file_name<Tz: TimeZone>(
    pattern: &str,
    snapshot: &Snapshot,
    tz: &Tz,
    ext: &str,
) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let pattern = if check_archive_name(pattern).is_ok() {
        pattern
    } else {
        DEFAULT_ARCHIVE_NAME
    };
    let local = snapshot.time.with_timezone(tz);
    let mut out = String::new();
    for part in parts(pattern).unwrap_or_default() {
        match part {
            Part::Text(t) => out.push_str(&safe(t)),
            Part::Field(name, format) => {
                let value = match name {
                    "source" => snapshot.source.key().to_string(),
                    "time" => local.format(format.unwrap_or(DEFAULT_TIME)).to_string(),
                    "reason" => snapshot.reason.clone().unwrap_or_default(),
                    "id" => snapshot.short_id().to_string(),
                    "group" => group_of(snapshot).unwrap_or_default().to_string(),
                    "trigger" => snapshot.trigger.as_str().to_string(),
                    _ => String::new(),
                };
                out.push_str(&safe(&value));
            }
        }
    }
    let stem = out.trim_matches(['_', '.', '-']);
    let stem = if stem.is_empty() { "tresor" } else { stem };
    format!("{stem}.{ext}")
}

enum Part<'a> {
    Text(&'a str),
    Field(&'a str, Option<&'a str>),
}

fn parts(pattern: &str) -> Result<Vec<Part<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Part::Text(&rest[..open]));
        }
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("unclosed {{ in {pattern:?}"));
        };
        let inner = &rest[open + 1..open + close];
        out.push(match inner.split_once(':') {
            Some((name, format)) => Part::Field(name, Some(format)),
            None => Part::Field(inner, None),
        });
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("unopened }} in {pattern:?}"));
    }
    if !rest.is_empty() {
        out.push(Part::Text(rest));
    }
    Ok(out)
}

/// Letters, digits, `.`, `-` and `_` stay; the rest becomes `_`.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .replace("..", "_")
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use chrono_tz::Europe::Oslo;

    use super::*;

    fn snap() -> Snapshot {
        let mut s: Snapshot = serde_json::from_value(serde_json::json!({
            "version": 1,
            "time": "2026-12-05T05:00:01Z",
            "end_time": "2026-12-05T05:00:02Z",
            "tresor_version": "1",
            "source": {"name": "shop", "url": "postgres://db/shop", "engine": "postgres", "server_version": "16", "database": "shop"},
            "trigger": "manual",
            "reason": "before migration/../x",
            "tags": ["group:user-data"],
            "hostname": "h",
            "username": "u",
            "consistency": "",
            "schema": "00".repeat(32),
            "tables": [],
            "totals": {"tables": 0, "rows": 0, "bytes": 0, "added_bytes": 0, "new_chunks": 0, "reused_chunks": 0}
        }))
        .expect("snapshot");
        s.id = "0123456789abcdef".into();
        s
    }

    #[test]
    fn patterns_name_files_users_recognise() {
        let s = snap();
        assert_eq!(
            archive_file_name("backup_{time:%m%d%y_%H%M%S}_{reason}", &s, &Oslo, "zip"),
            "backup_120526_060001_before_migration___x.zip"
        );
        assert_eq!(
            archive_file_name("fixgsm_backup_{time}", &s, &Utc, "zip"),
            "fixgsm_backup_20261205_050001.zip"
        );
        assert_eq!(
            archive_file_name(DEFAULT_ARCHIVE_NAME, &s, &Utc, "tar.zst"),
            "tresor-shop-20261205-050001-01234567.tar.zst"
        );
        assert_eq!(
            archive_file_name("{group}-{trigger}", &s, &Utc, "zip"),
            "user-data-manual.zip"
        );
        // an empty reason leaves no dangling separator
        let mut plain = snap();
        plain.reason = None;
        assert_eq!(
            archive_file_name("backup_{time}_{reason}", &plain, &Utc, "zip"),
            "backup_20261205_050001.zip"
        );
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(check_archive_name("x_{nope}").is_err());
        assert!(check_archive_name("x_{time").is_err());
        assert!(check_archive_name("x}").is_err());
        assert!(check_archive_name("{time:%Q}").is_err());
        assert!(check_archive_name("backup_{time:%Y}_{reason}").is_ok());
    }
}
