# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter speech_preflight: a host's preflight report. Docs: speech_preflight.yml; logic: module_utils/preflight.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.speechops.speech.plugins.module_utils import preflight

FILTER_NAME = "speech_preflight"


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
    if type(api_key).__name__ in ("EncryptedString", "AnsibleVaultEncryptedUnicode"):
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


class FilterModule:
    def filters(self):
        return {FILTER_NAME: speech_preflight, "speech_fleet_check": speech_fleet_check}
