# Sourced: compile the workspace's crates with clippy-driver, warnings as
# errors. scripts/clippy.sh lints this way; CI builds its tests this way too
# (.ci/run), so they reuse what the lint compiled.
RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)"
export RUSTC_WORKSPACE_WRAPPER
# What `cargo clippy -- -D warnings` hands clippy-driver (more flags would be
# joined with `__CLIPPY_HACKERY__`, its separator, not spaces): every warning,
# rustc's and clippy's, is an error (dependencies' lints are capped as usual).
export CLIPPY_ARGS="-Dwarnings"
