#!/usr/bin/env bash
# The benchmark command of linkgate: installs the prerequisites
# (tests/bin/setup.sh), builds linkgate and the bench binary in release mode,
# then runs `bench`, which mirrors LINKGATE_BENCH_MB MiB (default 1024) of
# 1 KiB lz4 records over 8 partitions between local nisshi brokers and prints
# linkgate's throughput and CPU cost next to the ceiling of a pass-through
# mirror (the destination's ingest of the source's own batches, encoded
# beforehand, from a minimal producer with 5 requests in flight) and a
# librdkafka consume-and-reproduce baseline, with their ratios. Then,
# for 100 B and 1 KiB records, it mirrors LINKGATE_BENCH_PLUGIN_MB MiB
# (default 256) without and with the keep-all record-transform plugin
# (built by tests/bin/build-plugins.sh) and prints the throughput ratio and
# the plugin's cost per record in ns. Last, the ratios held to targets.
#
#   LINKGATE_BENCH_MB=256 LINKGATE_BENCH_PLUGIN_MB=64 tests/bin/bench.sh   # quick run
#   LINKGATE_BENCH_PLUGIN_MB=0 tests/bin/bench.sh   # no plugin phase
#
# Other knobs: LINKGATE_BENCH_PHASE_DEADLINE_S (bound on each phase, default
# 1200), LINKGATE_BENCH_PLUGIN (path of the keep-all component),
# LINKGATE_GATEWAY_RUST_LOG (gateway log level, default info),
# LINKGATE_KEEP_TEMP=1 (keep broker and gateway directories and logs).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

tests/bin/setup.sh

export LINKGATE_CACHE_DIR="${LINKGATE_CACHE_DIR:-$HOME/.cache/linkgate}"
export LINKGATE_NISSHI="${LINKGATE_NISSHI:-$LINKGATE_CACHE_DIR/nisshi/bin/nisshi}"

export LINKGATE_BENCH_PLUGIN_MB="${LINKGATE_BENCH_PLUGIN_MB:-256}"
if [ "$LINKGATE_BENCH_PLUGIN_MB" != 0 ]; then
    tests/bin/build-plugins.sh
    export LINKGATE_BENCH_PLUGIN="${LINKGATE_BENCH_PLUGIN:-$PWD/plugins/target/wasm32-wasip2/release/linkgate_test_keep_all.wasm}"
fi

echo "[bench] cargo build --release -p linkgate -p linkgate-tests"
cargo build --release -p linkgate -p linkgate-tests

# Absolute: the harness starts the gateway in its own working directory.
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
export LINKGATE_BIN="${LINKGATE_BIN:-$target_dir/release/linkgate}"
export LINKGATE_BENCH_MB="${LINKGATE_BENCH_MB:-1024}"

echo "[bench] running the benchmark with ${LINKGATE_BENCH_MB} MiB (LINKGATE_BENCH_MB), plugin phase ${LINKGATE_BENCH_PLUGIN_MB} MiB per record size (LINKGATE_BENCH_PLUGIN_MB)"
exec "$target_dir/release/bench"
