#!/usr/bin/env bash
# The local sandbox fleet: a test network, a TLS + basic-auth registry and N systemd test hosts.
#   sandbox.sh up | down | status | clean
# Idempotent: `up` creates what is missing and starts what is stopped; `down` removes every container,
# volume and network carrying this sandbox's label (also after a failed `up`); `clean` also drops images.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CA_DIR="$SANDBOX_STATE/ca"
REGISTRY_CERTS="$SANDBOX_STATE/registry/certs"
REGISTRY_AUTH="$SANDBOX_STATE/registry/auth"
REGISTRY_PASSWORD_FILE="$SANDBOX_STATE/registry/password"
REGISTRY_IP="$(subnet_ip 2)"

make_ca_and_registry_cert() {
  mkdir -p "$CA_DIR" "$REGISTRY_CERTS"
  chmod 0700 "$SANDBOX_STATE" "$CA_DIR"
  if [ ! -s "$CA_DIR/ca.crt" ]; then
    log "creating the sandbox CA"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=speechops sandbox CA" \
      -keyout "$CA_DIR/ca.key" -out "$CA_DIR/ca.crt" 2>/dev/null
    chmod 0600 "$CA_DIR/ca.key"
    rm -f "$REGISTRY_CERTS/server.crt"
  fi
  if [ ! -s "$REGISTRY_CERTS/server.crt" ]; then
    log "issuing the registry certificate for $REGISTRY_HOSTNAME"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$REGISTRY_HOSTNAME" \
      -keyout "$REGISTRY_CERTS/server.key" -out "$REGISTRY_CERTS/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:%s,DNS:localhost,IP:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
      "$REGISTRY_HOSTNAME" "$REGISTRY_IP" >"$REGISTRY_CERTS/ext.cnf"
    openssl x509 -req -in "$REGISTRY_CERTS/server.csr" -CA "$CA_DIR/ca.crt" -CAkey "$CA_DIR/ca.key" \
      -CAcreateserial -days 825 -extfile "$REGISTRY_CERTS/ext.cnf" -out "$REGISTRY_CERTS/server.crt" 2>/dev/null
    rm -f "$REGISTRY_CERTS/server.csr" "$REGISTRY_CERTS/ext.cnf"
    # The registry runs as root in its container; the key stays readable by root only.
    chmod 0600 "$REGISTRY_CERTS/server.key"
  fi
}

make_registry_credentials() {
  mkdir -p "$REGISTRY_AUTH"
  if [ ! -s "$REGISTRY_PASSWORD_FILE" ]; then
    ( umask 077; openssl rand -hex 24 >"$REGISTRY_PASSWORD_FILE" )
    rm -f "$REGISTRY_AUTH/htpasswd"
  fi
  if [ ! -s "$REGISTRY_AUTH/htpasswd" ]; then
    # The password goes in on stdin (-i), never on a command line.
    docker run --rm -i --network none "$REGISTRY_IMAGE" htpasswd -niB "$REGISTRY_USER" \
      <"$REGISTRY_PASSWORD_FILE" >"$REGISTRY_AUTH/htpasswd"
  fi
}

VAULT_PASSWORD_FILE="$SANDBOX_STATE/vault-password"
API_KEY_FILE="$SANDBOX_STATE/api-key"
API_KEY_SECONDARY_FILE="$SANDBOX_STATE/api-key-secondary"
PROXY_CREDS_FILE="$SANDBOX_STATE/proxy-creds"  # user:password of the outbound proxy a test may start (speech_http_proxy_creds)
VRRP_PASSWORD_FILE="$SANDBOX_STATE/vrrp-password"  # the load balancers' VRRP password (speech_lb_vrrp_password, 8 characters)
BILLING_ENV_FILE="$SANDBOX_STATE/billing.env"
BILLING_NAME="${SANDBOX_PREFIX}-billing"
BILLING_IP="$(subnet_ip 3)"
LB_VIP="$(subnet_ip 100)"
EMULATOR_PREFIX="speechops.local"
VAULT_FILE="$REPO_DIR/inventories/sandbox/group_vars/all/vault.yml"
# written beside it and renamed into place; ignored by git and the linters, which may be listing files meanwhile
VAULT_TMP_FILE="$REPO_DIR/inventories/sandbox/group_vars/all/.vault.yml.tmp"

