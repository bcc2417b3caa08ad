# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters speech_missing_packages, speech_unit_settled and speech_registry_ca_files.

The roles skip the package manager and systemctl when a speechops.speech.host_facts read from this run (its
registered result, never the fact cache) says there is nothing to do. Documentation lives in the sidecar files.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _host(read):
    """ansible_facts.speech_host of a registered host_facts result; {} for a skipped or missing read."""
    if not isinstance(read, Mapping):
        return {}
    host = (read.get("ansible_facts") or {}).get("speech_host")
    return host if isinstance(host, Mapping) else {}


def speech_missing_packages(read, wanted):
    """The wanted packages the read did not find installed; all of them when the read holds no package list."""
    if isinstance(wanted, str) or not isinstance(wanted, (list, tuple)):
        raise AnsibleFilterError("speech_missing_packages: wanted must be a list of package names, got {0!r}".format(wanted))
    installed = _host(read).get("packages")
    if not isinstance(installed, Mapping):
        return list(wanted)
    return [name for name in wanted if name not in installed]


def speech_unit_settled(read, unit):
    """Whether the read saw the systemd unit active and enabled at boot (false when it did not read the unit)."""
    state = (_host(read).get("units") or {}).get(unit)
    return isinstance(state, Mapping) and state.get("active") is True and state.get("enabled") is True


def speech_registry_ca_files(registry_cas, root="/etc/docker/certs.d", mode="0644"):
    """[{registry, ca}] -> the config_files entries <root>/<registry>/ca.crt, each CA ending with one newline."""
    files = []
    for index, entry in enumerate(registry_cas or []):
        registry = entry.get("registry") if isinstance(entry, Mapping) else None
        ca = entry.get("ca") if isinstance(entry, Mapping) else None
        if not registry or "/" in registry or registry.startswith("."):
            raise AnsibleFilterError(
                "speech_registry_ca_files: docker_registry_cas[{0}].registry: {1!r} is not a registry host[:port]".format(index, registry))
        if not ca or "BEGIN CERTIFICATE" not in ca:
            raise AnsibleFilterError(
                "speech_registry_ca_files: docker_registry_cas[{0}].ca: set it to the PEM certificate of {1}'s CA".format(index, registry))
        files.append({"path": posixpath.join(root, registry, "ca.crt"), "content": ca.strip() + "\n", "mode": mode})
    return files


class FilterModule:
    def filters(self):
        return {
            "speech_missing_packages": speech_missing_packages,
            "speech_unit_settled": speech_unit_settled,
            "speech_registry_ca_files": speech_registry_ca_files,
        }
