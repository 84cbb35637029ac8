#!/usr/bin/env bash
# Runs the web app and the timer worker together; Ctrl-C stops both.
set -euo pipefail
FLASK=${FLASK:-.venv/bin/flask --app app}
$FLASK timers run &
worker=$!
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null' EXIT INT TERM
echo "Propflow on http://${HOST:-127.0.0.1}:${PORT:-5000}/ (timer worker pid $worker)"
$FLASK run --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
