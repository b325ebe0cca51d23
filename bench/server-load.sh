#!/usr/bin/env bash
# Issue 6: `tresor serve` under load. While backups of a ~400 MB SQLite
# database run back to back, 200 requests/s for 60 s to the status and
# snapshot-list endpoints (alternating), at a constant rate from an
# open-loop client (bench/server-load.py). Writes bench/out/server-load.md
# and the "## Server under load" section of BENCHMARKS.md.
#
#   bash bench/server-load.sh
#
# Environment: BENCH_DIR (scratch, default /tmp/tresor-bench), SCALE (of
# bench/gen_shop.py; 0.62 gives ~400 MB), RATE (200), DURATION (60),
# BASELINE (seconds of the same load with no backup running afterwards,
# default 20; 0 skips it), PORT (default: a free one), TRESOR (a binary to
# use instead of building one).
# Everything it sends goes to 127.0.0.1; the load is bounded by RATE x
# DURATION requests.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/tmp/tresor-bench}"
W="$BENCH_DIR/server"
SCALE="${SCALE:-0.62}"
RATE="${RATE:-200}"
DURATION="${DURATION:-60}"
BASELINE="${BASELINE:-20}"
OUT="$ROOT/bench/out/server-load.md"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tresor-target}"
mkdir -p "$W" "$BENCH_DIR/data" "$ROOT/bench/out"

need=()
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
python3 -c "import aiohttp" 2>/dev/null || pip install --quiet --break-system-packages aiohttp 2>/dev/null || pip install --quiet aiohttp

# The binary: a release build, copied so that others rebuilding the shared
# target during the run do not swap it underneath.
if [ -z "${TRESOR:-}" ]; then
  (cd "$ROOT" && cargo build --release -p tresor >&2)
  mkdir -p "$W/bin"
  cp "$CARGO_TARGET_DIR/release/tresor" "$W/bin/tresor"
  TRESOR="$W/bin/tresor"
fi
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$ROOT" diff --quiet HEAD -- crates Cargo.toml 2>/dev/null || COMMIT="$COMMIT plus uncommitted changes"

# The database: bench/gen_shop.py's shop data set (shared cache with the
# other benchmarks, same file naming).
DB="$BENCH_DIR/data/shop-$SCALE.db"
if [ ! -f "$DB" ]; then
  echo "generating $DB (scale $SCALE)" >&2
  python3 "$ROOT/bench/gen_shop.py" load --engine sqlite --db "$DB.tmp.$$" --scale "$SCALE" >&2
  mv "$DB.tmp.$$" "$DB"
fi
DB_BYTES=$(stat -c %s "$DB")
ROWS=$(sqlite3 "$DB" "SELECT (SELECT count(*) FROM users)+(SELECT count(*) FROM products)+(SELECT count(*) FROM orders)+(SELECT count(*) FROM order_items)+(SELECT count(*) FROM events)")
echo "database: $DB ($((DB_BYTES / 1000000)) MB, $ROWS rows)" >&2

# A fresh repository, config and state.
rm -rf "$W/repo" "$W/state.db" "$W/server.log" "$W/cache"
export XDG_CACHE_HOME="$W/cache"
printf 'bench-password\n' >"$W/repo-password"
TRESOR_PASSWORD=bench-password "$TRESOR" --repo "$W/repo" --quiet init >&2
PORT="${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
cat >"$W/tresor.toml" <<EOF
[repository]
url = "$W/repo"
password-file = "$W/repo-password"

[sources.shop]
url = "sqlite://$DB"

[server]
listen = "127.0.0.1:$PORT"
state-file = "$W/state.db"
log-file = "$W/server.log"
EOF

BASE="http://127.0.0.1:$PORT"
ADMIN_PASSWORD="bench-admin-password"
TRESOR_ADMIN_PASSWORD="$ADMIN_PASSWORD" TRESOR_LOG=warn "$TRESOR" serve -c "$W/tresor.toml" 2>"$W/serve.stderr" &
SERVER=$!
stop_server() {
  if kill -0 "$SERVER" 2>/dev/null; then
    kill -TERM "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
}
trap stop_server EXIT
for _ in $(seq 1 100); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$W/serve.stderr" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$BASE/healthz" >/dev/null

