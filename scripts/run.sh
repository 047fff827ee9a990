#!/usr/bin/env bash
# `make run`: migrate, seed the demo tenant, then the web server and one worker in this
# terminal. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

$PY manage.py migrate --noinput >/dev/null
$PY manage.py collectstatic --noinput >/dev/null
seed=$($PY manage.py seed_demo --as-json)
field() { $PY -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$seed" "$1"; }
key=$(field apiKey)
password=$(field adminPassword)
base="http://$HOST:$PORT"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "Stopping…"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

$PY manage.py runserver "$HOST:$PORT" --noreload &
pids+=($!)
$PY manage.py qcluster &
pids+=($!)

cat <<TXT

================================================================================
 Omnichannel messaging is running (Ctrl-C stops the web server and the worker).

 Admin:     $base/admin/   user: admin   password: $password
 API docs:  $base/api/docs/
 Health:    $base/healthz

 Demo tenant "demo", app "demo-app"; its API key (shown once):
   $key

 Send an SMS through the sandbox provider:

 curl -s -X POST $base/api/v1/messages \\
   -H "X-API-Key: $key" -H "Content-Type: application/json" \\
   -d '{"sms": [{"template": "otp", "data": {"otp": "342365"}, "to": ["+14155550100"]}]}'

 Then: curl -s -H "X-API-Key: $key" $base/api/v1/messages/<messageId>
================================================================================

TXT
wait -n "${pids[@]}"
