"""A Matrix homeserver (Synapse) on a test database: its own schema, made
by Synapse when it first starts, and filled by users talking to it through
the client API, as a chat server's database really is.

    homeserver.py URL MESSAGES              schema, three users and an admin,
                                            rooms, messages, an edit, a
                                            reaction, a redaction, a profile
    homeserver.py chatter URL STOP          messages sent while the file STOP
                                            does not exist; prints "sent N"
                                            after each of the first ten
    homeserver.py dump URL                  what every user's client sees:
                                            rooms, state, the timeline
    homeserver.py write URL                 a new user, room and message,
                                            read back

URL: sqlite:///path/to/file.db or postgres://user@host:port/db. Each command
starts the homeserver on a free port with a configuration of its own, talks
to it over HTTP and stops it; the homeserver's log goes to stderr when
something fails.
"""

import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from urllib.parse import quote, urlparse

SECRET = "tresor-registration-secret"
PASSWORD = "tresor-user-password"
SERVER_NAME = "tresor.test"
UNLIMITED = {"per_second": 10000, "burst_count": 10000}


def database(url):
    u = urlparse(url)
    if u.scheme in ("postgres", "postgresql"):
        return {
            "name": "psycopg2",
            # the test databases have the server's default collation
            "allow_unsafe_locale": True,
            "args": {
                "user": u.username or "postgres",
                "host": u.hostname or "127.0.0.1",
                "port": u.port or 5432,
                "dbname": u.path.lstrip("/"),
                "cp_min": 1,
                "cp_max": 4,
            },
        }
    if u.scheme == "sqlite":
        return {"name": "sqlite3", "args": {"database": u.path}}
    raise SystemExit(f"unsupported url {url}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Homeserver:
    """Synapse started on `url`'s database, stopped on exit."""

    def __init__(self, url):
        self.dir = tempfile.mkdtemp(prefix="tresor-synapse-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = {
            "server_name": SERVER_NAME,
            "pid_file": os.path.join(self.dir, "homeserver.pid"),
            "listeners": [{
                "port": self.port, "tls": False, "type": "http",
                "bind_addresses": ["127.0.0.1"],
                "resources": [{"names": ["client"], "compress": False}],
            }],
            "database": database(url),
            "media_store_path": os.path.join(self.dir, "media"),
            "signing_key_path": os.path.join(self.dir, "signing.key"),
            "registration_shared_secret": SECRET,
            "report_stats": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "enable_metrics": False,
            "rc_message": UNLIMITED,
            "rc_registration": UNLIMITED,
            "rc_login": {"address": UNLIMITED, "account": UNLIMITED,
                         "failed_attempts": UNLIMITED},
            "rc_joins": {"local": UNLIMITED, "remote": UNLIMITED},
            "rc_invites": {"per_room": UNLIMITED, "per_user": UNLIMITED},
            "rc_room_creation": UNLIMITED,
            "rc_admin_redaction": UNLIMITED,
        }
        self.config = os.path.join(self.dir, "homeserver.yaml")
        with open(self.config, "w") as f:
            # JSON is YAML
            json.dump(config, f)
        self.log = open(os.path.join(self.dir, "homeserver.log"), "w+")
        python = sys.executable
        subprocess.run([python, "-m", "synapse.app.homeserver", "-c", self.config,
                        "--generate-keys"], check=True, stdout=self.log, stderr=self.log)
        self.process = subprocess.Popen(
            [python, "-m", "synapse.app.homeserver", "-c", self.config],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 180
        while True:
            if self.process.poll() is not None:
                self.fail("the homeserver exited while starting")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2) as r:
                    if r.read() == b"OK":
                        break
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                pass
            if time.time() > deadline:
                self.fail("the homeserver did not answer /health within 180 s")
            time.sleep(0.2)

    def fail(self, what):
        self.stop()
        self.log.seek(0)
        sys.stderr.write(self.log.read()[-20000:])
        raise SystemExit(what)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def call(self, method, path, body=None, token=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            self.fail(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}")

    def register(self, name, admin=False):
        nonce = self.call("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(SECRET.encode(), digestmod=hashlib.sha1)
        for part in (nonce, name, PASSWORD):
            mac.update(part.encode() + b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        return self.call("POST", "/_synapse/admin/v1/register", {
            "nonce": nonce, "username": name, "password": PASSWORD,
            "displayname": name.capitalize(), "admin": admin, "mac": mac.hexdigest(),
        })["access_token"]

    def login(self, name):
        return self.call("POST", "/_matrix/client/v3/login", {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": name},
            "password": PASSWORD,
        })["access_token"]

    def send(self, token, room, content, kind="m.room.message"):
        txn = hashlib.sha1(os.urandom(16)).hexdigest()
        path = f"/_matrix/client/v3/rooms/{quote(room)}/send/{kind}/{txn}"
        return self.call("PUT", path, content, token)["event_id"]

    def users(self):
        """The local users, by name (the admin API, which reads them all)."""
        admin = self.login("admin")
        out = self.call("GET", "/_synapse/admin/v2/users?limit=1000&guests=false", token=admin)
        return sorted(u["name"].split(":")[0][1:] for u in out["users"])


MESSAGES = [
    "Hallo zusammen, das Backup läuft jede Nacht um 02:00.",
    "Hei! Har noen sjekket at gjenopprettingen faktisk virker?",
    "Salut, backup-ul de ieri a eșuat: disk plin.",
    "restore latest --tables users 👍",
    "A longer message, " + "with text that goes on and on, " * 40 + "and ends.",
    "quotes ' and \" and \\ backslashes, tabs\tand\nnew lines",
    "emoji 🎉🔥 and CJK 数据库备份 and RTL שלום",
]


def make(url, users, messages):
    with Homeserver(url) as hs:
        admin = hs.register("admin", admin=True)
        tokens = {"admin": admin}
        for i in range(users):
            tokens[f"user{i}"] = hs.register(f"user{i}")
        rooms = []
        for i, topic in enumerate(["backups", "restores", "random"]):
            room = hs.call("POST", "/_matrix/client/v3/createRoom", {
                "name": f"#{topic}", "topic": f"All about {topic}", "preset": "public_chat",
            }, admin)["room_id"]
            rooms.append(room)
            for name, token in tokens.items():
                if name != "admin":
                    hs.call("POST", f"/_matrix/client/v3/join/{quote(room)}", {}, token)
        names = sorted(tokens)
        sent = []
        for i in range(messages):
            name = names[i % len(names)]
            room = rooms[i % len(rooms)]
            body = f"{MESSAGES[i % len(MESSAGES)]} (#{i})"
            sent.append((room, name, hs.send(tokens[name], room, {"msgtype": "m.text", "body": body})))
        # an edit, a reaction, a redaction, a topic change, a display name,
        # account data and a read receipt: each lives in tables of its own
        if not sent:
            return
        room, name, event = sent[0]
        hs.send(tokens[name], room, {
            "msgtype": "m.text", "body": "* edited",
            "m.new_content": {"msgtype": "m.text", "body": "edited"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": event},
        })
        other = names[1]
        hs.send(tokens[other], room, {"m.relates_to": {
            "rel_type": "m.annotation", "event_id": event, "key": "👍"}}, "m.reaction")
        room, name, event = sent[-1]
        hs.call("PUT", f"/_matrix/client/v3/rooms/{quote(room)}/redact/{quote(event)}/r1",
                {"reason": "oops"}, tokens[name])
        hs.call("PUT", f"/_matrix/client/v3/rooms/{quote(rooms[2])}/state/m.room.topic",
                {"topic": "Anything at all"}, admin)
        hs.call("PUT", f"/_matrix/client/v3/profile/{quote('@user0:' + SERVER_NAME)}/displayname",
                {"displayname": "Ünïcode Üser"}, tokens["user0"])
        hs.call("PUT", f"/_matrix/client/v3/user/{quote('@user0:' + SERVER_NAME)}"
                "/account_data/org.example.settings", {"theme": "dark", "n": 3}, tokens["user0"])
        hs.call("POST", f"/_matrix/client/v3/rooms/{quote(rooms[0])}/receipt/m.read/"
                f"{quote(sent[-3][2])}", {}, tokens["user0"])


def chatter(url, stop):
    with Homeserver(url) as hs:
        token = hs.login("user1")
        rooms = hs.call("GET", "/_matrix/client/v3/joined_rooms", token=token)["joined_rooms"]
        sent = 0
        while not os.path.exists(stop):
            body = f"{MESSAGES[sent % len(MESSAGES)]} (live #{sent})"
            hs.send(token, rooms[sent % len(rooms)], {"msgtype": "m.text", "body": body})
            sent += 1
            if sent <= 10:
                print(f"sent {sent}", flush=True)
        print(f"sent {sent}", flush=True)


def view(hs, name):
    """What `name`'s client sees: each joined room's state and timeline."""
    token = hs.login(name)
    me = f"@{name}:{SERVER_NAME}"
    rooms = {}
    for room in hs.call("GET", "/_matrix/client/v3/joined_rooms", token=token)["joined_rooms"]:
        state = hs.call("GET", f"/_matrix/client/v3/rooms/{quote(room)}/state", token=token)
        timeline, token_from = [], None
        while True:
            path = f"/_matrix/client/v3/rooms/{quote(room)}/messages?dir=b&limit=100"
            if token_from:
                path += "&from=" + quote(token_from)
            page = hs.call("GET", path, token=token)
            timeline += [(e["event_id"], e["sender"], e["type"], e.get("content"),
                          e.get("unsigned", {}).get("redacted_because", {}).get("event_id"))
                         for e in page["chunk"]]
            if not page.get("end") or not page["chunk"]:
                break
            token_from = page["end"]
        name_of = next((e["content"].get("name") for e in state if e["type"] == "m.room.name"), room)
        rooms[name_of] = {
            "id": room,
            "state": sorted(json.dumps([e["type"], e["state_key"], e["content"]], sort_keys=True)
                            for e in state),
            "timeline": timeline,
        }
    return {
        "profile": hs.call("GET", f"/_matrix/client/v3/profile/{quote(me)}", token=token),
        "account_data": hs.call("GET", f"/_matrix/client/v3/user/{quote(me)}/account_data/"
                                "org.example.settings", token=token)
        if name == "user0" else None,
        "rooms": rooms,
    }


def dump(url):
    with Homeserver(url) as hs:
        out = {name: view(hs, name) for name in hs.users()}
    print(json.dumps(out, indent=1, sort_keys=True, ensure_ascii=False))


def write(url):
    with Homeserver(url) as hs:
        token = hs.register("newcomer-" + hashlib.sha1(os.urandom(8)).hexdigest()[:8])
        room = hs.call("POST", "/_matrix/client/v3/createRoom", {"name": "#after"}, token)["room_id"]
        event = hs.send(token, room, {"msgtype": "m.text", "body": "written after the restore"})
        admin = hs.login("admin")
        old = hs.call("GET", "/_matrix/client/v3/joined_rooms", token=admin)["joined_rooms"][0]
        hs.send(admin, old, {"msgtype": "m.text", "body": "and in an old room"})
        page = hs.call("GET", f"/_matrix/client/v3/rooms/{quote(room)}/messages?dir=b&limit=5",
                       token=token)
        if event not in [e["event_id"] for e in page["chunk"]]:
            raise SystemExit("the new message is not in the room's timeline")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if "://" in command:
        make(command, 3, int(args[0]))
    elif command == "chatter":
        chatter(args[0], args[1])
    elif command == "dump":
        dump(args[0])
    elif command == "write":
        write(args[0])
    else:
        raise SystemExit(f"unknown command {command}")
