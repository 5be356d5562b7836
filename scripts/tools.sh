#!/usr/bin/env bash
# Installs the build tools the frontend's wasm half needs, if missing. Only
# package registries are assumed reachable: the wasm target comes from
# rustup, wasm-bindgen-cli is compiled from crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# Captured first: `grep -q` stopping early would fail the pipeline under pipefail.
installed_targets="$(rustup target list --installed 2>/dev/null || true)"
if ! grep -qx wasm32-unknown-unknown <<<"$installed_targets"; then
    echo "tools: adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

# The CLI must be exactly the wasm-bindgen version in Cargo.lock, or the
# bundle it writes will not match the library compiled into the wasm.
want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"
have="$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)"
if [[ "$have" != "$want" ]]; then
    echo "tools: installing wasm-bindgen-cli $want (a few minutes, once)"
    # Not --locked: the CLI's own lock file names a crate version that is no
    # longer on crates.io (seen with 0.2.130); an unlocked install builds.
    # A tool, not a product: built quickly (opt-level 1, no LTO, no debug info,
    # many codegen units) rather than small and fast. Only the `wasm-bindgen`
    # binary, without default features: those are TLS (ring, rustls) for the
    # test runner's downloads, which we never run.
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_LTO=false \
        cargo install --force wasm-bindgen-cli --version "$want" --no-default-features \
            --bin wasm-bindgen
fi

# wasm-split-cli: splits the bundle at the lazy routes' split points (every
# page but "not found" and sign-in is a chunk of its own; scripts/wasm.sh
# says why). Every bundle needs it, dev too: the wasm imports the chunks'
# loaders from a script only this tool writes. From crates.io (the crate
# wasm_split_cli_support, whose binary is behind `build-binary`), pinned:
# its output must match the wasm_split_helpers that Leptos compiles in.
split_version=0.2.4
# (It has no --version: cargo's own record says what is installed.)
installed_crates="$(cargo install --list 2>/dev/null || true)"
if ! grep -qx "wasm_split_cli_support v$split_version:" <<<"$installed_crates" \
    || ! command -v wasm-split-cli >/dev/null 2>&1; then
    echo "tools: installing wasm-split-cli $split_version (about 1.5 minutes, once)"
    CARGO_PROFILE_RELEASE_OPT_LEVEL=2 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        CARGO_PROFILE_RELEASE_LTO=false \
        cargo install --locked --force wasm_split_cli_support --version "$split_version" \
        --features build-binary
fi

# wasm-opt, for release bundles only (`scripts/tools.sh wasm-opt`, from
# `scripts/wasm.sh release`): binaryen's
# npm package, whose wasm-opt is binaryen compiled to wasm and run by Node,
# so it installs from the npm registry alone (or its cache, offline) and
# runs on any machine Node does. Pinned: a new binaryen can change the
# output. scripts/wasm.sh's header says why this and not Debian's binaryen
# or the wasm-opt crate.
# With `wasm-opt`, prints its path as the last line.
if [[ "${1:-}" == wasm-opt ]]; then
    binaryen_version=132.0.0
    binaryen_dir="${XDG_CACHE_HOME:-$HOME/.cache}/cloakroom/binaryen-$binaryen_version"
    if [[ ! -x "$binaryen_dir/node_modules/.bin/wasm-opt" ]]; then
        echo "tools: installing binaryen $binaryen_version (npm) into $binaryen_dir" >&2
        mkdir -p "$binaryen_dir"
        npm install --prefix "$binaryen_dir" --no-save --no-audit --no-fund --silent \
            "binaryen@$binaryen_version" >&2
    fi
    echo "$binaryen_dir/node_modules/.bin/wasm-opt"
fi
