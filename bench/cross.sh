#!/usr/bin/env bash
# Issue 15: moving the shop to another engine, against the usual migration tool for the path.
#
# - SQLite -> PostgreSQL: `tresor backup` + `tresor restore --to postgres://...` (into an empty
#   database) against pgloader (Debian's package), which copies a SQLite file into PostgreSQL.
# - PostgreSQL -> MariaDB: `tresor backup` + `tresor restore --to mysql://...` against a
#   dump-and-convert pipeline, which is what people script for this path (pgloader cannot write
#   MySQL): the shop's MariaDB schema, then per table `psql \copy (SELECT ...) TO STDOUT` with the
#   conversions MariaDB needs (timestamptz as UTC text, bytea as hex, jsonb and inet as text)
#   piped into `LOAD DATA LOCAL INFILE`.
# Both sides start from the same source and end with every row in the target (counted per table).
#
#   bash bench/cross.sh        (SCALE=0.65: the ~400 MiB shop)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
command -v pgloader >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgloader >&2; }
ensure_tresor

SCALE="${SCALE:-0.65}"
D="$BENCH_DIR/cross"
rm -rf "$D"; mkdir -p "$D"
TABLES="users products orders order_items events"

# the sources: the SQLite file of rows.sh, and the same data set in PostgreSQL
LITE=$(shop_sqlite "$SCALE")
PGSRC="bench_cross_src_${SCALE/./_}"
if [ "$(pg_sql "SELECT count(*) FROM pg_database WHERE datname = '$PGSRC'")" != 1 ] || [ -z "${KEEP_DATA:-}" ]; then
  pg_sql "DROP DATABASE IF EXISTS $PGSRC WITH (FORCE)"
  pg_sql "CREATE DATABASE $PGSRC"
  python3 "$BENCH_ROOT/gen_shop.py" load --engine pg --scale "$SCALE" | psql -X -q -v ON_ERROR_STOP=1 -d "$PGSRC" >/dev/null
  pg_sql "VACUUM ANALYZE" "$PGSRC"
fi

