# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters speech_preflight (a host's preflight report), speech_fleet_check (the fleet inputs), speech_contract (every
variable against its contract) and speech_vip_check (the load balancers' virtual IP). Docs: speech_preflight.yml,
speech_fleet_check.yml, speech_contract.yml, speech_vip_check.yml; logic: module_utils/preflight.py,
module_utils/contract.py and module_utils/vip.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.speechops.speech.plugins.module_utils import contract, preflight, vip

FILTER_NAME = "speech_preflight"
CONTRACT_FILTER = "speech_contract"
VAULT_TYPES = ("EncryptedString", "AnsibleVaultEncryptedUnicode")
MAX_PLAIN_DEPTH = 50
MAX_ERROR_LENGTH = 200


def _error(argument, problem):
    return AnsibleFilterError("{0}: {1}: {2}".format(FILTER_NAME, argument, problem))


def _plain_facts(facts):
    if not isinstance(facts, Mapping):
        raise _error("facts (the input)", "expected the speech_host fact (a dict) from speechops.speech.host_facts, got {0}".format(type(facts).__name__))
    return dict(facts)


def _plain_containers(containers):
    """A list of container dicts; also takes the plan's host entry ({containers: [...]}) or None for nothing planned."""
    if containers is None:
        return []
    if isinstance(containers, Mapping) and "containers" in containers:
        containers = containers["containers"]
    if isinstance(containers, (str, bytes)) or not isinstance(containers, Sequence):
        raise _error("containers", "expected the host's planned containers (a list, or plan.hosts[host]), got {0}".format(type(containers).__name__))
    for index, container in enumerate(containers):
        if not isinstance(container, Mapping):
            raise _error("containers[{0}]".format(index), "expected a dict, got {0}".format(type(container).__name__))
    return [dict(container) for container in containers]


def _plain_secret(api_key):
    """Vault values (EncryptedString in ansible-core 2.19, AnsibleVaultEncryptedUnicode before) decrypt on str()."""
    if api_key is None or isinstance(api_key, str):
        return api_key
    if type(api_key).__name__ in VAULT_TYPES:
        return str(api_key)
    return api_key  # reported as a failure (not a string) by the api_key check; never echoed


def _plain_options(options):
    unknown = sorted(set(options) - set(preflight.OPTION_NAMES))
    if unknown:
        raise _error(", ".join(unknown), "unknown option; use one of " + ", ".join(preflight.OPTION_NAMES))
    plain = dict(options)
    if "api_key" in plain:
        plain["api_key"] = _plain_secret(plain["api_key"])
    if "allow_http_billing" in plain:
        try:
            plain["allow_http_billing"] = boolean(plain["allow_http_billing"], strict=True)
        except TypeError:
            raise _error("allow_http_billing", "{0!r} is not a boolean; write true or false".format(plain["allow_http_billing"])) from None
    if isinstance(plain.get("image_disk_mb"), Mapping):
        plain["image_disk_mb"] = dict(plain["image_disk_mb"])
    return plain


def speech_preflight(facts, containers, **options):
    """speech_host | speechops.speech.speech_preflight(containers, host=..., ...) -> the report dict (with text)."""
    plain_options = _plain_options(options)
    try:
        return preflight.check_host(_plain_facts(facts), _plain_containers(containers), plain_options)
    except preflight.PreflightInputError as exc:
        # the module's messages name the input but never carry a value of api_key
        raise AnsibleFilterError("{0}: {1}".format(FILTER_NAME, exc)) from None


def speech_fleet_check(eula, billing_endpoint=None, api_key=None, allow_http_billing=False):
    """speech_eula | speechops.speech.speech_fleet_check(billing_endpoint, api_key, ...) -> the fleet inputs report."""
    plain = _plain_options({"api_key": api_key, "allow_http_billing": allow_http_billing})
    return preflight.check_fleet(eula, billing_endpoint, plain["api_key"], plain["allow_http_billing"])


def _plain_value(value, depth=0):
    """A variable's value as plain Python (vault strings decrypted, Ansible's tagged and lazy containers as dict and
    list), so that the contract sees what the roles will use; deeper than MAX_PLAIN_DEPTH stays as it is."""
    if type(value).__name__ in VAULT_TYPES:
        return str(value)
    if isinstance(value, bool) or value is None or depth > MAX_PLAIN_DEPTH:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return dict((_plain_value(key, depth + 1), _plain_value(item, depth + 1)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain_value(item, depth + 1) for item in value]
    return value


def _read_variables(variables):
    """({name: plain value}, {name: why it could not be read}) of the contract's variables among a host's."""
    values, unreadable = {}, {}
    for name in contract.RULES:
        if name not in variables:
            continue
        # A template of the inventory that fails to render raises whatever its lookup or filter raises.
        try:
            values[name] = _plain_value(variables[name])
        except Exception as exc:  # pylint: disable=broad-except
            unreadable[name] = " ".join(str(exc).split())[:MAX_ERROR_LENGTH] or type(exc).__name__
    return values, unreadable


def speech_contract(hostvars, hosts=None):
    """hostvars | speechops.speech.speech_contract(hosts) -> every violation of the variables those hosts see, once.

    Without hosts, the input is one set of variables ({name: value}). Returns {ok, failures, text}."""
    if hosts is None:
        by_host = {"": hostvars}
    elif isinstance(hosts, (str, bytes)) or not isinstance(hosts, Sequence):
        raise AnsibleFilterError("{0}: hosts must be a list of inventory host names, got {1}".format(CONTRACT_FILTER, type(hosts).__name__))
    else:
        by_host = dict((str(host), hostvars[host]) for host in hosts)
    if not all(isinstance(variables, Mapping) for variables in by_host.values()):
        raise AnsibleFilterError("{0}: expected hostvars (or one mapping of variables), got {1}".format(CONTRACT_FILTER, type(hostvars).__name__))
    read = dict((host, _read_variables(variables)) for host, variables in by_host.items())
    return contract.check_hosts(dict((host, values) for host, (values, _unreadable) in read.items()),
                                dict((host, unreadable) for host, (_values, unreadable) in read.items() if unreadable))


def _lb_interface(variables):
    """The VIP's interface on one load balancer (speech_lb_vip_interface, else the default route's) and the host's
    own address on it, from the network facts."""
    facts = variables.get("ansible_facts") or {}
    interface = variables.get("speech_lb_vip_interface") or (facts.get("default_ipv4") or {}).get("interface")
    ipv4 = (facts.get(str(interface or "").replace("-", "_")) or {}).get("ipv4") or {}
    cidr = "{0}/{1}".format(ipv4["address"], ipv4["prefix"]) if ipv4.get("address") and ipv4.get("prefix") else None
    return {"interface": interface, "cidr": cidr}


def _own_addresses(variables, address):
    """Every address a host is known to own (network facts, speech_host's primary address, speech_address,
    ansible_host), the VIP itself left out: the current holder has it on its interface."""
    facts = variables.get("ansible_facts") or {}
    owned = list(facts.get("all_ipv4_addresses") or [])
    owned.append((facts.get("speech_host") or {}).get("primary_ipv4"))
    owned.extend([variables.get("speech_address"), variables.get("ansible_host")])
    return sorted({str(item) for item in owned if item and str(item) != str(address)})


def speech_vip_check(address, hostvars, load_balancers, hosts=None):
    """speech_lb_vip | speechops.speech.speech_vip_check(hostvars, groups['speech_lb'], hosts) -> [problem, ...]."""
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError("speech_vip_check: expected hostvars, got {0}".format(type(hostvars).__name__))
    if isinstance(load_balancers, (str, bytes)) or not isinstance(load_balancers, Sequence):
        raise AnsibleFilterError("speech_vip_check: load_balancers must be a list of host names")
    every_host = list(load_balancers) + [host for host in (hosts or []) if host not in load_balancers]
    return vip.vip_problems(address, {str(host): _lb_interface(hostvars[host]) for host in load_balancers},
                            {str(host): _own_addresses(hostvars[host], address) for host in every_host})


class FilterModule:
    def filters(self):
        return {FILTER_NAME: speech_preflight, "speech_fleet_check": speech_fleet_check, CONTRACT_FILTER: speech_contract,
                "speech_vip_check": speech_vip_check}
