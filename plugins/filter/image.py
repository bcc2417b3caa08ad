# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter speech_image.

Documentation lives in the sidecar file speech_image.yml. The logic lives in module_utils/image_ref.py so unit tests
reach it without Ansible.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.utils.display import Display

from ansible_collections.speechops.speech.plugins.module_utils import catalog
from ansible_collections.speechops.speech.plugins.module_utils.image_ref import ImageRefError, resolve_image

display = Display()

SERVICE_FIELDS = ("kind", "version", "locale", "voice", "registry", "preview")


def _service_fields(service, overrides):
    """Filter input (a kind name or a service dict) plus keyword arguments -> resolve_image arguments.

    A service dict's own fields win; keyword arguments fill the rest (e.g. a fleet-wide registry).
    """
    if isinstance(service, Mapping):
        fields = {name: service.get(name) for name in SERVICE_FIELDS if service.get(name) is not None}
    elif isinstance(service, str):
        fields = {"kind": service}
    else:
        raise AnsibleFilterError(
            "speech_image: input must be a kind name or a service dict with a kind, got {0}".format(type(service).__name__)
        )
    for name, value in overrides.items():
        if value is not None:
            fields.setdefault(name, value)
    if "kind" not in fields:
        raise AnsibleFilterError("speech_image: kind: the service has no kind; set kind to one of " + ", ".join(catalog.KINDS))
    return fields


def _flag(name, value):
    """A boolean option, accepting Ansible's spellings ('yes', 'false', ...) so a string 'false' is not true."""
    try:
        return boolean(value, strict=True)
    except TypeError as exc:
        raise AnsibleFilterError("speech_image: {0}: {1!r} is not a boolean; write true or false".format(name, value)) from exc


def _context(service):
    """Message prefix naming the filter and, for a service dict, the service."""
    if isinstance(service, Mapping) and service.get("name"):
        return "speech_image: service {0}: ".format(service["name"])
    return "speech_image: "


def speech_image(service, version=None, locale=None, voice=None, registry=None, allow_unknown=False, preview=None, details=False):
    """Validated image reference for a kind or service; warnings go to the Ansible display."""
    fields = _service_fields(service, {"version": version, "locale": locale, "voice": voice, "registry": registry, "preview": preview})
    fields.setdefault("registry", catalog.MCR_REGISTRY)
    context = _context(service)
    try:
        resolved = resolve_image(allow_unknown=_flag("allow_unknown", allow_unknown), **fields)
    except ImageRefError as exc:
        raise AnsibleFilterError(context + str(exc)) from exc
    for warning in resolved["warnings"]:
        display.warning(context + warning)
    return resolved if _flag("details", details) else resolved["image"]


class FilterModule:
    def filters(self):
        return {"speech_image": speech_image}
