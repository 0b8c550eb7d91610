#!/bin/bash
# Starts the tests' PostgreSQL server on loopback, once per machine, and prints its admin URL.
# Idempotent: when a server already answers on the port, it only prints the URL.
#
#   HEPH_PG_PORT   port (default 55432)
#
# Debian's postgresql package provides the binaries (scripts/install-test-deps installs it).
# PostgreSQL refuses to run as root; as root the cluster belongs to the `postgres` user, so it
# lives under /tmp where that user can reach it.
set -euo pipefail

PORT=${HEPH_PG_PORT:-55432}
DIR=${TMPDIR:-/tmp}/heph-postgres-$PORT
URL="postgres://heph:heph-test@127.0.0.1:$PORT/postgres"

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
    echo "PostgreSQL is not installed: run scripts/install-test-deps" >&2
    exit 1
fi

mkdir -p "$DIR"
exec 9>"$DIR.lock"
flock 9

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    echo "$URL"
    exit 0
fi

AS=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$DIR"
    AS=(runuser -u postgres --)
fi

if [ ! -s "$DIR/data/PG_VERSION" ]; then
    rm -rf "$DIR/data"
    printf 'heph-test\n' > "$DIR/pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR/pwfile"
    "${AS[@]}" "$BIN/initdb" -D "$DIR/data" -U heph --pwfile="$DIR/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }
    rm -f "$DIR/pwfile"
fi

# The server must not inherit the lock (fd 9) or this script's output pipes.
"${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c max_connections=200" \
    start </dev/null >"$DIR/pg_ctl.log" 2>&1 9>&- \
    || { cat "$DIR/pg_ctl.log" "$DIR/server.log" >&2; exit 1; }

echo "$URL"
