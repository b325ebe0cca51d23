#!/usr/bin/env bash
# Issue 7: MongoDB backup and restore of >= 1,000,000 documents against one server.
#
# There is no mongod on this machine: the server is SecantusDB (PyPI, a MongoDB
# wire-protocol server written in Python on WiredTiger), with on-disk storage.
# Measured, each with /usr/bin/time -v (wall, peak RSS, client CPU) and the
# server's own CPU time over the same interval (/proc/PID/stat):
#   load       the wine-cellar data set through pymongo insert_many (5000 per batch)
#   raw scan   pymongo reading every collection in _id order as raw BSON (what a
#              backup has to read: the server's floor), once plainly and once with
#              the four _id-type bucket queries tresor's reader sends
#   tresor backup, a second backup of the unchanged database, tresor restore
#   into a new database, tresor export to a zip; then counts, indexes and a
#   sample of documents compared byte for byte (RawBSONDocument).
#
#   bash bench/mongo.sh              DOCS=1000000 by default; DOCS=20000 for a quick try
# Writes bench/out/mongo.md. The server's data directory is removed at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DOCS="${DOCS:-1000000}"
SAMPLE="${SAMPLE:-200}" # random documents per collection compared byte for byte
D="$BENCH_DIR/mongo"
SRC=cellar
DST=cellar_restored

[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >&2; }
command -v secantusd-py >/dev/null || pip install -q --pre SecantusDB >&2
python3 -c 'import pymongo' 2>/dev/null || pip install -q pymongo >&2
ensure_tresor

rm -rf "$D"
mkdir -p "$D"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="mongodb://127.0.0.1:$PORT"
OPTS="${MONGO_URL_OPTS:-directConnection=true}"
TICK=$(getconf CLK_TCK)

secantusd-py --host 127.0.0.1 --port "$PORT" --storage-path "$D/data" --log-level WARNING >"$D/server.log" 2>&1 &
SPID=$!
stop_server() {
  if kill -0 "$SPID" 2>/dev/null; then
    kill -INT "$SPID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
  fi
}
cleanup() {
  local rc=$?
  stop_server
  if [ "$rc" != 0 ]; then # keep the logs of a failed run, not the data
    rm -rf "$BENCH_DIR/mongo-failed"; mkdir -p "$BENCH_DIR/mongo-failed"
    cp "$D"/log.* "$D"/stdout.* "$D"/time.* "$D"/server.log "$BENCH_DIR/mongo-failed/" 2>/dev/null || true
    echo "logs of the failed run: $BENCH_DIR/mongo-failed" >&2
  fi
  rm -rf "$D"
}
trap cleanup EXIT
for _ in $(seq 1 120); do
  python3 -c "import pymongo,sys; pymongo.MongoClient('$BASE/?$OPTS', serverSelectionTimeoutMS=500).admin.command('ping')" 2>/dev/null && break
  kill -0 "$SPID" 2>/dev/null || { cat "$D/server.log" >&2; exit 1; }
  sleep 0.5
done
echo "SecantusDB $(pip show SecantusDB 2>/dev/null | awk '/^Version/ { print $2 }') on port $PORT, pid $SPID, storage $D/data" >&2

