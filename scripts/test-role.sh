#!/usr/bin/env bash
# `make test-role ROLE=<role>`: the fast tier of one role, for a change that touches only that role: yamllint and
# ansible-lint of the role, the unit tests about it, and the Molecule scenario `role` (one test host: converge,
# idempotence, verify) on its own test sandbox, removed afterwards even on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROLE=${1:-}
ROLES=$(ls roles)
if [ -z "$ROLE" ] || [ ! -d "roles/$ROLE" ]; then
  echo "usage: make test-role ROLE=<role>, one of:" $ROLES >&2
  exit 2
fi
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" SANDBOX_STATE="${SANDBOX_STATE:-$PWD/.sandbox}" ROLE
# unit tests by role (tests/unit/roles are named after what they test)
declare -A UNIT=(
  [docker]="tests/unit/roles/test_docker_config.py"
  [loadbalancer]="tests/unit/roles/test_haproxy_queueing.py tests/unit/roles/test_haproxy_state.py tests/unit/plugins/modules/test_haproxy_servers.py tests/unit/roles/test_haproxy_client_access.py tests/unit/plugins/modules/test_haproxy_client_keys.py tests/unit/plugins/module_utils/test_lb_access.py"
  [preflight]="tests/unit/plugins/module_utils/test_preflight.py tests/unit/plugins/filter/test_preflight_filter.py tests/unit/plugins/module_utils/test_host_facts.py tests/unit/plugins/module_utils/test_lb_access.py"
  [speech_containers]="tests/unit/plugins/module_utils/test_container_spec.py tests/unit/plugins/filter/test_container_filter.py tests/unit/plugins/modules/test_config_files.py tests/unit/plugins/modules/test_probe.py"
  [speech_jobs]="tests/unit/plugins/module_utils/test_container_spec.py"
  [speech]="tests/unit/test_role_docs.py"
  [gstreamer]=""
  [firewall]="tests/unit/plugins/module_utils/test_firewall.py tests/unit/plugins/filter/test_firewall_filter.py tests/unit/roles/test_firewall_vars.py"
)

yamllint --strict "roles/$ROLE"
ansible-lint --offline -q "roles/$ROLE"
python -m pytest -q -p no:cacheprovider tests/unit/test_role_docs.py ${UNIT[$ROLE]:-}

export SANDBOX_PREFIX=speechops-role SANDBOX_SUBNET=172.31.215.0/24 REGISTRY_LOCAL_PORT=127.0.0.1:5445 \
       SANDBOX_HOSTS=0 SANDBOX_LBS=0 SANDBOX_BILLING=http://172.31.215.3:5001/ SANDBOX_NETWORK=speechops-role-net
export ANSIBLE_VAULT_PASSWORD_FILE="$SANDBOX_STATE/vault-password"
trap 'molecule destroy -s role >/dev/null 2>&1; bash sandbox/sandbox.sh down >/dev/null 2>&1' EXIT
bash sandbox/sandbox.sh down >/dev/null 2>&1
bash sandbox/sandbox.sh up
molecule destroy -s role
molecule create -s role
molecule converge -s role
# a one-shot run runs a container each time, by design: no idempotence for speech_jobs
[ "$ROLE" = speech_jobs ] || molecule idempotence -s role
molecule verify -s role
echo "test-role: $ROLE passed"
