# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The firewall filters read the load balancers from hostvars (the primary IPv4 only from host_facts' read in this
run), take the plan's port range, refuse what they cannot read, and have sidecar docs."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.filter import firewall as firewall_filter
from ansible_collections.speechops.speech.plugins.filter.firewall import FilterModule, speech_firewall_check, speech_firewall_ruleset


def read(address):
    """speech_host_facts as the host_facts task registers it."""
    return {"changed": False, "ansible_facts": {"speech_host": {"primary_ipv4": address}}}


HOSTVARS = {
    "lb1": {"speech_host_facts": read("10.20.0.51"), "ansible_host": "lb1", "speech_lb_vip": "10.20.0.100"},
    # the fact cache's speech_host is no source: only this run's read is
    "lb2": {"ansible_facts": {"speech_host": {"primary_ipv4": "10.20.0.52"}}, "ansible_host": "lb2"},
    "lb3": {"speech_address": "10.20.0.53", "speech_host_facts": {"unreachable": True, "msg": "timed out"}},
    "host1": {"speech_host_facts": read("10.20.0.11")},
}
PLAN = {"hosts": {}, "services": {}, "options": {"port_base": 6000, "port_max": 6099}}


def test_filters_are_exposed_and_documented():
    assert FilterModule().filters() == {"speech_firewall_check": speech_firewall_check,
                                        "speech_firewall_ruleset": speech_firewall_ruleset}
    for name in FilterModule().filters():
        docs = yaml.safe_load((Path(firewall_filter.__file__).parent / (name + ".yml")).read_text())
        assert docs["DOCUMENTATION"]["name"] == name and "load_balancers" in docs["DOCUMENTATION"]["options"]


def test_the_load_balancers_are_read_from_this_runs_facts_and_the_inventory():
    assert speech_firewall_check([], HOSTVARS, ["lb1", "lb3"]) == []
    problems = speech_firewall_check([], HOSTVARS, ["lb1", "lb2"])
    assert len(problems) == 1 and "the load balancer lb2 has no known address" in problems[0]
    text = speech_firewall_ruleset(PLAN, HOSTVARS, ["lb1", "lb3"], ["192.0.2.0/24"])
    assert "elements = { 10.20.0.51, 10.20.0.53, 192.0.2.0/24 }" in text
    assert "ct original proto-dst 6000-6099 jump speech_ports" in text


def test_without_the_plans_options_the_plans_default_range_is_used():
    text = speech_firewall_ruleset({"hosts": {}, "services": {}}, HOSTVARS, ["lb1"], [])
    assert "ct original proto-dst 5100-5999 jump speech_ports" in text


def test_a_problem_fails_the_ruleset_with_its_words():
    with pytest.raises(AnsibleFilterError, match=r"speech_firewall_allow\[0\] is 'ten dot'"):
        speech_firewall_ruleset(PLAN, HOSTVARS, ["lb1"], ["ten dot"])


@pytest.mark.parametrize("call, message", [
    (lambda: speech_firewall_check([], ["lb1"], ["lb1"]), "expected hostvars"),
    (lambda: speech_firewall_check([], HOSTVARS, "lb1"), "list of host names"),
    (lambda: speech_firewall_ruleset([], HOSTVARS, ["lb1"], []), "expected the plan"),
    (lambda: speech_firewall_ruleset({"options": {"port_base": "x"}}, HOSTVARS, ["lb1"], []), "port_base is 'x'"),
])
def test_wrong_input_is_named(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()
