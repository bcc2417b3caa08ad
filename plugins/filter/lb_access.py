# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters speech_lb_access (who may use each service's load-balancer frontend) and speech_lb_access_files (the files
and runtime maps that carry it onto a load balancer). Docs: speech_lb_access.yml, speech_lb_access_files.yml; logic:
module_utils/lb_access.py."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.module_utils import lb_access

VAULT_TYPES = ("EncryptedString", "AnsibleVaultEncryptedUnicode")
MAX_DEPTH = 20


def _plain(value, depth=0):
    """Vault strings decrypted (on str()), Ansible's tagged and lazy containers as dict and list."""
    if type(value).__name__ in VAULT_TYPES or (isinstance(value, str) and not isinstance(value, bool)):
        return str(value)
    if depth > MAX_DEPTH or value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return dict((_plain(key, depth + 1), _plain(item, depth + 1)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item, depth + 1) for item in value]
    return value


def speech_lb_access(services, auth=None, auth_by_service=None, client_keys=None, client_ca=None, allow_from=None,
                     allow_from_by_service=None, tls=None):
    """speech_plan.services | speechops.speech.speech_lb_access(auth=speech_lb_auth | default(none), ...) -> the
    access plan {ok, errors, warnings, text, services, client_ca_sha256}. An option left out or none has its default."""
    if not isinstance(services, Mapping):
        raise AnsibleFilterError("speech_lb_access expects the plan's services, a mapping of service names to their "
                                 "entries (lb_port, ...), got {0}".format(type(services).__name__))
    settings = {"speech_lb_auth": auth, "speech_lb_auth_by_service": auth_by_service,
                "speech_lb_client_keys": client_keys, "speech_lb_client_ca": client_ca,
                "speech_lb_allow_from": allow_from, "speech_lb_allow_from_by_service": allow_from_by_service,
                "loadbalancer_tls": tls}
    return lb_access.access_plan(_plain(services), dict((name, _plain(value)) for name, value in settings.items()))


def speech_lb_access_files(access, map_dir, client_ca_file):
    """access | speechops.speech.speech_lb_access_files(map_dir, client_ca_file) -> {directories, files, absent, maps}."""
    if not isinstance(access, Mapping) or not isinstance(access.get("services"), Mapping) or not access.get("ok"):
        raise AnsibleFilterError("speech_lb_access_files expects an access plan without errors (from speech_lb_access)")
    return lb_access.access_files(_plain(access), str(map_dir), str(client_ca_file))


class FilterModule:
    def filters(self):
        return {"speech_lb_access": speech_lb_access, "speech_lb_access_files": speech_lb_access_files}
