#!/usr/bin/env bash
# The soak command of linkgate (not part of the default tests): installs the
# prerequisites (tests/bin/setup.sh), builds the plugins, linkgate and the
# soak binary in release mode, then runs `soak`: one gateway mirrors a
# 4-partition topic at a fixed rate for LINKGATE_SOAK_MINUTES (default 30)
# while it is killed with SIGKILL and restarted every LINKGATE_SOAK_KILL_S
# seconds (default 300) and its record plugin is swapped every
# LINKGATE_SOAK_SWAP_S seconds (default 120). It fails unless every record
# arrives once and in order and the gateway's resident set and open file
# descriptors, sampled at the same age of each instance, stay flat.
#
#   LINKGATE_SOAK_MINUTES=5 LINKGATE_SOAK_KILL_S=60 tests/bin/soak.sh   # short run
#
# Other knobs: LINKGATE_SOAK_RATE (records/s, default 1000),
# LINKGATE_KEEP_TEMP=1 (keep broker and gateway directories and logs).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

tests/bin/setup.sh
tests/bin/build-plugins.sh

export LINKGATE_CACHE_DIR="${LINKGATE_CACHE_DIR:-$HOME/.cache/linkgate}"
export LINKGATE_NISSHI="${LINKGATE_NISSHI:-$LINKGATE_CACHE_DIR/nisshi/bin/nisshi}"

echo "[soak] cargo build --release -p linkgate -p linkgate-tests --bin linkgate --bin soak"
cargo build --release -p linkgate -p linkgate-tests --bin linkgate --bin soak

target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
export LINKGATE_BIN="${LINKGATE_BIN:-$target_dir/release/linkgate}"
export LINKGATE_SOAK_PLUGINS="${LINKGATE_SOAK_PLUGINS:-$PWD/plugins/target/wasm32-wasip2/release}"
exec "$target_dir/release/soak"
