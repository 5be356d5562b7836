#!/usr/bin/env bash
# `just dev`: everything between a fresh clone and a product in the browser.
#
#   1. install what is missing (wasm target, wasm-bindgen-cli)
#   2. write .env with fresh random secrets, the first time only
#   3. build both servers, the example upstream (examples/notes) and the wasm bundle
#   4. migrate the SQLite database; add the demo users once
#   5. run the auth-api, notes and the frontend (which forwards /notes-api
#      to notes: UPSTREAMS), logs prefixed; Ctrl-C stops all three
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
target_dir="${CARGO_TARGET_DIR:-target}"

random_b64() { head -c "$1" /dev/urandom | base64 -w0; }

if [[ ! -f .env ]]; then
    umask 077
    cat > .env <<ENV
# Written by \`just dev\` on $(date -u +%Y-%m-%d). Local development only: these
# secrets are random and this file is git-ignored. Delete it to start over.
DATABASE_URL=sqlite://data/auth.db
AUTH_API_ADDR=127.0.0.1:8080
AUTH_ISSUER=http://127.0.0.1:8080
AUTH_API_URL=http://127.0.0.1:8080
AUTH_CLIENT_ID=cloakroom-frontend
AUTH_CLIENT_SECRETS=$(random_b64 32 | tr '+/' '-_' | tr -d '=')
COOKIE_KEYS=$(random_b64 64)
# Plain http on localhost: no Secure flag, cookie named "cloakroom".
# Production keeps the default (true) behind TLS.
COOKIE_SECURE=false
# localhost, not 127.0.0.1: browsers refuse passkeys (WebAuthn) on an IP
# address, and allow them over plain http only on localhost.
PUBLIC_ORIGIN=http://localhost:3000
RUST_LOG=info
ENV
    umask 022
    echo "dev: wrote .env with fresh secrets"
fi
# Added by later versions: a .env from an older `just dev` gains them once.
if ! grep -q '^MFA_ENCRYPTION_KEY=' .env; then
    echo "MFA_ENCRYPTION_KEY=$(random_b64 32)" >> .env
    echo "dev: added MFA_ENCRYPTION_KEY (the key that seals second factors) to .env"
fi
if grep -q '^AUTH_CLIENT_SECRET=' .env && ! grep -q '^AUTH_CLIENT_SECRETS=' .env; then
    sed -i 's/^AUTH_CLIENT_SECRET=/AUTH_CLIENT_SECRETS=/' .env
    echo "dev: AUTH_CLIENT_SECRET is now AUTH_CLIENT_SECRETS in .env (a list, for rotation)"
fi
if grep -q '^PUBLIC_ORIGIN=http://127.0.0.1:3000$' .env; then
    sed -i 's|^PUBLIC_ORIGIN=http://127.0.0.1:3000$|PUBLIC_ORIGIN=http://localhost:3000|' .env
    echo "dev: PUBLIC_ORIGIN is now http://localhost:3000 (passkeys need a domain name)"
fi
cargo build --locked -p auth-api -p frontend -p notes
scripts/wasm.sh
auth_api="$target_dir/debug/auth-api"
frontend="$target_dir/debug/frontend"
notes="$target_dir/debug/notes"

# The secrets only now: the build does not need them.
set -a
# shellcheck disable=SC1091
. ./.env
set +a
# The example upstream: its address is the `url` of examples/notes/upstreams.toml,
# which the frontend reads; its notes live beside the auth-api's database.
export NOTES_ADDR="${NOTES_ADDR:-127.0.0.1:9000}"
export NOTES_DATABASE_URL="${NOTES_DATABASE_URL:-sqlite://data/notes.db}"
upstreams=examples/notes/upstreams.toml
if ! grep -q "^url = \"http://$NOTES_ADDR\"" "$upstreams"; then
    echo "dev: warning: NOTES_ADDR is $NOTES_ADDR but $upstreams forwards elsewhere" >&2
fi

