# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter speech_container_spec. Docs: speech_container_spec.yml; logic: module_utils/container_spec.py."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.module_utils import container_spec


def speech_container_spec(container, **options):
    """planned container | speechops.speech.speech_container_spec(billing_endpoint=..., ...) -> its run spec."""
    if not isinstance(container, Mapping):
        raise AnsibleFilterError("speech_container_spec expects a planned container (plan.hosts[host].containers[i]), got {0}".format(
            type(container).__name__))
    plain = dict((key, value) for key, value in options.items())
    for key in ("http_proxy_creds", "application_insights", "sentiment_api_key"):
        plain[key] = bool(plain.get(key))
    try:
        return container_spec.run_spec(dict(container), plain)
    except container_spec.SpecError as exc:
        raise AnsibleFilterError("speech_container_spec: {0}".format(exc)) from None


class FilterModule:
    def filters(self):
        return {"speech_container_spec": speech_container_spec}
