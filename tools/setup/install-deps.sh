#!/usr/bin/env bash
# Installs the Debian packages m2mdb needs to build and test, only those
# missing. Non-interactive; needs root (or sudo) when something is missing.
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config git curl ca-certificates
  libabsl-dev librocksdb-dev libzstd-dev libcpp-httplib-dev zlib1g-dev libdeflate-dev libssl-dev libsodium-dev
  tzdata
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libedit-dev libxxhash-dev libre2-dev nlohmann-json3-dev libtomlplusplus-dev
  clang libclang-rt-dev
  python3 python3-influxdb influxdb
  mosquitto-clients python3-paho-mqtt libmosquitto-dev mosquitto
)
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
# influxdb's maintainer scripts try to start a service; there is no init here
# and tests start their own influxd, so keep them from starting anything.
if [ ! -e /usr/sbin/policy-rc.d ] && [ "$(id -u)" = 0 ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
