#!/usr/bin/env bash
# Builds the browser half of the frontend (the Leptos `hydrate` feature) into
# the site directory the frontend serves at /pkg.
#
# Why not cargo-leptos: it takes ~14 minutes to install here and would
# download wasm-bindgen/wasm-opt binaries, which this network refuses. The
# build it performs is two commands, so we run them ourselves:
#   cargo rustc --target wasm32-unknown-unknown --features hydrate --crate-type cdylib
#   wasm-bindgen --target web        (the CLI at exactly Cargo.lock's version)
# then names the output for its content and pre-compresses it:
#   {site-root}/{site-pkg-dir}/{hash}/…     the bundle, each file with .br and .gz
#   {site-root}/{site-pkg-dir}/manifest.txt which files the pages load
# `release` bundles are built in the `wasm-release` profile (opt-level "z",
# LTO, one codegen unit) and then shrunk by wasm-opt -Oz: binaryen 132 from
# npm (`scripts/tools.sh wasm-opt`), whose wasm-opt is binaryen compiled to
# wasm and run by Node. Measured here (wasm-bindgen's output, then brotli):
#   profile release                3.92 MB (578 KB)  + wasm-opt: 2.31 MB (511 KB), 30 s
#   profile wasm-release (1m40s)   3.05 MB (474 KB)  + wasm-opt: 1.30 MB (367 KB), 10 s
# and the optimised bundle passes every browser test, hydrated, with a clean
# console. Not Debian's binaryen (108): it breaks the bundle (wasm-bindgen's
# externref table fails at load: "WebAssembly.Table.set(): Argument 1 is
# invalid"). Not the wasm-opt crate (0.116.1, not built here): it compiles
# binaryen's C++ from source (wasm-opt-sys) in every cold build, for an older
# binaryen (116); npm's installs in seconds from the registry, or offline
# from npm's cache, and CI has Node already.
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
if [[ "$profile" == release ]]; then out_profile=wasm-release; fi
cargo rustc --locked -p frontend --lib --target wasm32-unknown-unknown \
    --no-default-features --features hydrate --profile "$out_profile" --crate-type cdylib

wasm="$target_dir/wasm32-unknown-unknown/$out_profile/frontend.wasm"
out="$site_root/$pkg_dir"
stamp="$out/.built-from"
# Skip the rest when this exact wasm was already processed (a warm `just dev`).
fingerprint="$(stat -c '%s %Y' "$wasm") $profile"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$fingerprint" && -f "$out/manifest.txt" ]]; then
    exit 0
fi

# Build beside the served directory and swap it in, so a running frontend
# never serves half-written files.
mkdir -p "$site_root"
tmp="$(mktemp -d "$site_root/.pkg.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
wasm-bindgen --target web --no-typescript --out-dir "$tmp/bundle" --out-name "$output_name" "$wasm"
if [[ "$profile" == release ]]; then
    wasm_opt="$(scripts/tools.sh wasm-opt | tail -n1)"
    bg="$tmp/bundle/${output_name}_bg.wasm"
    # The features rustc's wasm32-unknown-unknown target turns on by default
    # (wasm-bindgen's externref table needs reference types); the optimiser
    # must neither drop nor add any.
    node "$wasm_opt" -Oz --enable-reference-types --enable-bulk-memory \
        --enable-nontrapping-float-to-int --enable-sign-ext --enable-multivalue \
        --enable-mutable-globals "$bg" -o "$bg"
fi

# Content-hashed: the bundle's directory is named for what is in it (names
# and bytes), so the frontend can let browsers cache it for a year
# (`immutable`), and a new build is a new URL. The JavaScript finds its
# snippets by relative paths, which hashing the directory leaves intact.
hash="$(cd "$tmp/bundle" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)"
mv "$tmp/bundle" "$tmp/$hash"
# Compressed once here rather than per request (brotli at its best setting
# is far too slow per request); dev builds compress quickly instead.
# Without Node (it is needed for `release` only), a dev bundle goes without
# its copies: the frontend then compresses it as it sends it.
if [[ "$profile" == release ]]; then
    node scripts/precompress.mjs "$tmp/$hash"
elif command -v node >/dev/null 2>&1; then
    node scripts/precompress.mjs "$tmp/$hash" fast
else
    echo "wasm: no node found; the dev bundle is not pre-compressed" >&2
fi
# The frontend reads this at start-up to name the bundle in every page.
printf 'js = %s/%s.js\nwasm = %s/%s_bg.wasm\n' "$hash" "$output_name" "$hash" "$output_name" \
    > "$tmp/manifest.txt"
echo "$fingerprint" > "$tmp/.built-from"
rm -rf "$out.old"
if [[ -d "$out" ]]; then mv "$out" "$out.old"; fi
mv "$tmp" "$out"
rm -rf "$out.old"
trap - EXIT
bundle="$out/$hash/${output_name}_bg.wasm"
echo "wasm: $(du -h "$bundle" | cut -f1) bundle in $out/$hash"
