#!/usr/bin/env bash
# The test command: installs what the tests start by themselves (Mosquitto, its clients, flock, stdbuf) when missing,
# then runs every test. Extra arguments go to `dotnet test` (for example --filter "FullyQualifiedName~EndToEnd").
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
command -v stdbuf >/dev/null 2>&1 || missing+=(coreutils)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
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
