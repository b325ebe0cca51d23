#!/usr/bin/env bash
# Copying a repository's snapshots to a second repository (the offsite copy of
# the 3-2-1 rule): `tresor copy` side by side with `restic copy`.
#
# A 7-day history of the SQLite shop (bench/gen_shop.py: a first backup, then a day
# of ~1% churn and a backup, seven times) is backed up into a tresor repository and,
# as a file, into a restic repository. Then every snapshot is copied to a fresh
# second repository of each tool:
#   - tresor copy into a repository made with `init --copy-ids-from` (shared blob
#     ids: only missing blobs are read), and into an independent one (every blob
#     is read and its destination id computed);
#   - restic copy into a repository made with `init --copy-chunker-params`
#     (restic's recommended setup for copies).
# Then one more day of churn, a backup in each source, and the copy again: what
# a nightly cron job costs.
#
#   bash bench/copy.sh        (SCALE=0.3: ~185 MiB database; DAYS=7)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
ensure_tresor

SCALE="${SCALE:-0.3}"
DAYS="${DAYS:-7}"
D="$BENCH_DIR/copy"
rm -rf "$D" "$TRESOR_CACHE_DIR"; mkdir -p "$D"
ORIG=$(shop_sqlite "$SCALE")
DB="$D/shop.db"
cp "$ORIG" "$DB"
SIZE_DESC="$(mb "$(bytes "$DB")") MiB SQLite file"
export RESTIC_FROM_PASSWORD="$RESTIC_PASSWORD" TRESOR_FROM_PASSWORD="$TRESOR_PASSWORD"

tresor_init "$D/a"
restic_init "$D/ra"
churn() { python3 "$BENCH_ROOT/gen_shop.py" churn --engine sqlite --db "$DB" --scale "$SCALE" --day "$1" >/dev/null; }
backup_both() {
  "$TRESOR" --repo "$D/a" --quiet backup "sqlite://$DB"
  restic -r "$D/ra" backup --quiet "$DB"
}
echo "building the ${DAYS}-day history" >&2
backup_both
for day in $(seq 1 "$DAYS"); do churn "$day"; backup_both; done

# the destinations
"$TRESOR" --repo "$D/b-shared" --quiet init --copy-ids-from "$D/a" >/dev/null
"$TRESOR" --repo "$D/b-indep" --quiet init >/dev/null
restic -r "$D/rb" init --from-repo "$D/ra" --copy-chunker-params >/dev/null 2>&1

# copy NAME: one measured copy; sets WALL, RSS_MB, CPU_S
copy_tresor() { measure "$1" "$TRESOR" --repo "$D/$2" --json copy --from-repo "$D/a"; }
copy_restic() { measure "$1" restic -r "$D/rb" copy --from-repo "$D/ra"; }
sent() { python3 -c 'import json,sys; r = json.load(open(sys.argv[1])); print(r["bytes_sent"], r["blobs_sent"], r["blobs_read"], len(r["copied"]))' "$BENCH_DIR/stdout.$1"; }

ROWS=()
row() { # row LABEL TOOL WALL CPU RSS SIZE_BEFORE SIZE_AFTER SNAPSHOTS
  ROWS+=("| $1 | $2 | $3 | $4 | $5 | $(mb $(( $7 - $6 ))) | $(mb "$7") | $8 |")
}

