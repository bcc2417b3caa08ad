# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters plan (the fleet plan) and speech_plan_view (what is derived from a plan). Docs: plan.yml and
speech_plan_view.yml; the algorithm and the views live in module_utils/plan.py and its private modules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.utils.display import Display

from ansible_collections.speechops.speech.plugins.module_utils import plan as planner
from ansible_collections.speechops.speech.plugins.module_utils import sizing

display = Display()


def _filter_error(exc):
    return AnsibleFilterError(str(exc))


def _given(value, default):
    """None (an unset speech_* variable passed as `| default(none)`) means the planner's default."""
    return default if value is None else value


def _flag(value, variable):
    """A true/false option as Ansible reads one (the string "false" is false, not a non-empty string); None: false."""
    if value is None:
        return False
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise AnsibleFilterError("{0} must be true or false, got {1!r}: set {0} to true or false".format(variable, value))


def _host_inputs(hosts, hostvars):
    """Inventory host names and hostvars -> build_plan()'s hosts argument (each host's facts and inventory variables)."""
    try:
        return planner.host_inputs(hostvars, list(hosts) if isinstance(hosts, (list, tuple)) else hosts)
    except (ValueError, KeyError) as exc:
        raise _filter_error(exc)


def plan(services, hosts, port_base=None, port_max=None, strategy=None, rebalance=None, max_moves=None, registry=None,
         profile=None, allow_unknown_tags=None, lb_port_base=None, hostvars=None, allow_retired_kinds=None, model_memory=None):
    """speech_services | speechops.speech.plan(groups['speech_hosts'], hostvars=hostvars, ...) -> the plan; fails with
    the capacity report. Without hostvars, hosts is already the per-host input ({name: {vcpus_usable, ...}}). The
    plan's warnings (unknown tags allowed, retired or legacy kinds) go to the Ansible display."""
    if hostvars is not None:
        hosts = _host_inputs(hosts, hostvars)
    try:
        result = planner.build_plan(services, hosts, port_base=_given(port_base, planner.DEFAULT_PORT_BASE),
                                    port_max=_given(port_max, planner.DEFAULT_PORT_MAX), strategy=_given(strategy, planner.SPREAD),
                                    rebalance=_flag(rebalance, "speech_rebalance"), max_moves=_given(max_moves, 0),
                                    registry=_given(registry, planner.DEFAULT_REGISTRY), profile=_given(profile, planner.DEFAULT_PROFILE),
                                    allow_unknown_tags=_flag(allow_unknown_tags, "speech_allow_unknown_tags"),
                                    lb_port_base=_given(lb_port_base, planner.DEFAULT_LB_PORT_BASE),
                                    allow_retired_kinds=_flag(allow_retired_kinds, "speech_allow_retired_kinds"),
                                    model_memory=_given(model_memory, sizing.DEFAULT_MODEL_MEMORY))
    except ValueError as exc:
        raise _filter_error(exc)
    for warning in result["warnings"]:
        display.warning(warning)
    return result


# ------------------------------------------------------------------------------------------ views

VIEW_FILTER = "speech_plan_view"


def _names(view, option, given):
    """A list of names, or None when not given; a string is refused (it would iterate as characters)."""
    if given is not None and (isinstance(given, str) or not hasattr(given, "__iter__")):
        raise AnsibleFilterError("%s: view %s: %s must be a list of names, got %r" % (VIEW_FILTER, view, option, given))
    return given


def _endpoints(value, lb_address=None, lb_ports=None, lb_tls=False):
    try:
        return planner.endpoints(value, lb_address=lb_address, lb_ports=lb_ports, lb_tls=bool(lb_tls))
    except (ValueError, TypeError) as exc:
        raise _filter_error(exc)


def _table(value):
    return planner.plan_table(value)


def _endpoints_markdown(value, lb_address=None, lb_ports=None, lb_tls=False):
    return planner.endpoints_markdown(_endpoints(value, lb_address=lb_address, lb_ports=lb_ports, lb_tls=lb_tls))


def _lb_servers(value, hosts=None):
    hosts = _names("lb_servers", "hosts", hosts)
    return planner.lb_servers(value, None if hosts is None else list(hosts))


def _without(value, services=None, hosts=None):
    services, hosts = _names("without", "services", services), _names("without", "hosts", hosts)
    return planner.without(value, services or (), hosts or ())


# view name -> (function, the options it takes)
VIEWS = {
    "table": (_table, ()),
    "endpoints": (_endpoints, ("lb_address", "lb_ports", "lb_tls")),
    "endpoints_markdown": (_endpoints_markdown, ("lb_address", "lb_ports", "lb_tls")),
    "lb_servers": (_lb_servers, ("hosts",)),
    "without": (_without, ("services", "hosts")),
}


def speech_plan_view(value, view, **options):
    """speech_plan | speechops.speech.speech_plan_view(view, **options) -> what the view derives from the plan."""
    if view not in VIEWS:
        raise AnsibleFilterError("%s: view %r is unknown; use one of %s" % (VIEW_FILTER, view, ", ".join(VIEWS)))
    if not hasattr(value, "get") or "hosts" not in value or "services" not in value:
        raise AnsibleFilterError("%s expects the output of speechops.speech.plan, got %r" % (VIEW_FILTER, type(value).__name__))
    function, accepted = VIEWS[view]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise AnsibleFilterError("%s: view %s takes %s, not %s" % (
            VIEW_FILTER, view, ", ".join(accepted) if accepted else "no option", ", ".join(unknown)))
    return function(value, **options)


class FilterModule:
    def filters(self):
        return {"plan": plan, VIEW_FILTER: speech_plan_view}
