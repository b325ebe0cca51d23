#!/usr/bin/env bash
# Issue 5: row-level incremental backups. A first backup, then 7 days of ~1% spread
# churn (bench/gen_shop.py churn: 1% of users updated across the key range, 3 000
# orders with their items and 5 000 events inserted, every 1000th event deleted with
# a moving offset), a backup after each day; tresor side by side with restic
# (`restic backup` of the SQLite file, `pg_dump | restic backup --stdin` for
# PostgreSQL). Then the first and the last snapshot are restored and timed.
#
#   bash bench/incremental.sh sqlite      (SCALE=1.0: ~615 MiB database)
#   bash bench/incremental.sh postgres    (SCALE=0.6: ~490 MB database)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
ensure_tresor

ENGINE="${1:?usage: incremental.sh sqlite|postgres}"
DAYS="${DAYS:-7}"
D="$BENCH_DIR/incremental-$ENGINE"
rm -rf "$D" "$TRESOR_CACHE_DIR"; mkdir -p "$D"
tresor_init "$D/tresor-repo"
restic_init "$D/restic-repo"

case "$ENGINE" in
  sqlite)
    SCALE="${SCALE:-1.0}"
    ORIG=$(shop_sqlite "$SCALE")
    DB="$D/shop.db"
    cp "$ORIG" "$DB"
    SOURCE="sqlite://$DB"
    SIZE_DESC="$(mb "$(bytes "$DB")") MiB SQLite file"
    churn() { python3 "$BENCH_ROOT/gen_shop.py" churn --engine sqlite --db "$DB" --scale "$SCALE" --day "$1"; }
    restic_backup() { restic -r "$D/restic-repo" backup --quiet "$DB"; }
    RESTIC_DESC="restic backup (of the file)"
    restore_tresor() { rm -f "$D/restored-$2.db"; "$TRESOR" --repo "$D/tresor-repo" --quiet restore "$1" --to "sqlite://$D/restored-$2.db"; }
    restore_restic() { rm -rf "$D/restic-out-$2"; restic -r "$D/restic-repo" restore "$1" --target "$D/restic-out-$2" >/dev/null; }
    RESTIC_RESTORE_DESC="restic restore (of the file)"
    same_as_live() { [ "$(sqlite3 "$DB" .dump | sha256sum)" = "$(sqlite3 "$D/restored-$1.db" .dump | sha256sum)" ]; }
    cleanup() { rm -rf "$D"; }
    ;;
  postgres)
    SCALE="${SCALE:-0.6}"
    SRC="${PG_DB:-bench_pg}"
    if [ "$(pg_sql "SELECT count(*) FROM pg_database WHERE datname = '$SRC'")" != 1 ]; then
      echo "generate $SRC first: bash bench/postgres.sh (or set PG_DB)" >&2
      exit 1
    fi
    DB="${SRC}_inc"
    pg_sql "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
    pg_sql "CREATE DATABASE $DB TEMPLATE $SRC"
    SOURCE="postgres://$PGUSER@$PGHOST/$DB"
    SIZE_DESC="$(mb "$(pg_sql "SELECT pg_database_size('$DB')")") MiB PostgreSQL database"
    churn() { python3 "$BENCH_ROOT/gen_shop.py" churn --engine pg --scale "$SCALE" --day "$1" | psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null; }
    restic_backup() { pg_dump -d "$DB" | restic -r "$D/restic-repo" backup --quiet --stdin --stdin-filename "$DB.sql"; }
    RESTIC_DESC="pg_dump \\| restic backup --stdin"
    restore_tresor() {
      pg_sql "DROP DATABASE IF EXISTS ${DB}_r$2 WITH (FORCE)"
      "$TRESOR" --repo "$D/tresor-repo" --quiet restore "$1" --to "postgres://$PGUSER@$PGHOST/${DB}_r$2"
    }
    restore_restic() {
      pg_sql "DROP DATABASE IF EXISTS ${DB}_s$2 WITH (FORCE)"
      pg_sql "CREATE DATABASE ${DB}_s$2"
      restic -r "$D/restic-repo" dump "$1" "/$DB.sql" | psql -X -q -v ON_ERROR_STOP=1 -d "${DB}_s$2" >/dev/null
    }
    RESTIC_RESTORE_DESC="restic dump \\| psql"
    digest() {
      local q="" t
      for t in users products orders order_items events; do
        q+="SELECT '$t', count(*), md5(string_agg(md5(x::text), '' ORDER BY x::text)) FROM $t x UNION ALL "
      done
      pg_sql "SELECT * FROM (${q% UNION ALL }) d ORDER BY 1" "$1"
    }
    same_as_live() { [ "$(digest "$DB")" = "$(digest "${DB}_r$1")" ]; }
    cleanup() {
      local db
      for db in "$DB" "${DB}_rfirst" "${DB}_rlast" "${DB}_rfull" "${DB}_sfirst" "${DB}_slast"; do pg_sql "DROP DATABASE IF EXISTS $db WITH (FORCE)"; done
      rm -rf "$D"
    }
    ;;
  *) echo "unknown engine $ENGINE (sqlite|postgres)" >&2; exit 2 ;;
