#!/usr/bin/env bash
# Makes sure the Debian packages named on the command line are installed.
# As root, installs the missing ones with apt-get; otherwise prints the
# command to run and fails, so a build never starts half-equipped.
set -euo pipefail
missing=()
for pkg in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The redis-server package starts a system service on 6379 where an init
  # system runs; kvraft's tests never rely on it, and it would hold the port.
  if [[ " ${missing[*]} " == *" redis-server "* ]] && command -v systemctl >/dev/null; then
    systemctl stop redis-server >/dev/null 2>&1 || true
  fi
else
  echo "install-deps: missing Debian packages: ${missing[*]}" >&2
  echo "install-deps: run: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
