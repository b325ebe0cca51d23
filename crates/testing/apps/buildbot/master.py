#!/usr/bin/env python3
"""Makes a database the way a Buildbot master does: the schema made by
Buildbot's own model and Alembic migrations (what `buildbot upgrade-master`
does), then filled by a real master running real builds on a local worker:
changes pushed to it (with files, properties and authors), schedulers
that start builds on two builders, a forced build with properties, shell
steps whose output lands in gzip-compressed log chunks (one log large
enough for many chunks), a failing step, properties set from a command,
test results (not on MySQL, where Buildbot cannot record them in strict
mode), build data, step URLs and an HTML log.

    python3 master.py URL [CHANGES]     migrate, then CHANGES changes, each
                                        built on both builders (0: migrate
                                        only)
    python3 master.py dump URL          everything read back through
                                        Buildbot's data API (logs
                                        uncompressed), as canonical JSON
    python3 master.py write URL         the master starts again on the
                                        database and builds one more change
    python3 master.py janitor URL [BUILD]
                                        what Buildbot's log janitor
                                        (JanitorConfigurator's logHorizon)
                                        does with its horizon where build
                                        BUILD started (default: now): the
                                        chunks of every older step's logs
                                        deleted, the logs marked 'd'
    python3 master.py count URL WHAT    how many: builds, changes, chunks
                                        (log chunks), deleted-logs

URL is postgres://user@host:port/db, mysql://user@host:port/db or
sqlite:///path/to/file.db. Needs Buildbot and buildbot-worker;
.ci/services installs them into a virtual environment of their own
(pinned in requirements.txt).
"""

import collections
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from urllib.parse import quote, urlparse

warnings.filterwarnings("ignore")

from twisted.internet import defer, task  # noqa: E402
from twisted.python import log as twisted_log  # noqa: E402


def sqlalchemy_url(url):
    u = urlparse(url)
    user = quote(u.username or "", safe="")
    if u.password:
        user += ":" + quote(u.password, safe="")
    db = u.path.lstrip("/")
    host = u.hostname or "127.0.0.1"
    if u.scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg2://{user or 'postgres'}@{host}:{u.port or 5432}/{db}"
    if u.scheme in ("mysql", "mariadb"):
        # Buildbot adds its own charset
        return f"mysql+pymysql://{user or 'root'}@{host}:{u.port or 3306}/{db}"
    if u.scheme == "sqlite":
        return f"sqlite:///{u.path}"
    raise SystemExit(f"unsupported url {url}")


