#!/usr/bin/env bash
# Issue 4: MariaDB/MySQL backup and restore, tresor side by side with
# `mariadb-dump --single-transaction | zstd -3` and `mydumper -t 2 -c`; restores
# against loading the dump with `mariadb` and `myloader -t 2`.
#
#   bash bench/mysql.sh             (SCALE=0.6 gives a ~500 MB database)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
ensure_tresor

SCALE="${SCALE:-0.6}"
SRC="${MY_DB:-bench_my}"
D="$BENCH_DIR/mysql"
TABLES=(users products orders order_items events)
MY=(mariadb -h"$MYHOST" -u"$MYUSER")

if [ "$(my_sql "SELECT count(*) FROM information_schema.schemata WHERE schema_name = '$SRC'")" != 1 ]; then
  echo "generating $SRC (scale $SCALE)" >&2
  my_sql "DROP DATABASE IF EXISTS ${SRC}_gen; CREATE DATABASE ${SRC}_gen"
  python3 "$BENCH_ROOT/gen_shop.py" load --engine mysql --scale "$SCALE" | "${MY[@]}" "${SRC}_gen"
  # MariaDB has no RENAME DATABASE: move the tables.
  my_sql "CREATE DATABASE $SRC"
  my_sql "RENAME TABLE $(for t in "${TABLES[@]}"; do printf '%s_gen.%s TO %s.%s,' "$SRC" "$t" "$SRC" "$t"; done | sed 's/,$//')"
  my_sql "DROP DATABASE ${SRC}_gen"
  my_sql "ANALYZE TABLE $(printf '%s,' "${TABLES[@]}" | sed 's/,$//')" "$SRC" >/dev/null
fi
DB_BYTES=$(my_sql "SELECT sum(data_length + index_length) FROM information_schema.tables WHERE table_schema = '$SRC'")
ROWS=$(my_sql "SELECT (SELECT count(*) FROM users)+(SELECT count(*) FROM products)+(SELECT count(*) FROM orders)+(SELECT count(*) FROM order_items)+(SELECT count(*) FROM events)" "$SRC")
echo "database $SRC: $(mb "$DB_BYTES") MiB, $ROWS rows" >&2

drop_db() { my_sql "DROP DATABASE IF EXISTS \`$1\`"; }
rm -rf "$D"; mkdir -p "$D"

# warm the buffer pool / page cache for every tool alike
for t in "${TABLES[@]}"; do my_sql "SELECT * FROM $t" "$SRC" >/dev/null; done

# --- backups ---
bench tresor_backup "rm -rf '$D/tresor-repo' && '$TRESOR' --repo '$D/tresor-repo' --quiet init" "$TRESOR" --repo "$D/tresor-repo" --json backup "mysql://$MYUSER@$MYHOST/$SRC"
T_B=$WALL T_BM=$RSS_MB T_BYTES=$(bytes "$D/tresor-repo")
# The same into a repository made with a higher zstd level (tresor init --compression).
HI_LEVEL="${HI_LEVEL:-6}"
bench tresor_backup_level$HI_LEVEL "rm -rf '$D/tresor-hi' && '$TRESOR' --repo '$D/tresor-hi' --quiet init --compression $HI_LEVEL" "$TRESOR" --repo "$D/tresor-hi" --json backup "mysql://$MYUSER@$MYHOST/$SRC"
H_B=$WALL H_BM=$RSS_MB H_BYTES=$(bytes "$D/tresor-hi")
rm -rf "$D/tresor-hi"
bench dump_zstd "rm -f '$D/dump.sql.zst'" bash -c "mariadb-dump -h'$MYHOST' -u'$MYUSER' --single-transaction '$SRC' | zstd -3 -q -o '$D/dump.sql.zst'"
Z_B=$WALL Z_BM=$RSS_MB Z_BYTES=$(bytes "$D/dump.sql.zst")
bench mydumper "rm -rf '$D/mydumper'" mydumper -h "$MYHOST" -u "$MYUSER" -B "$SRC" -t 2 -c -o "$D/mydumper"
M_B=$WALL M_BM=$RSS_MB M_BYTES=$(bytes "$D/mydumper")

# --- restores into new databases ---
for db in r_tresor r_dump r_myloader; do drop_db "${SRC}_$db"; done
bench tresor_restore "my_sql 'DROP DATABASE IF EXISTS ${SRC}_r_tresor'" "$TRESOR" --repo "$D/tresor-repo" --quiet restore latest --to "mysql://$MYUSER@$MYHOST/${SRC}_r_tresor"
T_R=$WALL T_RM=$RSS_MB
bench dump_load "my_sql 'DROP DATABASE IF EXISTS ${SRC}_r_dump; CREATE DATABASE ${SRC}_r_dump'" bash -c "zstd -d -c '$D/dump.sql.zst' | mariadb -h'$MYHOST' -u'$MYUSER' '${SRC}_r_dump'"
L_R=$WALL L_RM=$RSS_MB
bench myloader "my_sql 'DROP DATABASE IF EXISTS ${SRC}_r_myloader'" myloader -h "$MYHOST" -u "$MYUSER" -t 2 -d "$D/mydumper" -B "${SRC}_r_myloader"
ML_R=$WALL ML_RM=$RSS_MB

