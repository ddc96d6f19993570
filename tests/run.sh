#!/usr/bin/env bash
# The test command: installs what the tests start by themselves (Mosquitto, its clients, flock, stdbuf) when missing,
# then runs every test. Extra arguments go to `dotnet test` (for example --filter "FullyQualifiedName~EndToEnd").
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/ensure-packages.sh /usr/sbin/mosquitto=mosquitto mosquitto_sub=mosquitto-clients flock=util-linux stdbuf=coreutils
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