def config(url):
    """A master's configuration: one local worker, two builders (with
    tags, in a project), a scheduler on every branch and a forced one."""
    from buildbot.plugins import schedulers, steps, util, worker
    from buildbot.process.buildstep import BuildStep
    from buildbot.process.results import SUCCESS

    class Report(BuildStep):
        """Test results, build data, a URL and an HTML log, as test
        and coverage steps report them."""

        name = "report"

        @defer.inlineCallbacks
        def run(self):
            number = self.build.number
            # Buildbot's test results fail on MySQL in strict mode (after
            # adding a test's name it inserts an empty row, which strict
            # mode refuses with an error it does not expect)
            if self.master.db.pool.engine.dialect.name != "mysql":
                yield self.tests(number)
            yield self.setBuildData("coverage", f"{0.8 + number / 1000:.3f}".encode(), "report")
            yield self.setBuildData("artifact", bytes(range(256)) * 3, "report")
            yield self.addURL("coverage", f"https://ci.example/coverage/{number}")
            yield self.addHTMLLog("summary", f"<h1>build {number}</h1><p>€ ✓</p>")
            return SUCCESS

        @defer.inlineCallbacks
        def tests(self, number):
            setid = yield self.addTestResultSet("unit tests", "code", "boolean")
            for i in range(6):
                yield self.addTestResult(
                    setid,
                    str(int(i % 5 != 4)),
                    test_name=f"test_restore_{i} [ü]",
                    test_code_path=f"tests/test_{i % 2}.py",
                    line=10 * i + number,
                    duration_ns=1000 * i + 7,
                )
            timings = yield self.addTestResultSet("timings", "performance", "ns")
            yield self.addTestResult(timings, str(1.5e9 + number), test_name="restore")

    say = (
        "for i in $(seq 1 40); do echo \"line $i: ünïcode € ✓\"; "
        "echo \"warning $i\" >&2; done"
    )
    # about 300 KiB of output: many chunks of a compressed log
    flood = "seq 1 30000 | sed 's/^/output line /'"
    unit = util.BuildFactory([
        steps.ShellCommand(name="say", command=["sh", "-c", say]),
        steps.SetPropertyFromCommand(
            name="version", command=["sh", "-c", "echo 4.2.$(date +%j)"], property="version"
        ),
        steps.ShellCommand(name="flood", command=["sh", "-c", flood]),
        Report(),
    ])
    lint = util.BuildFactory([
        steps.ShellCommand(
            name="lint",
            command=["sh", "-c", "echo checking; test \"$BRANCH\" != fix || exit 3"],
            env={"BRANCH": util.Property("branch", default="")},
            flunkOnFailure=True,
        ),
        steps.ShellCommand(name="after", command=["echo", "done"], alwaysRun=True),
    ])
    return {
        "db_url": sqlalchemy_url(url),
        "title": "tresor",
        "buildbotNetUsageData": None,
        "workers": [worker.LocalWorker("local1")],
        "protocols": {"null": {}},
        "projects": [util.Project(name="tresor", slug="tresor", description="backups")],
        "builders": [
            util.BuilderConfig(
                name="unit", workernames=["local1"], factory=unit,
                tags=["test", "fast"], project="tresor", description="unit tests",
            ),
            util.BuilderConfig(
                name="lint", workernames=["local1"], factory=lint,
                tags=["test"], project="tresor",
            ),
        ],
        "schedulers": [
            schedulers.AnyBranchScheduler(
                name="all", builderNames=["unit", "lint"], treeStableTimer=None
            ),
            schedulers.ForceScheduler(name="force", builderNames=["unit", "lint"]),
        ],
        "logCompressionMethod": "gz",
    }


def new_master(url):
    """A master (not started) configured by `config(url)`."""
    from buildbot.config.master import MasterConfig
    from buildbot.interfaces import IConfigLoader
    from buildbot.master import BuildMaster
    from twisted.internet import reactor
    from zope.interface import implementer

    cfg = config(url)

    @implementer(IConfigLoader)
    class Loader:
        def loadConfig(self):
            return MasterConfig.loadFromDict(cfg, "<tresor>")

    basedir = tempfile.mkdtemp(prefix="master-")
    master = BuildMaster(basedir, reactor=reactor, config_loader=Loader())
    master.config.db.db_url = cfg["db_url"]
    return master, cfg


async def with_master(url, work, start=True):
    """Runs `work(master)` on a master over the database at `url`: started
    (with its worker) when `start`, else only connected to the database."""
    master, cfg = new_master(url)
    if start:
        await master.startService()
    else:
        await master.db.setup(check_version=True, verbose=False)
        # only the logs' decompression threads; the database's other
        # services clean up old rows
        await master.db.logs.startService()
    try:
        return await work(master)
    finally:
        if start:
            await master.stopService()
        else:
            await master.db.logs.stopService()
        await master.db.pool.stop()


async def build_changes(master, changes):
    """Pushes `changes` (keyword arguments of addChange) and waits until
    every build they start has finished (with success or failure, not an
    exception)."""
    finished = []
    consumer = await master.mq.startConsuming(
        lambda key, msg: finished.append(msg), ("builds", None, "finished")
    )
    want = 0
    for change in changes:
        await master.data.updates.addChange(**change)
        want += 2
        await wait_for(lambda: len(finished) >= want)
    consumer.stopConsuming()
    for msg in finished:
        # 0: success, 2: failure (the lint step on the fix branch)
        if msg["results"] not in (0, 2):
            raise SystemExit(f"build {msg['buildid']} ended with {msg['state_string']}")


