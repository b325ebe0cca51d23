#!/usr/bin/env bash
# Issue 2: SQLite backup and restore, tresor side by side with `sqlite3 .backup` + `zstd -3`
# and `restic backup` of the file; and tresor's peak memory at ~100 MB and ~600 MB.
#
#   bash bench/sqlite.sh            (SCALE=1.0 gives a ~615 MiB database; SMALL_SCALE=0.16 ~100 MiB)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
ensure_tresor

SCALE="${SCALE:-1.0}"
SMALL_SCALE="${SMALL_SCALE:-0.16}"
D="$BENCH_DIR/sqlite"
mkdir -p "$D" "$BENCH_DIR/data"

gen_db() { # gen_db SCALE -> prints path
  local f="$BENCH_DIR/data/shop-$1.db"
  if [ ! -f "$f" ]; then
    echo "generating $f" >&2
    python3 "$BENCH_ROOT/gen_shop.py" load --engine sqlite --db "$f.tmp" --scale "$1" >&2
    mv "$f.tmp" "$f"
  fi
  echo "$f"
}

DB=$(gen_db "$SCALE")
SMALL=$(gen_db "$SMALL_SCALE")
DB_BYTES=$(bytes "$DB")
SMALL_BYTES=$(bytes "$SMALL")
ROWS=$(sqlite3 "$DB" "SELECT (SELECT count(*) FROM users)+(SELECT count(*) FROM products)+(SELECT count(*) FROM orders)+(SELECT count(*) FROM order_items)+(SELECT count(*) FROM events)")
echo "database: $DB ($(mb "$DB_BYTES") MiB, $ROWS rows); small: $(mb "$SMALL_BYTES") MiB" >&2
cat "$DB" "$SMALL" >/dev/null # warm the page cache for every tool alike

rm -rf "$D"/*
# --- backups ---
INIT_T="rm -rf '$D/tresor-repo' && '$TRESOR' --repo '$D/tresor-repo' --quiet init"
bench tresor_backup "$INIT_T" "$TRESOR" --repo "$D/tresor-repo" --json backup "sqlite://$DB"
T_B=$WALL T_BM=$RSS_MB T_BYTES=$(bytes "$D/tresor-repo")

bench sqlite_backup_zstd "rm -f '$D/copy.db.zst'" bash -c "sqlite3 '$DB' \".backup '$D/copy.db'\" && zstd -3 -q '$D/copy.db' -o '$D/copy.db.zst' && rm '$D/copy.db'"
Z_B=$WALL Z_BM=$RSS_MB Z_BYTES=$(bytes "$D/copy.db.zst")

# a logical reference: the SQL text dump (what a row-level tool is closer to)
bench sqlite_dump_zstd "rm -f '$D/dump.sql.zst'" bash -c "sqlite3 '$DB' .dump | zstd -3 -q -o '$D/dump.sql.zst'"
L_B=$WALL L_BM=$RSS_MB L_BYTES=$(bytes "$D/dump.sql.zst")

bench restic_backup "rm -rf '$D/restic-repo' && restic -r '$D/restic-repo' init" restic -r "$D/restic-repo" backup --quiet "$DB"
R_B=$WALL R_BM=$RSS_MB R_BYTES=$(bytes "$D/restic-repo")

# --- restores ---
bench tresor_restore "rm -f '$D/restored-tresor.db'" "$TRESOR" --repo "$D/tresor-repo" --quiet restore latest --to "sqlite://$D/restored-tresor.db"
T_R=$WALL T_RM=$RSS_MB
bench zstd_restore "rm -f '$D/restored-zstd.db'" zstd -d -q "$D/copy.db.zst" -o "$D/restored-zstd.db"
Z_R=$WALL Z_RM=$RSS_MB
bench sqlite_load "rm -f '$D/restored-dump.db'" bash -c "zstd -d -c '$D/dump.sql.zst' | sqlite3 '$D/restored-dump.db'"
L_R=$WALL L_RM=$RSS_MB
bench restic_restore "rm -rf '$D/restic-out'" restic -r "$D/restic-repo" restore latest --target "$D/restic-out"
R_R=$WALL R_RM=$RSS_MB

# --- memory at a small size ---
bench tresor_backup_small "rm -rf '$D/tresor-repo-small' && '$TRESOR' --repo '$D/tresor-repo-small' --quiet init" "$TRESOR" --repo "$D/tresor-repo-small" --json backup "sqlite://$SMALL"
S_B=$WALL S_BM=$RSS_MB
bench tresor_restore_small "rm -f '$D/restored-small.db'" "$TRESOR" --repo "$D/tresor-repo-small" --quiet restore latest --to "sqlite://$D/restored-small.db"
S_R=$WALL S_RM=$RSS_MB

# --- verify the tresor restore: identical .dump ---
echo "verifying: sqlite3 .dump of original and tresor restore" >&2
A=$(sqlite3 "$DB" .dump | sha256sum | cut -c1-16)
B=$(sqlite3 "$D/restored-tresor.db" .dump | sha256sum | cut -c1-16)
CHECK=$(sqlite3 "$D/restored-tresor.db" "PRAGMA quick_check")
if [ "$A" = "$B" ]; then VERIFY="identical \`.dump\` (sha256 $A), quick_check $CHECK"; else VERIFY="**DIFFERENT .dump** ($A vs $B)"; fi

OUT="$OUT_DIR/sqlite.md"
{
  echo "### SQLite: $(mb "$DB_BYTES") MiB database ($ROWS rows, 5 tables), scale $SCALE"
  echo
  machine_info
  echo
  echo "| tool | backup s | stored MiB | backup peak RSS MiB | restore s | restore peak RSS MiB |"
  echo "|---|---:|---:|---:|---:|---:|"
  echo "| tresor backup / restore | $T_B | $(mb "$T_BYTES") | $T_BM | $T_R | $T_RM |"
  echo "| sqlite3 .backup + zstd -3 / zstd -d | $Z_B | $(mb "$Z_BYTES") | $Z_BM | $Z_R | $Z_RM |"
  echo "| restic backup / restore (file) | $R_B | $(mb "$R_BYTES") | $R_BM | $R_R | $R_RM |"
  echo "| *reference, logical:* sqlite3 .dump \\| zstd -3 / zstd -dc \\| sqlite3 | $L_B | $(mb "$L_BYTES") | $L_BM | $L_R | $L_RM |"
  echo
  echo "Ratios: tresor backup time $(ratio "$T_B" "$Z_B")x of .backup+zstd, $(ratio "$T_B" "$R_B")x of restic;" \
    "stored bytes $(ratio "$T_BYTES" "$Z_BYTES")x of zstd, $(ratio "$T_BYTES" "$R_BYTES")x of restic;" \
    "restore $(ratio "$T_R" "$Z_R")x of zstd -d, $(ratio "$T_R" "$R_R")x of restic restore, $(ratio "$T_R" "$L_R")x of loading the SQL dump."
  echo
  echo "| tresor peak memory | database MiB | backup s | backup peak RSS MiB | restore s | restore peak RSS MiB |"
  echo "|---|---:|---:|---:|---:|---:|"
  echo "| small | $(mb "$SMALL_BYTES") | $S_B | $S_BM | $S_R | $S_RM |"
  echo "| large | $(mb "$DB_BYTES") | $T_B | $T_BM | $T_R | $T_RM |"
  echo
  echo "Restored database: $VERIFY."
} | tee "$OUT"

rm -rf "$D"
[ "${KEEP_DATA:-1}" = 1 ] || rm -f "$DB" "$SMALL"
