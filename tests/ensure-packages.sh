#!/usr/bin/env bash
# Installs Debian packages whose files are missing. Arguments: PATH=PACKAGE pairs, where PATH is a command on PATH or an
# absolute file the package provides. Sourced or run by tests/run.sh and bench/run.sh.
set -euo pipefail

missing=()
for pair in "$@"; do
  path=${pair%%=*}
  package=${pair#*=}
  if [[ $path == /* ]]; then
    [ -e "$path" ] || missing+=("$package")
  else
    command -v "$path" >/dev/null 2>&1 || missing+=("$package")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
