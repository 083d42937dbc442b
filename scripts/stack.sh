#!/usr/bin/env bash
# Distributed mode on this machine: the local Kafka broker (scripts/kafka.sh), the local
# PostgreSQL, then gateway (3000), relay (3001), projector (3002) and sentinel (3003) as separate processes.
# Ctrl-C stops the three apps (the broker keeps running; `npm run kafka:stop` stops it).
#
#   DATABASE_URL  default postgres://postgres@127.0.0.1:5432/custos (created if missing)
#   KAFKA_BROKERS default 127.0.0.1:9092 (the local broker is started when unset)
#   KEK_FILE      default ~/.cache/custos/stack-kek.jwk.json (made once, 0600; development only)
#   DICOMWEB_UPSTREAM  the DICOM archive; when unset the local Orthanc is started (scripts/orthanc.sh)
#                 and its DICOMWEB_UPSTREAM, DICOMWEB_UPSTREAM_CREDENTIALS_FILE and ORTHANC_URL are
#                 exported to the apps (it keeps running; `bash scripts/orthanc.sh stop` stops it)
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/custos}"
export CUSTOS_MODE=distributed
if [[ -z "${KEK:-}" ]]; then
  export KEK_FILE="${KEK_FILE:-$HOME/.cache/custos/stack-kek.jwk.json}"
  if [[ ! -f "$KEK_FILE" ]]; then
    mkdir -p "$(dirname "$KEK_FILE")"
    (umask 077; node -e 'process.stdout.write(JSON.stringify({kty:"oct",k:require("crypto").randomBytes(32).toString("base64url")}))' >"$KEK_FILE")
    echo "[stack] made a development key-encryption key at $KEK_FILE"
  fi
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "[stack] starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
db="${DATABASE_URL##*/}"; db="${db%%\?*}"
admin="${DATABASE_URL%/*}/postgres"
if ! psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
  echo "[stack] creating database $db"
  psql "$admin" -qc "CREATE DATABASE \"$db\""
fi

if [[ -z "${KAFKA_BROKERS:-}" ]]; then
  bash scripts/kafka.sh start
  export KAFKA_BROKERS=127.0.0.1:9092
fi

if [[ -z "${DICOMWEB_UPSTREAM:-}" ]]; then
  bash scripts/orthanc.sh start
  # The gateway reads the password from the credentials file; ORTHANC_AUTH is for tests and operators.
  while IFS='=' read -r name value; do
    [[ "$name" == ORTHANC_AUTH ]] || export "$name=$value"
  done < <(bash scripts/orthanc.sh env)
fi

npm run build --silent
mkdir -p logs
pids=()
cleanup() { echo "[stack] stopping"; kill "${pids[@]}" 2>/dev/null || true; wait || true; }
trap cleanup INT TERM EXIT

# Migrations run in each process at start; run them once first so the three don't race.
node dist/apps/cli/src/main.js migrate >/dev/null
PORT=3001 node dist/apps/relay/src/main.js >logs/relay.log 2>&1 & pids+=($!)
PORT=3002 node dist/apps/projector/src/main.js >logs/projector.log 2>&1 & pids+=($!)
PORT=3003 node dist/apps/sentinel/src/main.js >logs/sentinel.log 2>&1 & pids+=($!)
PORT="${PORT:-3000}" node dist/apps/gateway/src/main.js >logs/gateway.log 2>&1 & pids+=($!)

for port in 3001 3002 3003 "${PORT:-3000}"; do
  for _ in $(seq 1 60); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.5; done
  echo "[stack] $(curl -s "http://127.0.0.1:$port/health" | head -c 200) on :$port"
done
echo "[stack] up: gateway http://127.0.0.1:${PORT:-3000} (logs in ./logs). Ctrl-C to stop."
wait
