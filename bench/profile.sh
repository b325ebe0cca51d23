#!/usr/bin/env bash
# Where tresor's time and memory go: the measurements behind "Performance problems
# found" in BENCHMARKS.md. Not a benchmark (no peers); run after bench/sqlite.sh,
# bench/postgres.sh and bench/mysql.sh have generated their databases.
#
#   bash bench/profile.sh memory        # backup peak RSS at two sizes, as shipped and with glibc's malloc defaults
#   bash bench/profile.sh massif        # live heap of a backup (valgrind massif, small database)
#   bash bench/profile.sh cpu           # perf profiles: PostgreSQL and MariaDB backup, SQLite restore
#   bash bench/profile.sh mysql-restore # MariaDB restore peak RSS per table and in total
#   bash bench/profile.sh incremental   # CPU of a full vs a daily SQLite backup, and its profile
#   bash bench/profile.sh first-last    # 8 SQLite snapshots; restore first and last alternately
#   bash bench/profile.sh instructions  # instructions of one backup of a 48 MB PostgreSQL database (callgrind);
#                                       # BASE=path/to/other/tresor counts that binary too
#   bash bench/profile.sh allocator     # backup CPU and peak RSS: as shipped against glibc malloc settings
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tresor
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >&2; }
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >&2; }

P="$BENCH_DIR/profile"
rm -rf "$P"; mkdir -p "$P"
export TRESOR_CACHE_DIR="$P/cache"
SMALL="$BENCH_DIR/data/shop-0.16.db"
LARGE="$BENCH_DIR/data/shop-1.0.db"
T="$TRESOR"
fresh() { rm -rf "$P/r"; "$T" -r "$P/r" -q init; }
gtime() { /usr/bin/time -f "$1: %e s wall, %U s user, %S s sys, peak RSS %M KB" "${@:2}"; }

# Sums a perf report by area (symbol name patterns).
summary() {
  perf report -i "$1" --no-children --stdio -g none --percent-limit 0.05 2>/dev/null | grep -v '^#' | awk '
  /%/ { p = $1; sub(/%/, "", p); s = $0; sub(/.*\[[.k]\] /, "", s); c = "other"
    if (s ~ /sqlite3|vdbe|Vdbe|pcache|btree|Btree|pager|Pager|balance|moveTo|getPage|insertCell|fillInCell|Sorter|sorter/) c = "sqlite engine"
    else if (s ~ /blake3/) c = "blake3 hashing"
    else if (s ~ /ZSTD|zstd|HUF_|FSE_/) c = "zstd"
    else if (s ~ /aes|gcm|chacha|poly1305|polyval|ghash/) c = "encryption"
    else if (s ~ /malloc|free|realloc|_int_|memmove|memcpy|memset|unlink_chunk/) c = "malloc/free/memcpy"
    else if (s ~ /codec|Reader|encode_|decode|Value|tresor_core/) c = "row codec"
    else if (s ~ /tokio|futures|parking_lot|futex/) c = "async runtime"
    else if (s ~ /postgres|CopyParser/) c = "postgres client"
    else if (s ~ /mysql/) c = "mysql client"
    else if ($0 ~ /\[k\]/) c = "kernel"
    a[c] += p }
  END { for (k in a) printf "%6.1f%%  %s\n", a[k], k | "sort -rn" }'
  perf report -i "$1" --no-children --stdio -g none --percent-limit 2 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12
}

