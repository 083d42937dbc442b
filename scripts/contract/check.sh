#!/usr/bin/env bash
# Checks /docs/openapi.json as client generators see it (CI runs this once the tools are
# devDependencies: @redocly/cli and @openapitools/openapi-generator-cli, which needs Java 17):
#   1. starts the built gateway (embedded, in memory) on a free port and fetches the document;
#   2. redocly lint: 0 errors;
#   3. openapi-generator validate (without --skip-validate-spec);
#   4. generates a typescript-fetch client, compiles it and scripts/contract/calls.ts under
#      `strict`, and calls four routes of the running gateway through it.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=node_modules/.bin
redocly="${REDOCLY:-$bin/redocly}"
generator="${OPENAPI_GENERATOR:-$bin/openapi-generator-cli}"
for tool in "$redocly" "$generator"; do
  command -v "${tool%% *}" >/dev/null || { echo "[contract] ${tool%% *} is not installed (devDependency missing)" >&2; exit 2; }
done
node scripts/build-if-stale.mjs
work=dist/contract-check # inside the repo: the client compiles against its @types/node
rm -rf "$work" && mkdir -p "$work"
port=$((4000 + RANDOM % 1000))
DATA_DIR=memory:// PORT=$port HOST=127.0.0.1 LOG_LEVEL=warn node dist/apps/gateway/src/main.js &
gateway=$!
trap 'kill $gateway 2>/dev/null' EXIT
# A loaded 2-core machine may take a while to boot it (PGlite's WASM, the migrations): up to 3 minutes.
up=""
for _ in $(seq 1 900); do
  kill -0 $gateway 2>/dev/null || { echo "[contract] the gateway exited before answering" >&2; exit 1; }
  curl -sf "http://127.0.0.1:$port/health/live" >/dev/null && { up=1; break; }
  sleep 0.2
done
[ -n "$up" ] || { echo "[contract] the gateway did not answer on port $port within 3 minutes" >&2; exit 1; }
curl -sf "http://127.0.0.1:$port/docs/openapi.json" -o "$work/openapi.json"
$redocly lint "$work/openapi.json" --format=summary
$generator validate -i "$work/openapi.json"
$generator generate -i "$work/openapi.json" -g typescript-fetch -o "$work/client" \
  --additional-properties=supportsES6=true,useSingleRequestParameter=true >/dev/null
cp scripts/contract/calls.ts scripts/contract/tsconfig.json "$work/"
echo '{ "type": "commonjs" }' >"$work/package.json" # the generated client is CommonJS; the repo is ESM
"$bin/tsc" -p "$work/tsconfig.json"
node "$work/out/calls.js" "http://127.0.0.1:$port"
echo "[contract] OK"
