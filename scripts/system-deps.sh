#!/usr/bin/env bash
# Install the controller's Debian/Ubuntu packages that the sandbox and the tests need, when missing.
# Needs root (or sudo). The Docker engine itself is sandbox/engine.sh's job.
set -euo pipefail

PACKAGES=(debootstrap openssl make git python3-venv espeak-ng sox libssl3 haproxy iproute2 util-linux)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
# A Python built outside Debian (pyenv, CI images) brings its own venv module.
if python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing=("${missing[@]/python3-venv}")
fi
read -r -a missing <<<"${missing[*]}"
[ "${#missing[@]}" -eq 0 ] && exit 0

command -v apt-get >/dev/null 2>&1 || { echo "install these packages, then retry: ${missing[*]}" >&2; exit 1; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "[setup] installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
