# Entry points: `make demo` and `make test` (README). Everything else is a building block.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= false
export PY_COLORS ?= 0
# The sandbox's state (CA, registry password, vault password) and its vault; see sandbox/sandbox.sh.
export SANDBOX_STATE ?= $(CURDIR)/.sandbox
# Only the targets that run playbooks on a sandbox read its vault (it exists once the sandbox is up).
SANDBOX_VAULT := ANSIBLE_VAULT_PASSWORD_FILE=$(SANDBOX_STATE)/vault-password

# The tests use their own sandbox, so they never touch the demo fleet.
TEST_SANDBOX := SANDBOX_PREFIX=speechops-test SANDBOX_SUBNET=172.31.214.0/24 \
                REGISTRY_LOCAL_PORT=127.0.0.1:5444 SANDBOX_HOSTS=0 SANDBOX_LBS=0 \
                SANDBOX_BILLING=http://172.31.214.3:5001/

.PHONY: help setup demo test test-role lint yamllint ansible-lint changelog-lint sanity unit fuzz docs integration molecule \
        sandbox-up sandbox-down sandbox-status sandbox-clean clean bench-load

help:
	@echo "make demo    - build the local sandbox fleet and run site.yml on it"
	@echo "make test    - lint, sanity, unit tests and Molecule scenarios on a test sandbox, in three lanes side by side"
	@echo "make test-role ROLE=docker - one role's fast tier: its lint, unit tests and Molecule scenario"
	@echo "make bench-load - the real Speech SDK at 0.5, 1, 2 and 4x each service's capacity on the demo fleet"
	@echo "make fuzz    - every variable's contract and the plan under 500 random values per variable, with statistics"
	@echo "make setup | sandbox-up | sandbox-down | sandbox-status | sandbox-clean | lint | sanity | unit | docs | integration | molecule"

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt scripts/system-deps.sh
	bash scripts/system-deps.sh
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

sandbox-up: setup
	bash sandbox/sandbox.sh up

sandbox-down:
	bash sandbox/sandbox.sh down

sandbox-status:
	bash sandbox/sandbox.sh status

sandbox-clean:
	bash sandbox/sandbox.sh clean

demo: sandbox-up
	$(SANDBOX_VAULT) ansible-playbook site.yml
	python3 sandbox/speak.py $(SANDBOX_STATE)/artifacts $(SANDBOX_STATE)/demo

# Three lanes side by side (scripts/test.sh): static checks, the fleet scenarios, the rollout scenario.
test: setup
	bash scripts/test.sh

# The fast tier of one role: its lint, its unit tests and its own Molecule scenario (docs/testing.md).
test-role: setup
	bash scripts/test-role.sh $(ROLE)

# After `make demo`: closed-loop Speech SDK and REST clients through the demo's load balancers (docs/performance.md).
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--levels 1 --seconds 300".
bench-load: setup
	python tests/bench/bench_load.py $(BENCH_ARGS)

lint: yamllint ansible-lint changelog-lint

yamllint: setup
	yamllint --strict .

ansible-lint: setup
	ansible-lint --offline -q

changelog-lint: setup
	antsibull-changelog lint

sanity: setup
	bash scripts/sanity.sh

# tests/galaxy builds the collection tarball, installs it offline and runs its plan playbook; its
# site test needs a converged fleet and runs in Molecule default's verify.
unit: setup
	python -m pytest --junitxml=tests/output/junit-unit.xml tests/unit
	python -m pytest -p no:cacheprovider --junitxml=tests/output/junit-galaxy.xml tests/galaxy -k 'not site_from_the_tarball'

# The contract's property test with its larger budget (tests/unit/plugins/module_utils/test_contract_fuzz.py: 500 random
# values per variable instead of `make unit`'s 25 fixed ones); its statistics go to tests/output/contract-fuzz.txt.
fuzz: setup
	SPEECH_CONTRACT_FUZZ=1 python -m pytest -q -p no:cacheprovider tests/unit/plugins/module_utils/test_contract_fuzz.py
	cat tests/output/contract-fuzz.txt

# docs/variables.md from the roles' meta/argument_specs.yml (and its last table from plugins/module_utils/contract.py)
# and docs/versions.md from the catalog
# (tests/unit/test_role_docs.py and tests/unit/test_versions_doc.py fail while they are stale).
docs: setup
	python scripts/role_docs.py
	python scripts/versions_doc.py

# Everything that needs Docker, on a new test sandbox (what a killed run left is removed first),
# which is removed afterwards even on failure.
integration: setup
	export $(TEST_SANDBOX) $(SANDBOX_VAULT) SANDBOX_REQUIRED=1; \
	  trap 'bash sandbox/sandbox.sh down' EXIT; \
	  bash sandbox/sandbox.sh down && bash sandbox/sandbox.sh up && \
	  python -m pytest --junitxml=tests/output/junit-integration.xml tests/emulator tests/loadgen tests/sandbox && \
	  molecule test --all

molecule: setup
	export $(TEST_SANDBOX) $(SANDBOX_VAULT); \
	  trap 'bash sandbox/sandbox.sh down' EXIT; \
	  bash sandbox/sandbox.sh down && bash sandbox/sandbox.sh up && molecule test --all

clean: sandbox-down
	rm -rf .cache .pytest_cache tests/output