# --- verify the tresor restore: row counts and CHECKSUM TABLE ---
sums() { local t; for t in "${TABLES[@]}"; do my_sql "SELECT count(*) FROM $t" "$1"; my_sql "CHECKSUM TABLE $t" "$1" | cut -f2; done; }
if [ "$(sums "$SRC")" = "$(sums "${SRC}_r_tresor")" ]; then VERIFY="every table has the same row count and CHECKSUM TABLE as the original"
else VERIFY="**CONTENT DIFFERS from the original** (row count or CHECKSUM TABLE)"; fi
idx() { my_sql "SELECT count(*) FROM information_schema.statistics WHERE table_schema = '$1'"; }
if [ "$(idx "$SRC")" = "$(idx "${SRC}_r_tresor")" ]; then VERIFY+=", same indexes"; else VERIFY+=", **index count differs**"; fi

OUT="$OUT_DIR/mysql.md"
{
  echo "### MariaDB: database $SRC, $(mb "$DB_BYTES") MiB (InnoDB data + index), $ROWS rows, scale $SCALE"
  echo
  machine_info
  echo "- MariaDB server $(my_sql 'SELECT version()')"
  echo
  echo "| backup | wall s | stored MiB | peak RSS MiB |"
  echo "|---|---:|---:|---:|"
  echo "| **tresor backup** (--jobs 2, default) | **$T_B** | **$(mb "$T_BYTES")** | **$T_BM** |"
  echo "| tresor backup, repository with \`init --compression $HI_LEVEL\` | $H_B | $(mb "$H_BYTES") | $H_BM |"
  echo "| mariadb-dump --single-transaction \\| zstd -3 | $Z_B | $(mb "$Z_BYTES") | $Z_BM |"
  echo "| mydumper -t 2 -c | $M_B | $(mb "$M_BYTES") | $M_BM |"
  echo
  echo "| restore into a new database | wall s | peak RSS MiB |"
  echo "|---|---:|---:|"
  echo "| **tresor restore** | **$T_R** | **$T_RM** |"
  echo "| zstd -d \\| mariadb | $L_R | $L_RM |"
  echo "| myloader -t 2 | $ML_R | $ML_RM |"
  echo
  echo "Goals (issue 4):"
  echo "- backup at least as fast as \`mariadb-dump | zstd -3\`: tresor $(ratio "$T_B" "$Z_B")x its time ($T_B s vs $Z_B s; mydumper: $(ratio "$T_B" "$M_B")x): $(awk -v a="$T_B" -v b="$Z_B" 'BEGIN { print (a <= b) ? "**met**" : "**missed**" }')"
  echo "- no more bytes than \`mariadb-dump | zstd -3\`: tresor $(ratio "$T_BYTES" "$Z_BYTES")x its bytes (mydumper -c: $(ratio "$T_BYTES" "$M_BYTES")x): $(awk -v a="$T_BYTES" -v b="$Z_BYTES" 'BEGIN { print (a <= b) ? "**met**" : "**missed**" }')"
  echo "- with \`init --compression $HI_LEVEL\`: $(ratio "$H_B" "$Z_B")x the time and $(ratio "$H_BYTES" "$Z_BYTES")x the bytes of \`mariadb-dump | zstd -3\`"
  echo "- restore at least as fast as \`myloader -t 2\`: tresor $(ratio "$T_R" "$ML_R")x its time ($T_R s vs $ML_R s; plain mariadb load: $(ratio "$T_R" "$L_R")x): $(awk -v a="$T_R" -v b="$ML_R" 'BEGIN { print (a <= b) ? "**met**" : "**missed**" }')"
  echo "- peak memory under 200 MB (190.7 MiB): backup $T_BM MiB, restore $T_RM MiB: $(awk -v a="$T_BM" -v b="$T_RM" 'BEGIN { print (a < 190.7 && b < 190.7) ? "**met**" : "**missed**" }')"
  echo
  echo "Restored database: $VERIFY."
} | tee "$OUT"

for db in r_tresor r_dump r_myloader; do drop_db "${SRC}_$db"; done
rm -rf "$D"
[ "${KEEP_DATA:-1}" = 1 ] || drop_db "$SRC"