A_SIZE=$(bytes "$D/a") RA_SIZE=$(bytes "$D/ra")
for round in full nightly; do
  if [ "$round" = nightly ]; then
    churn $((DAYS + 1)); backup_both
  fi
  S0=$(bytes "$D/b-shared"); copy_tresor "tresor_shared_$round" b-shared
  read -r _ _ _ N <<<"$(sent "tresor_shared_$round")"
  row "$round" "tresor copy (shared ids)" "$WALL" "$CPU_S" "$RSS_MB" "$S0" "$(bytes "$D/b-shared")" "$N"
  eval "TS_${round}_WALL=$WALL TS_${round}_SIZE=$(( $(bytes "$D/b-shared") - S0 )) TS_${round}_RSS=$RSS_MB"

  S0=$(bytes "$D/b-indep"); copy_tresor "tresor_indep_$round" b-indep
  read -r _ _ _ N <<<"$(sent "tresor_indep_$round")"
  row "$round" "tresor copy (independent ids)" "$WALL" "$CPU_S" "$RSS_MB" "$S0" "$(bytes "$D/b-indep")" "$N"
  eval "TI_${round}_WALL=$WALL TI_${round}_SIZE=$(( $(bytes "$D/b-indep") - S0 )) TI_${round}_RSS=$RSS_MB"

  S0=$(bytes "$D/rb"); copy_restic "restic_$round"
  N=$(restic -r "$D/rb" snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  row "$round" "restic copy (--copy-chunker-params)" "$WALL" "$CPU_S" "$RSS_MB" "$S0" "$(bytes "$D/rb")" "$N total"
  eval "R_${round}_WALL=$WALL R_${round}_SIZE=$(( $(bytes "$D/rb") - S0 )) R_${round}_RSS=$RSS_MB"
done

# the copies are whole: check and restore the last snapshot from each tresor copy
"$TRESOR" --repo "$D/b-shared" --quiet check --read-data
"$TRESOR" --repo "$D/b-indep" --quiet check --read-data
rm -f "$D/r.db"; "$TRESOR" --repo "$D/b-indep" --quiet restore latest --to "sqlite://$D/r.db"
if [ "$(sqlite3 "$DB" .dump | sha256sum)" = "$(sqlite3 "$D/r.db" .dump | sha256sum)" ]; then
  VERIFY="\`check --read-data\` passes on both tresor destinations, and the latest snapshot restored from the independent one equals the live database"
else
  VERIFY="**the restore from the copy DIFFERS from the live database**"
fi
SAME_IDS=$(diff <("$TRESOR" --repo "$D/a" --json snapshots | python3 -c 'import json,sys; [print(s["id"]) for s in json.load(sys.stdin)]') \
                <("$TRESOR" --repo "$D/b-indep" --json snapshots | python3 -c 'import json,sys; [print(s["id"]) for s in json.load(sys.stdin)]') >/dev/null && echo "the same" || echo "**different**")

OUT="$OUT_DIR/copy.md"
{
  echo "### Copy: $SIZE_DESC (scale $SCALE), a first backup and $DAYS days of ~1% churn, to a second repository"
  echo
  machine_info
  echo
  echo "Source repositories: tresor $(mb "$A_SIZE") MiB, restic $(mb "$RA_SIZE") MiB ($((DAYS + 1)) snapshots each). \"full\" copies every snapshot into an empty destination; \"nightly\" copies the one new snapshot after one more day of churn (the cron job). Destination bytes are what the copy added to the destination directory."
  echo
  echo "| copy | tool | wall s | CPU s | peak RSS MiB | destination added MiB | destination total MiB | snapshots copied |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Ratios (tresor / restic): full copy, shared ids: time $(ratio "$TS_full_WALL" "$R_full_WALL")x, bytes $(ratio "$TS_full_SIZE" "$R_full_SIZE")x, memory $(ratio "$TS_full_RSS" "$R_full_RSS")x; independent ids: time $(ratio "$TI_full_WALL" "$R_full_WALL")x, bytes $(ratio "$TI_full_SIZE" "$R_full_SIZE")x, memory $(ratio "$TI_full_RSS" "$R_full_RSS")x. Nightly copy, shared ids: time $(ratio "$TS_nightly_WALL" "$R_nightly_WALL")x, bytes $(ratio "$TS_nightly_SIZE" "$R_nightly_SIZE")x; independent ids: time $(ratio "$TI_nightly_WALL" "$R_nightly_WALL")x, bytes $(ratio "$TI_nightly_SIZE" "$R_nightly_SIZE")x."
  echo
  echo "Snapshot ids in the copy: $SAME_IDS as in the source. Check: $VERIFY."
  echo
  echo "Commands: \`tresor --repo B init --copy-ids-from A\` (or plain \`init\`), \`tresor --repo B copy --from-repo A\`; \`restic -r RB init --from-repo RA --copy-chunker-params\`, \`restic -r RB copy --from-repo RA\`; passwords from \`TRESOR_FROM_PASSWORD\` / \`RESTIC_FROM_PASSWORD\`."
} | tee "$OUT"

rm -rf "$D"
