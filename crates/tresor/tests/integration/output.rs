//! What the CLI prints, pinned with insta snapshots, for people and with
//! `--json`: snapshot ids, digests, clock times, durations, the
//! temporary directory and the host are replaced by placeholders.

use insta::internals::Content;
use serde_json::Value;
use tresor_testing::shapes::{content, scrub, scrub_times};

use crate::integration::support::{Env, sql};

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("output");
    s.set_prepend_module_to_snapshot(false);
    for key in [
        "time",
        "end_time",
        "hostname",
        "username",
        "tresor_version",
        "server_version",
        "added_bytes",
        "new_chunks",
        "reused_chunks",
        "cache",
        "seconds",
    ] {
        s.add_redaction(
            &format!(".**.{key}"),
            insta::dynamic_redaction(move |v, _| match v {
                Content::None | Content::Unit => v,
                _ => Content::from(format!("[{key}]")),
            }),
        );
    }
    s
}

/// "took 0.5s" -> "took [t]" (the spaces after "took" kept).
fn untimed(line: &str) -> String {
    let Some(at) = line.find("took ") else {
        return line.to_string();
    };
    let after = &line[at + 4..];
    let spaces = after.len() - after.trim_start().len();
    let rest = &after[spaces..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    if end == 0 {
        return line.to_string();
    }
    let rest = &rest[end..];
    let rest = rest.strip_prefix('s').unwrap_or(rest);
    format!("{}took{}[t]{rest}", &line[..at], &after[..spaces])
}

/// "rehearsed in 0.4 s" -> "rehearsed in [t] s".
fn unrehearsed(line: &str) -> String {
    let Some(at) = line.find("rehearsed in ") else {
        return line.to_string();
    };
    let rest = &line[at + 13..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    format!("{}rehearsed in [t]{}", &line[..at], &rest[end..])
}

struct Shots<'a> {
    env: &'a Env,
}

impl Shots<'_> {
    fn text(&self, s: &str) -> String {
        let dir = self.env.dir.path().display().to_string();
        scrub_times(&scrub(&s.replace(&dir, "[dir]")))
            .lines()
            .map(|line| {
                if line.starts_with("host ") {
                    return "host       [host]".to_string();
                }
                unrehearsed(&untimed(line))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Human output of a command that succeeds.
    fn human(&self, name: &str, args: &[&str]) {
        let out = self.text(&self.env.ok(args));
        settings().bind(|| insta::assert_snapshot!(name, out));
    }

    /// `--json` output of a command that succeeds.
    fn json(&self, name: &str, args: &[&str]) {
        let v = self.env.json(args);
        let dir = self.env.dir.path().display().to_string();
        let v: Value = serde_json::from_str(&v.to_string().replace(&dir, "[dir]")).expect("json");
        let v = content(&v);
        settings().bind(|| insta::assert_json_snapshot!(name, v));
    }

    /// Exit code, stdout and stderr of a command that fails.
    fn failure(&self, name: &str, args: &[&str]) {
        let out = self.env.tresor(args);
        let text = format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            out.status.code(),
            self.text(&String::from_utf8_lossy(&out.stdout)),
            self.text(&String::from_utf8_lossy(&out.stderr)),
        );
        settings().bind(|| insta::assert_snapshot!(name, text));
    }
}

#[test]
fn cli_output_keeps_its_shape() {
    let env = Env::new();
    let db = env.path("app.db");
    sql(
        &db,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO users VALUES (1, 'ada'), (2, 'grace');
         CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), total REAL);
         INSERT INTO orders VALUES (1, 1, 9.5), (2, 2, 12.25), (3, 1, 3.0);",
    );
    std::fs::write(
        env.path("tresor.toml"),
        format!(
            "[sources.app]\nurl = \"sqlite://{}\"\ntags = [\"prod\"]\n[sources.app.groups]\nuser-data = [\"users\"]\n",
            db.display()
        ),
    )
    .expect("config");
    let s = Shots { env: &env };
    s.human(
        "backup",
        &["backup", "app", "--tag", "first", "--reason", "pinned"],
    );
    s.json("backup_json", &["backup", "app", "--group", "user-data"]);
    sql(
        &db,
        "INSERT INTO orders VALUES (4, 2, 1.5); UPDATE users SET name = 'Ada' WHERE id = 1;",
    );
    s.human("backup_after_changes", &["backup", "app"]);
    s.human("snapshots", &["snapshots"]);
    s.json("snapshots_json", &["snapshots"]);
    s.human("show", &["show", "latest"]);
    s.json("show_json", &["show", "latest"]);
    let target = env.path("copy.db").display().to_string();
    s.human(
        "restore_dry_run",
        &["restore", "latest", "--to", &target, "--dry-run"],
    );
    s.json(
        "restore_dry_run_json",
        &["restore", "latest", "--to", &target, "--dry-run"],
    );
    s.human("check", &["check"]);
    s.json("check_json", &["check"]);
    s.human(
        "forget_dry_run",
        &["forget", "--keep-last", "1", "--dry-run"],
    );
    s.failure("error_unknown_source", &["backup", "nope"]);
    s.failure("error_unknown_source_json", &["--json", "backup", "nope"]);
    s.failure(
        "error_unknown_restore_mode",
        &["restore", "latest", "--to", &target, "--mode", "upsert"],
    );
}