async def wait_for(condition, timeout=120):
    from twisted.internet import reactor

    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise SystemExit("builds did not finish in time")
        await task.deferLater(reactor, 0.05, lambda: None)


def change(i, branch):
    return {
        "author": ["Ada Lovelace <ada@example.com>", "Grace Hopper <grace@example.com>",
                   "Jürgen Müller <jm@example.de>"][i % 3],
        "committer": "CI Bot <ci@example.com>",
        "files": [f"src/module_{i}.rs", "README.md", f"docs/ü_{i % 2}.md"],
        "comments": f"change {i}: fix the restore path\n\nwith a body € ✓ and 'quotes'",
        "revision": f"{i:040x}",
        "when_timestamp": 1709251200 + 3600 * i,
        "branch": branch,
        "category": "push" if i % 2 else None,
        "revlink": f"https://git.example/commit/{i:040x}",
        "properties": {"event": "push", "size": i, "ratio": i / 3, "flags": [i, "x"]},
        "repository": "https://git.example/tresor.git",
        "codebase": "",
        "project": "tresor",
    }


async def fill(master, changes):
    branches = ["main", "fix", "feature/ü"]
    await build_changes(master, [change(i, branches[i % 3]) for i in range(changes)])
    if changes:
        # a forced build with its reason and owner, as the web UI starts one
        finished = []
        consumer = await master.mq.startConsuming(
            lambda key, msg: finished.append(msg), ("builds", None, "finished")
        )
        sched = master.scheduler_manager.namedServices["force"]
        await sched.force(
            "admin@example.com", ["unit"], reason="release check",
            branch="main", revision="f" * 40, repository="https://git.example/tresor.git",
            project="tresor",
        )
        await wait_for(lambda: len(finished) >= 1)
        consumer.stopConsuming()


async def make(url, changes):
    # the schema, as `buildbot upgrade-master` makes it
    master, _ = new_master(url)
    await master.db.setup(check_version=False, verbose=False)
    await master.db.model.upgrade()
    await master.db.pool.stop()
    if changes:
        await with_master(url, lambda m: fill(m, changes))


