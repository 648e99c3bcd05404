#!/usr/bin/env bash
# Builds the bundled linkgate plugins and the plugin test fixtures (the
# plugins/ cargo workspace) into WebAssembly components:
#   cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml
# installing the wasm32-wasip2 target with rustup first if it is missing.
# Then checks that every plugins/target/wasm32-wasip2/release/*.wasm is a
# component (not a core module): its first 8 bytes must be the preamble
# \0asm + version 0x0d 0x00 + layer 0x01 0x00. Prints one line per component:
# size in bytes and path. Exits non-zero on a build failure, a missing
# output or a core module.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

target=wasm32-wasip2
out_dir="plugins/target/$target/release"

if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    echo "[build-plugins] rustup target add $target"
    rustup target add "$target"
fi

echo "[build-plugins] cargo build --release --target $target --manifest-path plugins/Cargo.toml"
cargo build --release --target "$target" --manifest-path plugins/Cargo.toml

# Every workspace member must have produced its component: plugins/<dir>
# with package name linkgate-<dir>, plugins/testing/<dir> with
# linkgate-test-<dir>; the file is the lib name (dashes -> underscores).
expected=()
for manifest in plugins/*/Cargo.toml plugins/testing/*/Cargo.toml; do
    name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$manifest" | head -n 1)
    [ -n "$name" ] || { echo "[build-plugins] no package name in $manifest" >&2; exit 1; }
    expected+=("$out_dir/${name//-/_}.wasm")
done

component_preamble="0061736d0d000100"
status=0
for wasm in "${expected[@]}"; do
    if [ ! -f "$wasm" ]; then
        echo "[build-plugins] MISSING $wasm" >&2
        status=1
        continue
    fi
    head=$(od -An -tx1 -N8 "$wasm" | tr -d ' \n')
    if [ "$head" != "$component_preamble" ]; then
        echo "[build-plugins] NOT A COMPONENT (first bytes $head) $wasm" >&2
        status=1
        continue
    fi
    printf '%10d  %s\n' "$(wc -c <"$wasm")" "$wasm"
done
exit "$status"