case "${1:?usage: profile.sh memory|massif|cpu|mysql-restore|incremental|first-last|instructions|allocator}" in
  memory)
    # X=1: as shipped (tresor fixes the mmap threshold itself);
    # TRESOR_MALLOC_TUNING=off: glibc's defaults, for comparison
    for env in X=1 TRESOR_MALLOC_TUNING=off "TRESOR_MALLOC_TUNING=off MALLOC_ARENA_MAX=1"; do
      for db in "$SMALL" "$LARGE"; do
        # shellcheck disable=SC2086
        fresh; env $env /usr/bin/time -f "$env $(basename "$db"): %e s, peak RSS %M KB" "$T" -r "$P/r" -q backup "sqlite://$db"
      done
    done ;;
  massif)
    fresh
    valgrind --tool=massif --massif-out-file="$P/massif.out" "$T" -r "$P/r" -q backup "sqlite://$SMALL" 2>/dev/null
    echo "largest heap snapshots (bytes); the 64 MiB one is Argon2id while the key is opened:"
    ms_print "$P/massif.out" | awk '/^ +[0-9]+ +[0-9,]+ +[0-9,]+/ { gsub(",", "", $3); print $1, $3 }' | sort -k2 -n | tail -4 ;;
  cpu)
    fresh; gtime "postgres backup" "$T" -r "$P/r" -q backup "postgres://$PGUSER@$PGHOST/bench_pg"
    fresh; perf record -q -F 999 -g -o "$P/pg.data" "$T" -r "$P/r" -q backup "postgres://$PGUSER@$PGHOST/bench_pg"
    echo "== PostgreSQL backup"; summary "$P/pg.data"
    fresh; gtime "mariadb backup" "$T" -r "$P/r" -q backup "mysql://$MYUSER@$MYHOST/bench_my"
    fresh; perf record -q -F 999 -g -o "$P/my.data" "$T" -r "$P/r" -q backup "mysql://$MYUSER@$MYHOST/bench_my"
    echo "== MariaDB backup"; summary "$P/my.data"
    fresh; "$T" -r "$P/r" -q backup "sqlite://$LARGE"
    perf record -q -F 499 -g -o "$P/sr.data" "$T" -r "$P/r" -q restore latest --to "sqlite://$P/restored.db"
    echo "== SQLite restore"; summary "$P/sr.data" ;;
  mysql-restore)
    fresh; "$T" -r "$P/r" -q backup "mysql://$MYUSER@$MYHOST/bench_my"
    for t in users products orders order_items events users,products all; do
      my_sql "DROP DATABASE IF EXISTS bench_prof_r"
      if [ "$t" = all ]; then sel=(); else sel=(--tables "$t"); fi
      gtime "restore $t" "$T" -r "$P/r" -q restore latest "${sel[@]}" --to "mysql://$MYUSER@$MYHOST/bench_prof_r"
    done
    my_sql "DROP DATABASE IF EXISTS bench_prof_r"
    MALLOC_MMAP_THRESHOLD_=131072 gtime "restore all, MALLOC_MMAP_THRESHOLD_=131072" "$T" -r "$P/r" -q restore latest --to "mysql://$MYUSER@$MYHOST/bench_prof_r"
    my_sql "DROP DATABASE IF EXISTS bench_prof_r" ;;
  incremental)
    cp "$LARGE" "$P/s.db"
    fresh; gtime "full backup" "$T" -r "$P/r" -q backup "sqlite://$P/s.db"
    python3 "$BENCH_ROOT/gen_shop.py" churn --engine sqlite --db "$P/s.db" --scale 1.0 --day 1
    gtime "daily backup" "$T" -r "$P/r" -q backup "sqlite://$P/s.db"
    python3 "$BENCH_ROOT/gen_shop.py" churn --engine sqlite --db "$P/s.db" --scale 1.0 --day 2
    perf record -q -F 999 -g -o "$P/inc.data" "$T" -r "$P/r" -q backup "sqlite://$P/s.db"
    echo "== daily SQLite backup"; summary "$P/inc.data"
    echo "row cache: $(du -sh "$TRESOR_CACHE_DIR" | cut -f1) for 3 snapshots" ;;
  instructions)
    # Instruction counts do not depend on what else the machine is doing:
    # the same binary and data give the same total to within 0.01%, where
    # wall and CPU times here vary by 10-30% between windows. Argon2id
    # (opening the key, about 560 M instructions) is part of every total.
    SMALL_PG=bench_pg_small
    if [ "$(pg_sql "SELECT count(*) FROM pg_database WHERE datname = '$SMALL_PG'")" != 1 ]; then
      pg_sql "CREATE DATABASE $SMALL_PG"
      python3 "$BENCH_ROOT/gen_shop.py" load --engine pg --scale 0.05 | psql -X -q -v ON_ERROR_STOP=1 -d "$SMALL_PG" >/dev/null
      pg_sql "VACUUM ANALYZE" "$SMALL_PG"
    fi
    for bin in ${BASE:-} "$T"; do
      for i in 1 2; do
        fresh; rm -rf "$TRESOR_CACHE_DIR"
        valgrind --tool=callgrind --callgrind-out-file="$P/cg.out" "$bin" -r "$P/r" -q backup "postgres://$PGUSER@$PGHOST/$SMALL_PG" 2>"$P/vg.log" >/dev/null
        echo "$bin (sha256 $(sha256sum "$bin" | cut -c1-12)), run $i: $(awk '/Collected/ { print $NF }' "$P/vg.log") instructions"
      done
    done ;;
  allocator)
    # One backup each of the large SQLite file and bench_pg, alternating.
    for i in 1 2 3; do
      for env in X=1 "TRESOR_MALLOC_TUNING=off MALLOC_ARENA_MAX=1" "MALLOC_MMAP_THRESHOLD_=4194304 MALLOC_TRIM_THRESHOLD_=16777216"; do
        for src in "sqlite://$LARGE" "postgres://$PGUSER@$PGHOST/bench_pg"; do
          # shellcheck disable=SC2086
          fresh; rm -rf "$TRESOR_CACHE_DIR"
          env $env /usr/bin/time -f "$env ${src%%:*}: %e s wall, %U s user, %S s sys, peak RSS %M KB" "$T" -r "$P/r" -q backup "$src"
        done
      done
    done ;;
  first-last)
    cp "$LARGE" "$P/s.db"
    fresh; "$T" -r "$P/r" -q backup "sqlite://$P/s.db"
    for d in 1 2 3 4 5 6 7; do
      python3 "$BENCH_ROOT/gen_shop.py" churn --engine sqlite --db "$P/s.db" --scale 1.0 --day "$d"
      "$T" -r "$P/r" -q backup "sqlite://$P/s.db"
    done
    mapfile -t IDS < <("$T" -r "$P/r" --json snapshots | python3 -c 'import json, sys; s = json.load(sys.stdin); s = s if isinstance(s, list) else s["snapshots"]; [print(x["id"][:8]) for x in s]')
    for i in 1 2 3; do
      for id in "${IDS[0]}" "${IDS[-1]}"; do
        rm -f "$P/rr.db"; gtime "restore $id" "$T" -r "$P/r" -q restore "$id" --to "sqlite://$P/rr.db"
      done
    done ;;
esac
rm -rf "$P"
