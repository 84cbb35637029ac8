#!/usr/bin/env bash
# A throwaway local PostgreSQL for tests and benchmarks.
#   scripts/postgres.sh start   installs the Debian package if missing, starts a server on
#                               127.0.0.1:$PROPFLOW_PG_PORT and prints its SQLAlchemy URL
#   scripts/postgres.sh stop
set -euo pipefail
PORT=${PROPFLOW_PG_PORT:-54329}
DATA=${PROPFLOW_PG_DATA:-/tmp/propflow-pg-$PORT}
DB=${PROPFLOW_PG_DB:-propflow_test}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local bin; bin=$(pg_bin)
  if [ -z "$bin" ]; then
    echo "installing PostgreSQL (Debian package)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    bin=$(pg_bin)
  fi
  mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_postgres "$bin/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --no-locale >/dev/null
  fi
  if ! as_postgres "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    # Durability settings are off: this server holds test data only.
    as_postgres "$bin/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
      -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null
  fi
  if ! as_postgres "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
    as_postgres "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
  fi
  echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/$DB"
}

stop() {
  local bin; bin=$(pg_bin)
  [ -n "$bin" ] && as_postgres "$bin/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
