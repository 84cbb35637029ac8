#!/usr/bin/env bash
# Production serving on one machine: gunicorn with several web workers, plus one or more
# timer workers, all on the database in DATABASE_URL (PostgreSQL to grow beyond one machine:
# run this on each; SQLite for one). The timer workers share the due timers safely.
# SIGTERM or Ctrl-C stops everything; if any part dies, the rest is stopped too, so a
# supervisor (systemd, a container runtime) sees the service fail and restarts it whole.
set -euo pipefail
BIN=${BIN:-.venv/bin}
: "${PROPFLOW_SECRET_KEY:?set PROPFLOW_SECRET_KEY: sessions are signed with it}"
WEB_WORKERS=${WEB_WORKERS:-$(( $(nproc) * 2 + 1 ))}
TIMER_WORKERS=${TIMER_WORKERS:-1}
pids=()
stop() {
  trap - EXIT INT TERM
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait || true
}
trap stop EXIT INT TERM
for _ in $(seq "$TIMER_WORKERS"); do
  "$BIN/flask" --app app timers run &
  pids+=($!)
done
"$BIN/gunicorn" --config "$(dirname "$0")/../gunicorn.conf.py" --workers "$WEB_WORKERS" --bind "${HOST:-127.0.0.1}:${PORT:-8000}" \
  --access-logfile - --graceful-timeout 20 'app:create_app()' &
pids+=($!)
echo "Propflow on http://${HOST:-127.0.0.1}:${PORT:-8000}/ ($WEB_WORKERS web workers, $TIMER_WORKERS timer workers)"
wait -n
