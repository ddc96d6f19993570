#!/usr/bin/env bash
# The test command: installs what the tests start by themselves when missing (Mosquitto and its clients, RabbitMQ,
# flock, stdbuf from Debian's packages; the aedes broker from npm into tests/aedes), then runs every test.
# Extra arguments go to `dotnet test` (for example --filter "FullyQualifiedName~EndToEnd").
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/ensure-packages.sh /usr/sbin/mosquitto=mosquitto mosquitto_sub=mosquitto-clients flock=util-linux stdbuf=coreutils \
  /usr/lib/rabbitmq/bin/rabbitmq-server=rabbitmq-server node=nodejs npm=npm
[ -d tests/aedes/node_modules ] || npm ci --prefix tests/aedes --no-audit --no-fund --loglevel=error
export PATH="$PATH:/usr/sbin"

log=$(mktemp)
status=0
dotnet test StoreForward.sln -c Release "$@" 2>&1 | tee "$log" || status=$?

# One plain summary line for tools that read it: "tests: N passed, N failed".
summary=$(grep -E "^(Passed|Failed)!" "$log" | tail -n 1 || true)
passed=$(sed -nE 's/.*Passed: *([0-9]+).*/\1/p' <<<"$summary")
failed=$(sed -nE 's/.*Failed: *([0-9]+),.*/\1/p' <<<"$summary")
rm -f "$log"
[ -n "$passed" ] && echo "tests: ${passed} passed, ${failed:-0} failed"
exit $status
