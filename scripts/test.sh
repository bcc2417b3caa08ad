#!/usr/bin/env bash
# `make test`: every suite, in three lanes that run side by side, each writing its log to tests/output/lane-*.log:
#   static   lint, ansible-test sanity, unit tests (no Docker), then the emulator, load generator and sandbox tests and
#            the Molecule scenarios preflight, failover (two load balancers behind a VIP, under load; then the host
#            firewall) and disconnected
#   fleet    the Molecule scenarios default and auth (client keys and certificates at the load balancer)
#   rollout  the Molecule scenario rollout (the longest; most of its time is spent in health gates and drains)
# Each lane has a test sandbox (network, registry, billing stub) of its own: the fault suite (fleet) takes its billing
# stub down and back, which the rollout fleet must not see, and the disconnected scenario (static) stops its stub for
# good. They come up one after the other, the rollout lane's first: each lane but static starts as soon as its own
# sandbox is up; all three are removed at the end, even on failure. A lane stops at its first failing suite; the
# others run to their end.
#   scripts/test.sh [lane ...]     only these lanes (default: all three)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" SANDBOX_STATE="${SANDBOX_STATE:-$PWD/.sandbox}"
OUT=tests/output
mkdir -p "$OUT"
LANES=("$@")
[ ${#LANES[@]} -gt 0 ] || LANES=(static fleet rollout)

# The tests' own sandboxes, so that they never touch the demo fleet (the first as the Makefile's TEST_SANDBOX).
export SANDBOX_HOSTS=0 SANDBOX_LBS=0 SANDBOX_REQUIRED=1
TEST_SANDBOX=(SANDBOX_PREFIX=speechops-test SANDBOX_NETWORK=speechops-test-net SANDBOX_SUBNET=172.31.214.0/24
              REGISTRY_LOCAL_PORT=127.0.0.1:5444 SANDBOX_BILLING=http://172.31.214.3:5001/)
STATIC_SANDBOX=(SANDBOX_PREFIX=speechops-stest SANDBOX_NETWORK=speechops-stest-net SANDBOX_SUBNET=172.31.217.0/24
                REGISTRY_LOCAL_PORT=127.0.0.1:5447 SANDBOX_BILLING=http://172.31.217.3:5001/)
ROLLOUT_SANDBOX=(SANDBOX_PREFIX=speechops-rtest SANDBOX_NETWORK=speechops-rtest-net SANDBOX_SUBNET=172.31.216.0/24
                 REGISTRY_LOCAL_PORT=127.0.0.1:5446 SANDBOX_BILLING=http://172.31.216.3:5001/)
sandboxes() {  # sandboxes down: all three, one after the other
  env "${ROLLOUT_SANDBOX[@]}" bash sandbox/sandbox.sh "$1" && env "${TEST_SANDBOX[@]}" bash sandbox/sandbox.sh "$1" &&
    env "${STATIC_SANDBOX[@]}" bash sandbox/sandbox.sh "$1"
}
# only the fleet's playbooks read the sandbox's vault; the unit tests bring their own vault passwords
VAULT="$SANDBOX_STATE/vault-password"

static_lane() {
  make --no-print-directory lint sanity unit || return
  if needs_sandbox; then
    # the Molecule scenarios, once the sandboxes are up (long before these checks end)
    while [ ! -e "$OUT/.sandbox-up" ]; do
      [ -e "$OUT/.sandbox-failed" ] && return 1
      sleep 2
    done
    export "${STATIC_SANDBOX[@]}" ANSIBLE_VAULT_PASSWORD_FILE="$VAULT"
    python -m pytest --junitxml="$OUT/junit-integration.xml" tests/emulator tests/loadgen tests/sandbox &&
      molecule test -s preflight && molecule test -s failover && molecule test -s disconnected
  fi
}

fleet_lane() {
  env "${TEST_SANDBOX[@]}" ANSIBLE_VAULT_PASSWORD_FILE="$VAULT" molecule test -s default &&
    env "${TEST_SANDBOX[@]}" ANSIBLE_VAULT_PASSWORD_FILE="$VAULT" molecule test -s auth
}

rollout_lane() {
  env "${ROLLOUT_SANDBOX[@]}" ANSIBLE_VAULT_PASSWORD_FILE="$VAULT" molecule test -s rollout
}

wants_lane() {
  local lane
  for lane in "${LANES[@]}"; do [ "$lane" = "$1" ] && return 0; done
  return 1
}

needs_sandbox() {
  local lane
  for lane in "${LANES[@]}"; do [ "$lane" = static ] || return 0; done
  return 1
}

started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started )); }

run_lane() {
  local lane=$1 began=$SECONDS rc
  "${lane}_lane" >"$OUT/lane-$lane.log" 2>&1
  rc=$?
  echo "$rc $(( SECONDS - began ))" >"$OUT/lane-$lane.result"
  echo "test: lane $lane $([ "$rc" -eq 0 ] && echo passed || echo "FAILED (rc $rc)") in $(( SECONDS - began )) s"
  return "$rc"
}

rm -f "$OUT"/lane-*.log "$OUT"/lane-*.result "$OUT/.sandbox-up" "$OUT/.sandbox-failed" "$OUT/sandbox-up.log"
pids=()
if needs_sandbox; then
  trap 'sandboxes down >/dev/null 2>&1' EXIT
  # what a killed run left behind is removed first
  sandboxes down >/dev/null 2>&1
fi
for lane in "${LANES[@]}"; do
  [ "$lane" = static ] || continue
  echo "test: lane static started"
  run_lane static &
  pids+=($!)
done
if needs_sandbox; then
  for entry in rollout:ROLLOUT_SANDBOX fleet:TEST_SANDBOX static:STATIC_SANDBOX; do
    lane=${entry%%:*}
    declare -n settings="${entry#*:}"
    if ! env "${settings[@]}" bash sandbox/sandbox.sh up >>"$OUT/sandbox-up.log" 2>&1; then
      touch "$OUT/.sandbox-failed"
      tail -n 40 "$OUT/sandbox-up.log"
      echo "test: the test sandboxes did not come up (tests/output/sandbox-up.log)"
      wait
      exit 1
    fi
    unset -n settings
    if [ "$lane" != static ] && wants_lane "$lane"; then
      echo "test: lane $lane started ($(elapsed) s)"
      run_lane "$lane" &
      pids+=($!)
    fi
  done
  touch "$OUT/.sandbox-up"
fi

failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done

echo "test: lanes (rc, seconds):"
for lane in "${LANES[@]}"; do
  printf '  %-8s %s\n' "$lane" "$(cat "$OUT/lane-$lane.result" 2>/dev/null || echo 'did not run')"
done
if [ "$failed" -ne 0 ]; then
  for lane in "${LANES[@]}"; do
    read -r rc _ <"$OUT/lane-$lane.result" 2>/dev/null || rc=1
    [ "$rc" -eq 0 ] && continue
    echo "----- the end of lane $lane (tests/output/lane-$lane.log) -----"
    tail -n 80 "$OUT/lane-$lane.log"
  done
  echo "test: FAILED after $(elapsed) s"
  exit 1
fi
echo "test: every lane passed in $(elapsed) s"
