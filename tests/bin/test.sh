#!/usr/bin/env bash
# The test command of linkgate: installs the test prerequisites
# (tests/bin/setup.sh), builds the plugins (tests/bin/build-plugins.sh) and
# every target of the workspace, then runs all tests (doc tests, the plugins'
# own unit tests, then unit and end-to-end tests with 2 threads) and ends
# with the runner's summary line (nextest's, or one added up over cargo
# test's per-binary results). Exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

tests/bin/setup.sh

export LINKGATE_CACHE_DIR="${LINKGATE_CACHE_DIR:-$HOME/.cache/linkgate}"
export LINKGATE_NISSHI="${LINKGATE_NISSHI:-$LINKGATE_CACHE_DIR/nisshi/bin/nisshi}"

echo "[test] building the plugins (wasm32-wasip2 components, test fixtures included)"
tests/bin/build-plugins.sh

echo "[test] cargo build --workspace --all-targets"
cargo build --workspace --all-targets

echo "[test] doc tests"
cargo test --workspace --doc

# plugins/ is a cargo workspace of its own (excluded from the root one).
echo "[test] plugin unit tests (plugins/ workspace, native)"
cargo test --manifest-path plugins/Cargo.toml

if cargo nextest --version >/dev/null 2>&1; then
    echo "[test] cargo nextest run --workspace (2 threads)"
    cargo nextest run --workspace --test-threads 2 --no-fail-fast
else
    echo "[test] cargo test --workspace (2 threads; cargo-nextest not installed)"
    log="$(mktemp)"
    trap 'rm -f "$log"' EXIT
    status=0
    cargo test --workspace --no-fail-fast -- --test-threads=2 2>&1 | tee "$log" || status=$?
    # One summary line over every test binary (cargo prints one per binary).
    awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^(passed|failed|ignored);?$/) { k = $(i + 1); sub(/;/, "", k); n[k] += $i } }
         END { printf "[test] summary: %d passed, %d failed, %d ignored\n", n["passed"], n["failed"], n["ignored"] }' "$log"
    exit "$status"
fi
