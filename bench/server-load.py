#!/usr/bin/env python3
"""Constant-rate HTTP load on a running `tresor serve`, while backups run.

Open loop: request i is due at start + i / rate, whether or not earlier
requests have been answered (no coordinated omission). Its latency is
measured from the moment it was due to the moment its whole body arrived,
so time spent waiting for a free connection or a slow server counts.
Requests alternate between the paths given.

Meanwhile a backup of SOURCE is started through the API, and another as
soon as one ends, so a backup runs for the whole window; the poll requests
this needs are not counted. After the window the backup jobs are read from
the API, and every request is classed by whether a backup job was running
when it was due.

Usage:
  server-load.py --base URL --token TOKEN --source NAME [--rate 200]
                 [--duration 60] [--paths /api/v1/status,/api/v1/snapshots]
                 [--no-backup] [--json OUT]
Prints a JSON summary on stdout.
"""

import argparse
import asyncio
import datetime
import json
import sys
import time

import aiohttp


def pct(sorted_vals, p):
    """Nearest-rank percentile of a sorted list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def stats(samples):
    lat = sorted(s["latency"] * 1000.0 for s in samples if s["ok"])
    svc = sorted(s["service"] * 1000.0 for s in samples if s["ok"])
    return {
        "requests": len(samples),
        "errors": sum(1 for s in samples if not s["ok"]),
        "p50_ms": pct(lat, 50),
        "p90_ms": pct(lat, 90),
        "p99_ms": pct(lat, 99),
        "max_ms": lat[-1] if lat else None,
        "service_p50_ms": pct(svc, 50),
        "service_p99_ms": pct(svc, 99),
    }


def parse_ts(s):
    if not s:
        return None
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


async def backups(session, base, headers, source, stop, started_ids):
    """Keeps one backup of `source` running until `stop` is set."""
    current = None
    while not stop.is_set():
        if current is None:
            async with session.post(f"{base}/api/v1/snapshots", headers=headers,
                                    json={"source": source, "reason": "load check"}) as r:
                body = await r.json()
                if r.status != 202:
                    raise RuntimeError(f"starting a backup: {r.status} {body}")
                current = body["job"]
                started_ids.append(current)
        else:
            async with session.get(f"{base}/api/v1/jobs/{current}", headers=headers) as r:
                job = await r.json()
            if job.get("state") not in ("queued", "running"):
                current = None
                continue
        try:
            await asyncio.wait_for(stop.wait(), 0.25)
        except asyncio.TimeoutError:
            pass


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--source", default="shop")
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--paths", default="/api/v1/status,/api/v1/snapshots")
    ap.add_argument("--no-backup", action="store_true")
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()

    base = args.base.rstrip("/")
    headers = {"Authorization": f"Bearer {args.token}"}
    paths = args.paths.split(",")
    total = int(args.rate * args.duration)
    samples = []
    # Enough connections that a slow answer never holds up the schedule.
    load = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=256),
        timeout=aiohttp.ClientTimeout(total=args.timeout),
    )
    control = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    stop = asyncio.Event()
    job_ids = []
    backup_task = None
    if not args.no_backup:
        backup_task = asyncio.create_task(backups(control, base, headers, args.source, stop, job_ids))
        # Let the first backup start before the clock does.
        while not job_ids:
            await asyncio.sleep(0.05)

    async def one(i, due, path):
        sent = time.monotonic()
        ok, status, err = False, None, None
        try:
            async with load.get(base + path, headers=headers) as r:
                status = r.status
                body = await r.read()
                ok = r.status == 200 and len(body) > 0
                if ok:
                    json.loads(body)
        except Exception as e:  # noqa: BLE001 - every failure is an error sample
            err = f"{type(e).__name__}: {e}"
            ok = False
        done = time.monotonic()
        samples.append({
            "i": i, "path": path, "due_wall": wall0 + (due - mono0), "latency": done - due,
            "service": done - sent, "ok": ok, "status": status, "error": err,
        })

    tasks = []
    mono0 = time.monotonic() + 0.2
    wall0 = time.time() + 0.2
    max_lag = 0.0
    for i in range(total):
        due = mono0 + i / args.rate
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        else:
            max_lag = max(max_lag, now - due)
        tasks.append(asyncio.create_task(one(i, due, paths[i % len(paths)])))
    window_end = time.monotonic()
    await asyncio.gather(*tasks)
    stop.set()
    if backup_task:
        await backup_task

    # The backup jobs of the window, as the server recorded them; wait for
    # the one still running to end.
    jobs = []
    for jid in job_ids:
        while True:
            async with control.get(f"{base}/api/v1/jobs/{jid}", headers=headers) as r:
                job = await r.json()
            if job.get("state") not in ("queued", "running"):
                break
            await asyncio.sleep(0.5)
        jobs.append(job)
    await load.close()
    await control.close()

    intervals = []
    for j in jobs:
        s, f = parse_ts(j.get("started_at")), parse_ts(j.get("finished_at"))
        if s and f:
            intervals.append((s, f))
    during = [x for x in samples if any(s <= x["due_wall"] <= f for s, f in intervals)]
    outside = [x for x in samples if not any(s <= x["due_wall"] <= f for s, f in intervals)]
    errors = [x for x in samples if not x["ok"]]
    out = {
        "rate": args.rate,
        "duration_s": args.duration,
        "sent_over_s": round(window_end - mono0, 2),
        "scheduler_max_lag_ms": round(max_lag * 1000.0, 2),
        "all": stats(samples),
        "by_path": {p: stats([x for x in samples if x["path"] == p]) for p in paths},
        "while_backup_running": stats(during),
        "while_no_backup_running": stats(outside),
        "error_examples": [{k: e[k] for k in ("path", "status", "error")} for e in errors[:5]],
        "backups": [
            {
                "job": j.get("id"), "state": j.get("state"),
                "seconds": round(parse_ts(j["finished_at"]) - parse_ts(j["started_at"]), 2)
                if j.get("started_at") and j.get("finished_at") else None,
                "rows": (j.get("figures") or {}).get("rows"),
                "bytes": (j.get("figures") or {}).get("bytes"),
                "added_bytes": (j.get("figures") or {}).get("added_bytes"),
                "snapshot": (j.get("figures") or {}).get("snapshot"),
                "error": j.get("error"),
            }
            for j in jobs
        ],
    }
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    asyncio.run(main())
