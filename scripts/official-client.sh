#!/usr/bin/env bash
# make compat: HubSpot's official Node client (@hubspot/api-client), unchanged
# but for its base path, against `commlog sandbox` on 127.0.0.1. Needs node
# and npm (the npm registry); installs the client into a temporary directory.
set -euo pipefail
BIN=${1:-bin/commlog}
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cp testdata/official-client/check.js "$work/"
(cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund @hubspot/api-client@13 >/dev/null)
echo "client: @hubspot/api-client $(node -p 'require("'"$work"'/node_modules/@hubspot/api-client/package.json").version')"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18089)
"$BIN" sandbox --addr "127.0.0.1:$port" --token compat --state "$work/state" --contacts 3 --search-lag 100ms 2>"$work/sandbox.log" &
pid=$!
for _ in $(seq 50); do grep -q "listening on" "$work/sandbox.log" && break; sleep 0.1; done
node "$work/check.js" "http://127.0.0.1:$port" compat
