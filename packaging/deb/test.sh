#!/usr/bin/env bash
# Builds the package from the debug binary the tests built, installs it with
# dpkg, starts the unit's own command line as its user and checks that the
# server answers /healthz; then purges the package again.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build -p tresor --quiet
out=$(mktemp -d)
deb=$(packaging/deb/build.sh --profile debug "$out")
echo "== installing $deb"
dpkg -i "$deb" >/dev/null

cleanup() {
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true
    dpkg --purge tresor >/dev/null || true
    rm -rf /var/lib/tresor/repo /var/lib/tresor/state.db /etc/tresor "$out"
    rmdir /var/lib/tresor 2>/dev/null || true
}
trap cleanup EXIT

test -x /usr/bin/tresor
test -s /usr/share/man/man1/tresor-restore.1.gz
test -s /usr/share/bash-completion/completions/tresor
test "$(stat -c %a /etc/tresor/repository-password)" = 600
getent passwd tresor >/dev/null
test -e /var/lib/tresor/repo/config

# the unit's ExecStart, word for word, with a free port
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/tresor.service)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086
runuser -u tresor -- $exec_start --listen "127.0.0.1:$port" >"$out/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >"$out/health" 2>/dev/null; then
        echo "== the packaged service answers /healthz: $(cat "$out/health")"
        exit 0
    fi
    sleep 0.2
done
echo "the packaged service did not answer /healthz:" >&2
cat "$out/serve.log" >&2
exit 1
