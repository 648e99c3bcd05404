#!/usr/bin/env bash
# Installs what linkgate's tests need on a fresh Debian machine with rustup
# (run as root, or with sudo available). Idempotent: every step is skipped
# when its result is already there.
#
#   - Debian packages: C/C++ toolchain, pkg-config and zlib headers to build
#     librdkafka (rdkafka-sys, bundled, configure-based build) and nisshi's
#     C dependencies; kcat (a real Kafka client for manual checks).
#   - rustup target wasm32-wasip2 (plugins).
#   - the nisshi broker (an independent Kafka-protocol broker from crates.io,
#     see shared/testing.md), built with its pinned toolchain into
#     ${LINKGATE_CACHE_DIR:-$HOME/.cache/linkgate}/nisshi/bin/nisshi.
#     This build takes 10-20 minutes on 2 cores; it is skipped when the
#     binary is there and runs, and guarded by a lock so two setups never
#     build at once.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE_DIR="${LINKGATE_CACHE_DIR:-$HOME/.cache/linkgate}"
NISSHI_VERSION="0.8.1"
NISSHI_TOOLCHAIN="1.96.0"
NISSHI_FEATURES="dynostore,libsql"
NISSHI_ROOT="$CACHE_DIR/nisshi"
NISSHI_BIN="$NISSHI_ROOT/bin/nisshi"
NISSHI_LOG="$CACHE_DIR/nisshi-build.log"
WASM_TARGET="wasm32-wasip2"
# make/gcc/g++/libc6-dev: librdkafka's configure requires a C and a C++
# compiler; pkg-config + zlib1g-dev: zlib for librdkafka (libz feature);
# perl: build scripts of C dependencies; libssl-dev: OpenSSL for
# librdkafka (TLS and SCRAM in the security tests); kcat: command-line
# Kafka client; socat: TLS front that requires client certificates (mTLS
# tests).
APT_PACKAGES=(make gcc g++ libc6-dev perl pkg-config zlib1g-dev libssl-dev kcat socat)

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

cd "$REPO_ROOT"
mkdir -p "$CACHE_DIR"

# One setup at a time on this machine (fd 9 stays open until the script ends).
exec 9>"$CACHE_DIR/install.lock"
if ! flock -n 9; then
    log "another setup holds $CACHE_DIR/install.lock; waiting for it"
    flock 9
fi

# --- Debian packages -------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]} > 0)); then
    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
        SUDO=(sudo)
    fi
    log "installing Debian packages: ${missing[*]}"
    apt_log="$CACHE_DIR/apt.log"
    if ! { "${SUDO[@]}" apt-get update -qq &&
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
        tail -n 40 "$apt_log" >&2
        die "apt-get failed (log: $apt_log)"
    fi
else
    log "Debian packages present: ${APT_PACKAGES[*]}"
fi

# --- Rust target for plugins -----------------------------------------------
command -v rustup >/dev/null || die "rustup not found on PATH"
if rustup target list --installed | grep -qx "$WASM_TARGET"; then
    log "rustup target $WASM_TARGET present"
else
    log "adding rustup target $WASM_TARGET"
    rustup target add "$WASM_TARGET"
fi

# --- nisshi broker -----------------------------------------------------------
# The cached binary runs and is the pinned version (a version bump rebuilds).
nisshi_works() {
    [[ -x "$NISSHI_BIN" ]] && "$NISSHI_BIN" --version 2>/dev/null | grep -qF "nisshi $NISSHI_VERSION"
}

# A build started by hand (outside this lock) into the same root: wait for it
# instead of starting a second one.
foreign_build_pid() {
    pgrep -f "install nisshi .*--root $NISSHI_ROOT" | head -n1 || true
}
pid="$(foreign_build_pid)"
if [[ -n "$pid" ]]; then
    log "a nisshi build (pid $pid) is already running into $NISSHI_ROOT; waiting for it (up to 60 min)"
    waited=0
    while [[ -n "$(foreign_build_pid)" ]]; do
        ((waited >= 3600)) && die "nisshi build pid $pid still running after 60 min"
        sleep 10
        waited=$((waited + 10))
        ((waited % 60 == 0)) && log "  still waiting for the running nisshi build (${waited}s)"
    done
fi

if nisshi_works; then
    log "nisshi present: $NISSHI_BIN ($("$NISSHI_BIN" --version 2>/dev/null | head -n1 || echo "version unknown"))"
else
    log "building nisshi $NISSHI_VERSION with Rust $NISSHI_TOOLCHAIN into $NISSHI_ROOT (10-20 min; log: $NISSHI_LOG)"
    if rustup run "$NISSHI_TOOLCHAIN" rustc --version >/dev/null 2>&1; then
        log "toolchain $NISSHI_TOOLCHAIN present"
    else
        log "installing toolchain $NISSHI_TOOLCHAIN"
        rustup toolchain install "$NISSHI_TOOLCHAIN" --profile minimal
    fi
    # Built in cargo's own temp dir, not the workspace's target dir.
    env -u CARGO_TARGET_DIR -u RUSTUP_TOOLCHAIN cargo "+$NISSHI_TOOLCHAIN" install nisshi \
        --version "$NISSHI_VERSION" --locked --no-default-features --features "$NISSHI_FEATURES" \
        --root "$NISSHI_ROOT" >"$NISSHI_LOG" 2>&1 &
    build_pid=$!
    started=$SECONDS
    next_report=$((started + 60))
    while kill -0 "$build_pid" 2>/dev/null; do
        sleep 5
        if ((SECONDS >= next_report)); then
            next_report=$((next_report + 60))
            log "  building nisshi: $((SECONDS - started))s, $(grep -c ' Compiling ' "$NISSHI_LOG" || true) crates compiled"
        fi
    done
    if ! wait "$build_pid"; then
        tail -n 60 "$NISSHI_LOG" >&2
        die "nisshi build failed (full log: $NISSHI_LOG)"
    fi
    nisshi_works || die "nisshi built but $NISSHI_BIN does not run"
    log "nisshi built in $((SECONDS - started))s: $NISSHI_BIN"
fi

log "done (cache: $CACHE_DIR)"
