#!/usr/bin/env bash
# Build the sandbox images once; later runs reuse them (set SANDBOX_REBUILD=1 to rebuild).
#   speechops/base     debootstrap minbase + python3, imported (no registry is reachable here)
#   speechops/host     base + systemd: a test host that our roles install Docker into
#   speechops/registry base + Debian's CNCF distribution registry
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

BASE_PACKAGES="python3,ca-certificates,procps,iproute2,openssl"

build_base() {
  if image_exists "$BASE_IMAGE" && [ -z "${SANDBOX_REBUILD:-}" ]; then return; fi
  command -v debootstrap >/dev/null 2>&1 || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  local rootfs
  rootfs="$(mktemp -d /var/tmp/speechops-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' RETURN
  log "debootstrap $SANDBOX_SUITE into $rootfs (about a minute)"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SANDBOX_SUITE" "$rootfs" "$SANDBOX_MIRROR" \
    >"$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; die "debootstrap failed"; }
  rm -f "$rootfs.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  log "imported $BASE_IMAGE"
}

context_digest() {  # dir: changes whenever a file of the build context changes
  (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

build_from_dockerfile() {  # image, context dir
  local digest; digest="$(context_digest "$2")"
  if [ -z "${SANDBOX_REBUILD:-}" ] && \
     [ "$(docker image inspect -f '{{index .Config.Labels "speechops.sandbox.context"}}' "$1" 2>/dev/null)" = "$digest" ]; then
    return
  fi
  log "building $1"
  local build_log; build_log="$(mktemp)"
  docker build -q --label "speechops.sandbox.context=$digest" --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$1" "$2" \
    >/dev/null 2>"$build_log" || { cat "$build_log" >&2; rm -f "$build_log"; die "building $1 failed"; }
  rm -f "$build_log"
}

build_base
build_from_dockerfile "$HOST_IMAGE" "$SANDBOX_DIR/images/host"
build_from_dockerfile "$REGISTRY_IMAGE" "$SANDBOX_DIR/images/registry"
