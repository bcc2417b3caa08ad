# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter speech_health: the probe's verdicts on a host's containers, as the run's health summary records them
(view records) or as the decisions on the containers that stopped serving (view decisions). Docs: speech_health.yml;
logic: module_utils/_health.py.

Filter speech_scrub: a container's log lines (or any text or data) with every secret masked, before a message quotes
them. Docs: speech_scrub.yml; logic: module_utils/_scrub.py, which the modules use on their results too."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.module_utils import _health, _scrub

FILTER_NAME = "speech_health"
SCRUB_FILTER_NAME = "speech_scrub"

# view name -> (function, the options it takes, the options it needs)
VIEWS = {
    "records": (_health.records, ("expect_status",), ("expect_status",)),
    "decisions": (_health.decisions, ("billing", "not_running"), ()),
}


def speech_health(verdicts, host, view, **options):
    """[[run spec, probe result], ...] | speechops.speech.speech_health(host, view, **options) -> records or decisions."""
    if view not in VIEWS:
        raise AnsibleFilterError("{0}: view {1!r} is unknown; use one of {2}".format(FILTER_NAME, view, ", ".join(VIEWS)))
    function, accepted, required = VIEWS[view]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise AnsibleFilterError("{0}: view {1} takes {2}, not {3}".format(FILTER_NAME, view, ", ".join(accepted), ", ".join(unknown)))
    missing = [name for name in required if options.get(name) is None]
    if missing:
        raise AnsibleFilterError("{0}: view {1} needs {2}".format(FILTER_NAME, view, ", ".join(missing)))
    try:
        return function(verdicts, host, **options)
    except _health.HealthInputError as exc:
        raise AnsibleFilterError("{0}: view {1}: {2}".format(FILTER_NAME, view, exc)) from None


def speech_scrub(value, secrets=None, key_like=True):
    """lines | speechops.speech.speech_scrub(secrets) -> the lines with every secret value, URL password, ApiKey=...,
    Authorization: ... and (key_like) key-like run masked as <masked>."""
    if secrets is None:
        secrets = []
    if isinstance(secrets, str) or not isinstance(secrets, (list, tuple)):
        raise AnsibleFilterError("{0}: secrets must be a list of the secret values to mask, got {1}".format(
            SCRUB_FILTER_NAME, type(secrets).__name__))
    return _scrub.scrub(value, [str(secret) for secret in secrets if secret is not None], key_like=bool(key_like))


class FilterModule:
    def filters(self):
        return {FILTER_NAME: speech_health, SCRUB_FILTER_NAME: speech_scrub}