esac

export -f churn restic_backup restore_tresor restore_restic pg_sql
export D DB SCALE TRESOR BENCH_ROOT
[ "$ENGINE" = postgres ] && export SRC

ROWS_TABLE=()
T_FIRST_ADDED=0 T_FIRST_WALL=0 R_FIRST_ADDED=0
T_MAX_PCT=0 T_MAX_WALL=0 R_MAX_PCT=0
T_IDS=() R_PREV=0
for day in $(seq 0 "$DAYS"); do
  C_WALL="-"
  if [ "$day" -gt 0 ]; then
    measure "churn_$day" bash -c "churn $day"
    C_WALL=$WALL
  fi
  measure "tresor_$day" "$TRESOR" --repo "$D/tresor-repo" --json backup "$SOURCE"
  T_WALL=$WALL T_RSS=$RSS_MB
  T_ADDED=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["added_bytes"])' "$BENCH_DIR/stdout.tresor_$day")
  T_IDS+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$BENCH_DIR/stdout.tresor_$day")")
  T_TOTAL=$(bytes "$D/tresor-repo")
  measure "restic_$day" bash -c restic_backup
  R_WALL=$WALL
  R_TOTAL=$(bytes "$D/restic-repo")
  R_ADDED=$((R_TOTAL - R_PREV)); R_PREV=$R_TOTAL
  if [ "$day" -eq 0 ]; then
    T_FIRST_ADDED=$T_ADDED T_FIRST_WALL=$T_WALL R_FIRST_ADDED=$R_ADDED
    T_PCT="100%" R_PCT="100%"
    CHANGES="first backup"
  else
    T_PCT=$(pct "$T_ADDED" "$T_FIRST_ADDED") R_PCT=$(pct "$R_ADDED" "$R_FIRST_ADDED")
    T_MAX_PCT=$(awk -v a="$T_MAX_PCT" -v b="${T_PCT%\%}" 'BEGIN { print (b > a) ? b : a }')
    R_MAX_PCT=$(awk -v a="$R_MAX_PCT" -v b="${R_PCT%\%}" 'BEGIN { print (b > a) ? b : a }')
    T_MAX_WALL=$(awk -v a="$T_MAX_WALL" -v b="$T_WALL" 'BEGIN { print (b > a) ? b : a }')
    CHANGES=$(python3 - "$BENCH_DIR/stdout.tresor_$day" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
i = u = d = 0
for t in s["tables"]:
    c = t.get("changes") or {}
    i += c.get("inserted", 0); u += c.get("updated", 0); d += c.get("deleted", 0)
print(f"+{i} ~{u} -{d}")
EOF
)
  fi
  ROWS_TABLE+=("| $day | $C_WALL | $CHANGES | $T_WALL | $(mb "$T_ADDED") | $T_PCT | $(mb "$T_TOTAL") | $T_RSS | $R_WALL | $(mb "$R_ADDED") | $R_PCT | $(mb "$R_TOTAL") |")
done
CACHE_BYTES=$(bytes "$TRESOR_CACHE_DIR" 2>/dev/null || echo 0)
# The same data as the last snapshot, backed up in full (no parent): what the
# last snapshot's restore would cost without any incremental history.
"$TRESOR" --repo "$D/tresor-repo" --json backup "$SOURCE" --force >"$D/full.json"
FULL_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$D/full.json")
rows_of() { "$TRESOR" --repo "$D/tresor-repo" --json show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["rows"])'; }
ROWS_FIRST=$(rows_of "${T_IDS[0]}") ROWS_LAST=$(rows_of "${T_IDS[$DAYS]}")

# --- restore the first and the last snapshot ---
# Alternate first and last, so that a burst of load on the machine hits both alike.
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# Wall time on a shared machine is noisy; the CPU time tresor spends (user +
# system; for SQLite that includes the database engine) is the steadier measure
# of what a restore costs, so both are reported.
REPEAT_RESTORE="${REPEAT_RESTORE:-5}"
F_W=() L_W=() U_W=() F_C=() L_C=() U_C=() TRF_RSS=0 TRL_RSS=0 TRU_RSS=0
for i in $(seq 1 "$REPEAT_RESTORE"); do
  measure tresor_restore_first bash -c "restore_tresor ${T_IDS[0]} first"
  F_W+=("$WALL"); F_C+=("$CPU_S"); TRF_RSS=$(( RSS_MB > TRF_RSS ? RSS_MB : TRF_RSS ))
  measure tresor_restore_last bash -c "restore_tresor ${T_IDS[$DAYS]} last"
  L_W+=("$WALL"); L_C+=("$CPU_S"); TRL_RSS=$(( RSS_MB > TRL_RSS ? RSS_MB : TRL_RSS ))
  measure tresor_restore_full bash -c "restore_tresor $FULL_ID full"
  U_W+=("$WALL"); U_C+=("$CPU_S"); TRU_RSS=$(( RSS_MB > TRU_RSS ? RSS_MB : TRU_RSS ))
