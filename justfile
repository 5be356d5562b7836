# Cloakroom: every command a person runs. `just --list` shows them.

# Builds land outside the clone when CARGO_TARGET_DIR is set (CI does), else in ./target.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", justfile_directory() / "target")

default:
    @just --list

# Run every test (unit and integration) of the workspace.
test:
    cargo test --workspace --locked

# Release build of the deployable binaries.
build:
    cargo build --workspace --release --locked
    @echo "built $CARGO_TARGET_DIR/release/auth-api"

# Format the code.
fmt:
    cargo fmt --all

# Check formatting and lints (warnings are errors).
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Run the auth-api from the command line, e.g. `just auth-api user list`.
auth-api *ARGS:
    cargo run --quiet --locked -p auth-api -- {{ARGS}}
