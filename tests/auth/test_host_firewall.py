# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The speech hosts' firewall end to end (role firewall, issue 22): on a converged Molecule fleet with two or more
speech hosts and a load balancer (the `rollout` or the `failover` scenario), a container's published port answers the
load balancer and the host itself (the health probe's 127.0.0.1), and drops a connection from another speech host;
the host's own services (input traffic, as SSH) are untouched; site.yml run again changes nothing and --check --diff
shows the ruleset; speech_firewall: false and remove.yml take the table away, and site.yml puts it back.

Run inside the scenario (as molecule/*/verify.yml run tests/rollout and tests/failover):
  python3 -m pytest -v -s tests/auth/test_host_firewall.py
The speech_services of the scenario's converge are read from its vars folder (services.yml, else services-n.yml) unless
FIREWALL_SERVICES names a vars file.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rollout"))

from fleet import PROJECT, Fleet, env, on_host  # noqa: E402

TABLE = "speechops_firewall"
UNIT = "speechops-firewall"
RULESET = "/etc/speechops/firewall.nft"
UNIT_FILE = "/etc/systemd/system/speechops-firewall.service"
SECONDS = 3  # a dropped connection is a timeout; an admitted one answers /ready at once
OWN_SERVICE_PORT = 2222  # a service of the host itself, on the input hook as SSH is

# What a host runs to fetch a URL (the sandbox hosts have python3, not curl): prints the HTTP status, or the error.
FETCH = """
import socket, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    print(opener.open(sys.argv[1], timeout=float(sys.argv[2])).status)
except Exception as error:
    reason = getattr(error, "reason", error)
    print("timeout" if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason) else repr(reason))
"""


def group(name):
    """The hosts of an inventory group in Molecule's inventory file."""
    inventory = yaml.safe_load(Path(env("MOLECULE_INVENTORY_FILE")).read_text())
    found = set(((inventory.get(name) or {}).get("hosts") or {}))
    found |= set((((inventory.get("all") or {}).get("children") or {}).get(name) or {}).get("hosts") or {})
    return sorted(found)


def services_file():
    scenario = Path(env("MOLECULE_SCENARIO_DIRECTORY")) / "vars"
    chosen = os.environ.get("FIREWALL_SERVICES") or next(
        (str(scenario / name) for name in ("services.yml", "services-n.yml") if (scenario / name).exists()), None)
    assert chosen, "no speech_services vars file: set FIREWALL_SERVICES"
    return chosen


def fetch(host, url, timeout=SECONDS):
    """The status a request from `host` (a sandbox host's container) to `url` gets, or "timeout"."""
    return on_host(host, "python3", "-c", FETCH, url, str(timeout), check=False).strip()


def record(client, path, expected, seen):
    """One row of the test table in docs/operations.md (client, credential, path, expected, seen), printed."""
    print("AUTH | %s | none (the host firewall) | %s | %s | %s |" % (client, path, expected, seen))


def recap(run):
    return dict(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", run.output, re.M))


@pytest.fixture(scope="module")
def fleet():
    artifacts = Path(env("MOLECULE_EPHEMERAL_DIRECTORY")) / "artifacts"
    artifacts.mkdir(exist_ok=True)
    lbs, hosts = group("speech_lb"), [host for host in group("speech_hosts") if host not in group("speech_lb")]
    assert lbs and len(hosts) >= 2, "needs a load balancer and two speech hosts that are not one: %s, %s" % (lbs, hosts)
    fleet = Fleet(inventory=env("MOLECULE_INVENTORY_FILE"), artifacts=artifacts, hosts=hosts, lb=lbs[0])
    run = fleet.playbook("playbooks/plan.yml", services_file())  # the plan the tests read
    assert run.rc == 0, run.tail()
    return fleet


@pytest.fixture(scope="module")
def target(fleet):
    """(speech host, one of its containers' host port, another speech host): the other has no load balancer on it."""
    planned = fleet.plan()["hosts"]
    host = next(name for name in fleet.hosts if (planned.get(name) or {}).get("containers"))
    other = next(name for name in fleet.hosts if name != host)
    return host, planned[host]["containers"][0]["host_port"], other


def url(fleet, host, port, path="/ready"):
    return "http://%s:%s%s" % (fleet.address(host), port, path)


def test_every_speech_host_runs_the_table_from_its_unit(fleet):
    for host in fleet.hosts:
        assert on_host(host, "systemctl", "is-active", UNIT, check=False).strip() == "active", host
        assert on_host(host, "systemctl", "is-enabled", UNIT, check=False).strip() == "enabled", host
        table = on_host(host, "nft", "list", "table", "inet", TABLE)
        assert "hook forward" in table and "hook input" not in table and "hook output" not in table, table
        ruleset = on_host(host, "cat", RULESET)
        for lb in group("speech_lb"):  # each load balancer with the address its connections come from
            sources = [line.split(": ", 1)[1].split(", ") for line in ruleset.splitlines()
                       if line.startswith("#   load balancer %s: " % lb)]
            assert sources and fleet.address(lb) in sources[0], (host, lb, ruleset)
        assert on_host(host, "stat", "-c", "%U %a", RULESET).split() == ["root", "644"]


def test_the_load_balancer_is_answered(fleet, target):
    host, port, _other = target
    seen = fetch(fleet.lb, url(fleet, host, port))
    record("the load balancer", "TCP/HTTP to a speech host's container port", "served (200)", seen)
    assert seen == "200"


def test_another_speech_host_is_dropped(fleet, target):
    host, port, other = target
    seen = fetch(other, url(fleet, host, port))
    record("another speech host (not a load balancer)", "TCP/HTTP to a speech host's container port", "dropped (timeout)", seen)
    assert seen == "timeout"


def test_the_host_itself_still_reaches_its_containers_and_the_probe_passes(fleet, target):
    host, port, _other = target
    assert fetch(host, "http://127.0.0.1:%s/ready" % port) == "200"
    assert fetch(host, url(fleet, host, port)) == "200"  # its own address: Docker's OUTPUT DNAT, not forwarded
    kind = next(c["kind"] for c in fleet.plan()["hosts"][host]["containers"] if c["host_port"] == port)
    probe = subprocess.run(
        ["ansible", host, "--inventory", env("MOLECULE_INVENTORY_FILE"), "-m", "speechops.speech.probe",
         "-a", json.dumps({"url": "http://127.0.0.1:%s" % port, "kind": kind, "ready_timeout": 10})],
        cwd=PROJECT, env=dict(os.environ, ANSIBLE_NOCOLOR="1"), capture_output=True, text=True, timeout=180, check=False)
    assert probe.returncode == 0, probe.stdout + probe.stderr


def test_the_hosts_own_services_are_not_filtered(fleet, target):
    """A service of the host itself (as SSH is) answers another speech host: nothing is on the input hook."""
    host, _port, other = target
    on_host(host, "sh", "-c", "nohup timeout 60 python3 -m http.server %d --bind 0.0.0.0 >/dev/null 2>&1 &" % OWN_SERVICE_PORT)
    for _attempt in range(20):
        answer = fetch(other, url(fleet, host, OWN_SERVICE_PORT, "/"))
        if answer == "200":
            break
        time.sleep(0.5)
    record("another speech host", "TCP/HTTP to a service of the host itself (as SSH)", "served (200)", answer)
    assert answer == "200", answer


def test_site_again_changes_nothing_and_skips_every_firewall_task(fleet):
    # the suite before this one may have left the fleet at another plan (tests/failover ends on an upgrade)
    run = fleet.playbook("site.yml", services_file())
    assert run.rc == 0, run.tail()
    run = fleet.playbook("site.yml", services_file())
    assert run.rc == 0, run.tail()
    changed = recap(run)
    assert all(changed[host] == "0" for host in fleet.hosts + group("speech_lb")), changed
    # no remote call: every task of the role but the argument checks (on the controller) is skipped on every host
    tasks = [block for block in re.split(r"^TASK \[", run.output, flags=re.M)
             if block.startswith("speechops.speech.firewall : ") and "Validating arguments" not in block.split("\n", 1)[0]]
    # on a no-op the role is one skipped include (the facts vouch for the ruleset and the unit)
    assert tasks, run.tail(120)
    for block in tasks:
        assert not re.search(r"^(ok|changed|fatal|included):", block, re.M), block


def test_check_diff_shows_a_new_monitoring_source_and_changes_nothing(fleet, target):
    host, _port, _other = target
    before = on_host(host, "sha256sum", RULESET)
    run = fleet.playbook("site.yml", services_file(), '{"speech_firewall_allow": ["198.51.100.0/24"]}',
                         options=("--check", "--diff", "--tags", "firewall"))
    assert run.rc == 0, run.tail()
    assert "+++ after: %s" % RULESET in run.output and "198.51.100.0/24" in run.output, run.tail(120)
    assert on_host(host, "sha256sum", RULESET) == before


def test_turned_off_the_table_goes_and_the_port_answers_everyone_then_it_comes_back(fleet, target):
    host, port, other = target
    run = fleet.playbook("site.yml", services_file(), "speech_firewall=false", options=("--tags", "firewall"))
    assert run.rc == 0, run.tail()
    assert TABLE not in on_host(host, "nft", "list", "tables")
    assert fetch(other, url(fleet, host, port)) == "200"
    run = fleet.playbook("site.yml", services_file(), options=("--tags", "firewall"))
    assert run.rc == 0, run.tail()
    assert TABLE in on_host(host, "nft", "list", "tables")
    assert fetch(other, url(fleet, host, port)) == "timeout"


def test_remove_takes_the_firewall_off_a_host_leaving_and_site_brings_it_back(fleet, target):
    _host, _port, other = target
    run = fleet.playbook("playbooks/remove.yml", services_file(), '{"speech_remove_hosts": ["%s"]}' % other)
    assert run.rc == 0, run.tail()
    assert TABLE not in on_host(other, "nft", "list", "tables")
    assert on_host(other, "systemctl", "is-enabled", UNIT, check=False).strip() not in ("enabled", "disabled")
    assert on_host(other, "sh", "-c", "ls %s %s 2>/dev/null; true" % (RULESET, UNIT_FILE)).strip() == ""
    run = fleet.playbook("site.yml", services_file())  # the host is still in the inventory: back in the fleet
    assert run.rc == 0, run.tail()
    assert TABLE in on_host(other, "nft", "list", "tables")
