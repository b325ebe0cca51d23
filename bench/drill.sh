#!/usr/bin/env bash
# Restore drills: `tresor drill` (restore into a scratch database beside the source, verify
# every table against the snapshot's manifest, drop it) against `tresor restore` of the same
# snapshot into an empty database, on SQLite, PostgreSQL and MariaDB. The goal: a drill costs
# less than 1.2x the plain restore, the verification reading the scratch database once (the
# snapshot is read once, by the restore).
#
# The sources: the shop generated into SQLite, PostgreSQL and MariaDB by gen_shop.py (the
# server databases kept with KEEP_DATA=1), backed up once. Restores and drills alternate
# (restore, drill, restore, drill, ...; REPEAT pairs, default 3), so that a noisy moment of
# the machine falls on both; the table gives the medians and their ratio, and each pair's
# ratio.
#
#   bash bench/drill.sh        (SCALE=0.65: the ~400 MiB shop)
#   ENGINES="sqlite pg" bash bench/drill.sh   (only those engines; default sqlite pg my)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
ensure_tresor

SCALE="${SCALE:-0.65}"
D="$BENCH_DIR/drill"
rm -rf "$D"; mkdir -p "$D"
TABLES="users products orders order_items events"
SRC="bench_drill_src_${SCALE/./_}"
PG="postgres://$PGUSER@$PGHOST"
MY="mysql://$MYUSER@$MYHOST"

pg_fresh() { pg_sql "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; pg_sql "CREATE DATABASE $1"; }
my_fresh() { my_sql "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1 CHARACTER SET utf8mb4"; }
export -f pg_fresh my_fresh

# --- the sources, made by gen_shop.py as cross.sh and mysql.sh make them (native types:
# timestamptz, jsonb, bytea, inet in PostgreSQL; the same rows in MariaDB)
ENGINES="${ENGINES:-sqlite pg my}"
wanted() { case " $ENGINES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
LITE=$(shop_sqlite "$SCALE")
if wanted pg && { [ -z "${KEEP_DATA:-}" ] || [ "$(pg_sql "SELECT count(*) FROM pg_database WHERE datname = '$SRC'")" != 1 ]; }; then
  pg_fresh "$SRC"
  python3 "$BENCH_ROOT/gen_shop.py" load --engine pg --scale "$SCALE" | psql -X -q -v ON_ERROR_STOP=1 -d "$SRC" >/dev/null
  pg_sql "VACUUM ANALYZE" "$SRC"
fi
if wanted my && { [ -z "${KEEP_DATA:-}" ] || [ "$(my_sql "SELECT count(*) FROM information_schema.schemata WHERE schema_name = '$SRC'")" != 1 ]; }; then
  my_fresh "$SRC"
  python3 "$BENCH_ROOT/gen_shop.py" load --engine mysql --scale "$SCALE" | mariadb -h"$MYHOST" -u"$MYUSER" "$SRC"
  my_sql "ANALYZE TABLE $(echo $TABLES | tr ' ' ',')" "$SRC" >/dev/null
fi
PG_BYTES=$(wanted pg && pg_sql "SELECT pg_database_size('$SRC')" || echo 0)
MY_BYTES=$(wanted my && my_sql "SELECT sum(data_length + index_length) FROM information_schema.tables WHERE table_schema = '$SRC'" || echo 0)
ROWS=$(for t in $TABLES; do sqlite3 "$LITE" "SELECT count(*) FROM $t"; done | awk '{ s += $1 } END { print s }')

# field FIELD: a number from the last drill's JSON report
field() { python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))[sys.argv[2]])' "$BENCH_DIR/stdout.$1" "$2"; }
checks() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("ok" if r["ok"] else "FAILED", ",".join(sorted({t.get("check","-") for t in r["tables"]})))' "$BENCH_DIR/stdout.$1"; }

ROWS_MD=""
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
run_engine() { # NAME SOURCE-URL RESTORE-URL FRESH-COMMAND LABEL
  local e="$1" src="$2" to="$3" fresh="$4" i rw=() dw=() pairs="" r_rss=0 d_rss=0
  tresor_init "$D/repo-$e"
  measure "${e}_backup" "$TRESOR" --repo "$D/repo-$e" --quiet backup "$src"
  for i in $(seq 1 "$REPEAT"); do
    bash -c "$fresh" >/dev/null 2>&1 || { echo "setup failed: $fresh" >&2; return 1; }
    measure "${e}_restore" "$TRESOR" --repo "$D/repo-$e" --quiet restore latest --to "$to" --yes --no-safety-snapshot
    rw+=("$WALL"); r_rss=$(( RSS_MB > r_rss ? RSS_MB : r_rss ))
    measure "${e}_drill" "$TRESOR" --repo "$D/repo-$e" --json drill latest
    dw+=("$WALL"); d_rss=$(( RSS_MB > d_rss ? RSS_MB : d_rss ))
    pairs+="${pairs:+, }$(ratio "$WALL" "${rw[-1]}")"
  done
  RUNS+="${RUNS:+; }${e}_restore ${rw[*]}; ${e}_drill ${dw[*]}"
  local r_w d_w inner_r inner_v status
  r_w=$(median "${rw[@]}"); d_w=$(median "${dw[@]}")
  inner_r=$(field "${e}_drill" restore_seconds)
  inner_v=$(field "${e}_drill" verify_seconds)
  status=$(checks "${e}_drill")
  ROWS_MD+="| $5 | \`tresor restore latest --to ${to%%://*}://…/bench_drill_restore --yes --no-safety-snapshot\`: $r_w | \`tresor drill latest\`: $d_w (restore $inner_r + verify $inner_v, last run) | **$(ratio "$d_w" "$r_w")x** | $pairs | $r_rss / $d_rss | $status |"$'\n'
  bash -c "$fresh" >/dev/null 2>&1
}
for e in $ENGINES; do
  case "$e" in
    sqlite) run_engine sqlite "sqlite://$LITE" "sqlite://$D/bench_drill_restore.db" "rm -f $D/bench_drill_restore.db*" SQLite ;;
    pg) run_engine pg "$PG/$SRC" "$PG/bench_drill_restore" "pg_fresh bench_drill_restore" PostgreSQL ;;
    my) run_engine my "$MY/$SRC" "$MY/bench_drill_restore" "my_fresh bench_drill_restore" MariaDB ;;
  esac
done
pg_sql "DROP DATABASE IF EXISTS bench_drill_restore WITH (FORCE)"
my_sql "DROP DATABASE IF EXISTS bench_drill_restore"

OUT="$OUT_DIR/drill.md"
{
  sizes="$(mb "$(bytes "$LITE")") MiB in SQLite"
  wanted pg && sizes+=", $(mb "$PG_BYTES") MiB in PostgreSQL"
  wanted my && sizes+=", $(mb "$MY_BYTES") MiB in MariaDB"
  echo "### Restore drills: the shop (scale $SCALE, $ROWS rows; $sizes)"
  echo
  machine_info
  echo
  echo "| engine | restore into an empty database, median wall s | drill, median wall s | drill / restore | each pair's drill / restore | peak RSS MiB restore / drill | drill result, tables checked by |"
  echo "|---|---|---|---:|---|---:|---|"
  printf '%s' "$ROWS_MD"
  echo
  echo "Goal: a drill takes less than 1.2x the plain restore of the same snapshot."
} | tee "$OUT"
if [ -z "${KEEP_DATA:-}" ]; then
  pg_sql "DROP DATABASE IF EXISTS $SRC WITH (FORCE)"
  my_sql "DROP DATABASE IF EXISTS $SRC"
fi
rm -rf "$D"
