#!/usr/bin/env bash
# Issue 17: working with rows on the shop database after one day of ~1% churn.
# A full backup, one day of churn (bench/gen_shop.py churn), an incremental backup;
# then, timed side by side in one run: `diff` of the two snapshots, `diff --live` of each
# snapshot against the database, and a one-customer restore (`--where "users:
# id = N" --with-related`, merge) after that customer's orders were deleted.
#
#   bash bench/rows.sh        (SCALE=0.65: ~400 MiB SQLite file)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
ensure_tresor

SCALE="${SCALE:-0.65}"
D="$BENCH_DIR/rows"
rm -rf "$D" "$TRESOR_CACHE_DIR"; mkdir -p "$D"
tresor_init "$D/repo"
ORIG=$(shop_sqlite "$SCALE")
DB="$D/shop.db"
cp "$ORIG" "$DB"
T() { "$TRESOR" --repo "$D/repo" "$@"; }
export -f T; export TRESOR D DB

echo "full backup" >&2
measure backup_full "$TRESOR" --repo "$D/repo" --quiet backup "sqlite://$DB"
FULL_W=$WALL FULL_C=$CPU_S FULL_RSS=$RSS_MB
python3 "$BENCH_ROOT/gen_shop.py" churn --engine sqlite --db "$DB" --scale "$SCALE" --day 1 >&2
measure backup_day1 "$TRESOR" --repo "$D/repo" --quiet backup "sqlite://$DB"
INC_W=$WALL
mapfile -t IDS < <("$TRESOR" --repo "$D/repo" --json snapshots | python3 -c 'import json,sys; [print(s["id"][:8]) for s in sorted(json.load(sys.stdin), key=lambda s: s["time"])]')
A="${IDS[0]}" B="${IDS[1]}"

bench diff_snapshots "" "$TRESOR" --repo "$D/repo" --json diff "$A" "$B"
DS_W=$WALL DS_RSS=$RSS_MB
CHANGED=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(t["inserted"]+t["updated"]+t["deleted"] for t in d["tables"]))' "$BENCH_DIR/stdout.diff_snapshots")
bench diff_snapshots_rows "" "$TRESOR" --repo "$D/repo" diff "$A" "$B" --json-lines
DR_W=$WALL DR_RSS=$RSS_MB
bench diff_live "" "$TRESOR" --repo "$D/repo" --json diff "$A" --live "sqlite://$DB"
DL_W=$WALL DL_RSS=$RSS_MB
# the newest snapshot's keys and row digests are in the local row cache
bench diff_live_latest "" "$TRESOR" --repo "$D/repo" --json diff "$B" --live "sqlite://$DB"
DLL_W=$WALL DLL_RSS=$RSS_MB

# the customer with the most orders loses them, and the restore brings them back
U=$(sqlite3 "$DB" "SELECT user_id FROM orders GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1")
BEFORE=$(sqlite3 "$DB" "SELECT (SELECT count(*) FROM orders WHERE user_id = $U), (SELECT count(*) FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE user_id = $U))")
LOSE="sqlite3 '$DB' 'PRAGMA foreign_keys = ON; DELETE FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE user_id = $U); DELETE FROM orders WHERE user_id = $U;'"
bench where_restore "$LOSE" "$TRESOR" --repo "$D/repo" --quiet restore "$B" --to "sqlite://$DB" \
  --where "users: id = $U" --with-related --yes --no-safety-snapshot
WR_W=$WALL WR_RSS=$RSS_MB
WR_C=$CPU_S
AFTER=$(sqlite3 "$DB" "SELECT (SELECT count(*) FROM orders WHERE user_id = $U), (SELECT count(*) FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE user_id = $U))")
if [ "$BEFORE" = "$AFTER" ]; then CHECK="the customer's orders and items are back ($AFTER)"; else CHECK="**the customer's orders differ: $BEFORE before, $AFTER after**"; fi
ROWS_BACK=$(echo "$AFTER" | awk -F'|' '{ print $1 + $2 + 1 }')

OUT="$OUT_DIR/rows.md"
{
  echo "### Rows: $(mb "$(bytes "$ORIG")") MiB SQLite shop (scale $SCALE), one day of ~1% churn"
  echo
  machine_info
  echo
  echo "| operation | wall s | peak RSS MiB | vs full backup |"
  echo "|---|---:|---:|---:|"
  echo "| full backup (first) | $FULL_W | $FULL_RSS | 1.00x |"
  echo "| incremental backup after the churn | $INC_W | | $(ratio "$INC_W" "$FULL_W")x |"
  echo "| \`diff A B\` (counts; $CHANGED rows changed) | $DS_W | $DS_RSS | $(ratio "$DS_W" "$FULL_W")x |"
  echo "| \`diff A B --json-lines\` (every changed row) | $DR_W | $DR_RSS | $(ratio "$DR_W" "$FULL_W")x |"
  echo "| \`diff A --live\` (snapshot against the database) | $DL_W | $DL_RSS | $(ratio "$DL_W" "$FULL_W")x |"
  echo "| \`diff B --live\` (the newest snapshot, its digests in the local cache) | $DLL_W | $DLL_RSS | $(ratio "$DLL_W" "$FULL_W")x |"
  echo "| one customer back: \`restore B --where \"users: id = $U\" --with-related\` ($ROWS_BACK rows) | $WR_W (CPU $WR_C s) | $WR_RSS | $(ratio "$WR_W" "$FULL_W")x |"
  echo
  echo "Check: $CHECK."
  echo
  echo "Goals (issue 17):"
  echo "- \`diff\` of the two snapshots and \`diff --live\` take at most 0.3x the full backup: $(ratio "$DS_W" "$FULL_W")x and $(ratio "$DL_W" "$FULL_W")x: $(awk -v a="$DS_W" -v b="$DL_W" -v f="$FULL_W" 'BEGIN { print (a <= 0.3 * f && b <= 0.3 * f) ? "**met**" : "**missed**" }')"
  echo "- flat memory: peak RSS of the diffs $DS_RSS / $DR_RSS / $DL_RSS MiB against $FULL_RSS MiB for the backup"
  echo "- the one-customer restore takes well under a second of CPU beyond reading what it needs: $WR_C s of CPU in all (reading the snapshot's chunks included)"
} | tee "$OUT"
rm -rf "$D"
