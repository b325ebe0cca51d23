# Shared helpers for the tresor benchmarks. Sourced by bench/*.sh; not run on its own.
#
# Environment:
#   BENCH_DIR        scratch directory for databases, repositories and dumps (default /tmp/tresor-bench)
#   TRESOR           the tresor binary (default: $CARGO_TARGET_DIR/release/tresor, built if missing)
#   KEEP_DATA=1      keep generated databases between runs (they are reused when present)
#   PGHOST/PGUSER    PostgreSQL server (default 127.0.0.1 / postgres)
#   MYHOST/MYUSER    MariaDB server (default 127.0.0.1 / root)

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$BENCH_ROOT/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/tmp/tresor-bench}"
OUT_DIR="$BENCH_ROOT/out"
mkdir -p "$BENCH_DIR" "$OUT_DIR"

export PGHOST="${PGHOST:-127.0.0.1}" PGUSER="${PGUSER:-postgres}"
MYHOST="${MYHOST:-127.0.0.1}"
MYUSER="${MYUSER:-root}"
export TRESOR_PASSWORD="${TRESOR_PASSWORD:-bench-password}"
export RESTIC_PASSWORD="${RESTIC_PASSWORD:-bench-password}"
# Keep tresor's local cache (and restic's) inside the scratch directory.
export XDG_CACHE_HOME="$BENCH_DIR/cache"
export TRESOR_CACHE_DIR="$BENCH_DIR/cache/tresor"
export RESTIC_CACHE_DIR="$BENCH_DIR/cache/restic"
export TRESOR_LOG="${TRESOR_LOG:-warn}"

# Install the peer tools when missing (idempotent; Debian packages).
ensure_tools() {
  local missing=()
  command -v sqlite3 >/dev/null || missing+=(sqlite3)
  command -v zstd >/dev/null || missing+=(zstd)
  command -v restic >/dev/null || missing+=(restic)
  command -v pg_dump >/dev/null || missing+=(postgresql-client)
  command -v mariadb-dump >/dev/null || missing+=(mariadb-client)
  command -v mydumper >/dev/null || missing+=(mydumper)
  [ -x /usr/bin/time ] || missing+=(time)
  command -v python3 >/dev/null || missing+=(python3)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
}

ensure_tresor() {
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tresor-target}"
  if [ -z "${TRESOR:-}" ]; then
    (cd "$REPO_ROOT" && cargo build --release -p tresor >&2)
    # A private copy: others may rebuild the shared target while a benchmark runs.
    mkdir -p "$BENCH_DIR/bin"
    cp "$CARGO_TARGET_DIR/release/tresor" "$BENCH_DIR/bin/tresor"
    TRESOR="$BENCH_DIR/bin/tresor"
    echo "built $(date -u +%Y-%m-%dT%H:%MZ) from commit $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO_ROOT" diff --quiet HEAD -- crates Cargo.toml 2>/dev/null || echo " plus uncommitted changes")" >"$TRESOR.provenance"
  fi
}

# measure NAME CMD...  runs CMD under GNU time; sets WALL (seconds), CPU_S (user + system
# seconds of CMD and the children it waited for) and RSS_MB (peak resident set of the
# largest process, MiB). Pipelines: measure NAME bash -c '...'.
# CMD's stdout goes to $BENCH_DIR/stdout.NAME, its stderr to $BENCH_DIR/log.NAME.
measure() {
  local name="$1"; shift
  local tf="$BENCH_DIR/time.$name"
  local start end
  start=$(date +%s.%N)
  if ! /usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" >"$BENCH_DIR/stdout.$name" 2>"$BENCH_DIR/log.$name"; then
    echo "FAILED: $name: $*" >&2
    tail -20 "$BENCH_DIR/log.$name" >&2
    return 1
  fi
  end=$(date +%s.%N)
  WALL=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')
  RSS_MB=$(awk 'END { printf "%.0f", $2 / 1024 }' "$tf")
  CPU_S=$(awk 'END { printf "%.1f", $3 + $4 }' "$tf")
  echo "  $name: ${WALL}s, CPU ${CPU_S}s, peak RSS ${RSS_MB} MiB" >&2
}

# bench NAME SETUP CMD...  runs SETUP (untimed, a bash string, may be "") then CMD under
# measure, REPEAT times (default 3): WALL = median wall time, RSS_MB = highest peak,
# and "NAME: t1 t2 t3" is appended to RUNS (printed under each table).
REPEAT="${REPEAT:-3}"
RUNS=""
bench() {
  local name="$1" setup="$2" i rss=0 walls=()
  shift 2
  for i in $(seq 1 "$REPEAT"); do
    if [ -n "$setup" ]; then bash -c "$setup" >/dev/null 2>&1 || { echo "setup failed: $setup" >&2; return 1; }; fi
    measure "$name" "$@"
    walls+=("$WALL")
    rss=$(( RSS_MB > rss ? RSS_MB : rss ))
  done
  WALL=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  RSS_MB=$rss
  RUNS+="${RUNS:+; }$name ${walls[*]}"
  echo "  => $name median ${WALL}s" >&2
}

# Other processes on the machine add noise: record the load average around a run.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
load_note() {
  printf '%s' "- load average (1/5/15 min) at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ -n "$RUNS" ]; then echo "; repeated measurements report the median of $REPEAT runs (all runs, s: $RUNS)"; else echo; fi
}

bytes() { du -sb "$1" | awk '{ print $1 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.1f%%", 100 * a / b }'; }

machine_info() {
  echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ { print $2 }') GiB RAM, kernel $(uname -r)"
  echo "- tresor $("$TRESOR" --version 2>/dev/null | awk '{ print $2 }'), release build $(cat "$TRESOR.provenance" 2>/dev/null || echo "of unknown provenance"), binary sha256 $(sha256sum "$TRESOR" | cut -c1-12)"
  echo "- $(sqlite3 --version | awk '{ print "sqlite3 " $1 }'), $(zstd --version | sed 's/.*v\([0-9.]*\).*/zstd \1/'), $(restic version | awk '{ print $1 " " $2 }'), $(pg_dump --version | sed 's/ (PostgreSQL)//'), $(mariadb-dump --version | awk '{ print "mariadb-dump " $5 }' | tr -d ','), $(mydumper --version | awk '{ print $1 " " $2 }' | tr -d ',')"
  echo "- page cache warm (dropping caches is not permitted here); one benchmark at a time; $(date -u +%Y-%m-%dT%H:%MZ)"
  load_note
}

# shop_sqlite SCALE: the path of the generated SQLite shop of that scale, made once
# (kept in $BENCH_DIR/data).
shop_sqlite() {
  local db="$BENCH_DIR/data/shop-$1.db"
  if [ ! -f "$db" ]; then
    mkdir -p "$BENCH_DIR/data"
    python3 "$BENCH_ROOT/gen_shop.py" load --engine sqlite --db "$db.tmp" --scale "$1" >&2
    mv "$db.tmp" "$db"
  fi
  echo "$db"
}

tresor_init() { # tresor_init REPO
  rm -rf "$1"
  "$TRESOR" --repo "$1" --quiet init >/dev/null
}

restic_init() { # restic_init REPO
  rm -rf "$1"
  restic -r "$1" init >/dev/null 2>&1
}

pg_sql() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "${2:-postgres}" -c "$1"; }
my_sql() { mariadb -h"$MYHOST" -u"$MYUSER" -N -B -e "$1" ${2:+"$2"}; }
export MYHOST MYUSER BENCH_DIR
export -f pg_sql my_sql
