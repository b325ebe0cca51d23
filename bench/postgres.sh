#!/usr/bin/env bash
# Issue 3: PostgreSQL backup and restore, tresor side by side with pg_dump -Fc,
# pg_dump | zstd -3, pg_dump | restic backup --stdin, the raw COPY read time, and
# pg_restore -j1 / -j2.
#
#   bash bench/postgres.sh          (SCALE=0.6 gives a ~500 MB database)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
ensure_tresor

SCALE="${SCALE:-0.6}"
SRC="${PG_DB:-bench_pg}"
D="$BENCH_DIR/postgres"
TABLES=(users products orders order_items events)

if [ "$(pg_sql "SELECT count(*) FROM pg_database WHERE datname = '$SRC'")" != 1 ]; then
  echo "generating $SRC (scale $SCALE)" >&2
  pg_sql "DROP DATABASE IF EXISTS ${SRC}_gen"
  pg_sql "CREATE DATABASE ${SRC}_gen"
  python3 "$BENCH_ROOT/gen_shop.py" load --engine pg --scale "$SCALE" | psql -X -q -v ON_ERROR_STOP=1 -d "${SRC}_gen" >/dev/null
  pg_sql "VACUUM ANALYZE" "${SRC}_gen"
  pg_sql "ALTER DATABASE ${SRC}_gen RENAME TO $SRC"
fi
DB_BYTES=$(pg_sql "SELECT pg_database_size('$SRC')")
ROWS=$(pg_sql "SELECT (SELECT count(*) FROM users)+(SELECT count(*) FROM products)+(SELECT count(*) FROM orders)+(SELECT count(*) FROM order_items)+(SELECT count(*) FROM events)" "$SRC")
echo "database $SRC: $(mb "$DB_BYTES") MiB, $ROWS rows" >&2

drop_db() { pg_sql "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"; }
rm -rf "$D"; mkdir -p "$D"

# --- raw read: every table through COPY TO STDOUT into /dev/null (also warms the cache) ---
copy_all() { for t in "${TABLES[@]}"; do echo "COPY $t TO STDOUT;"; done | psql -X -q -d "$SRC" >/dev/null; }
copy_all
COPY_CMDS=$(for t in "${TABLES[@]}"; do printf 'COPY %s TO STDOUT; ' "$t"; done)
bench copy_text "" bash -c "psql -X -q -d '$SRC' -c '$COPY_CMDS' >/dev/null"
C_T=$WALL
BCOPY_CMDS=$(for t in "${TABLES[@]}"; do printf 'COPY %s TO STDOUT (FORMAT binary); ' "$t"; done)
bench copy_binary "" bash -c "psql -X -q -d '$SRC' -c '$BCOPY_CMDS' >/dev/null"
C_B=$WALL
# What tresor reads: each table in primary-key order (ORDER BY the key), binary.
OCOPY_CMDS="COPY (SELECT * FROM users ORDER BY id) TO STDOUT (FORMAT binary); COPY (SELECT * FROM products ORDER BY id) TO STDOUT (FORMAT binary); COPY (SELECT * FROM orders ORDER BY id) TO STDOUT (FORMAT binary); COPY (SELECT * FROM order_items ORDER BY order_id, line) TO STDOUT (FORMAT binary); COPY (SELECT * FROM events ORDER BY id) TO STDOUT (FORMAT binary);"
bench copy_ordered_binary "" bash -c "psql -X -q -d '$SRC' -c '$OCOPY_CMDS' >/dev/null"
C_O=$WALL
# Two connections at once (tresor reads with --jobs 2 by default): events+users | the rest.
bench copy_text_j2 "" bash -c "psql -X -q -d '$SRC' -c 'COPY events TO STDOUT; COPY users TO STDOUT;' >/dev/null &
  psql -X -q -d '$SRC' -c 'COPY order_items TO STDOUT; COPY orders TO STDOUT; COPY products TO STDOUT;' >/dev/null; wait"
C_J2=$WALL

