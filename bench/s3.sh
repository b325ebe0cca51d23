#!/usr/bin/env bash
# Object storage: the shop database (~400 MiB SQLite, scale 0.65) backed up to a local
# directory and to S3 (s3s-fs on loopback, started here), and restored from each; the same
# release build, local and S3 runs interleaved, REPEAT times (default 3).
# Reports the S3/local time ratio (goal: within 1.3x), the S3 backup's peak RSS (goal: under
# 150 MiB) and the bytes stored (what was uploaded).
#
#   bash bench/s3.sh            (SCALE=0.65; S3S_FS=path to use another s3s-fs binary)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -x /usr/bin/time ] && command -v sqlite3 >/dev/null || ensure_tools
ensure_tresor

SCALE="${SCALE:-0.65}"
D="$BENCH_DIR/s3"
rm -rf "$D"; mkdir -p "$D/s3data/tresor"

# --- the S3 server: s3s-fs, as the tests use it ---
S3S_FS="${S3S_FS:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}"
if [ ! -x "$S3S_FS" ]; then
  echo "installing s3s-fs (about 3 minutes)" >&2
  cargo install s3s-fs@0.14.1 --locked --features binary >&2
  S3S_FS="$HOME/.cargo/bin/s3s-fs"
fi
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export AWS_ACCESS_KEY_ID=bench-key AWS_SECRET_ACCESS_KEY=bench-secret-0123456789
"$S3S_FS" --host 127.0.0.1 --port "$PORT" --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$D/s3data" >"$D/s3s-fs.log" 2>&1 &
S3_PID=$!
trap 'kill "$S3_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
s3_url() { echo "s3://tresor/$1?endpoint=http://127.0.0.1:$PORT&region=us-east-1"; }

ORIG=$(shop_sqlite "$SCALE")
DB="$D/shop.db"
cp "$ORIG" "$DB"
DB_BYTES=$(bytes "$DB")
cat "$DB" >/dev/null # warm the page cache

# interleaved: local then S3 in each round, each into a fresh repository
LB=() SB=() LR=() SR=() LB_RSS=0 SB_RSS=0 LR_RSS=0 SR_RSS=0
max() { echo $(( $1 > $2 ? $1 : $2 )); }
for i in $(seq 1 "$REPEAT"); do
  echo "round $i" >&2
  tresor_init "$D/local-$i"
  measure local_backup "$TRESOR" --repo "$D/local-$i" --quiet backup "sqlite://$DB"
  LB+=("$WALL"); LB_RSS=$(max "$LB_RSS" "$RSS_MB")
  "$TRESOR" --repo "$(s3_url "repo-$i")" --quiet init >/dev/null
  measure s3_backup "$TRESOR" --repo "$(s3_url "repo-$i")" --quiet backup "sqlite://$DB"
  SB+=("$WALL"); SB_RSS=$(max "$SB_RSS" "$RSS_MB")
done
for i in $(seq 1 "$REPEAT"); do
  rm -f "$D/restored-local.db" "$D/restored-s3.db"
  measure local_restore "$TRESOR" --repo "$D/local-$i" --quiet restore latest --to "sqlite://$D/restored-local.db"
  LR+=("$WALL"); LR_RSS=$(max "$LR_RSS" "$RSS_MB")
  measure s3_restore "$TRESOR" --repo "$(s3_url "repo-$i")" --quiet restore latest --to "sqlite://$D/restored-s3.db"
  SR+=("$WALL"); SR_RSS=$(max "$SR_RSS" "$RSS_MB")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
L_B=$(median "${LB[@]}") S_B=$(median "${SB[@]}") L_R=$(median "${LR[@]}") S_R=$(median "${SR[@]}")
RUNS="local_backup ${LB[*]}; s3_backup ${SB[*]}; local_restore ${LR[*]}; s3_restore ${SR[*]}"

LOCAL_BYTES=$(bytes "$D/local-1")
S3_BYTES=$(bytes "$D/s3data/tresor/repo-1")
S3_FILES=$(find "$D/s3data/tresor/repo-1" -type f | wc -l)

echo "verifying: sqlite3 .dump of the original and the S3 restore" >&2
A=$(sqlite3 "$DB" .dump | sha256sum | cut -c1-16)
B=$(sqlite3 "$D/restored-s3.db" .dump | sha256sum | cut -c1-16)
if [ "$A" = "$B" ]; then VERIFY="identical \`.dump\` (sha256 $A)"; else VERIFY="**DIFFERENT .dump** ($A vs $B)"; fi

goal() { awk -v r="$1" -v g="$2" 'BEGIN { print (r <= g) ? "met" : "**missed**" }'; }
BR=$(ratio "$S_B" "$L_B") RR=$(ratio "$S_R" "$L_R")
OUT="$OUT_DIR/s3.md"
{
  echo "### Object storage: $(mb "$DB_BYTES") MiB SQLite shop (scale $SCALE), local directory vs S3 (s3s-fs on loopback)"
  echo
  echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ { print $2 }') GiB RAM, kernel $(uname -r)"
  echo "- tresor $("$TRESOR" --version 2>/dev/null | awk '{ print $2 }'), release build $(cat "$TRESOR.provenance" 2>/dev/null || echo "of unknown provenance"), binary sha256 $(sha256sum "$TRESOR" | cut -c1-12); s3s-fs $("$S3S_FS" --version 2>/dev/null | awk '{ print $2 }' || echo '?') on 127.0.0.1, storing objects as files on the same disk as the local repository (so both write the same bytes to the same disk; S3 adds HTTP, SigV4 signing and the server's own CPU on the same 2 cores)"
  echo "- page cache warm; local and S3 runs interleaved, each backup into a fresh repository; $(date -u +%Y-%m-%dT%H:%MZ)"
  load_note
  echo
  echo "| operation | local s | S3 s | S3/local | local peak RSS MiB | S3 peak RSS MiB |"
  echo "|---|---:|---:|---:|---:|---:|"
  echo "| backup (\`tresor backup sqlite://shop.db\`) | $L_B | $S_B | ${BR}x | $LB_RSS | $SB_RSS |"
  echo "| restore (\`tresor restore latest --to sqlite://...\`) | $L_R | $S_R | ${RR}x | $LR_RSS | $SR_RSS |"
  echo
  echo "Stored: $(mb "$LOCAL_BYTES") MiB in the local repository, $(mb "$S3_BYTES") MiB in $S3_FILES objects uploaded to S3 (for a $(mb "$DB_BYTES") MiB database)."
  echo
  echo "Goals: S3 backup within 1.3x of local: $(goal "$BR" 1.3) (${BR}x); S3 backup peak RSS under 150 MiB: $(goal "$SB_RSS" 149) ($SB_RSS MiB). Restored from S3: $VERIFY."
} | tee "$OUT"

rm -rf "$D"
