#!/usr/bin/env bash
# `make run`'s last step: find Postgres, make a secret key once, and serve.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$1"
mkdir -p .cairn
if [ ! -s .cairn/secret.key ]; then
  (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > .cairn/secret.key)
  echo "[run] generated .cairn/secret.key (keep it: it encrypts stored secrets)" >&2
fi
export DATABASE_URL="${DATABASE_URL:-$(scripts/postgres.sh app-url)}"
export CAIRN_SECRET_KEY="${CAIRN_SECRET_KEY:-$(cat .cairn/secret.key)}"
export CAIRN_CREATE_DB=true
export CAIRN_SITE_ROOT="${CAIRN_SITE_ROOT:-target/site}"
export CAIRN_ARTIFACTS="${CAIRN_ARTIFACTS:-.cairn/artifacts}"
# The credit-scoring example pipeline (examples/credit-scoring) is submitted at
# start and imports testdata/credit_data.csv from here.
export CAIRN_DATA_PATH_ALLOW="${CAIRN_DATA_PATH_ALLOW:+$CAIRN_DATA_PATH_ALLOW,}$PWD/testdata"
export CAIRN_PIPELINES="${CAIRN_PIPELINES-examples/credit-scoring/pipeline.yaml}"
# The first admin, once; its generated password is printed this one time.
"$bin" user add admin --role admin --if-missing < /dev/null
echo "[run] dashboard: http://${CAIRN_BIND:-127.0.0.1:3000}" >&2
exec "$bin" serve
