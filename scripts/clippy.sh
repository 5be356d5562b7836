#!/usr/bin/env bash
# Clippy over every target, the bench-only code and the browser half, with
# warnings as errors, by *building* rather than checking.
#
# Why: `cargo clippy` is `cargo check` with clippy-driver wrapped around the
# workspace's own crates, and a check compiles every dependency a second
# time, to metadata only, that `just test` then compiles again for real (on
# two cores, the largest duplicate in a cold CI run). Building with
# clippy-driver as RUSTC_WORKSPACE_WRAPPER runs the same lints over the same
# targets, and leaves behind dependencies that `just test` and `just wasm`
# reuse: the wrapper applies to workspace members only (and is part of their
# fingerprint), so only they are compiled again there.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

source scripts/clippy-env.sh

# Every target as `cargo test` builds it (same features, so `just test`
# finds its dependencies built), then the binaries `cargo test` builds only
# as unit tests (cloakroom-bench), as themselves. `--tests` keeps the
# dev-dependencies' features switched on, so nothing below them changes.
cargo test --workspace --all-targets --locked --no-run
cargo build --workspace --bins --tests --locked
# The bench-only request modes: the same feature set plus frontend/bench, the
# libraries' unit tests only (nothing else changes). Linted in test mode:
# the crates have no `cfg(not(test))` code, so this is all of it.
cargo test --workspace --lib --locked --no-run --features frontend/bench
# The browser half, in the profile `just wasm` builds it with.
cargo build --locked -p frontend --lib --target wasm32-unknown-unknown \
    --no-default-features --features hydrate --profile wasm-dev