# An API token (scope backup: reads, and starts backups), as docs/server.md shows.
TOKEN=$(curl -fsS -XPOST "$BASE/api/v1/auth/token" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\",\"name\":\"load-check\",\"scope\":\"backup\",\"expires_in\":\"1h\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
STARTED="$(date -u +%Y-%m-%dT%H:%MZ)"
echo "load: $RATE req/s for ${DURATION}s at $BASE while backups run" >&2
python3 "$ROOT/bench/server-load.py" --base "$BASE" --token "$TOKEN" --source shop \
  --rate "$RATE" --duration "$DURATION" >"$W/load.json"
BASELINE_JSON=""
if [ "$BASELINE" != "0" ]; then
  echo "baseline: $RATE req/s for ${BASELINE}s with no backup running" >&2
  python3 "$ROOT/bench/server-load.py" --base "$BASE" --token "$TOKEN" --no-backup \
    --rate "$RATE" --duration "$BASELINE" >"$W/baseline.json"
  BASELINE_JSON="$W/baseline.json"
fi
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
SERVER_RSS_MB=$(awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER/status" 2>/dev/null || echo "?")
SNAPSHOTS=$(curl -fsS -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/snapshots" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["snapshots"]))')
stop_server
trap - EXIT

CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
MEM_GB=$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
export ROOT OUT W RATE DURATION BASELINE DB DB_BYTES ROWS COMMIT STARTED LOAD_BEFORE LOAD_AFTER \
  SERVER_RSS_MB SNAPSHOTS CPU MEM_GB BASELINE_JSON SCALE
python3 - <<'PY'
import json, os, re

e = os.environ
load = json.load(open(os.path.join(e["W"], "load.json")))
base = json.load(open(e["BASELINE_JSON"])) if e.get("BASELINE_JSON") else None

def ms(v):
    return "–" if v is None else f"{v:.1f}"

def row(name, s):
    return (f"| {name} | {s['requests']} | {s['errors']} | {ms(s['p50_ms'])} | {ms(s['p90_ms'])} | "
            f"{ms(s['p99_ms'])} | {ms(s['max_ms'])} |")

b = load["backups"]
done = [x for x in b if x["state"] == "succeeded"]
first = b[0] if b else None
lines = []
lines.append("## Server under load")
lines.append("")
lines.append(f"`tresor serve` (release build, commit {e['COMMIT']}) with one SQLite source of "
             f"{int(e['DB_BYTES']) / 1e6:.0f} MB ({int(e['ROWS']):,} rows, `bench/gen_shop.py` scale {e['SCALE']}) "
             "and a local repository. An API token; then, while backups of the source ran back to back "
             f"(one started through the API, the next as soon as one ended), {e['RATE']} requests/s for "
             f"{e['DURATION']} s alternating `GET /api/v1/status` and `GET /api/v1/snapshots`.")
lines.append("")
lines.append("- command: `bash bench/server-load.sh` (defaults: `SCALE=0.62 RATE=200 DURATION=60 BASELINE=20`)")
lines.append("- load generator: `bench/server-load.py`, an open-loop Python asyncio/aiohttp client on the same "
             "machine: request *i* is sent at start + *i*/rate whatever the earlier ones are doing, up to 256 "
             "keep-alive connections, and its latency runs from when it was due until its whole body arrived "
             "(so queueing behind a slow answer counts; no coordinated omission). "
             "`wrk` was not used: Debian has no `wrk2`, and plain `wrk` is closed-loop, so its rate falls and "
             "its latencies shrink exactly when the server slows down.")
lines.append(f"- machine: 2 cores ({e['CPU']}), {e['MEM_GB']} GiB RAM; server, backups and load generator "
             f"share the 2 cores; other people's builds and benchmarks were running too "
             f"(load average 1/5/15 min before {e['LOAD_BEFORE']}, after {e['LOAD_AFTER']}); {e['STARTED']}")
lines.append(f"- the generator kept its schedule: {load['all']['requests']} requests sent over "
             f"{load['sent_over_s']} s, at most {load['scheduler_max_lag_ms']} ms behind")
lines.append("")
lines.append("| requests | sent | errors | p50 ms | p90 ms | p99 ms | max ms |")
lines.append("|---|---:|---:|---:|---:|---:|---:|")
lines.append(row(f"all, {e['DURATION']} s with backups", load["all"]))
for p, s in load["by_path"].items():
    lines.append(row(f"`GET {p}`", s))
lines.append(row("due while a backup job was running", load["while_backup_running"]))
lines.append(row("due between two backups", load["while_no_backup_running"]))
if base:
    lines.append(row(f"baseline: {e['BASELINE']} s, no backup", base["all"]))
lines.append("")
if first:
    lines.append(f"Backups: {len(b)} started, {len(done)} succeeded"
                 + (f", {len(b) - len(done)} not: {[x['state'] + ' ' + str(x['error']) for x in b if x['state'] != 'succeeded']}" if len(done) != len(b) else "")
                 + f". The first (the full one): {first['seconds']} s, {first['rows']:,} rows, "
                 f"{(first['bytes'] or 0) / 1e6:.0f} MB of table data, {(first['added_bytes'] or 0) / 1e6:.0f} MB new in the repository; "
                 f"the later ones (deduplicated): {', '.join(str(x['seconds']) for x in b[1:])} s. "
                 f"{e['SNAPSHOTS']} snapshots listed at the end. Server peak RSS {e['SERVER_RSS_MB']} MiB.")
lines.append("")
if load["error_examples"]:
    lines.append(f"Errors seen (first ones): {load['error_examples']}")
    lines.append("")
section = "\n".join(lines).rstrip() + "\n"
open(e["OUT"], "w").write(section)

path = os.path.join(e["ROOT"], "BENCHMARKS.md")
text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
m = re.search(r"^## Server under load\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
if m:
    text = text[:m.start()] + section + ("\n" if m.end() < len(text) else "") + text[m.end():]
else:
    text = text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text)
print(section)
PY
