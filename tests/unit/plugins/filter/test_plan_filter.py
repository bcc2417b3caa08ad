# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The speechops.speech.plan filters: wiring, errors, docs, and a run through Ansible's templating."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.filter import plan as plan_filter
from ansible_collections.speechops.speech.plugins.module_utils import plan as planner

FILTER_DIR = Path(plan_filter.__file__).resolve().parent
COLLECTIONS_DIR = Path(__file__).resolve().parents[3].parent / "collections"
FILTER_NAMES = ("plan", "speech_plan_view")
SERVICES = [{"name": "lid", "kind": "language-detection", "replicas": 2}]
HOSTVARS = {
    "h1": {"speech_host": {"vcpus_usable": 8.0, "memory_usable_mb": 16384, "avx2": True}, "ansible_host": "10.0.0.1"},
    "h2": {"speech_host": {"vcpus_usable": 8.0, "memory_usable_mb": 16384, "avx2": True}},
}


def filters():
    return plan_filter.FilterModule().filters()


def test_filter_module_exposes_every_filter():
    assert sorted(filters()) == sorted(FILTER_NAMES)


@pytest.mark.parametrize("name", FILTER_NAMES)
def test_every_filter_has_sidecar_docs_naming_it(name):
    docs = yaml.safe_load((FILTER_DIR / (name + ".yml")).read_text())
    assert docs["DOCUMENTATION"]["name"] == name
    assert docs["DOCUMENTATION"]["short_description"]
    assert "_value" in docs["RETURN"] and docs["EXAMPLES"].strip()


def test_plan_through_the_filters_end_to_end():
    plan = filters()["plan"](SERVICES, ["h1", "h2"], hostvars=HOSTVARS, port_base=5200)
    assert sorted(backend["host"] for backend in plan["services"]["lid"]["backends"]) == ["h1", "h2"]
    assert all(backend["port"] == 5200 for backend in plan["services"]["lid"]["backends"])
    table = filters()["speech_plan_view"](plan, "table")
    assert "speech-lid-1" in table and "speech-lid-2" in table
    catalog = filters()["speech_plan_view"](plan, "endpoints", lb_address="lb.example", lb_ports={"lid": 8003})
    assert catalog["services"]["lid"]["url"].endswith("://lb.example:8003")
    markdown = filters()["speech_plan_view"](plan, "endpoints_markdown", lb_address="lb.example", lb_ports={"lid": 8003})
    assert "10.0.0.1:5200" in markdown
    assert markdown == planner.endpoints_markdown(catalog)


def test_infeasible_plan_raises_a_filter_error_with_the_report():
    hosts = {"h1": {"vcpus_usable": 1, "memory_usable_mb": 512, "avx2": True}}
    with pytest.raises(AnsibleFilterError) as caught:
        filters()["plan"](SERVICES, hosts)
    message = str(caught.value)
    assert "lid (speech_services[0].replicas): 2 requested, at most 0 fit" in message
    assert "too little free memory: the fleet's 1 AVX2 host has 1 cores, 512 MB" in message
    assert "Fix: lower speech_services[0].replicas to at most 0" in message


def test_bad_input_raises_a_filter_error_naming_the_variable():
    with pytest.raises(AnsibleFilterError, match=r"speech_services\[0\].replicas must be an integer >= 0, got 'three'"):
        filters()["plan"]([dict(SERVICES[0], replicas="three")], {})


@pytest.mark.parametrize("lb_ports, message", [(["lid"], "must map service names to frontend ports"),
                                               ({"lid": "http"}, "the load balancer port of lid must be an integer >= 1")])
def test_endpoints_filter_names_bad_load_balancer_ports(lb_ports, message):
    plan = filters()["plan"](SERVICES, ["h1", "h2"], hostvars=HOSTVARS)
    with pytest.raises(AnsibleFilterError, match=message):
        filters()["speech_plan_view"](plan, "endpoints", lb_address="lb.example", lb_ports=lb_ports)


def test_plan_with_hostvars_names_a_host_without_facts():
    with pytest.raises(AnsibleFilterError, match="host h3: the speech_host fact is missing"):
        filters()["plan"](SERVICES, ["h3"], hostvars={"h3": {}})


def test_plan_with_hostvars_plans_as_on_the_hosts_input():
    assert filters()["plan"](SERVICES, ["h1", "h2"], hostvars=HOSTVARS) == \
        filters()["plan"](SERVICES, planner.host_inputs(HOSTVARS, ["h1", "h2"]))


@pytest.mark.parametrize("view", ("table", "endpoints", "endpoints_markdown", "lb_servers", "without"))
def test_report_filters_reject_something_that_is_not_a_plan(view):
    with pytest.raises(AnsibleFilterError, match="expects the output of speechops.speech"):
        filters()["speech_plan_view"](["not", "a", "plan"], view)