ansible_vault() {
  local binary
  binary="$(command -v ansible-vault || true)"
  [ -n "$binary" ] || binary="$REPO_DIR/.venv/bin/ansible-vault"
  [ -x "$binary" ] || die "ansible-vault not found: run 'make setup' first"
  # Only the password file named on the command line: a second one from the environment is ambiguous.
  env -u ANSIBLE_VAULT_PASSWORD_FILE -u ANSIBLE_VAULT_IDENTITY_LIST "$binary" "$@"
}

vault_variable() {  # name, file holding the secret: the secret goes in on stdin, never on a command line
  tr -d '\n' <"$2" | ansible_vault encrypt_string --vault-password-file "$VAULT_PASSWORD_FILE" --stdin-name "$1" \
    2>"$SANDBOX_STATE/vault.log" || { cat "$SANDBOX_STATE/vault.log" >&2; die "ansible-vault could not encrypt $1"; }
}

# The billing stub accepts both keys of the sandbox's "Speech resource", as Azure gives two.
make_api_keys() {
  local key
  for key in "$API_KEY_FILE" "$API_KEY_SECONDARY_FILE"; do
    [ -s "$key" ] || ( umask 077; printf '%s' "$(openssl rand -hex 16)" >"$key" )
  done
  [ -s "$PROXY_CREDS_FILE" ] || ( umask 077; printf 'speechops:%s' "$(openssl rand -hex 16)" >"$PROXY_CREDS_FILE" )
  [ -s "$VRRP_PASSWORD_FILE" ] || ( umask 077; printf '%s' "$(openssl rand -hex 4)" >"$VRRP_PASSWORD_FILE" )
  if [ ! -s "$BILLING_ENV_FILE" ] || [ "$BILLING_ENV_FILE" -ot "$API_KEY_SECONDARY_FILE" ]; then
    ( umask 077; printf 'BILLING_STUB_KEYS=%s,%s\n' "$(cat "$API_KEY_FILE")" "$(cat "$API_KEY_SECONDARY_FILE")" >"$BILLING_ENV_FILE" )
  fi
}

make_vault() {
  [ -s "$VAULT_PASSWORD_FILE" ] || ( umask 077; openssl rand -hex 32 >"$VAULT_PASSWORD_FILE" )
  if [ ! -s "$VAULT_FILE" ] || [ "$VAULT_FILE" -ot "$REGISTRY_PASSWORD_FILE" ] || [ "$VAULT_FILE" -ot "$API_KEY_SECONDARY_FILE" ] \
     || [ "$VAULT_FILE" -ot "$PROXY_CREDS_FILE" ] || [ "$VAULT_FILE" -ot "$VRRP_PASSWORD_FILE" ]; then
    log "writing the sandbox vault ($VAULT_FILE)"
    ( umask 077
      { echo "---"
        vault_variable vault_sandbox_registry_password "$REGISTRY_PASSWORD_FILE"
        vault_variable vault_speech_api_key "$API_KEY_FILE"
        vault_variable vault_speech_api_key_secondary "$API_KEY_SECONDARY_FILE"
        vault_variable vault_sandbox_proxy_creds "$PROXY_CREDS_FILE"
        vault_variable vault_sandbox_vrrp_password "$VRRP_PASSWORD_FILE"
      } >"$VAULT_TMP_FILE" )
    mv "$VAULT_TMP_FILE" "$VAULT_FILE"
  fi
}

ensure_network() {
  docker network inspect "$SANDBOX_NETWORK" >/dev/null 2>&1 && return
  log "creating network $SANDBOX_NETWORK ($SANDBOX_SUBNET)"
  docker network create --driver bridge --subnet "$SANDBOX_SUBNET" --label "$SANDBOX_LABEL" \
    "$SANDBOX_NETWORK" >/dev/null
}

