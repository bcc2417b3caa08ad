# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters speech_firewall_check (what keeps the speech hosts' firewall from being made) and speech_firewall_ruleset
(a speech host's nftables ruleset). Docs: their .yml files; logic: module_utils/firewall.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.module_utils import firewall
from ansible_collections.speechops.speech.plugins.module_utils._plan_inputs import DEFAULT_PORT_BASE, DEFAULT_PORT_MAX


def _load_balancers(hostvars, names, filter_name):
    """{name: {speech_address, primary_ipv4, ansible_host, vip}} from hostvars; primary_ipv4 only from host_facts' read
    in this run (speech_host_facts, registered, so never from the fact cache)."""
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError("{0}: expected hostvars, got {1}".format(filter_name, type(hostvars).__name__))
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
        raise AnsibleFilterError("{0}: load_balancers must be a list of host names (groups['speech_lb'])".format(filter_name))
    found = {}
    for name in names:
        variables = hostvars[name]
        read = variables.get("speech_host_facts")
        facts = ((read.get("ansible_facts") or {}).get("speech_host") or {}) if isinstance(read, Mapping) else {}
        found[str(name)] = {"speech_address": variables.get("speech_address"), "primary_ipv4": facts.get("primary_ipv4"),
                            "ansible_host": variables.get("ansible_host"), "vip": variables.get("speech_lb_vip")}
    return found


def speech_firewall_check(allow, hostvars, load_balancers):
    """speech_firewall_allow | speechops.speech.speech_firewall_check(hostvars, groups['speech_lb']) -> [problem, ...]."""
    return firewall.check(_load_balancers(hostvars, load_balancers, "speech_firewall_check"), allow)


def _port(options, key, default):
    value = (options or {}).get(key, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError("speech_firewall_ruleset: the plan's {0} is {1!r}, not a port".format(key, value))


def speech_firewall_ruleset(plan, hostvars, load_balancers, allow, table=firewall.TABLE):
    """speech_plan | speechops.speech.speech_firewall_ruleset(hostvars, groups['speech_lb'], speech_firewall_allow)
    -> the text of the host's nftables ruleset, for the ports the plan hands out (its options port_base..port_max)."""
    if not isinstance(plan, Mapping):
        raise AnsibleFilterError("speech_firewall_ruleset: expected the plan (speech_plan), got {0}".format(type(plan).__name__))
    options = plan.get("options")
    try:
        return firewall.ruleset(_load_balancers(hostvars, load_balancers, "speech_firewall_ruleset"), allow,
                                _port(options, "port_base", DEFAULT_PORT_BASE), _port(options, "port_max", DEFAULT_PORT_MAX),
                                table=str(table))
    except firewall.FirewallInputError as error:
        raise AnsibleFilterError(str(error))


class FilterModule:
    def filters(self):
        return {"speech_firewall_check": speech_firewall_check, "speech_firewall_ruleset": speech_firewall_ruleset}
