#!/usr/bin/env bash
# Ensure a Docker engine answers. Never touches an engine that already runs:
# when `docker info` answers, this script does nothing at all.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "no Docker engine and no apt-get: install Docker, then retry"
  log "installing Debian's docker.io (no engine answers)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if docker info >/dev/null 2>&1; then   # the package's own service may have started it
  exit 0
fi

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  log "starting docker with systemd"
  systemctl start docker
else
  log "starting dockerd in the background (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi

for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && { log "engine ready"; exit 0; }
  sleep 1
done
tail -20 /var/log/dockerd.log >&2 || true
die "dockerd did not answer within 60 s (see /var/log/dockerd.log)"