server_cpu() { awk -v t="$TICK" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$SPID/stat"; }
server_rss_mb() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$SPID/status"; }

# phase NAME CMD...: runs CMD under /usr/bin/time -v. Sets WALL (s), RSS_MB (peak
# resident set of the client, MiB), CPU (client user+sys s), SCPU (server CPU s
# over the same interval), SRSS (server resident set afterwards, MiB).
phase() {
  local name="$1"; shift
  local tf="$D/time.$name" s0 c0 c1
  s0=$(date +%s.%N); c0=$(server_cpu)
  if ! /usr/bin/time -v -o "$tf" "$@" >"$D/stdout.$name" 2>"$D/log.$name"; then
    echo "FAILED: $name: $*" >&2
    tail -30 "$D/log.$name" >&2
    return 1
  fi
  c1=$(server_cpu)
  WALL=$(awk -v s="$s0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  RSS_MB=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$tf")
  CPU=$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { printf "%.1f", u + s }' "$tf")
  SCPU=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f", b - a }')
  SRSS=$(server_rss_mb)
  echo "  $name: ${WALL}s wall, client ${CPU}s CPU / ${RSS_MB} MiB peak, server ${SCPU}s CPU / ${SRSS} MiB now (load $(cut -d' ' -f1 /proc/loadavg))" >&2
}

# tphase NAME TRESOR-ARGS... (@OPTS@ in the URL stands for its options): a tresor
# step with the plain URL; if it fails, the failure is kept in NOTES and the step runs again with
# LONG_OPTS added to the URL (a longer driver server-monitor timeout: SecantusDB,
# a Python server on 2 busy cores, can miss the driver's 20 s heartbeat deadline).
LONG_OPTS="connectTimeoutMS=60000"
NOTES=""
tphase() {
  local name="$1"; shift
  local args=() a t0
  for a in "$@"; do args+=("${a//@OPTS@/"$OPTS"}"); done
  t0=$(date +%s.%N)
  if phase "$name" "$TRESOR" --repo "$REPO" --no-progress "${args[@]}"; then return 0; fi
  NOTES+="- **$name failed** after $(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }') s with the plain URL: \`$(grep -m1 '^error' "$D/log.$name" | sed 's/`//g')\`; the row shows a second run with \`$LONG_OPTS\` added to the URL"$'\n'
  cp "$D/log.$name" "$BENCH_DIR/mongo-$name-failure.log"
  if [ "$name" = backup ]; then rm -rf "$REPO" && "$TRESOR" --repo "$REPO" --quiet init >/dev/null; fi
  args=()
  local long="$OPTS&$LONG_OPTS"
  for a in "$@"; do args+=("${a//@OPTS@/"$long"}"); done
  phase "$name" "$TRESOR" --repo "$REPO" --no-progress "${args[@]}"
}

per_s() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }
mb_s() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.1f", n / 1048576 / t }'; }
row() { # row LABEL -> a table row from the last phase
  echo "| $1 | $WALL | $(per_s "$NDOCS" "$WALL") | $(mb_s "$BSON_BYTES" "$WALL") | $RSS_MB | $CPU | $SCPU |"
}

# --- load ---
echo "loading $DOCS documents into $SRC" >&2
phase load python3 "$BENCH_ROOT/mongo_load.py" load "$BASE/?$OPTS" "$SRC" "$DOCS"
L_WALL=$WALL L_RSS=$RSS_MB L_CPU=$CPU L_SCPU=$SCPU
COUNTS_SRC=$(python3 "$BENCH_ROOT/mongo_load.py" count "$BASE/?$OPTS" "$SRC")
DATA_BYTES=$(bytes "$D/data")

# --- the server's floor: read everything in _id order as raw BSON, pymongo ---
phase scan python3 "$BENCH_ROOT/mongo_load.py" scan "$BASE/?$OPTS" "$SRC"
read -r NDOCS BSON_BYTES <"$D/stdout.scan"
echo "$NDOCS documents, $(mb "$BSON_BYTES") MiB of BSON, server data directory $(mb "$DATA_BYTES") MiB" >&2
ROW_LOAD="| load: pymongo insert_many, 5000 per batch (client includes generating the documents) | $L_WALL | $(per_s "$NDOCS" "$L_WALL") | $(mb_s "$BSON_BYTES" "$L_WALL") | $L_RSS | $L_CPU | $L_SCPU |"
ROW_SCAN=$(row "raw scan: pymongo find() sorted by _id, RawBSONDocument, 1 connection")
phase scan_buckets python3 "$BENCH_ROOT/mongo_load.py" scan-buckets "$BASE/?$OPTS" "$SRC"
ROW_SCANB=$(row 'raw scan with the 4 queries per collection tresor sends (`_id` `$type` buckets, 3 sorted by `_id`, 1 keys only), pymongo, 1 connection')