port_in_use() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
# The metrics listeners: each server's default (one .env serves both, so
# METRICS_ADDR is left unset there).
for addr in "${AUTH_API_ADDR}" "${NOTES_ADDR}" "${PUBLIC_ORIGIN#http://}" 127.0.0.1:9100 127.0.0.1:9101; do
    if port_in_use "${addr%:*}" "${addr##*:}"; then
        echo "dev: something already listens on $addr (another \`just dev\`?); stop it first" >&2
        exit 1
    fi
done

# The database holds the signing keys' private halves: owner-only.
umask 077
mkdir -p data
"$auth_api" migrate

# Demo users: created once, with random passwords kept in data/demo-users.txt.
# The file and the database are checked against each other, so deleting
# either one gives working demo users again.
demo=data/demo-users.txt
existing="$("$auth_api" user list | awk 'NR > 1 { print $2 }')"
has_user() { grep -qx "$1" <<<"$existing"; }
if [[ ! -f "$demo" ]] || ! has_user alice || ! has_user admin; then
    : > "$demo.tmp"
    for spec in alice:user admin:admin; do
        name="${spec%%:*}" role="${spec##*:}"
        password="$(random_b64 12 | tr '+/' '-_' | tr -d '=')"
        if has_user "$name"; then
            printf '%s\n' "$password" | "$auth_api" user set-password "$name" --password-stdin
        elif [[ "$role" == admin ]]; then
            printf '%s\n' "$password" | "$auth_api" user add "$name" --role admin --password-stdin
        else
            printf '%s\n' "$password" | "$auth_api" user add "$name" --password-stdin
        fi
        printf '%-6s %-6s %s\n' "$name" "$role" "$password" >> "$demo.tmp"
    done
    mv "$demo.tmp" "$demo"
fi
umask 022

# The servers in the background, each line prefixed with its name; the
# trap stops them all on Ctrl-C or when any one exits.
pids=()
stop() {
    trap - INT TERM EXIT
    [[ ${#pids[@]} -gt 0 ]] && kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    echo "dev: stopped"
}
trap stop INT TERM EXIT

"$auth_api" serve > >(sed -u 's/^/[auth-api] /') 2>&1 &
pids+=($!)
wait_for() { # host port: a readiness check, not a sleep-and-hope
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        kill -0 "${pids[@]}" 2>/dev/null || { echo "dev: a server exited; see its log above"; exit 1; }
        sleep 0.1
    done
    echo "dev: $1:$2 did not open within 30 s"; exit 1
}
wait_for "${AUTH_API_ADDR%:*}" "${AUTH_API_ADDR##*:}"
# After the auth-api, so notes finds its signing keys at once (it would
# fetch them with the first request otherwise).
"$notes" > >(sed -u 's/^/[notes] /') 2>&1 &
pids+=($!)
wait_for "${NOTES_ADDR%:*}" "${NOTES_ADDR##*:}"
UPSTREAMS="$upstreams" "$frontend" > >(sed -u 's/^/[frontend] /') 2>&1 &
pids+=($!)
wait_for 127.0.0.1 "${PUBLIC_ORIGIN##*:}"
kill -0 "${pids[@]}" 2>/dev/null || { echo "dev: a server exited; see its log above"; exit 1; }

cat <<MSG

  Cloakroom is running: open $PUBLIC_ORIGIN
  (use exactly this address: the sign-in form checks that posts come from it,
  and passkeys are bound to it)
  The admin must set up a second factor at first sign-in (MFA_REQUIRED_ROLES).
  The example upstream (examples/notes, docs/upstreams.md) answers scripts on
  Cloakroom's pages at $PUBLIC_ORIGIN/notes-api/notes (with header X-CSRF: 1).

  Metrics (Prometheus): http://127.0.0.1:9100/metrics (auth-api),
  http://127.0.0.1:9101/metrics (frontend).

  Demo users (again any time with \`just demo-users\`):
$(sed 's/^/    /' "$demo")

  Ctrl-C stops all three servers.

MSG
wait -n "${pids[@]}"