def plain(value):
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and value.is_integer():
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return plain(dataclasses.asdict(value))
    if isinstance(value, (list, tuple, collections.UserList)):
        return [plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


async def dump(master):
    """Every object through the data API, which uncompresses the logs."""
    get = master.data.get
    out = {}
    # the API lists in the order the database has the rows: sorted by id
    for path, key in [
        ("projects", "projectid"), ("builders", "builderid"), ("workers", "workerid"),
        ("changes", "changeid"), ("sourcestamps", "ssid"), ("buildsets", "bsid"),
        ("buildrequests", "buildrequestid"), ("schedulers", "schedulerid"),
        ("changesources", "changesourceid"), ("masters", "masterid"),
    ]:
        out[path] = sorted(await get((path,)), key=lambda x: x[key])
    # a builder's tags are a set, which Buildbot reads through a join in
    # whatever order the engine's plan gives
    for b in out["builders"]:
        b["tags"] = sorted(b["tags"])
    builds = sorted(await get(("builds",)), key=lambda b: b["buildid"])
    for b in builds:
        bid = b["buildid"]
        b["properties"] = await get(("builds", bid, "properties"))
        # the API lists a build's data in the order the database has it
        data = sorted(await get(("builds", bid, "data")), key=lambda d: d["name"])
        b["data"] = []
        for d in data:
            value = await get(("builds", bid, "data", d["name"], "value"))
            b["data"].append({**d, "value": value})
        b["steps"] = sorted(await get(("builds", bid, "steps")), key=lambda x: x["stepid"])
        for s in b["steps"]:
            sid = s["stepid"]
            s["logs"] = sorted(await get(("steps", sid, "logs")), key=lambda x: x["logid"])
            for lg in s["logs"]:
                contents = await get(("logs", lg["logid"], "contents"))
                lg["content"] = contents["content"] if contents else None
            s["test_result_sets"] = sorted(
                await get(("steps", sid, "test_result_sets")),
                key=lambda x: x["test_result_setid"],
            )
            for trs in s["test_result_sets"]:
                results = await get(("test_result_sets", trs["test_result_setid"], "results"))
                trs["results"] = sorted(results, key=lambda x: x["test_resultid"])
    for bs in out["buildsets"]:
        bs["properties"] = await get(("buildsets", bs["bsid"], "properties"))
    out["builds"] = builds
    out["users"] = await master.db.users.getUsers()
    return plain(out)


async def write(master):
    from buildbot.process.results import FAILURE, SUCCESS

    before = await master.data.get(("builds",))
    ids = max((b["buildid"] for b in before), default=0)
    # the new builds start in a later second than every build before them
    # ended, so that a log horizon can fall between them
    last = max((b["complete_at"].timestamp() for b in before if b["complete_at"]), default=0)
    await wait_for(lambda: time.time() >= last + 1)
    await build_changes(master, [change(1000 + len(before), "main")])
    after = await master.data.get(("builds",))
    new = [b for b in after if b["buildid"] > ids]
    if len(new) != 2 or any(b["results"] not in (SUCCESS, FAILURE) for b in new):
        raise SystemExit(f"the new builds did not run: {new}")
    for b in new:
        steps = await master.data.get(("builds", b["buildid"], "steps"))
        for s in steps:
            for lg in await master.data.get(("steps", s["stepid"], "logs")):
                contents = await master.data.get(("logs", lg["logid"], "contents"))
                if lg["num_lines"] and not contents["content"]:
                    raise SystemExit(f"log {lg['logid']} of the new build is empty")


async def janitor(master, build):
    """The log janitor's step with its horizon where build `build` (or
    everything up to now) started: every log of a step started before it
    loses its chunks."""
    if build:
        b = await master.db.builds.getBuild(int(build))
        horizon = int(b.started_at.timestamp())
    else:
        horizon = int(time.time()) + 1
    return await master.db.logs.deleteOldLogChunks(horizon)


async def count(master, what):
    import sqlalchemy as sa

    model = master.db.model

    def query(conn):
        table, where = {
            "builds": (model.builds, None),
            "changes": (model.changes, None),
            "chunks": (model.logchunks, None),
            "deleted-logs": (model.logs, model.logs.c.type == "d"),
        }[what]
        q = sa.select(sa.func.count()).select_from(table)
        if where is not None:
            q = q.where(where)
        return conn.execute(q).scalar()

    return await master.db.pool.do(query)


async def main(reactor, args):
    if args[0] == "dump":
        out = await with_master(args[1], dump, start=False)
        print(json.dumps(out, sort_keys=True, indent=1, ensure_ascii=False))
    elif args[0] == "write":
        await with_master(args[1], write)
    elif args[0] == "janitor":
        build = args[2] if len(args) > 2 else None
        print(await with_master(args[1], lambda m: janitor(m, build), start=False))
    elif args[0] == "count":
        print(await with_master(args[1], lambda m: count(m, args[2]), start=False))
    else:
        await make(args[0], int(args[1]) if len(args) > 1 else 4)


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    if os.environ.get("TRESOR_BUILDBOT_LOG"):
        twisted_log.startLogging(sys.stderr)
    args = sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    # the masters' directories (and their workers' build directories) go
    # with the process
    with tempfile.TemporaryDirectory(prefix="tresor-buildbot-") as tmp:
        tempfile.tempdir = tmp
        task.react(lambda reactor: defer.ensureDeferred(main(reactor, args)))