# --- tresor backup, twice ---
REPO="$D/repo"
"$TRESOR" --repo "$REPO" --quiet init >/dev/null
tphase backup backup "$BASE/$SRC?@OPTS@"
ROW_BACKUP=$(row "**tresor backup**")
REPO_BYTES=$(bytes "$REPO")
tphase backup2 backup "$BASE/$SRC?@OPTS@"
ROW_BACKUP2=$(row "tresor backup again, nothing changed")
REPO2_BYTES=$(bytes "$REPO")

# --- tresor restore into a new database ---
tphase restore restore latest --to "$BASE/$DST?@OPTS@"
ROW_RESTORE=$(row "**tresor restore** latest into a new database")
METHOD=$(grep -io 'one multi-document transaction\|temporary collections[^,.;]*' "$D/stdout.restore" "$D/log.restore" | head -1 | cut -d: -f2- || true)

# --- tresor export ---
phase export "$TRESOR" --repo "$REPO" --no-progress export latest -o "$D/cellar.zip"
ROW_EXPORT=$(row "tresor export latest -o cellar.zip (canonical Extended JSON)")
ZIP_BYTES=$(bytes "$D/cellar.zip")

# --- verify ---
COUNTS_DST=$(python3 "$BENCH_ROOT/mongo_load.py" count "$BASE/?$OPTS" "$DST")
if [ "$COUNTS_SRC" = "$COUNTS_DST" ]; then VERIFY="same document count in every collection ($(echo "$COUNTS_SRC" | tr '\n' ',' | sed 's/,$//; s/,/, /g'))"
else VERIFY="**DOCUMENT COUNTS DIFFER**: original $(echo "$COUNTS_SRC" | tr '\n' ' '), restored $(echo "$COUNTS_DST" | tr '\n' ' ')"; fi
if VOUT=$(python3 "$BENCH_ROOT/mongo_load.py" verify "$BASE/?$OPTS" "$SRC" "$DST" "$SAMPLE" 2>&1); then VERIFY+="; same indexes; $(echo "$VOUT" | tail -1)"
else VERIFY+="; **$(echo "$VOUT" | tr '\n' ' ')**"; fi

OUT="$OUT_DIR/mongo.md"
{
  echo "### $NDOCS documents, $(mb "$BSON_BYTES") MiB of BSON (SecantusDB data directory $(mb "$DATA_BYTES") MiB on disk)"
  echo
  echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ { print $2 }') GiB RAM, kernel $(uname -r)"
  echo "- tresor $("$TRESOR" --version 2>/dev/null | awk '{ print $2 }'), release build $(cat "$TRESOR.provenance" 2>/dev/null || echo "of unknown provenance")"
  echo "- server: SecantusDB $(pip show SecantusDB 2>/dev/null | awk '/^Version/ { print $2 }') (\`secantusd-py\`, on-disk WiredTiger storage, default 1G cache, single-node replica set as the driver sees it), Python $(python3 -c 'import platform; print(platform.python_version())'), pymongo $(python3 -c 'import pymongo; print(pymongo.version)'); client and server on the same 2 cores"
  echo "- one run of each step; $(date -u +%Y-%m-%dT%H:%MZ); load average (1/5/15 min) at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| step | wall s | docs/s | BSON MiB/s | client peak RSS MiB | client CPU s | server CPU s |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  echo "$ROW_LOAD"
  echo "$ROW_SCAN"
  echo "$ROW_SCANB"
  echo "$ROW_BACKUP"
  echo "$ROW_BACKUP2"
  echo "$ROW_RESTORE"
  echo "$ROW_EXPORT"
  echo
  echo "- repository after the first backup: $(mb "$REPO_BYTES") MiB ($(pct "$REPO_BYTES" "$BSON_BYTES") of the BSON); after the second: $(mb "$REPO2_BYTES") MiB (+$(mb $((REPO2_BYTES - REPO_BYTES))) MiB)"
  echo "- export archive: $(mb "$ZIP_BYTES") MiB"
  echo "- restore path: ${METHOD:-not reported}"
  printf '%s' "$NOTES"
  echo "- server peak resident set (VmHWM) over the whole run: $(awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$SPID/status") MiB"
  echo "- restored database: $VERIFY"
} | tee "$OUT"
