#!/usr/bin/env bash
# The physical floor of the fleet benchmark (tests/bench/bench_fleet.py): the same container work as
# site.yml and rollout.yml, done by hand with docker commands through `docker exec` into the sandbox
# hosts, every host in parallel, with no checks beyond what the work needs.
#
#   baseline.sh noop HOST...                  every planned container inspected (image, running), its
#                                             env file hashed, /ready and /status asked once
#   baseline.sh converge HOST...              every planned container pulled, run and waited for /ready
#                                             (the caller removed the containers and images first)
#   baseline.sh rollout SERVICE IMAGE HOST... the service's containers replaced by IMAGE: the first host
#                                             alone (a canary), then the others in parallel
#
# The planned containers are read from /etc/speechops/*/container.json on each host (written by the
# speech_containers role); the env files already hold the settings and the key.
set -euo pipefail

mode="$1"; shift

# One python3 on the host lists its planned containers as "name image host_port cpus memory_mb service
# container_port".
read -r -d '' list_containers <<'PY' || true
import glob, json
for path in sorted(glob.glob("/etc/speechops/*/container.json")):
    c = json.load(open(path))
    print(c["name"], c["image"], c["host_port"], c["cpus"], c["memory_mb"], c["service"], c["container_port"])
PY

# Waits until every port given answers /ready with 200 (python3 is the only HTTP client on the hosts).
read -r -d '' wait_ready <<'PY' || true
import sys, time, urllib.request
pending = set(sys.argv[1:])
started = time.time()
deadline = time.time() + 300
while pending and time.time() < deadline:
    for port in sorted(pending):
        try:
            if urllib.request.urlopen("http://127.0.0.1:%s/ready" % port, timeout=2).status == 200:
                pending.discard(port)
        except Exception:
            pass
    time.sleep(0.2)
if pending:
    sys.exit("not ready after %d s on port(s) %s" % (time.time() - started, ", ".join(sorted(pending))))
PY

# Asks /ready and /status of every port once.
read -r -d '' check_health <<'PY' || true
import json, sys, urllib.request
for port in sys.argv[1:]:
    urllib.request.urlopen("http://127.0.0.1:%s/ready" % port, timeout=5).read()
    status = json.load(urllib.request.urlopen("http://127.0.0.1:%s/status" % port, timeout=10))
    assert status.get("apiStatus") == "Valid", (port, status)
PY

on_host() {  # host, script (through stdin), arguments
  local host="$1" script="$2"; shift 2
  docker exec -i "$host" bash -s -- "$@" <<<"$script" || { echo "$host: $script $*: failed" >&2; return 1; }
}

run_container() {  # the docker run of the speech_containers role, without its labels and log options
  # shellcheck disable=SC2016
  printf '%s\n' 'docker rm -f "$1" >/dev/null 2>&1 || true' \
    'docker run -d --name "$1" --env-file "/etc/speechops/$1/env" -p "$3:$6" --cpus "$4" --memory "$5m" \
       --restart unless-stopped --security-opt no-new-privileges "$2" >/dev/null'
}
# run_container's arguments: name image host_port cpus memory_mb, then the port inside the container as $6

noop_host() {
  local host="$1" ports=()
  while read -r name image port _rest; do
    [ "$(docker exec "$host" docker inspect -f '{{.State.Running}} {{.Config.Image}}' "$name")" = "true $image" ] \
      || { echo "$host: $name is not running $image" >&2; return 1; }
    docker exec "$host" sha256sum "/etc/speechops/$name/env" >/dev/null
    ports+=("$port")
  done < <(docker exec "$host" python3 -c "$list_containers")
  docker exec "$host" python3 -c "$check_health" "${ports[@]}"
}

converge_host() {
  local host="$1" ports=() runner
  runner="$(run_container)"
  docker exec -i "$host" docker login -u speechops --password-stdin registry.sandbox:5000 \
    <"${SANDBOX_STATE:?}/registry/password" >/dev/null
  while read -r name image port cpus memory _service inner_port; do
    docker exec "$host" docker pull -q "$image" >/dev/null
    on_host "$host" "$runner" "$name" "$image" "$port" "$cpus" "$memory" "$inner_port"
    ports+=("$port")
  done < <(docker exec "$host" python3 -c "$list_containers")
  docker exec "$host" docker logout registry.sandbox:5000 >/dev/null
  docker exec "$host" python3 -c "$wait_ready" "${ports[@]}"
}

rollout_host() {
  local service="$1" new_image="$2" host="$3" runner names=() ports=() cpus=() memory=() inner=() i
  runner="$(run_container)"
  while read -r name _image port cpu mem planned_service inner_port; do
    [ "$planned_service" = "$service" ] || continue
    names+=("$name"); ports+=("$port"); cpus+=("$cpu"); memory+=("$mem"); inner+=("$inner_port")
  done < <(docker exec "$host" python3 -c "$list_containers")
  [ "${#names[@]}" -gt 0 ] || return 0
  docker exec -i "$host" docker login -u speechops --password-stdin registry.sandbox:5000 \
    <"${SANDBOX_STATE:?}/registry/password" >/dev/null
  docker exec "$host" docker pull -q "$new_image" >/dev/null
  docker exec "$host" docker logout registry.sandbox:5000 >/dev/null
  for i in "${!names[@]}"; do
    docker exec "$host" docker stop -t 10 "${names[$i]}" >/dev/null
    on_host "$host" "$runner" "${names[$i]}" "$new_image" "${ports[$i]}" "${cpus[$i]}" "${memory[$i]}" "${inner[$i]}"
    docker exec "$host" python3 -c "$wait_ready" "${ports[$i]}"
  done
}

in_parallel() {  # function, hosts...: one background job per host; fails when any fails
  local function="$1" pids=() failed=0; shift
  for host in "$@"; do "$function" "$host" & pids+=("$!"); done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  return "$failed"
}

case "$mode" in
  noop) in_parallel noop_host "$@" ;;
  converge) in_parallel converge_host "$@" ;;
  rollout)
    service="$1" image="$2"; shift 2
    rollout_canary() { rollout_host "$service" "$image" "$1"; }
    rollout_canary "$1"
    shift
    [ "$#" -eq 0 ] || in_parallel rollout_canary "$@"
    ;;
  *) echo "usage: $0 noop|converge HOST... | rollout SERVICE IMAGE HOST..." >&2; exit 2 ;;
esac
