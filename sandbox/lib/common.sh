# Shared settings and helpers for the sandbox scripts. Source it; do not run it.
# Every name the sandbox creates starts with SANDBOX_PREFIX and carries the label
# speechops.sandbox=<prefix>, so `down` removes exactly what `up` made and nothing else.
set -euo pipefail

SANDBOX_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$SANDBOX_DIR/.." && pwd)"

SANDBOX_PREFIX="${SANDBOX_PREFIX:-speechops-sbx}"
SANDBOX_HOSTS="${SANDBOX_HOSTS:-3}"
SANDBOX_LBS="${SANDBOX_LBS:-2}"   # load-balancer hosts (group speech_lb); two or more share a VIP
SANDBOX_SUBNET="${SANDBOX_SUBNET:-172.31.213.0/24}"
SANDBOX_NETWORK="${SANDBOX_NETWORK:-${SANDBOX_PREFIX}-net}"
SANDBOX_STATE="${SANDBOX_STATE:-$REPO_DIR/.sandbox}"
SANDBOX_LABEL="speechops.sandbox=${SANDBOX_PREFIX}"
SANDBOX_SUITE="${SANDBOX_SUITE:-bookworm}"
SANDBOX_MIRROR="${SANDBOX_MIRROR:-http://deb.debian.org/debian}"

# Images are a cache shared by every sandbox on this engine; `down` keeps them, `clean` removes them.
BASE_IMAGE="${BASE_IMAGE:-speechops/base:${SANDBOX_SUITE}}"
HOST_IMAGE="${HOST_IMAGE:-speechops/host:${SANDBOX_SUITE}}"
REGISTRY_IMAGE="${REGISTRY_IMAGE:-speechops/registry:${SANDBOX_SUITE}}"

REGISTRY_NAME="${SANDBOX_PREFIX}-registry"
REGISTRY_HOSTNAME="registry.sandbox"
REGISTRY_PORT=5000
# The registry is also published on loopback so the controller's engine can push to it;
# Docker treats 127.0.0.0/8 registries as insecure (no CA needed on the controller).
REGISTRY_LOCAL_PORT="${REGISTRY_LOCAL_PORT:-127.0.0.1:5443}"
REGISTRY_USER="${REGISTRY_USER:-speechops}"

log() { printf '[sandbox] %s\n' "$*" >&2; }
die() { printf '[sandbox] ERROR: %s\n' "$*" >&2; exit 1; }

host_name() { printf '%s-host%s' "$SANDBOX_PREFIX" "$1"; }
lb_name() { printf '%s-lb%s' "$SANDBOX_PREFIX" "$1"; }

# Third address of the subnet and up: .1 is the gateway, .2 the registry, .3 billing, hosts from .11,
# load balancers from .51, their VIP .100.
subnet_ip() {
  local base="${SANDBOX_SUBNET%/*}"
  printf '%s.%s' "${base%.*}" "$1"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
container_exists() { docker container inspect "$1" >/dev/null 2>&1; }
