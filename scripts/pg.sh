#!/usr/bin/env bash
# A throwaway PostgreSQL from Debian's `postgresql` package: a new cluster in
# a temporary folder, listening on 127.0.0.1 only (and a Unix socket in that
# folder), on a free port, with a random superuser password (so no other local
# user can log in and run code as us), without fsync. It is
# stopped and deleted on exit, however the script ends (Ctrl-C included).
#
#   scripts/pg.sh             prints the server's URL and runs until Ctrl-C (`just pg`)
#   scripts/pg.sh CMD ARGS    runs CMD with TEST_POSTGRES_URL set to the server's
#                             admin URL (postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres),
#                             then stops the server and exits with CMD's status;
#                             TEST_POSTGRES_RESTART names a script that restarts the
#                             server in place (`pg_ctl restart -m fast`, waiting until it
#                             accepts connections again), for the tests of a restart
#
# Without PostgreSQL installed, CMD still runs and its PostgreSQL tests skip,
# saying so; in CI (CI=true) that is an error instead. Run as root, the server
# runs as the `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail

# The server binaries: where pg_config says, else the newest Debian version.
bindir=""
if command -v pg_config >/dev/null 2>&1; then
    bindir=$(pg_config --bindir 2>/dev/null || true)
fi
if [[ ! -x $bindir/initdb || ! -x $bindir/postgres ]]; then
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
fi
if [[ -z $bindir || ! -x $bindir/initdb || ! -x $bindir/postgres ]]; then
    if [[ ${CI:-} == true ]]; then
        echo "postgres: not installed, but CI=true requires the PostgreSQL tests (apt-get install postgresql)" >&2
        exit 1
    fi
    if [[ $# -eq 0 ]]; then
        echo "postgres: not installed (apt-get install postgresql)" >&2
        exit 1
    fi
    echo "postgres: not installed, PostgreSQL tests will be skipped" >&2
    exec "$@"
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/cloakroom-pg.XXXXXX")
as_owner=()
if [[ $(id -u) -eq 0 ]]; then
    if ! id postgres >/dev/null 2>&1; then
        echo "postgres: running as root needs the 'postgres' user (the Debian package creates it)" >&2
        rm -rf "$dir"
        exit 1
    fi
    chown postgres: "$dir"
    as_owner=(runuser -u postgres --)
fi

server=""
cleanup() {
    if [[ -n $server ]]; then
        "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
printf '%s\n' "$password" > "$dir/pwfile"
[[ ${#as_owner[@]} -gt 0 ]] && chown postgres: "$dir/pwfile"
"${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=scram-sha-256 \
    --pwfile="$dir/pwfile" --no-sync \
    --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
}

# A random port that nothing listens on; should another process take it
# before the server binds, the server exits and the next port is tried.
port=""
for _ in 1 2 3 4 5; do
    candidate=$((20000 + RANDOM % 40000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
        continue
    fi
    "${as_owner[@]}" "$bindir/postgres" -D "$dir/data" -p "$candidate" -k "$dir" \
        -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off >"$dir/server.log" 2>&1 &
    server=$!
    # Ready when pg_isready says so; a server that exits has lost the port.
    while kill -0 "$server" 2>/dev/null; do
        if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$candidate" -U postgres -d postgres; then
            port=$candidate
            break 2
        fi
        sleep 0.1
    done
    wait "$server" 2>/dev/null || true
    server=""
done
if [[ -z $port ]]; then
    echo "postgres: the server did not start; its log:" >&2
    cat "$dir/server.log" >&2 2>/dev/null || true
    exit 1
fi

rm -f "$dir/pwfile"
export TEST_POSTGRES_URL="postgres://postgres:$password@127.0.0.1:$port/postgres"
# pg_ctl restarts with the options the server was started with (postmaster.opts);
# the cleanup above stops whichever postmaster holds the data folder then.
{
    echo '#!/bin/sh'
    printf 'exec %s %q -D %q -l %q -m fast -w -t 60 restart\n' "${as_owner[*]}" \
        "$bindir/pg_ctl" "$dir/data" "$dir/restarted.log"
} > "$dir/restart"
chmod 755 "$dir/restart"
export TEST_POSTGRES_RESTART="$dir/restart"
if [[ $# -eq 0 ]]; then
    echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') is running (deleted on Ctrl-C):"
    echo "  TEST_POSTGRES_URL=$TEST_POSTGRES_URL"
    echo "  an auth-api on it: PGPASSWORD=$password $bindir/createdb -h 127.0.0.1 -p $port -U postgres cloakroom"
    echo "  then DATABASE_URL=postgres://postgres:$password@127.0.0.1:$port/cloakroom"
    wait "$server"
    exit
fi
echo "postgres: throwaway server at postgres://postgres:***@127.0.0.1:$port/postgres" >&2
status=0
"$@" || status=$?
exit "$status"
