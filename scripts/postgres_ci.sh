#!/bin/bash
# Start (or stop) a PostgreSQL 15 server on 127.0.0.1 for Galerna's daemon tests (pytest -m postgres).
#
#   bash scripts/postgres_ci.sh start    # as root: apt-get install if absent, create + start the cluster; idempotent
#   bash scripts/postgres_ci.sh stop
#   bash scripts/postgres_ci.sh url      # print the URL only
#
# `start` prints the line to export:  GALERNA_TEST_PG_URL=postgresql+psycopg://galerna:galerna@127.0.0.1:PORT/galerna
# The cluster is Debian's (pg_createcluster), named "galerna", on port ${GALERNA_PG_PORT:-5433}, listening on
# 127.0.0.1 only, with a role that may create databases (each test server gets a database of its own).
# Not root: prints why and exits 0 (the postgres tests then skip).
set -uo pipefail
VER=${GALERNA_PG_VERSION:-15}
NAME=galerna
PORT=${GALERNA_PG_PORT:-5433}
URL="postgresql+psycopg://galerna:galerna@127.0.0.1:$PORT/galerna"

install() {
    if [ -x "/usr/lib/postgresql/$VER/bin/postgres" ] && command -v pg_createcluster >/dev/null; then
        return 0
    fi
    echo "postgres_ci: installing postgresql-$VER" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq "postgresql-$VER" postgresql-common >/dev/null || {
        apt-get install -y -qq postgresql >/dev/null
    }
    # Debian creates and starts a "main" cluster on install; it does not bother us (other port)
}

start() {
    if [ "$(id -u)" != 0 ]; then
        echo "postgres_ci: not root, not starting PostgreSQL; the postgres tests will skip" >&2
        return 0
    fi
    install || { echo "postgres_ci: cannot install PostgreSQL" >&2; return 1; }
    if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -x "$VER $NAME" >/dev/null; then
        pg_createcluster "$VER" "$NAME" -p "$PORT" -- --auth-local=peer --auth-host=scram-sha-256 >/dev/null \
            || return 1
        conf=/etc/postgresql/$VER/$NAME/postgresql.conf
        {
            echo "listen_addresses = '127.0.0.1'"
            echo "fsync = on"
            echo "max_connections = 200"
        } >>"$conf"
    fi
    if ! pg_lsclusters -h | awk -v v="$VER" -v n="$NAME" '$1==v && $2==n {print $4}' | grep online >/dev/null; then
        pg_ctlcluster "$VER" "$NAME" start || return 1
    fi
    for _ in $(seq 50); do
        su postgres -c "psql -p $PORT -Atqc 'select 1'" >/dev/null 2>&1 && break
        sleep 0.2
    done
    su postgres -c "psql -p $PORT -v ON_ERROR_STOP=1 -q" >/dev/null <<'SQL' || return 1
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'galerna') THEN
    CREATE ROLE galerna LOGIN CREATEDB PASSWORD 'galerna';
  END IF;
END $$;
SQL
    if ! su postgres -c "psql -p $PORT -Atqc \"select 1 from pg_database where datname='galerna'\"" | grep 1 >/dev/null; then
        su postgres -c "createdb -p $PORT -O galerna galerna" || return 1
    fi
}

stop() {
    if pg_lsclusters -h 2>/dev/null | awk -v v="$VER" -v n="$NAME" '$1==v && $2==n {print $4}' | grep online >/dev/null; then
        pg_ctlcluster "$VER" "$NAME" stop
    fi
    echo "postgres_ci: stopped"
}

case "${1:-start}" in
    # Only the export line goes to stdout (the caller evals it): what the PostgreSQL tools print (e.g.
    # "Removed stale pid file") goes to stderr, as does the server's inherited stdout, so that no server process
    # holds the caller's pipe open (a stray line on stdout once broke .ci/run's eval).
    start) start >&2 && if [ "$(id -u)" = 0 ]; then echo "export GALERNA_TEST_PG_URL=$URL"; fi ;;
    stop) stop ;;
    url) echo "$URL" ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
