# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the firewall role writes (roles/firewall/vars/main.yml), rendered by Ansible itself from an inventory with two
load balancers: the ruleset with their addresses from this run's read, the unit, and that a host whose read (the
preflight's host_facts: its trees and units) shows them already so makes no remote call in a no-op run."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "firewall"
ANSIBLE = Path(sys.executable).parent / "ansible"
RULESET = "/etc/speechops/firewall.nft"
UNIT = "/etc/systemd/system/speechops-firewall.service"


def read(address=None, files=None, units=None, packages=None):
    """A registered host_facts result with the trees the preflight role reads."""
    return {"changed": False, "ansible_facts": {"speech_host": {
        "primary_ipv4": address, "packages": packages if packages is not None else {"nftables": "1.0.6"},
        "units": units if units is not None else {"speechops-firewall": {"active": True, "enabled": True}},
        "files": files or {}, "file_user": {"uid": 0, "gid": 0},
        "file_trees": [{"path": "/etc/speechops", "depth": 2, "checksums": True, "complete": True},
                       {"path": UNIT, "depth": 0, "checksums": True, "complete": True}]}}}


def render(names, tmp_path, host_read, **extra_vars):
    """The role's variables `names` for the speech host host1 of an inventory with the load balancers lb1 and lb2."""
    inventory = {"all": {"children": {
        "speech_hosts": {"hosts": {"host1": {"ansible_connection": "local", "speech_host_facts": host_read}}},
        "speech_lb": {"hosts": {"lb1": {"speech_host_facts": read("10.20.0.51"), "speech_lb_vip": "10.20.0.100"},
                                "lb2": {"speech_address": "10.30.0.52", "ansible_host": "lb2.example.internal"}}}}}}
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    plan = {"hosts": {}, "services": {}, "options": {"port_base": 5100, "port_max": 5199}}
    # run from the role's folder: the template lookup finds templates/ there, as it does in the role
    result = subprocess.run(
        [str(ANSIBLE), "host1", "-i", str(tmp_path / "hosts.yml"), "-m", "ansible.builtin.debug",
         "-a", "var=[%s]" % ",".join(names), "-e", "@%s" % (REPO / "roles" / "speech" / "defaults" / "main.yml"),
         "-e", "@vars/main.yml", "-e", json.dumps(dict({"speech_plan": plan}, **extra_vars))],
        cwd=str(ROLE), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    task = json.loads(result.stdout)["plays"][0]["tasks"][0]
    return dict(zip(names, task["hosts"]["host1"]["[%s]" % ",".join(names)]))


def as_read(files):
    """The host_facts entries of the folders and files config_files would write: the host is already so."""
    entries = {}
    for item in files["directories"]:
        entries[item["path"]] = {"type": "directory", "mode": item["mode"], "uid": 0, "gid": 0, "owner": "root", "group": "root"}
    for item in files["files"]:
        entries[item["path"]] = {"type": "file", "mode": item["mode"], "uid": 0, "gid": 0, "owner": "root", "group": "root",
                                 "sha256": hashlib.sha256(item["content"].encode()).hexdigest()}
    return entries


def test_the_ruleset_admits_both_load_balancers_and_is_checked_by_nft_before_it_is_written(tmp_path):
    files = render(["__firewall_files"], tmp_path, read("10.20.0.11"), speech_firewall_allow=["192.0.2.0/24"])["__firewall_files"]
    assert files["directories"] == [{"path": "/etc/speechops", "owner": "root", "group": "root", "mode": "0700"}]
    ruleset, unit = files["files"]
    assert (ruleset["path"], ruleset["mode"], ruleset["validate"]) == (RULESET, "0644", "nft -c -f %s")
    assert "\t\telements = { 10.20.0.51, 10.30.0.52, 192.0.2.0/24 }\n" in ruleset["content"]
    assert "ct original proto-dst 5100-5199 jump speech_ports" in ruleset["content"]
    assert "10.20.0.100" not in ruleset["content"]  # lb1's VIP
    assert unit["path"] == UNIT and unit["mode"] == "0644"
    lines = unit["content"].splitlines()
    for line in ("Type=oneshot", "RemainAfterExit=yes", "ExecStart=/usr/sbin/nft -f " + RULESET,
                 "ExecReload=/usr/sbin/nft -f " + RULESET, "ExecStop=-/usr/sbin/nft delete table inet speechops_firewall",
                 "Before=docker.service", "WantedBy=multi-user.target"):
        assert line in lines, line


def test_a_host_already_so_makes_no_remote_call(tmp_path):
    files = render(["__firewall_files"], tmp_path, read("10.20.0.11"))["__firewall_files"]
    names = ["__firewall_nftables_missing", "__firewall_running_as_wanted", "__firewall_present", "__firewall_drift"]
    settled = render(names, tmp_path, read("10.20.0.11", files=as_read(files)),
                     __firewall_drift="{{ __firewall_files | speechops.speech.speech_files_drift(__firewall_read) }}")
    assert settled == {"__firewall_nftables_missing": False, "__firewall_running_as_wanted": True,
                       "__firewall_present": True, "__firewall_drift": []}
    # a load balancer more (or another address) changes the ruleset: written again, the unit reloaded
    moved = render(["__firewall_drift"], tmp_path, read("10.20.0.11", files=as_read(files)),
                   speech_firewall_allow=["198.51.100.7"],
                   __firewall_drift="{{ __firewall_files | speechops.speech.speech_files_drift(__firewall_read) }}")
    assert moved["__firewall_drift"] == [RULESET]


def test_a_new_host_gets_everything_and_a_host_without_the_firewall_has_nothing_to_remove(tmp_path):
    new = read("10.20.0.11", units={"speechops-firewall": {"active": False, "enabled": False}}, packages={})
    names = ["__firewall_nftables_missing", "__firewall_running_as_wanted", "__firewall_present", "__firewall_drift"]
    rendered = render(names, tmp_path, new,
                      __firewall_drift="{{ __firewall_files | speechops.speech.speech_files_drift(__firewall_read) }}")
    assert rendered == {"__firewall_nftables_missing": True, "__firewall_running_as_wanted": False,
                        "__firewall_present": False, "__firewall_drift": ["/etc/speechops", RULESET, UNIT]}
    # no read in this run (the role on its own): everything may be there, so the removal runs
    assert render(["__firewall_present"], tmp_path, None)["__firewall_present"] is True


def test_the_preflight_read_covers_what_the_role_writes():
    tasks = yaml.safe_load((REPO / "roles" / "preflight" / "tasks" / "facts.yml").read_text())
    host_facts = next(task["speechops.speech.host_facts"] for task in tasks if "speechops.speech.host_facts" in task)
    trees = dict((tree["path"], tree) for tree in host_facts["trees"])
    assert trees["{{ speech_config_dir }}"]["depth"] >= 1 and trees[UNIT] == {"path": UNIT}
    assert "speechops-firewall" in host_facts["units"]
