//! A Matrix homeserver's database (Synapse, `crates/testing/apps/synapse`):
//! the schema Synapse makes for itself when it first starts (about 180
//! tables on SQLite and on PostgreSQL, where it also makes its own
//! sequences, functions and triggers and tunes the planner's statistics of
//! its largest tables), filled by clients talking to the running server.
//! Backed up while a client chats, restored, and started again: the
//! homeserver checks at startup that its sequences are ahead of its
//! streams, so it refuses a restore whose sequences fell behind its rows.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::Value;

use super::apps::App;
use super::cross_engine::{app_dump, app_writes};
use super::disasters::{Db, Kind, differences};
use super::support::Env;

/// Backed up while a client sends messages, the homeserver restores into
/// a new database, starts on it, shows every user what they saw at the
/// moment of the backup (each room's timeline is the older part of the
/// live one, without a gap), and goes on writing. Backed up again once
/// quiet, it restores to the engine's own dump line for line and drills.
#[test]
fn a_synapse_homeserver_backed_up_while_it_runs_restores_and_starts_again() {
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let env = Env::new();
        let src = Db::create(kind, env.dir.path());
        src.make(App::Synapse, "30");
        let from = src.url();
        let latest = format!("latest:{from}");

        // a client chatting before, during and after the backup
        let stop = env.dir.path().join("stop");
        let mut chatter = App::Synapse
            .command()
            .args(["chatter", &from])
            .arg(&stop)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the chatting client");
        let mut lines = BufReader::new(chatter.stdout.take().expect("stdout")).lines();
        let mut sent_by = |n: u32| {
            let want = format!("sent {n}");
            for line in lines.by_ref() {
                if line.expect("a line") == want {
                    return;
                }
            }
            panic!("the client stopped before it sent {n} messages");
        };
        sent_by(3);
        env.ok(&["backup", &from, "--quiet"]);
        sent_by(8);
        std::fs::write(&stop, "").expect("stop file");
        let out = chatter.wait_with_output().expect("the client");
        assert!(
            out.status.success(),
            "the client chatting during the backup failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let live = Db::create(kind, env.dir.path());
        env.ok(&["restore", &latest, "--to", &live.url(), "--yes"]);

        // quiet now: the engine's own dump, line for line (the planner's
        // column settings included), and a drill
        env.ok(&["backup", &from, "--quiet"]);
        let report = env.json(&["drill", &latest]);
        assert_eq!(report["ok"], true, "drill of {from}: {report}");
        let quiet = Db::create(kind, env.dir.path());
        env.ok(&["restore", &latest, "--to", &quiet.url(), "--yes"]);
        let (want, got) = (src.dump(), quiet.dump());
        assert!(want == got, "{from}: {}", differences(&want, &got));

        // the homeserver starts on the snapshot taken while it ran
        let (now, then) = (
            parse(&app_dump(App::Synapse, &from)),
            parse(&app_dump(App::Synapse, &live.url())),
        );
        same_moment_earlier(&now, &then, &from);
        app_writes(App::Synapse, &live.url());
    }
}

fn parse(dump: &str) -> Value {
    serde_json::from_str(dump).expect("a homeserver dump")
}

/// `then` (the restore of the backup taken while the client chatted)
/// shows every user what `now` (the source afterwards) shows, except for
/// messages sent after the backup: the same profiles, rooms and state, and
/// each room's timeline (newest first) is the end of the live one.
fn same_moment_earlier(now: &Value, then: &Value, from: &str) {
    let users = now.as_object().expect("users");
    assert_eq!(
        users.keys().collect::<Vec<_>>(),
        then.as_object().expect("users").keys().collect::<Vec<_>>(),
        "{from}: the users"
    );
    let (mut missing, mut kept) = (0, 0);
    for (user, seen) in users {
        let was = &then[user];
        assert_eq!(seen["profile"], was["profile"], "{from}: {user}'s profile");
        assert_eq!(
            seen["account_data"], was["account_data"],
            "{from}: {user}'s account data"
        );
        let rooms = seen["rooms"].as_object().expect("rooms");
        assert_eq!(
            rooms.keys().collect::<Vec<_>>(),
            was["rooms"]
                .as_object()
                .expect("rooms")
                .keys()
                .collect::<Vec<_>>(),
            "{from}: {user}'s rooms"
        );
        for (room, now_room) in rooms {
            let then_room = &was["rooms"][room];
            assert_eq!(now_room["id"], then_room["id"], "{from}: room {room}");
            assert_eq!(
                now_room["state"], then_room["state"],
                "{from}: {user} sees another state of {room}"
            );
            let (all, old) = (
                now_room["timeline"].as_array().expect("timeline"),
                then_room["timeline"].as_array().expect("timeline"),
            );
            assert!(
                old.len() <= all.len() && all[all.len() - old.len()..] == old[..],
                "{from}: {user}'s timeline of {room} restored is not the older part of the live \
                 one ({} of {} events)",
                old.len(),
                all.len()
            );
            missing += all.len() - old.len();
            kept += old.len();
        }
    }
    // the client sent messages after the backup, and the rooms' history
    // before it came back
    assert!(
        missing > 0,
        "{from}: nothing sent after the backup is missing"
    );
    assert!(kept > 30, "{from}: only {kept} events restored");
}
