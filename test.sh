#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs and starts what the
# tests need (.ci/services: client tools, the PostgreSQL and MariaDB servers,
# PostgreSQL 12 to 18 server binaries, SecantusDB, the SMTP catcher, Chromium
# and playwright-core), then runs every crate's tests. Extra arguments go to
# `cargo test`.
set -euo pipefail
cd "$(dirname "$0")"
bash .ci/services
cargo test --workspace "$@"
