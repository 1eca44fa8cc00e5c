#!/usr/bin/env bash
# Runs the real `mlflow` client (end2end/mlflow/client_test.py, version pinned in
# requirements.txt) against a real `cairn serve` on a free port and a fresh database.
# Usage: scripts/mlflow-client-test.sh PATH/TO/cairn   (DATABASE_URL: an admin URL)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$1"
venv="${CAIRN_MLFLOW_VENV:-$HOME/.cache/cairn/mlflow-venv}"
req=end2end/mlflow/requirements.txt
if ! cmp -s "$req" "$venv/.requirements" 2>/dev/null; then
  echo "[mlflow] installing $(cat "$req") into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  cp "$req" "$venv/.requirements"
fi

admin="${DATABASE_URL:?DATABASE_URL must point at a Postgres server (make test sets it)}"
db="cairn_mlflow_$(date +%s)_$$"
url=$(echo "$admin" | sed -E "s#^(postgres(ql)?://[^/]*)(/[^?]*)?#\1/$db#")
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  if command -v psql >/dev/null; then psql "$admin" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export DATABASE_URL="$url" CAIRN_CREATE_DB=true RUST_LOG="${RUST_LOG:-warn}"
printf 'Tr0ub4dor&3-staple\n' | "$bin" user add mlflow-client --role editor >/dev/null
token=$("$bin" token create --user mlflow-client --name mlflow-client-test 2>/dev/null)
# A second user approves the promotion the client's protected-alias call requests.
printf 'Tr0ub4dor&3-approve\n' | "$bin" user add mlflow-approver --role approver >/dev/null
approver_token=$("$bin" token create --user mlflow-approver --name mlflow-approver 2>/dev/null)
CAIRN_BIND=127.0.0.1:0 CAIRN_ARTIFACTS="$work/artifacts" CAIRN_SECRET_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  CAIRN_SITE_ROOT="${CAIRN_SITE_ROOT:-target/site}" "$bin" serve > "$work/serve.log" 2>&1 &
pid=$!
# Wait for the address line, not a fixed time.
for _ in $(seq 1 300); do
  addr=$(grep -o 'cairn listening on http://[0-9.:]*' "$work/serve.log" | awk '{print $4}' || true)
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "${addr:-}" ] || { echo "[mlflow] cairn did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
MLFLOW_TRACKING_URI="$addr" MLFLOW_TRACKING_TOKEN="$token" CAIRN_APPROVER_TOKEN="$approver_token" MLFLOW_HTTP_REQUEST_MAX_RETRIES=0 \
  "$venv/bin/python" end2end/mlflow/client_test.py