# --- backups ---
bench tresor_backup "rm -rf '$D/tresor-repo' && '$TRESOR' --repo '$D/tresor-repo' --quiet init" "$TRESOR" --repo "$D/tresor-repo" --json backup "postgres://$PGUSER@$PGHOST/$SRC"
T_B=$WALL T_BM=$RSS_MB T_BYTES=$(bytes "$D/tresor-repo")
# The same into a repository made with a higher zstd level (tresor init --compression).
HI_LEVEL="${HI_LEVEL:-6}"
bench tresor_backup_level$HI_LEVEL "rm -rf '$D/tresor-hi' && '$TRESOR' --repo '$D/tresor-hi' --quiet init --compression $HI_LEVEL" "$TRESOR" --repo "$D/tresor-hi" --json backup "postgres://$PGUSER@$PGHOST/$SRC"
H_B=$WALL H_BM=$RSS_MB H_BYTES=$(bytes "$D/tresor-hi")
rm -rf "$D/tresor-hi"
bench pg_dump_fc "rm -f '$D/dump.fc'" pg_dump -Fc -d "$SRC" -f "$D/dump.fc"
F_B=$WALL F_BM=$RSS_MB F_BYTES=$(bytes "$D/dump.fc")
bench pg_dump_zstd "rm -f '$D/dump.sql.zst'" bash -c "pg_dump -d '$SRC' | zstd -3 -q -o '$D/dump.sql.zst'"
Z_B=$WALL Z_BM=$RSS_MB Z_BYTES=$(bytes "$D/dump.sql.zst")
bench pg_dump_restic "rm -rf '$D/restic-repo' && restic -r '$D/restic-repo' init" bash -c "pg_dump -d '$SRC' | restic -r '$D/restic-repo' backup --quiet --stdin --stdin-filename '$SRC.sql'"
R_B=$WALL R_BM=$RSS_MB R_BYTES=$(bytes "$D/restic-repo")

# --- restores into new, empty databases ---
for db in r_tresor r_j1 r_j2; do drop_db "${SRC}_$db"; done
bench tresor_restore "pg_sql 'DROP DATABASE IF EXISTS ${SRC}_r_tresor WITH (FORCE)'" "$TRESOR" --repo "$D/tresor-repo" --quiet restore latest --to "postgres://$PGUSER@$PGHOST/${SRC}_r_tresor"
T_R=$WALL T_RM=$RSS_MB
bench pg_restore_j1 "pg_sql 'DROP DATABASE IF EXISTS ${SRC}_r_j1 WITH (FORCE)' && pg_sql 'CREATE DATABASE ${SRC}_r_j1'" pg_restore -j1 -d "${SRC}_r_j1" "$D/dump.fc"
J1_R=$WALL J1_RM=$RSS_MB
bench pg_restore_j2 "pg_sql 'DROP DATABASE IF EXISTS ${SRC}_r_j2 WITH (FORCE)' && pg_sql 'CREATE DATABASE ${SRC}_r_j2'" pg_restore -j2 -d "${SRC}_r_j2" "$D/dump.fc"
J2_R=$WALL J2_RM=$RSS_MB

# --- verify the tresor restore: per-table row count and content digest ---
digest() {
  local q="" t
  for t in "${TABLES[@]}"; do
    q+="SELECT '$t', count(*), md5(string_agg(md5(x::text), '' ORDER BY x::text)) FROM $t x UNION ALL "
  done
  pg_sql "SELECT * FROM (${q% UNION ALL }) d ORDER BY 1" "$1"
}
if [ "$(digest "$SRC")" = "$(digest "${SRC}_r_tresor")" ]; then VERIFY="every table has the same row count and the same md5 over its rows as the original"
else VERIFY="**CONTENT DIFFERS from the original**"; fi
if [ "$(pg_sql "SELECT count(*) FROM pg_indexes WHERE schemaname='public'" "$SRC")" = "$(pg_sql "SELECT count(*) FROM pg_indexes WHERE schemaname='public'" "${SRC}_r_tresor")" ]; then VERIFY+=", same indexes"; else VERIFY+=", **index count differs**"; fi

