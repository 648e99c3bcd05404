#!/usr/bin/env bash
# The scale run of linkgate (not part of the default tests): installs the
# prerequisites (tests/bin/setup.sh), builds linkgate and the scale binary in
# release mode, then runs `scale`: one gateway mirroring
# LINKGATE_SCALE_TOPICS topics (default 200) x LINKGATE_SCALE_PARTITIONS
# partitions (default 10) between local nisshi brokers; prints resident
# memory per mirrored partition (goal <= 16 KiB) and idle CPU over
# LINKGATE_SCALE_IDLE_S seconds (default 30; goal < 2% of a core).
#
#   tests/bin/scale.sh
#   LINKGATE_SCALE_TOPICS=20 LINKGATE_SCALE_IDLE_S=10 tests/bin/scale.sh   # quick
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

tests/bin/setup.sh

export LINKGATE_CACHE_DIR="${LINKGATE_CACHE_DIR:-$HOME/.cache/linkgate}"
export LINKGATE_NISSHI="${LINKGATE_NISSHI:-$LINKGATE_CACHE_DIR/nisshi/bin/nisshi}"

echo "[scale] cargo build --release -p linkgate -p linkgate-tests"
cargo build --release -p linkgate -p linkgate-tests

target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
export LINKGATE_BIN="${LINKGATE_BIN:-$target_dir/release/linkgate}"
exec "$target_dir/release/scale"
