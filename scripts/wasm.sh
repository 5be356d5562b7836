#!/usr/bin/env bash
# Builds the browser half of the frontend (the Leptos `hydrate` feature) into
# the site directory the frontend serves at /pkg.
#
# Why not cargo-leptos: it takes ~14 minutes to install here and would
# download wasm-bindgen/wasm-opt binaries, which this network refuses. The
# build it performs is two commands, so we run them ourselves:
#   cargo rustc --target wasm32-unknown-unknown --features hydrate --crate-type cdylib
#   wasm-bindgen --target web        (the CLI at exactly Cargo.lock's version)
# No wasm-opt: Debian's binaryen (108) shrinks the bundle 5 MB -> 1.8 MB
# but breaks it (wasm-bindgen's externref table fails at load in Chromium:
# "WebAssembly.Table.set(): Argument 1 is invalid"), so the bundle is served
# as wasm-bindgen writes it; `release` builds are smaller.
#
# Site settings come from Leptos.toml only (output-name, site-root,
# site-pkg-dir): the same file the frontend reads at start-up.
#
# Usage: scripts/wasm.sh [dev|release]
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-dev}"
target_dir="${CARGO_TARGET_DIR:-target}"

setting() { # the value of `key = "value"` in Leptos.toml
    sed -n "s/^$1[[:space:]]*=[[:space:]]*\"\(.*\)\"[[:space:]]*$/\1/p" Leptos.toml | head -n1
}
output_name="$(setting output-name)"
site_root="$(setting site-root)"
pkg_dir="$(setting site-pkg-dir)"
if [[ -z "$output_name" || -z "$site_root" || -z "$pkg_dir" ]]; then
    echo "wasm: Leptos.toml must set output-name, site-root and site-pkg-dir" >&2
    exit 1
fi

scripts/tools.sh

# `dev` is the wasm-dev profile (Cargo.toml): no debug info, dependencies at
# opt-level 1. The crate is an rlib for native builds; only here is it linked
# as the cdylib wasm-bindgen needs.
out_profile=wasm-dev
if [[ "$profile" == release ]]; then out_profile=release; fi
cargo rustc --locked -p frontend --lib --target wasm32-unknown-unknown \
    --no-default-features --features hydrate --profile "$out_profile" --crate-type cdylib

wasm="$target_dir/wasm32-unknown-unknown/$out_profile/frontend.wasm"
out="$site_root/$pkg_dir"
stamp="$out/.built-from"
# Skip the rest when this exact wasm was already processed (a warm `just dev`).
fingerprint="$(stat -c '%s %Y' "$wasm") $profile"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$fingerprint" && -f "$out/$output_name.js" ]]; then
    exit 0
fi

# Build beside the served directory and swap it in, so a running frontend
# never serves half-written files.
mkdir -p "$site_root"
tmp="$(mktemp -d "$site_root/.pkg.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
wasm-bindgen --target web --no-typescript --out-dir "$tmp" --out-name "$output_name" "$wasm"
echo "$fingerprint" > "$tmp/.built-from"
rm -rf "$out.old"
if [[ -d "$out" ]]; then mv "$out" "$out.old"; fi
mv "$tmp" "$out"
rm -rf "$out.old"
trap - EXIT
echo "wasm: $(du -h "$out/${output_name}_bg.wasm" | cut -f1) bundle in $out"
