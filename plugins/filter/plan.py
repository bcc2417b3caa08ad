# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters around the fleet plan; the algorithm lives in module_utils/plan.py. Docs: the sidecar .yml files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.module_utils import plan as planner


def _filter_error(exc):
    return AnsibleFilterError(str(exc))


def _given(value, default):
    """None (an unset speech_* variable passed as `| default(none)`) means the planner's default."""
    return default if value is None else value


def plan(services, hosts, port_base=None, port_max=None, strategy=None, rebalance=None, max_moves=None, registry=None,
         profile=None, allow_unknown_tags=None, lb_port_base=None):
    """speech_services | speechops.speech.plan(hosts, ...) -> the plan; fails with the capacity report."""
    try:
        return planner.build_plan(services, hosts, port_base=_given(port_base, planner.DEFAULT_PORT_BASE),
                                  port_max=_given(port_max, planner.DEFAULT_PORT_MAX), strategy=_given(strategy, planner.SPREAD),
                                  rebalance=_given(rebalance, False), max_moves=_given(max_moves, 0),
                                  registry=_given(registry, planner.DEFAULT_REGISTRY), profile=_given(profile, planner.DEFAULT_PROFILE),
                                  allow_unknown_tags=_given(allow_unknown_tags, False),
                                  lb_port_base=_given(lb_port_base, planner.DEFAULT_LB_PORT_BASE))
    except ValueError as exc:
        raise _filter_error(exc)


def speech_host_inputs(hosts, hostvars):
    """groups['speech_hosts'] | speechops.speech.speech_host_inputs(hostvars) -> the plan filter's hosts argument."""
    try:
        return planner.host_inputs(hostvars, list(hosts) if isinstance(hosts, (list, tuple)) else hosts)
    except (ValueError, KeyError) as exc:
        raise _filter_error(exc)


def _check_plan(value, filter_name):
    if not hasattr(value, "get") or "hosts" not in value or "services" not in value:
        raise AnsibleFilterError("%s expects the output of speechops.speech.plan, got %r" % (filter_name, type(value).__name__))


def speech_plan_table(value):
    _check_plan(value, "speech_plan_table")
    return planner.plan_table(value)


def speech_endpoints(value, lb_address=None, lb_ports=None, lb_tls=False):
    _check_plan(value, "speech_endpoints")
    try:
        return planner.endpoints(value, lb_address=lb_address, lb_ports=lb_ports, lb_tls=bool(lb_tls))
    except (ValueError, TypeError) as exc:
        raise _filter_error(exc)


def speech_lb_servers(value, hosts=None):
    """speech_plan | speechops.speech.speech_lb_servers(hosts) -> [{backend, server, ready_url}] for haproxy_servers."""
    _check_plan(value, "speech_lb_servers")
    if hosts is not None and (isinstance(hosts, str) or not hasattr(hosts, "__iter__")):
        raise AnsibleFilterError("speech_lb_servers: hosts must be a list of inventory host names, got %r" % (hosts,))
    return planner.lb_servers(value, None if hosts is None else list(hosts))


def speech_plan_without(value, services=None, hosts=None):
    """speech_plan | speechops.speech.speech_plan_without(services, hosts) -> the plan without them."""
    _check_plan(value, "speech_plan_without")
    for name, given in (("services", services), ("hosts", hosts)):
        if given is not None and (isinstance(given, str) or not hasattr(given, "__iter__")):
            raise AnsibleFilterError("speech_plan_without: %s must be a list of names, got %r" % (name, given))
    return planner.without(value, services or (), hosts or ())


def speech_endpoints_markdown(value):
    if not hasattr(value, "get") or "services" not in value:
        raise AnsibleFilterError("speech_endpoints_markdown expects the output of speechops.speech.speech_endpoints")
    return planner.endpoints_markdown(value)


class FilterModule:
    def filters(self):
        return {
            "plan": plan,
            "speech_host_inputs": speech_host_inputs,
            "speech_plan_table": speech_plan_table,
            "speech_endpoints": speech_endpoints,
            "speech_endpoints_markdown": speech_endpoints_markdown,
            "speech_lb_servers": speech_lb_servers,
            "speech_plan_without": speech_plan_without,
        }