ensure_volume() {
  docker volume inspect "$1" >/dev/null 2>&1 || docker volume create --label "$SANDBOX_LABEL" "$1" >/dev/null
}

start_if_stopped() {
  [ "$(docker container inspect -f '{{.State.Running}}' "$1")" = true ] || docker start "$1" >/dev/null
}

# A container made from other state (another checkout's CA, older keys, a run that was killed) is
# replaced: it is labelled with the digest of the files it was started with.
state_digest() {  # files...
  cat "$@" | sha256sum | cut -c1-16
}

reuse_container() {  # name, digest: true when a container started from the same state exists
  container_exists "$1" || return 1
  if [ "$(docker container inspect -f '{{index .Config.Labels "speechops.sandbox.state"}}' "$1")" != "$2" ]; then
    log "replacing $1: it was started from other sandbox state"
    docker rm -f -v "$1" >/dev/null
    return 1
  fi
  start_if_stopped "$1"
}

ensure_registry() {
  local digest; digest="$(state_digest "$REGISTRY_CERTS/server.crt" "$REGISTRY_AUTH/htpasswd")"
  reuse_container "$REGISTRY_NAME" "$digest" && return
  log "starting the registry at https://$REGISTRY_HOSTNAME:$REGISTRY_PORT (and $REGISTRY_LOCAL_PORT)"
  ensure_volume "$REGISTRY_NAME-data"
  docker run -d --name "$REGISTRY_NAME" --hostname "$REGISTRY_HOSTNAME" \
    --label "$SANDBOX_LABEL" --label speechops.sandbox.role=registry --label "speechops.sandbox.state=$digest" \
    --network "$SANDBOX_NETWORK" --ip "$REGISTRY_IP" --network-alias "$REGISTRY_HOSTNAME" \
    -p "$REGISTRY_LOCAL_PORT:$REGISTRY_PORT" \
    -v "$REGISTRY_CERTS:/etc/docker/registry/certs:ro" \
    -v "$REGISTRY_AUTH:/etc/docker/registry/auth:ro" \
    -v "$REGISTRY_NAME-data:/var/lib/docker-registry" \
    --restart unless-stopped "$REGISTRY_IMAGE" >/dev/null
}

# Emulator images are built locally under $EMULATOR_PREFIX and pushed under the same paths.
push_images() {
  local refs config
  refs="$(BASE_IMAGE="$BASE_IMAGE" bash "$SANDBOX_DIR/emulator/build.sh" "$EMULATOR_PREFIX")"
  config="$(mktemp -d)"
  # A throw-away client config: the controller's own ~/.docker is never touched.
  DOCKER_CONFIG="$config" docker login -u "$REGISTRY_USER" --password-stdin "$REGISTRY_LOCAL_PORT" \
    <"$REGISTRY_PASSWORD_FILE" >/dev/null 2>&1 || { rm -rf "$config"; die "cannot log in to the registry at $REGISTRY_LOCAL_PORT"; }
  log "pushing $(wc -l <<<"$refs") emulator images to the registry"
  # shellcheck disable=SC2016
  if ! xargs -P 4 -n 1 env DOCKER_CONFIG="$config" bash -c '
        target="$0/${1#*/}"
        docker tag "$1" "$target" && docker push -q "$target" >/dev/null && docker rmi "$target" >/dev/null' \
        "$REGISTRY_LOCAL_PORT" <<<"$refs"; then
    rm -rf "$config"; die "pushing the emulator images failed"
  fi
  rm -rf "$config"
}

ensure_billing() {
  local digest; digest="$(state_digest "$BILLING_ENV_FILE")"
  reuse_container "$BILLING_NAME" "$digest" && return
  log "starting the billing stub at http://$BILLING_IP:5001/ (admin API on :5002)"
  docker run -d --name "$BILLING_NAME" --hostname billing.sandbox \
    --label "$SANDBOX_LABEL" --label speechops.sandbox.role=billing --label "speechops.sandbox.state=$digest" \
    --network "$SANDBOX_NETWORK" --ip "$BILLING_IP" --network-alias billing.sandbox \
    --env-file "$BILLING_ENV_FILE" --restart unless-stopped \
    "$EMULATOR_PREFIX/speechops/billing-stub:1.0.0" --host 0.0.0.0 --port 5001 --admin-port 5002 >/dev/null
}

