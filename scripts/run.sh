#!/usr/bin/env bash
# Starts the scheduler process (with a task worker inside it) and the web server; Ctrl-C stops both.
set -uo pipefail
cd "$(dirname "$0")/.."
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
pids=()
stop() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null; wait; exit 0; }
trap stop INT TERM EXIT

# --with-worker: the scheduler process also runs `fundapp worker` (exports, packs, reports).
.venv/bin/fundapp scheduler run --with-worker &
pids+=($!)
.venv/bin/gunicorn --workers "${WORKERS:-2}" --bind "$HOST:$PORT" --access-logfile - wsgi:app &
pids+=($!)

if [ "${FUNDAPP_DEMO:-1}" != 0 ]; then
cat <<MSG

  fundapp is running at http://$HOST:$PORT  (Ctrl-C stops the web server and the scheduler)
  Demo sign-ins, password 'demo-password':
    admin@demo.fundapp.cn     administrator
    manager@demo.fundapp.cn   fund manager
    manager2@demo.fundapp.cn  fund manager and IC member
    ic@demo.fundapp.cn        IC member (chair)
    auditor@demo.fundapp.cn   auditor

MSG
else
  echo "  fundapp is running at http://$HOST:$PORT  (Ctrl-C stops it). No demo: see docs/setup.md."
fi
wait -n
stop