done
TRF=$(median "${F_W[@]}") TRL=$(median "${L_W[@]}") TRU=$(median "${U_W[@]}")
CF=$(median "${F_C[@]}") CL=$(median "${L_C[@]}") CU=$(median "${U_C[@]}")
RUNS+="${RUNS:+; }wall: tresor_restore_first ${F_W[*]}; tresor_restore_last ${L_W[*]}; tresor_restore_full_of_last_day ${U_W[*]}"
RUNS+="; CPU: tresor_restore_first ${F_C[*]}; tresor_restore_last ${L_C[*]}; tresor_restore_full_of_last_day ${U_C[*]}"
us_per_row() { awk -v s="$1" -v r="$2" 'BEGIN { printf "%.2f", s * 1e6 / r }'; }
if same_as_live last; then VERIFY="the last snapshot's restore equals the live database after day $DAYS"
else VERIFY="**the last snapshot's restore DIFFERS from the live database**"; fi
mapfile -t R_IDS < <(restic -r "$D/restic-repo" snapshots --json | python3 -c 'import json,sys; [print(s["short_id"]) for s in sorted(json.load(sys.stdin), key=lambda s: s["time"])]')
measure restic_restore_first bash -c "restore_restic ${R_IDS[0]} first"
RRF=$WALL
measure restic_restore_last bash -c "restore_restic ${R_IDS[$DAYS]} last"
RRL=$WALL
"$TRESOR" --repo "$D/tresor-repo" show "${T_IDS[$DAYS]}" >"$D/show-last.txt" 2>&1 || true

OUT="$OUT_DIR/incremental-$ENGINE.md"
{
  echo "### Incremental, $ENGINE: $SIZE_DESC (scale $SCALE), $DAYS days of ~1% spread churn"
  echo
  machine_info
  echo
  echo "Changes per day (\`gen_shop.py churn\`): $(( $(awk -v s="$SCALE" 'BEGIN { printf "%d", 200000 * s }') / 100 )) users updated (every 100th id), 3 000 orders (+ ~7 600 items) and 5 000 events inserted, every 1000th event deleted. \"rows\" is tresor's own count of inserted / updated / deleted rows."
  echo
  echo "| day | churn s | rows +ins ~upd -del | tresor s | tresor added MiB | % of first | tresor repo MiB | tresor RSS MiB | $RESTIC_DESC s | restic added MiB | % of first | restic repo MiB |"
  echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS_TABLE[@]}"
  echo
  echo "| restore | rows | tresor wall s | tresor CPU s | CPU µs per row | tresor RSS MiB | $RESTIC_RESTORE_DESC s (1 run) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  echo "| first snapshot (day 0) | $ROWS_FIRST | $TRF | $CF | $(us_per_row "$CF" "$ROWS_FIRST") | $TRF_RSS | $RRF |"
  echo "| last snapshot (day $DAYS, incremental) | $ROWS_LAST | $TRL | $CL | $(us_per_row "$CL" "$ROWS_LAST") | $TRL_RSS | $RRL |"
  echo "| the same day-$DAYS data backed up in full (\`backup --force\`) | $ROWS_LAST | $TRU | $CU | $(us_per_row "$CU" "$ROWS_LAST") | $TRU_RSS | |"
  echo
  echo "Wall and CPU are medians of $REPEAT_RESTORE runs, the three restores alternating."
  echo
  echo "tresor's local row cache after the run: $(mb "$CACHE_BYTES") MiB (not part of the repository). Check: $VERIFY."
  echo
  echo "Goals (issue 5):"
  echo "- each daily backup adds at most 5% of the first backup's bytes: worst day $T_MAX_PCT% (restic: worst day $R_MAX_PCT%): $(awk -v a="$T_MAX_PCT" 'BEGIN { print (a <= 5) ? "**met**" : "**missed**" }')"
  echo "- each daily backup takes no longer than the first: slowest day $T_MAX_WALL s vs first $T_FIRST_WALL s ($(ratio "$T_MAX_WALL" "$T_FIRST_WALL")x): $(awk -v a="$T_MAX_WALL" -v b="$T_FIRST_WALL" 'BEGIN { print (a <= b) ? "**met**" : "**missed**" }')"
  echo "- restoring the last snapshot takes no longer than the first: wall $TRL s vs $TRF s ($(ratio "$TRL" "$TRF")x), CPU $CL s vs $CF s ($(ratio "$CL" "$CF")x); the last holds $(ratio "$ROWS_LAST" "$ROWS_FIRST")x the rows: $(awk -v a="$TRL" -v b="$TRF" 'BEGIN { print (a <= b) ? "**met**" : (a <= b * 1.05) ? "**missed by less than 5%** (run-to-run noise is about that)" : "**missed**" }')"
  echo "- the last (incremental) snapshot restores as fast as a full backup of the same data: wall $(ratio "$TRL" "$TRU")x, CPU $(ratio "$CL" "$CU")x: $(awk -v a="$CL" -v b="$CU" 'BEGIN { print (a <= b * 1.03) ? "**met** (CPU within 3%)" : "**missed** (CPU)" }')"
} | tee "$OUT"

cleanup
