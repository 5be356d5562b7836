#!/usr/bin/env bash
# Builds the browser half of the frontend (the Leptos `hydrate` feature) into
# the site directory the frontend serves at /pkg.
#
# Why not cargo-leptos: it takes ~14 minutes to install here and would
# download wasm-bindgen/wasm-opt binaries, which this network refuses. The
# build it performs is a few commands, so we run them ourselves:
#   cargo rustc --target wasm32-unknown-unknown --features hydrate --crate-type cdylib
#   wasm-split-cli          (the bundle split at the lazy routes, below)
#   wasm-bindgen --target web        (the CLI at exactly Cargo.lock's version)
# then names the output for its content and pre-compresses it:
#   {site-root}/{site-pkg-dir}/{hash}/…     the bundle, each file with .br and .gz
#   {site-root}/{site-pkg-dir}/manifest.txt which files the pages load
#
# `release` bundles are built in the `wasm-release` profile (opt-level "z",
# LTO, one codegen unit) and then shrunk by wasm-opt -Oz: binaryen 132 from
# npm (`scripts/tools.sh wasm-opt`), whose wasm-opt is binaryen compiled to
# wasm and run by Node. Measured here (wasm-bindgen's output, then brotli):
#   profile release                3.92 MB (578 KB)  + wasm-opt: 2.31 MB (511 KB), 30 s
#   profile wasm-release (1m40s)   3.05 MB (474 KB)  + wasm-opt: 1.30 MB (367 KB), 10 s
# That one 1.30 MB module made a first visit to /login 382 KB transferred in
# headless Chromium (`just page-weight`), against issue 19's 250 KB. Where
# its bytes went (twiggy on a build with names kept): Leptos's generic view
# code for all eleven pages (tachys 29 %, reactive_graph 18 %, the router
# 9 %, either_of 6 %; every page's view compiled for build, rebuild, hydrate
# and async hydrate), against ~2 % for dependencies a feature could drop
# (serde_json, serde_qs) and ~2 % for formatting. wasm-opt's other settings
# (-Oz --converge, -Os, --strip-debug --strip-producers) moved it by 1 KB.
# What does move it is not shipping pages nobody is looking at: the pages
# but sign-in and "not found" are Leptos lazy routes (frontend/src/app/pages),
# and wasm-split (wasm_split_cli_support from crates.io, `scripts/tools.sh`)
# cuts each into a chunk the page fetches when it hydrates; code that
# several pages share goes into chunks of its own, fetched with each of them.
#   split, wasm-release + wasm-opt   main 581 KB (190 KB) + 80 chunks 843 KB (324 KB)
# and a first visit to /login fetches the main module alone: 208 KB
# transferred, was 382 KB (JavaScript off: unchanged, 5.6 KB); hydrated in a
# median 142-156 ms, was 169-175 ms (20 loads each, this machine). Sign-in
# stays in the main module because nearly every first visit lands there.
# The price is on the other pages' first visits: / fetches 26 files, 233 KB,
# and hydrates in ~270 ms instead of ~150 (its chunks are fetched only once
# the main module runs; cached for a year after). wasm-opt runs on every
# module, about a minute for all of them on two cores.
# Every optimised bundle passes every browser test, hydrated, with a clean
# console. Not Debian's binaryen (108): it breaks the bundle (wasm-bindgen's
# externref table fails at load: "WebAssembly.Table.set(): Argument 1 is
# invalid"). Not the wasm-opt crate (0.116.1, not built here): it compiles
# binaryen's C++ from source (wasm-opt-sys) in every cold build, for an older
# binaryen (116); npm's installs in seconds from the registry, or offline
# from npm's cache, and CI has Node already.
#
# Site settings come from Leptos.toml only (output-name, site-root,
# site-pkg-dir): the same file the frontend reads at start-up, with the same
# LEPTOS_* variables overriding single values.
#
# Usage: scripts/wasm.sh [dev|release]
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-dev}"
target_dir="${CARGO_TARGET_DIR:-target}"

setting() { # the value of `key = "value"` in Leptos.toml
    sed -n "s/^$1[[:space:]]*=[[:space:]]*\"\(.*\)\"[[:space:]]*$/\1/p" Leptos.toml | head -n1
}
# LEPTOS_* variables override single values, as they do for the frontend
# (`just bench` builds into a site folder of its own this way).
output_name="${LEPTOS_OUTPUT_NAME:-$(setting output-name)}"
site_root="${LEPTOS_SITE_ROOT:-$(setting site-root)}"
pkg_dir="${LEPTOS_SITE_PKG_DIR:-$(setting site-pkg-dir)}"
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
# --emit-relocs: wasm-split follows the linker's relocations to tell which
# code and data each split point reaches.
cargo rustc --locked -p frontend --lib --target wasm32-unknown-unknown \
    --no-default-features --features hydrate --profile "$out_profile" --crate-type cdylib \
    -- -Clink-args=--emit-relocs

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
# Split first (wasm-split reads the linker's output), then wasm-bindgen the
# main module only: the chunks import what they need from it, through the
# exports --keep-lld-exports keeps. The loader script __wasm_split.js,
# imported by the bindings, fetches chunks beside itself, by relative URL.
wasm-split-cli "$wasm" "$tmp/split" --out-name "$output_name" --target web >/dev/null
wasm-bindgen --target web --no-typescript --keep-lld-exports --out-dir "$tmp/bundle" \
    --out-name "$output_name" "$tmp/split/$output_name.wasm"
rm "$tmp/split/$output_name.wasm"
mv "$tmp/split/"* "$tmp/bundle/"
rmdir "$tmp/split"
if [[ "$profile" == release ]]; then
    wasm_opt="$(scripts/tools.sh wasm-opt | tail -n1)"
    # The features rustc's wasm32-unknown-unknown target turns on by default
    # (wasm-bindgen's externref table needs reference types); the optimiser
    # must neither drop nor add any. Every module, the chunks too, two at a
    # time (it is single-threaded). wasm-split leaves a name subsection
    # binaryen does not know in the chunks; the warning says so, harmlessly.
    find "$tmp/bundle" -name '*.wasm' -print0 | xargs -0 -P "$(nproc)" -I{} \
        node "$wasm_opt" -Oz --enable-reference-types --enable-bulk-memory \
        --enable-nontrapping-float-to-int --enable-sign-ext --enable-multivalue \
        --enable-mutable-globals {} -o {} 2> >(grep -v 'unknown name subsection' >&2)
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