OUT="$OUT_DIR/postgres.md"
{
  echo "### PostgreSQL: database $SRC, $(mb "$DB_BYTES") MiB (pg_database_size), $ROWS rows, scale $SCALE"
  echo
  machine_info
  echo
  echo "| backup | wall s | stored MiB | peak RSS MiB |"
  echo "|---|---:|---:|---:|"
  echo "| raw read: COPY (text) of all tables to /dev/null, 1 connection | $C_T | | |"
  echo "| raw read: COPY (binary) of all tables to /dev/null, 1 connection | $C_B | | |"
  echo "| raw read: COPY (text), 2 connections | $C_J2 | | |"
  echo "| raw read in key order: COPY (SELECT * ... ORDER BY pk) (binary), 1 connection | $C_O | | |"
  echo "| **tresor backup** (--jobs 2, default) | **$T_B** | **$(mb "$T_BYTES")** | **$T_BM** |"
  echo "| tresor backup, repository with \`init --compression $HI_LEVEL\` | $H_B | $(mb "$H_BYTES") | $H_BM |"
  echo "| pg_dump -Fc | $F_B | $(mb "$F_BYTES") | $F_BM |"
  echo "| pg_dump \\| zstd -3 | $Z_B | $(mb "$Z_BYTES") | $Z_BM |"
  echo "| pg_dump \\| restic backup --stdin | $R_B | $(mb "$R_BYTES") | $R_BM |"
  echo
  echo "| restore into a new database | wall s | peak RSS MiB |"
  echo "|---|---:|---:|"
  echo "| **tresor restore** | **$T_R** | **$T_RM** |"
  echo "| pg_restore -j1 | $J1_R | $J1_RM |"
  echo "| pg_restore -j2 | $J2_R | $J2_RM |"
  echo
  echo "Goals (issue 3):"
  echo "- backup at least as fast as \`pg_dump | zstd -3\`: tresor $(ratio "$T_B" "$Z_B")x its time ($T_B s vs $Z_B s): $(awk -v a="$T_B" -v b="$Z_B" 'BEGIN { print (a <= b) ? "**met**" : "**missed**" }')"
  echo "- no more bytes than \`pg_dump | zstd -3\`: tresor $(ratio "$T_BYTES" "$Z_BYTES")x its bytes: $(awk -v a="$T_BYTES" -v b="$Z_BYTES" 'BEGIN { print (a <= b) ? "**met**" : "**missed**" }')"
  echo "- with \`init --compression $HI_LEVEL\`: $(ratio "$H_B" "$Z_B")x the time and $(ratio "$H_BYTES" "$Z_BYTES")x the bytes of \`pg_dump | zstd -3\`"
  echo "- within 1.3x of the raw COPY read time: tresor $(ratio "$T_B" "$C_T")x the 1-connection text COPY, $(ratio "$T_B" "$C_B")x binary, $(ratio "$T_B" "$C_J2")x the 2-connection COPY, $(ratio "$T_B" "$C_O")x the ordered binary COPY: $(awk -v a="$T_B" -v b="$C_T" 'BEGIN { print (a <= 1.3 * b) ? "**met**" : "**missed**" }')"
  echo "- restore no slower than \`pg_restore -j1\`: tresor $(ratio "$T_R" "$J1_R")x ($T_R s vs $J1_R s; -j2: $(ratio "$T_R" "$J2_R")x): $(awk -v a="$T_R" -v b="$J1_R" 'BEGIN { print (a <= b) ? "**met**" : "**missed**" }')"
  echo "- peak memory under 200 MB (190.7 MiB): backup $T_BM MiB, restore $T_RM MiB: $(awk -v a="$T_BM" -v b="$T_RM" 'BEGIN { print (a < 190.7 && b < 190.7) ? "**met**" : "**missed**" }')"
  echo
  echo "Restored database: $VERIFY."
} | tee "$OUT"

for db in r_tresor r_j1 r_j2; do drop_db "${SRC}_$db"; done
rm -rf "$D"
[ "${KEEP_DATA:-1}" = 1 ] || drop_db "$SRC"