ensure_systemd_host() {  # name, short hostname, ip, sandbox role, extra docker run arguments...
  local name="$1" short="$2" ip="$3" role="$4"; shift 4
  if container_exists "$name"; then start_if_stopped "$name"; return; fi
  log "starting test host $name ($role)"
  docker run -d --name "$name" --hostname "$short" \
    --label "$SANDBOX_LABEL" --label "speechops.sandbox.role=$role" \
    --network "$SANDBOX_NETWORK" --ip "$ip" --network-alias "$short.sandbox" \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --tmpfs /run --tmpfs /run/lock \
    "$@" "$HOST_IMAGE" >/dev/null
}

ensure_host() {  # index
  local name; name="$(host_name "$1")"
  container_exists "$name" || ensure_volume "$name-docker"
  ensure_systemd_host "$name" "host$1" "$(subnet_ip $((10 + $1)))" speech_host -v "$name-docker:/var/lib/docker"
}

ensure_lb() {  # index: a load-balancer host (HAProxy from the distribution, installed by our role)
  # Two or more share a virtual IP (keepalived, by our role); the inventory reads it from this label.
  local vip=()
  [ "$SANDBOX_LBS" -lt 2 ] || vip=(--label "speechops.sandbox.lb_vip=$LB_VIP")
  ensure_systemd_host "$(lb_name "$1")" "lb$1" "$(subnet_ip $((50 + $1)))" speech_lb "${vip[@]}"
}

wait_for_systemd() {  # container
  local state
  for _ in $(seq 1 60); do
    state="$(docker exec "$1" systemctl is-system-running 2>/dev/null || true)"
    case "$state" in running|degraded) return 0 ;; esac
    sleep 1
  done
  die "$1: systemd did not come up (state: ${state:-none}); see 'docker logs $1'"
}

wait_for_registry() {
  # An authenticated registry answers /v2/ with 401 once it serves TLS with our certificate.
  local last_error
  if last_error="$(python3 - "$REGISTRY_LOCAL_PORT" "$CA_DIR/ca.crt" <<'PY'
import ssl, sys, time, urllib.error, urllib.request
address, ca = sys.argv[1], sys.argv[2]
context = ssl.create_default_context(cafile=ca)
last_error = "no answer"
for _ in range(120):
    try:
        urllib.request.urlopen(f"https://{address}/v2/", context=context, timeout=2)
        last_error = "/v2/ answered without asking for credentials"
    except urllib.error.HTTPError as answer:
        if answer.code == 401:
            sys.exit(0)
        last_error = f"HTTP {answer.code}"
    except OSError as error:
        last_error = str(error)
    time.sleep(0.5)
print(last_error)
sys.exit(1)
PY
  )"; then
    return
  fi
  docker ps -a --filter "name=^$REGISTRY_NAME\$" --format '[sandbox] {{.Names}}: {{.Status}} {{.Ports}}' >&2
  docker logs --tail 20 "$REGISTRY_NAME" >&2 || true
  die "the registry did not answer on https://$REGISTRY_LOCAL_PORT/v2/ within a minute: $last_error"
}