pg_fresh() { pg_sql "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; pg_sql "CREATE DATABASE $1"; }
my_fresh() { my_sql "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1 CHARACTER SET utf8mb4"; }
pg_counts() { for t in $TABLES; do printf '%s ' "$(pg_sql "SELECT count(*) FROM $t" "$1")"; done; }
my_counts() { for t in $TABLES; do printf '%s ' "$(my_sql "SELECT count(*) FROM $t" "$1")"; done; }
export -f pg_fresh my_fresh pg_counts my_counts
export TABLES D TRESOR PGSRC

# --- SQLite -> PostgreSQL
tresor_init "$D/repo-lite"
measure lite_backup "$TRESOR" --repo "$D/repo-lite" --quiet backup "sqlite://$LITE"
LB_W=$WALL LB_RSS=$RSS_MB
bench lite_restore "pg_fresh bench_cross_lite" "$TRESOR" --repo "$D/repo-lite" --quiet restore latest \
  --to "postgres://$PGUSER@$PGHOST/bench_cross_lite" --yes --no-safety-snapshot
LR_W=$WALL LR_RSS=$RSS_MB
LITE_WANT=$(for t in $TABLES; do printf '%s ' "$(sqlite3 "$LITE" "SELECT count(*) FROM $t")"; done)
LITE_TRESOR=$(pg_counts bench_cross_lite)
bench pgloader "pg_fresh bench_cross_pgloader" pgloader --quiet "sqlite://$LITE" \
  "postgresql://$PGUSER@$PGHOST/bench_cross_pgloader"
PL_W=$WALL PL_RSS=$RSS_MB
LITE_PGLOADER=$(pg_counts bench_cross_pgloader)

# --- PostgreSQL -> MariaDB
tresor_init "$D/repo-pg"
measure pg_backup "$TRESOR" --repo "$D/repo-pg" --quiet backup "postgres://$PGUSER@$PGHOST/$PGSRC"
PB_W=$WALL PB_RSS=$RSS_MB
bench my_restore "my_fresh bench_cross_my" "$TRESOR" --repo "$D/repo-pg" --quiet restore latest \
  --to "mysql://$MYUSER@$MYHOST/bench_cross_my" --yes --no-safety-snapshot
MR_W=$WALL MR_RSS=$RSS_MB
PG_WANT=$(pg_counts "$PGSRC")
PG_TRESOR=$(my_counts bench_cross_my)
python3 - "$BENCH_ROOT" >"$D/mysql-schema.sql" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import gen_shop
print(gen_shop.DDL["mysql"])
PY
cat >"$D/pipeline.sh" <<'SH'
#!/usr/bin/env bash
# the dump-and-convert pipeline: schema, then each table through COPY text into LOAD DATA
set -euo pipefail
DB=bench_cross_pipe
mariadb -h"$MYHOST" -u"$MYUSER" "$DB" <"$D/mysql-schema.sql"
copy() { # TABLE SELECT-LIST LOAD-COLUMNS [SET ...]
  psql -X -q -d "$PGSRC" -c "\\copy (SELECT $2 FROM $1 ORDER BY 1) TO STDOUT" |
    mariadb --local-infile=1 -h"$MYHOST" -u"$MYUSER" "$DB" \
      -e "SET foreign_key_checks = 0, unique_checks = 0; LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE $1 $3 ${4:-}"
}
utc() { echo "to_char($1 AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"; }
copy users "id, email, name, country, $(utc created_at), $(utc updated_at), address, prefs::text, encode(avatar, 'hex')" \
  "(id, email, name, country, created_at, updated_at, address, prefs, @avatar)" "SET avatar = UNHEX(@avatar)"
copy products "id, sku, name, description, price, stock, attributes::text, encode(image, 'hex')" \
  "(id, sku, name, description, price, stock, attributes, @image)" "SET image = UNHEX(@image)"
copy orders "id, user_id, $(utc created_at), status, total, currency, shipping_address, note" \
  "(id, user_id, created_at, status, total, currency, shipping_address, note)"
copy order_items "order_id, line, product_id, quantity, unit_price, discount" \
  "(order_id, line, product_id, quantity, unit_price, discount)"
copy events "id, user_id, $(utc ts), kind, payload::text, host(ip)" "(id, user_id, ts, kind, payload, ip)"
SH
bench pipeline "my_fresh bench_cross_pipe" bash "$D/pipeline.sh"
PP_W=$WALL PP_RSS=$RSS_MB
PG_PIPE=$(my_counts bench_cross_pipe)

check() { if [ "$1" = "$2" ]; then echo "all rows ($2)"; else echo "**rows differ: $2 expected, $1 found**"; fi; }
OUT="$OUT_DIR/cross.md"
{
  echo "### Moving the shop: $(mb "$(bytes "$LITE")") MiB SQLite file, $(mb "$(pg_sql "SELECT pg_database_size('$PGSRC')")") MiB PostgreSQL database (scale $SCALE)"
  echo
  machine_info
  echo "- $(pgloader --version | head -1)"
  echo
  echo "| move | tool | wall s | peak RSS MiB | vs peer | rows in the target |"
  echo "|---|---|---:|---:|---:|---|"
  echo "| SQLite → PostgreSQL | tresor backup | $LB_W | $LB_RSS | | |"
  echo "| | tresor restore into an empty database | $LR_W | $LR_RSS | $(ratio "$LR_W" "$PL_W")x | $(check "$LITE_TRESOR" "$LITE_WANT") |"
  echo "| | tresor backup + restore | $(awk -v a="$LB_W" -v b="$LR_W" 'BEGIN { printf "%.1f", a + b }') | | $(ratio "$(awk -v a="$LB_W" -v b="$LR_W" 'BEGIN { print a + b }')" "$PL_W")x | |"
  echo "| | pgloader | $PL_W | $PL_RSS | 1.00x | $(check "$LITE_PGLOADER" "$LITE_WANT") |"
  echo "| PostgreSQL → MariaDB | tresor backup | $PB_W | $PB_RSS | | |"
  echo "| | tresor restore into an empty database | $MR_W | $MR_RSS | $(ratio "$MR_W" "$PP_W")x | $(check "$PG_TRESOR" "$PG_WANT") |"
  echo "| | tresor backup + restore | $(awk -v a="$PB_W" -v b="$MR_W" 'BEGIN { printf "%.1f", a + b }') | | $(ratio "$(awk -v a="$PB_W" -v b="$MR_W" 'BEGIN { print a + b }')" "$PP_W")x | |"
  echo "| | psql \\\\copy → LOAD DATA pipeline | $PP_W | $PP_RSS | 1.00x | $(check "$PG_PIPE" "$PG_WANT") |"
} | tee "$OUT"
pg_sql "DROP DATABASE IF EXISTS bench_cross_lite WITH (FORCE)"
pg_sql "DROP DATABASE IF EXISTS bench_cross_pgloader WITH (FORCE)"
my_sql "DROP DATABASE IF EXISTS bench_cross_my; DROP DATABASE IF EXISTS bench_cross_pipe"
[ -n "${KEEP_DATA:-}" ] || pg_sql "DROP DATABASE IF EXISTS $PGSRC WITH (FORCE)"
rm -rf "$D"
