# Cloakroom: every command a person runs. `just --list` shows them.

# Builds land outside the clone when CARGO_TARGET_DIR is set (CI does), else in ./target.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", justfile_directory() / "target")

default:
    @just --list

# Run the product: builds, migrates, adds demo users, starts both servers and the
# example upstream (examples/notes, forwarded at /notes-api).
dev:
    scripts/dev.sh

# Print the demo users' passwords that `just dev` generated.
demo-users:
    @cat data/demo-users.txt 2>/dev/null || echo "no demo users yet: run 'just dev'"

# Run every test: unit, integration, two-port end-to-end and browser (headless Chromium),
# with a throwaway PostgreSQL for the PostgreSQL tests when it is installed.
test: wasm
    scripts/pg.sh cargo test --workspace --locked

# Start a throwaway PostgreSQL (Debian's package) and print its URL; Ctrl-C deletes it.
pg:
    scripts/pg.sh

# Release build: target/release/{auth-api,frontend} and the site in target/site.
build:
    cargo build --workspace --release --locked
    scripts/wasm.sh release
    @echo "built $CARGO_TARGET_DIR/release/auth-api, $CARGO_TARGET_DIR/release/frontend and target/site"

# Build the frontend's wasm bundle (hydration) into the site directory.
wasm profile="dev":
    scripts/wasm.sh {{profile}}

# Benchmarks: builds in $CARGO_TARGET_DIR/benchmark (never target/release: this frontend has
# the bench-only request modes) with the release hydration bundle beside it, runs them all on
# 127.0.0.1 (~6 min; the page weight needs Node, chromium and chromedriver, else its rows say
# skipped) and rewrites BENCHMARKS.md.
# `just bench --quick` is a smoke run. PostgreSQL rows need PostgreSQL installed.
bench *ARGS:
    # The criterion benches too: built in one go, the servers and criterion share
    # one set of dependency features, so `cargo bench` below has nothing left to
    # compile. Named, not `--benches`, which would add every lib's unit tests.
    cargo build --locked --profile benchmark -p auth-api -p bench -p frontend --features frontend/bench --bins --bench session --bench argon2
    cargo bench --locked --profile benchmark -p auth-api -p bench -p frontend --features frontend/bench --bench session --bench argon2 -- --warm-up-time 1 --measurement-time 2
    # The release hydration bundle, for the page weight (benchmark 13): into a
    # site folder of the bench's own, which its frontend serves.
    LEPTOS_SITE_ROOT="$CARGO_TARGET_DIR/benchmark/site" scripts/wasm.sh release
    scripts/pg.sh "$CARGO_TARGET_DIR/benchmark/cloakroom-bench" --bin-dir "$CARGO_TARGET_DIR/benchmark" --criterion-dir "$CARGO_TARGET_DIR/criterion" --site-dir "$CARGO_TARGET_DIR/benchmark/site" --command "just bench {{ARGS}}" {{ARGS}}

# Measures a running frontend (`just dev`'s serves the dev bundle; run `just build`'s
# for release figures) with bench/page_weight.mjs.
# Page weight of a first visit: bytes with JavaScript on and off, median time to hydrated.
page-weight url="http://localhost:3000/login":
    node bench/page_weight.mjs {{url}}

# Format the code.
fmt:
    cargo fmt --all

# Check formatting and lints, for the server and the browser half (warnings are errors),
# and the alert rules with promtool (skipped without it, outside CI).
# Clippy runs as a build (scripts/clippy.sh says why), so `just test` after it compiles
# only the workspace's own crates again.
lint:
    scripts/tools.sh
    cargo fmt --all -- --check
    scripts/clippy.sh
    scripts/alerts.sh

# Run the auth-api from the command line, e.g. `just auth-api user list`.
auth-api *ARGS:
    cargo run --quiet --locked -p auth-api -- {{ARGS}}