write_env_file() {
  cat >"$SANDBOX_STATE/sandbox.env" <<ENV
# Written by sandbox/sandbox.sh up; read by the demo, the tests and Molecule.
SANDBOX_PREFIX=$SANDBOX_PREFIX
SANDBOX_NETWORK=$SANDBOX_NETWORK
SANDBOX_SUBNET=$SANDBOX_SUBNET
SANDBOX_HOSTS=$SANDBOX_HOSTS
SANDBOX_LBS=$SANDBOX_LBS
SANDBOX_REGISTRY=$REGISTRY_HOSTNAME:$REGISTRY_PORT
SANDBOX_REGISTRY_LOCAL=$REGISTRY_LOCAL_PORT
SANDBOX_REGISTRY_USER=$REGISTRY_USER
SANDBOX_REGISTRY_PASSWORD_FILE=$REGISTRY_PASSWORD_FILE
SANDBOX_CA=$CA_DIR/ca.crt
SANDBOX_VAULT_PASSWORD_FILE=$VAULT_PASSWORD_FILE
SANDBOX_BILLING=http://$BILLING_IP:5001/
SANDBOX_BILLING_ADMIN=http://$BILLING_IP:5002/
SANDBOX_API_KEY_FILE=$API_KEY_FILE
SANDBOX_API_KEY_SECONDARY_FILE=$API_KEY_SECONDARY_FILE
SANDBOX_HOST_IMAGE=$HOST_IMAGE
SANDBOX_LB_VIP=$([ "$SANDBOX_LBS" -lt 2 ] || echo "$LB_VIP")
ENV
}

cmd_up() {
  bash "$SANDBOX_DIR/engine.sh"
  bash "$SANDBOX_DIR/images.sh"
  make_ca_and_registry_cert
  make_registry_credentials
  make_api_keys
  make_vault
  ensure_network
  ensure_registry
  wait_for_registry
  push_images
  ensure_billing
  local i
  for i in $(seq 1 "$SANDBOX_HOSTS"); do ensure_host "$i"; done
  for i in $(seq 1 "$SANDBOX_LBS"); do ensure_lb "$i"; done
  for i in $(seq 1 "$SANDBOX_HOSTS"); do wait_for_systemd "$(host_name "$i")"; done
  for i in $(seq 1 "$SANDBOX_LBS"); do wait_for_systemd "$(lb_name "$i")"; done
  write_env_file
  log "up: $SANDBOX_HOSTS speech hosts and $SANDBOX_LBS load balancer(s) on $SANDBOX_NETWORK, registry $REGISTRY_HOSTNAME:$REGISTRY_PORT"
}

cmd_down() {
  docker info >/dev/null 2>&1 || { log "no Docker engine answers: nothing to remove"; return 0; }
  local ids
  ids="$(docker ps -aq --filter "label=$SANDBOX_LABEL")"
  [ -z "$ids" ] || docker rm -f -v $ids >/dev/null
  ids="$(docker volume ls -q --filter "label=$SANDBOX_LABEL")"
  [ -z "$ids" ] || docker volume rm -f $ids >/dev/null
  ids="$(docker network ls -q --filter "label=$SANDBOX_LABEL")"
  [ -z "$ids" ] || docker network rm $ids >/dev/null
  rm -f "$SANDBOX_STATE/sandbox.env"
  log "down: removed the containers, volumes and networks labelled $SANDBOX_LABEL"
}

cmd_status() {
  docker info >/dev/null 2>&1 || { echo "engine: not running"; return 1; }
  echo "engine:   $(docker version --format '{{.Server.Version}}')"
  echo "network:  $(docker network ls -q --filter "label=$SANDBOX_LABEL" --format '{{.Name}}' | tr '\n' ' ')"
  echo "volumes:  $(docker volume ls -q --filter "label=$SANDBOX_LABEL" | wc -l)"
  echo "containers:"
  docker ps -a --filter "label=$SANDBOX_LABEL" \
    --format '  {{.Names}}\t{{.Label "speechops.sandbox.role"}}\t{{.Status}}'
  local images; images="$(docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -c '^speechops/' || true)"
  echo "images:   $images speechops/* image(s) cached"
  [ -n "$(docker ps -q --filter "label=$SANDBOX_LABEL")" ]
}

cmd_clean() {
  cmd_down
  local images; images="$(docker image ls --format '{{.Repository}}:{{.Tag}}' | grep '^speechops/' || true)"
  [ -z "$images" ] || docker rmi -f $images >/dev/null
  rm -rf "$SANDBOX_STATE" "$VAULT_FILE"
  log "clean: images and sandbox state removed"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  clean) cmd_clean ;;
  *) echo "usage: $0 up|down|status|clean" >&2; exit 2 ;;
esac
