#!/usr/bin/env bash
# Finds a Postgres for Cairn and prints a URL for it.
#   admin-url  a URL to the server's `postgres` database (tests create databases there)
#   app-url    a URL to the `cairn` database (created by `cairn serve` if absent)
# Order: $DATABASE_URL if set; else a server on 127.0.0.1:5432; else a private
# cluster under .cairn/pg started from Debian's Postgres binaries (installed if
# missing and we are root).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-app-url}"
say() { echo "[postgres] $*" >&2; }

with_db() { # replace the database name at the end of a URL
  local url="$1" db="$2"
  echo "$url" | sed -E "s#^(postgres(ql)?://[^/]*)(/[^?]*)?#\1/$db#"
}

emit() {
  case "$mode" in
    admin-url) with_db "$1" postgres ;;
    app-url) with_db "$1" cairn ;;
    *) say "usage: $0 admin-url|app-url"; exit 2 ;;
  esac
}

if [ -n "${DATABASE_URL:-}" ]; then
  if [ "$mode" = admin-url ]; then emit "$DATABASE_URL"; else echo "$DATABASE_URL"; fi
  exit 0
fi

reachable() { # host port user
  if command -v pg_isready >/dev/null; then pg_isready -q -h "$1" -p "$2" -U "$3" -d postgres -t 3; return; fi
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

for user in postgres "$(id -un)"; do
  if reachable 127.0.0.1 5432 "$user" && { ! command -v psql >/dev/null || psql -h 127.0.0.1 -U "$user" -d postgres -Atqc 'select 1' >/dev/null 2>&1; }; then
    emit "postgres://$user@127.0.0.1:5432/postgres"; exit 0
  fi
done

# A private cluster, owned by the project, on port 5433.
PGDIR="$PWD/.cairn/pg"; PORT=5433
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bindir" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "no Postgres found; installing Debian's postgresql"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  else
    say "no Postgres reachable at 127.0.0.1:5432 and none installed: install PostgreSQL or set DATABASE_URL"; exit 1
  fi
fi
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ ! -f "$PGDIR/PG_VERSION" ]; then
  say "creating a private cluster in $PGDIR"
  mkdir -p "$PGDIR"; [ "$(id -u)" = 0 ] && chown postgres "$PGDIR" "$PWD/.cairn"
  as_owner "$bindir/initdb" -D "$PGDIR" -U postgres --auth=trust >/dev/null
fi
if ! "$bindir/pg_isready" -q -h 127.0.0.1 -p $PORT; then
  say "starting the private cluster on 127.0.0.1:$PORT"
  as_owner "$bindir/pg_ctl" -D "$PGDIR" -l "$PGDIR/server.log" -o "-p $PORT -k $PGDIR -h 127.0.0.1" -w start >/dev/null
fi
emit "postgres://postgres@127.0.0.1:$PORT/postgres"
