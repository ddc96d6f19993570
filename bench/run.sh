#!/usr/bin/env bash
# The load tool: installs what it starts or builds (Mosquitto; gcc and Paho C for the peer row) when missing, then runs
# it. Arguments go to the tool (--help lists them; --smoke is the small run CI makes).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/ensure-packages.sh /usr/sbin/mosquitto=mosquitto gcc=gcc /usr/include/MQTTAsync.h=libpaho-mqtt-dev
dotnet run -c Release --project bench/StoreForward.LoadTest -- "$@"
