#!/usr/bin/env bash
# `make run`: migrate, seed the demo tenant, then the web server, one worker and a loopback
# callback receiver in this terminal. The banner is printed once /healthz answers. Ctrl-C
# stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# Exported: settings derive PUBLIC_BASE_URL (the webhook URLs handed to providers) from
# them unless it is set, so `PORT=8300 make run` hands out URLs on :8300.
export HOST=${HOST:-127.0.0.1}
export PORT=${PORT:-8000}
CALLBACK_PORT=${CALLBACK_PORT:-$((PORT + 1))}
READY_TIMEOUT=${READY_TIMEOUT:-90} # seconds the web server may take to answer /healthz

$PY manage.py migrate --noinput >/dev/null
$PY manage.py collectstatic --noinput >/dev/null
seed=$($PY manage.py seed_demo --as-json)
field() { $PY -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$seed" "$1"; }
key=$(field apiKey)
password=$(field adminPassword)
secret=$(field webhookSecret)
public=$(field publicBaseUrl)
# A wildcard bind address is nowhere to send a request: curl the loopback instead.
case "$HOST" in 0.0.0.0 | "::") client_host=127.0.0.1 ;; *:*) client_host="[$HOST]" ;; *) client_host=$HOST ;; esac
base="http://$client_host:$PORT"
hooks="http://127.0.0.1:$CALLBACK_PORT/hooks"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "Stopping…"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'stop; exit 130' INT TERM
trap stop EXIT

$PY manage.py runserver "$HOST:$PORT" --noreload &
web=$!
pids+=("$web")
$PY manage.py qcluster &
pids+=($!)
WEBHOOK_SECRET=$secret $PY scripts/callback_receiver.py --port "$CALLBACK_PORT" &
receiver=$!
pids+=("$receiver")

# answers URL: true once URL answers 200 (the standard library: no curl needed to start).
answers() { $PY -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1" 2>/dev/null; }
deadline=$((SECONDS + READY_TIMEOUT))
until answers "$base/healthz" && answers "http://127.0.0.1:$CALLBACK_PORT/"; do
  if ! kill -0 "$web" 2>/dev/null; then
    echo "make run: the web server exited before $base/healthz answered (its output is above;" \
      "is port $PORT taken? try PORT=...)." >&2
    exit 1
  fi
  if ! kill -0 "$receiver" 2>/dev/null; then
    echo "make run: the callback receiver could not listen on 127.0.0.1:$CALLBACK_PORT" \
      "(taken? try CALLBACK_PORT=...)." >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "make run: $base/healthz did not answer within $READY_TIMEOUT s; stopping." >&2
    exit 1
  fi
  sleep 0.2
done

cat <<TXT

================================================================================
 Omnichannel messaging is running (Ctrl-C stops the web server, the worker and the
 callback receiver).

 Admin:     $base/admin/   user: admin   password: $password
 API docs:  $base/api/docs/  (Redoc: $base/api/redoc/)
 Health:    $base/healthz
 Provider webhook URLs start with $public

 Demo tenant "demo", app "demo-app":
   API key (shown once):  $key
   Webhook secret:        $secret
   (callbacks carry X-Signature and webhook-signature, both HMAC-SHA256 with this secret)

 A callback receiver listens on $hooks and prints each callback here,
 as a [callback] line with both signature checks.

 Try it: paste these three commands into another terminal.

 export KEY=$key

 MID=\$(curl -sS --fail-with-body -w '\\n' -X POST $base/api/v1/messages \\
   -H "X-API-Key: \$KEY" -H "Content-Type: application/json" \\
   -d '{"sms": [{"template": "otp", "data": {"otp": "342365"}, "to": ["+14155550100"]}],
        "callback": {"url": "$hooks", "meta": {"orderId": "o-1"}}}' \\
   | tee /dev/stderr | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"][0]["messageId"])')

 curl -sS --fail-with-body -w '\\n' -H "X-API-Key: \$KEY" $base/api/v1/messages/\$MID

 (Run the last one again to follow the status; recipients ending 0001-0006 script
 other outcomes: docs/simulator.md#magic-recipients.)
================================================================================

TXT
set +e
wait -n "${pids[@]}"
rc=$?
# Ctrl-C reaches every process; they exit 0 (and bash then leaves its own trap alone).
if ((rc != 0)); then echo "make run: a process exited with status $rc; stopping the others." >&2; fi
exit "$rc"