def test_views_give_what_the_planner_gives():
    plan = filters()["plan"](SERVICES, ["h1", "h2"], hostvars=HOSTVARS)
    view = filters()["speech_plan_view"]
    assert view(plan, "table") == planner.plan_table(plan)
    assert view(plan, "endpoints") == planner.endpoints(plan)
    assert view(plan, "endpoints", lb_address="lb", lb_tls=True) == planner.endpoints(plan, lb_address="lb", lb_tls=True)
    assert view(plan, "endpoints_markdown") == planner.endpoints_markdown(planner.endpoints(plan))
    assert view(plan, "lb_servers") == planner.lb_servers(plan)
    assert view(plan, "lb_servers", hosts=["h2"]) == planner.lb_servers(plan, ["h2"])
    assert view(plan, "without", services=["lid"]) == planner.without(plan, ["lid"])
    assert view(plan, "without", hosts=["h1"]) == planner.without(plan, (), ["h1"])


def test_an_unknown_view_or_option_is_named_with_what_there_is():
    plan = filters()["plan"](SERVICES, ["h1", "h2"], hostvars=HOSTVARS)
    with pytest.raises(AnsibleFilterError, match="view 'servers' is unknown; use one of table, endpoints, endpoints_markdown, "
                                                 "lb_servers, without"):
        filters()["speech_plan_view"](plan, "servers")
    with pytest.raises(AnsibleFilterError, match="view table takes no option, not hosts"):
        filters()["speech_plan_view"](plan, "table", hosts=["h1"])
    with pytest.raises(AnsibleFilterError, match="view lb_servers takes hosts, not services"):
        filters()["speech_plan_view"](plan, "lb_servers", services=["lid"])
    with pytest.raises(AnsibleFilterError, match="view without: hosts must be a list of names"):
        filters()["speech_plan_view"](plan, "without", hosts="h1")


def test_the_filters_run_in_a_real_ansible_play(tmp_path):
    """FQCN resolution, 2.19 templating and hostvars, with the checkout as the collection."""
    ansible_playbook = Path(sys.executable).with_name("ansible-playbook")
    if not ansible_playbook.exists():
        pytest.skip("ansible-playbook is not installed next to this Python")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {
        name: dict(values, ansible_connection="local") for name, values in HOSTVARS.items()}}}))
    playbook = tmp_path / "plan.yml"
    playbook.write_text(PLAY % json.dumps(SERVICES))
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_DIR), ANSIBLE_CONFIG=str(config),
               ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    result = subprocess.run([str(ansible_playbook), "-i", str(inventory), str(playbook)], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "speech-lid-1" in result.stdout and "speech-lid-2" in result.stdout
    assert "| lid | language-detection |" in result.stdout


PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    speech_services: %s
  tasks:
    - ansible.builtin.set_fact:
        speech_plan: "{{ speech_services | speechops.speech.plan(['h1', 'h2'], hostvars=hostvars) }}"
    - ansible.builtin.debug:
        msg: "{{ speech_plan | speechops.speech.speech_plan_view('table') }}"
    - ansible.builtin.debug:
        msg: "{{ speech_plan | speechops.speech.speech_plan_view('endpoints_markdown') }}"
"""


@pytest.mark.parametrize("given, rebalanced", [("false", False), ("no", False), (False, False), (None, False),
                                               ("true", True), (True, True)])
def test_flags_are_read_as_ansible_reads_booleans(given, rebalanced):
    """-e speech_rebalance=false comes as the string "false": it must not count as true."""
    plan = filters()["plan"](SERVICES, ["h1", "h2"], hostvars=HOSTVARS, rebalance=given)
    assert plan["options"]["rebalance"] is rebalanced


def test_a_flag_that_is_no_boolean_names_its_variable():
    with pytest.raises(AnsibleFilterError, match="speech_allow_unknown_tags must be true or false, got 'sometimes'"):
        filters()["plan"](SERVICES, ["h1", "h2"], hostvars=HOSTVARS, allow_unknown_tags="sometimes")


@pytest.mark.parametrize("change, where", [({"name": "lid\n"}, "name"), ({"extra_settings": {"Evil\n": "1"}}, "extra_settings")])
def test_a_trailing_line_break_is_no_valid_name(change, where):
    """A regular expression's $ matches before a final line break: names are matched whole, or a line break reaches
    the env file."""
    with pytest.raises(AnsibleFilterError, match=r"speech_services\[0\]"):
        filters()["plan"]([dict(SERVICES[0], **change)] + SERVICES[1:], ["h1", "h2"], hostvars=HOSTVARS)
